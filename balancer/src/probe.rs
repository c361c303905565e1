//! Health probes of one backend, on the control plane's tokio runtime.
//!
//! **UDP (the default)** sends a small Trickles HELLO (random connection id, a request for
//! [`PROBE_REQUEST`], padded to [`PROBE_LEN`] bytes so the server's 3× reply budget fits a
//! REFUSE) from a socket *connected* to the backend, and waits for any datagram carrying the
//! same connection id: a REFUSE ("not found", "hello too small") proves as much as a RESPONSE.
//! It tests what clients use — the backend's UDP socket, its workers and the protocol core —
//! and, because the socket is connected, a dead process answers at once with ICMP port
//! unreachable, which the kernel reports as `ECONNREFUSED` ([`ProbeOutcome::Refused`]).
//!
//! **HTTP** fetches `/healthz` from the backend's metrics endpoint: 200 is healthy. It only
//! shows the process's HTTP task is alive, not its UDP path, but it works where UDP probes are
//! filtered and lets a replica declare itself unhealthy.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;
use trickles::wire::HelloRepr;

use crate::core::constants::connection_id;
use crate::core::ProbeOutcome;

/// What the UDP probe asks for: a path no replica serves (a replica may serve it on purpose).
pub const PROBE_REQUEST: &[u8] = b"/.well-known/trickles-balancer-probe";
/// Size the probe HELLO is padded to.
pub const PROBE_LEN: usize = 256;

/// The probe datagram for `conn_id`.
pub fn probe_hello(conn_id: u64) -> Vec<u8> {
    HelloRepr {
        conn_id,
        resume_offset: 0,
        receive_window: 0,
        request: PROBE_REQUEST,
    }
    .emit(PROBE_LEN)
}

fn outcome_of(error: &std::io::Error) -> ProbeOutcome {
    match error.kind() {
        ErrorKind::ConnectionRefused => ProbeOutcome::Refused,
        _ => ProbeOutcome::Failed,
    }
}

/// Probe `target` over UDP, waiting at most `timeout`.
pub async fn probe_udp(target: SocketAddr, timeout: Duration) -> ProbeOutcome {
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = match UdpSocket::bind(local).await {
        Ok(s) => s,
        Err(e) => return outcome_of(&e),
    };
    if let Err(e) = socket.connect(target).await {
        return outcome_of(&e);
    }
    let conn_id = rand::random::<u64>();
    let exchange = async {
        socket.send(&probe_hello(conn_id)).await?;
        let mut buf = [0u8; 2048];
        loop {
            let n = socket.recv(&mut buf).await?;
            if connection_id(&buf[..n]) == Some(conn_id) {
                return Ok::<(), std::io::Error>(());
            }
        }
    };
    match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(())) => ProbeOutcome::Success,
        Ok(Err(e)) => outcome_of(&e),
        Err(_) => ProbeOutcome::Timeout,
    }
}

/// Probe `GET /healthz` on `target`, waiting at most `timeout`.
pub async fn probe_http(target: SocketAddr, timeout: Duration) -> ProbeOutcome {
    let fetched =
        tokio::task::spawn_blocking(move || trickles_netfn::http_get(target, "/healthz", timeout))
            .await;
    match fetched {
        Ok(Ok(response)) if response.status == 200 => ProbeOutcome::Success,
        Ok(Ok(_)) => ProbeOutcome::Failed,
        Ok(Err(e)) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => {
            ProbeOutcome::Timeout
        }
        Ok(Err(e)) => outcome_of(&e),
        Err(_) => ProbeOutcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_with_the_probe_id_is_success() {
        let backend = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let target = backend.local_addr().expect("addr");
        let echo = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let (n, from) = backend.recv_from(&mut buf).expect("probe");
            assert_eq!(n, PROBE_LEN);
            // Something else first, then the echo of the header.
            backend.send_to(&[1u8; 12], from).expect("noise");
            backend.send_to(&buf[..10], from).expect("answer");
        });
        assert_eq!(
            probe_udp(target, Duration::from_secs(2)).await,
            ProbeOutcome::Success
        );
        echo.join().expect("backend");
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_and_silence_times_out() {
        let closed = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let target = closed.local_addr().expect("addr");
        drop(closed);
        assert_eq!(
            probe_udp(target, Duration::from_secs(2)).await,
            ProbeOutcome::Refused
        );
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        assert_eq!(
            probe_udp(
                silent.local_addr().expect("addr"),
                Duration::from_millis(50)
            )
            .await,
            ProbeOutcome::Timeout
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http_probe_follows_the_healthz_status() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        use trickles_netfn::{Health, HealthFn, MetricsEndpoint};
        let healthy = Arc::new(AtomicBool::new(true));
        let flag = healthy.clone();
        let health: HealthFn = Arc::new(move || {
            if flag.load(Ordering::SeqCst) {
                Health::ok("")
            } else {
                Health::failing("draining")
            }
        });
        let (stop, shutdown) = tokio::sync::watch::channel(false);
        let endpoint = MetricsEndpoint::start(
            "127.0.0.1:0".parse().expect("addr"),
            prometheus::Registry::new(),
            health,
            shutdown,
        )
        .await
        .expect("endpoint");
        let target = endpoint.local_addr();
        assert_eq!(
            probe_http(target, Duration::from_secs(2)).await,
            ProbeOutcome::Success
        );
        healthy.store(false, Ordering::SeqCst);
        assert_eq!(
            probe_http(target, Duration::from_secs(2)).await,
            ProbeOutcome::Failed
        );
        stop.send(true).expect("stop");
    }

    #[tokio::test]
    async fn http_probe_refused_when_nothing_listens() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = listener.local_addr().expect("addr");
        drop(listener);
        assert_eq!(
            probe_http(target, Duration::from_millis(500)).await,
            ProbeOutcome::Refused
        );
    }
}
