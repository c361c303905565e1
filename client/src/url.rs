//! The URLs the client fetches: `trickles://HOST:PORT/PATH` and `http://HOST[:PORT]/PATH`.
//!
//! HOST is an IPv4 address (`127.0.0.1`), a bracketed IPv6 address (`[::1]`) or a DNS name
//! (resolved with [`ToSocketAddrs`] when the fetch starts, not when parsing). A Trickles URL
//! must name its port (there is no registered default); an HTTP URL defaults to port 80.
//! The path (with its query, if any) is kept byte for byte: for Trickles it *is* the request
//! payload, for HTTP it is the request target. A `#fragment` is dropped, as browsers do.
//!
//! This is a deliberately small parser for two schemes, not a general RFC 3986 one: user info,
//! IPv6 zone ids and non-ASCII hosts are refused with a clear message instead of guessed at.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use crate::error::{ClientError, Result};

/// Which transport a URL asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Trickles over UDP.
    Trickles,
    /// HTTP/1.1 over kernel TCP (the baseline).
    Http,
}

impl Scheme {
    /// The scheme as written in URLs and in the stats JSON (`"trickles"` or `"http"`).
    pub fn name(self) -> &'static str {
        match self {
            Scheme::Trickles => "trickles",
            Scheme::Http => "http",
        }
    }
}

/// The host part of a URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A literal IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A DNS name, lower-cased, resolved at fetch time.
    Name(String),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(v6)) => write!(f, "[{v6}]"),
            Host::Ip(IpAddr::V4(v4)) => write!(f, "{v4}"),
            Host::Name(name) => f.write_str(name),
        }
    }
}

/// A parsed `trickles://` or `http://` URL.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TargetUrl {
    /// Transport to use.
    pub scheme: Scheme,
    /// Where the server is.
    pub host: Host,
    /// Its port.
    pub port: u16,
    /// Absolute path plus optional `?query`, always starting with `/`.
    pub path: String,
}

/// Default port of `http://` URLs.
pub const DEFAULT_HTTP_PORT: u16 = 80;

impl TargetUrl {
    /// Parses a URL, explaining what is wrong if it is not one we can fetch.
    pub fn parse(input: &str) -> Result<TargetUrl> {
        let invalid = |reason: &str| ClientError::InvalidUrl {
            url: input.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme_text, rest) = input.split_once("://").ok_or_else(|| {
            invalid("expected trickles://HOST:PORT/PATH or http://HOST:PORT/PATH")
        })?;
        let scheme = match scheme_text.to_ascii_lowercase().as_str() {
            "trickles" => Scheme::Trickles,
            "http" => Scheme::Http,
            "https" => {
                return Err(invalid(
                    "https is not supported (use http:// or trickles://)",
                ))
            }
            _ => return Err(invalid("unknown scheme (expected trickles or http)")),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(invalid("user information (user@host) is not supported"));
        }
        let (host, port) = parse_authority(authority).map_err(&invalid)?;
        let port = match (port, scheme) {
            (Some(port), _) => port,
            (None, Scheme::Http) => DEFAULT_HTTP_PORT,
            (None, Scheme::Trickles) => {
                return Err(invalid(
                    "trickles:// URLs need an explicit port (HOST:PORT)",
                ))
            }
        };
        let path = match path_and_query {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        if let Some(bad) = path.chars().find(|c| !is_allowed_path_char(*c)) {
            return Err(invalid(&format!(
                "character {bad:?} is not allowed in a path (percent-encode it)"
            )));
        }
        Ok(TargetUrl {
            scheme,
            host,
            port,
            path,
        })
    }

    /// `host:port` as it goes into an HTTP `Host` header (IPv6 bracketed, port always given).
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// Resolves the host to socket addresses (DNS for names), in the resolver's order.
    pub fn resolve(&self) -> Result<Vec<SocketAddr>> {
        match &self.host {
            Host::Ip(ip) => Ok(vec![SocketAddr::new(*ip, self.port)]),
            Host::Name(name) => {
                let resolve_error = |reason: String| ClientError::Resolve {
                    host: name.clone(),
                    reason,
                };
                let addrs: Vec<SocketAddr> = (name.as_str(), self.port)
                    .to_socket_addrs()
                    .map_err(|e| resolve_error(e.to_string()))?
                    .collect();
                if addrs.is_empty() {
                    return Err(resolve_error("no addresses".to_owned()));
                }
                Ok(addrs)
            }
        }
    }
}

impl FromStr for TargetUrl {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Self> {
        TargetUrl::parse(s)
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}:{}{}",
            self.scheme.name(),
            self.host,
            self.port,
            self.path
        )
    }
}

/// Splits `host[:port]` / `[v6][:port]` into a host and an optional port.
fn parse_authority(authority: &str) -> std::result::Result<(Host, Option<u16>), &'static str> {
    if authority.is_empty() {
        return Err("missing host");
    }
    let (host, port_text) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (inside, after) = bracketed
            .split_once(']')
            .ok_or("unterminated '[' in IPv6 address")?;
        if inside.contains('%') {
            return Err("IPv6 zone ids are not supported");
        }
        let v6 = Ipv6Addr::from_str(inside).map_err(|_| "bad IPv6 address inside [...]")?;
        let port_text = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("unexpected text after ']'")?),
        };
        (Host::Ip(IpAddr::V6(v6)), port_text)
    } else {
        let (host_text, port_text) = match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        };
        if port_text.is_some_and(|p| p.contains(':')) {
            return Err("IPv6 addresses must be written in brackets, like [::1]:PORT");
        }
        (parse_host(host_text)?, port_text)
    };
    let port = match port_text {
        None => None,
        Some("") => return Err("empty port after ':'"),
        Some(p) => match p.parse::<u16>() {
            Ok(0) => return Err("port 0 cannot be fetched from"),
            Ok(port) => Some(port),
            Err(_) => return Err("port is not a number from 1 to 65535"),
        },
    };
    Ok((host, port))
}

/// An IPv4 literal or a DNS name (letters, digits, '-', '_' and dots).
fn parse_host(text: &str) -> std::result::Result<Host, &'static str> {
    if text.is_empty() {
        return Err("missing host");
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Ipv4Addr::from_str(text)
            .map(|v4| Host::Ip(IpAddr::V4(v4)))
            .map_err(|_| "bad IPv4 address");
    }
    let valid_name = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        && !text.starts_with('.')
        && !text.contains("..");
    if !valid_name {
        return Err("host name may only contain letters, digits, '-', '_' and '.'");
    }
    Ok(Host::Name(text.to_ascii_lowercase()))
}

/// Visible ASCII except the characters that cannot appear unescaped in a request target.
fn is_allowed_path_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
}
