//! A minimal HTTP/1.1 GET over a blocking TCP socket, to read a server's `/healthz` and
//! `/metrics` without pulling an HTTP client into the lab; and reading samples out of the
//! Prometheus text a `/metrics` answers with.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Sends `GET path` to `addr` and returns `(status code, body)`; `None` if there is no answer
/// within `timeout` or it is not HTTP.
pub fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// The `/metrics` text of the endpoint at `addr`, if it answers 200 within two seconds.
pub fn metrics_text(addr: SocketAddr) -> Option<String> {
    match get(addr, "/metrics", Duration::from_secs(2)) {
        Some((200, body)) => Some(body),
        _ => None,
    }
}

/// Whether the `/healthz` of the endpoint at `addr` answers 200 within half a second.
pub fn healthy(addr: SocketAddr) -> bool {
    matches!(
        get(addr, "/healthz", Duration::from_millis(500)),
        Some((200, _))
    )
}

/// The value of an unlabelled Prometheus sample `name` in a `/metrics` text, if present.
pub fn metric_value(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// The value of the sample `name{...}` whose labels include every `(label, value)` of
/// `labels`, in a `/metrics` text, if present.
pub fn labelled_metric_value(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (set, value) = line
            .strip_prefix(name)?
            .strip_prefix('{')?
            .split_once('}')?;
        let pairs: Vec<(&str, &str)> = set
            .split(',')
            .filter_map(|pair| {
                let (label, quoted) = pair.split_once('=')?;
                Some((label.trim(), quoted.trim().trim_matches('"')))
            })
            .collect();
        if labels.iter().all(|wanted| pairs.contains(wanted)) {
            value.trim().parse().ok()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{labelled_metric_value, metric_value};

    #[test]
    fn metric_value_reads_the_named_sample_only() {
        let text = "# HELP a_total x\na_total 3\na_total_more 9\nb{x=\"1\"} 4\n";
        assert_eq!(metric_value(text, "a_total"), Some(3.0));
        assert_eq!(metric_value(text, "b"), None);
        assert_eq!(metric_value(text, "c"), None);
    }

    #[test]
    fn labelled_metric_value_matches_every_wanted_label() {
        let text = "# TYPE p counter\np{backend=\"r0\",direction=\"to_backend\"} 7\n\
                    p{backend=\"r1\",direction=\"to_backend\"} 9\n\
                    p{backend=\"r1\",direction=\"to_client\"} 4\n";
        let value = |labels: &[(&str, &str)]| labelled_metric_value(text, "p", labels);
        assert_eq!(
            value(&[("backend", "r1"), ("direction", "to_backend")]),
            Some(9.0)
        );
        assert_eq!(
            value(&[("direction", "to_client"), ("backend", "r1")]),
            Some(4.0)
        );
        assert_eq!(value(&[("backend", "r2")]), None);
        assert_eq!(labelled_metric_value(text, "q", &[]), None);
    }
}
