//! Claims about URL parsing: what we accept (IPv4, bracketed IPv6, names, default HTTP port)
//! and that everything else is refused with a message naming the problem.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use trickles_client::{ClientError, Host, Scheme, TargetUrl};

fn reason_of(input: &str) -> String {
    match TargetUrl::parse(input) {
        Err(ClientError::InvalidUrl { url, reason }) => {
            assert_eq!(url, input, "the error names the URL as given");
            reason
        }
        other => panic!("{input:?} should be an invalid URL, got {other:?}"),
    }
}

#[test]
fn trickles_url_with_ipv4_host_parses_into_parts() {
    let url = TargetUrl::parse("trickles://127.0.0.1:4433/dir/file.bin").unwrap();
    assert_eq!(url.scheme, Scheme::Trickles);
    assert_eq!(url.host, Host::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(url.port, 4433);
    assert_eq!(url.path, "/dir/file.bin");
    assert_eq!(url.to_string(), "trickles://127.0.0.1:4433/dir/file.bin");
}

#[test]
fn bracketed_ipv6_host_parses_and_displays_bracketed() {
    let url = TargetUrl::parse("trickles://[::1]:9/x").unwrap();
    assert_eq!(url.host, Host::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    assert_eq!(url.port, 9);
    assert_eq!(url.authority(), "[::1]:9");
    assert_eq!(url.to_string(), "trickles://[::1]:9/x");
    let full = TargetUrl::parse("http://[2001:db8::7]:8080/a").unwrap();
    assert_eq!(full.host, Host::Ip("2001:db8::7".parse().unwrap()));
}

#[test]
fn host_names_are_kept_lower_cased_and_resolved_later() {
    let url = TargetUrl::parse("TRICKLES://Example.INVALID:1/p").unwrap();
    assert_eq!(url.scheme, Scheme::Trickles);
    assert_eq!(url.host, Host::Name("example.invalid".to_owned()));
}

#[test]
fn localhost_name_resolves_to_a_loopback_address() {
    let url = TargetUrl::parse("http://localhost:8080/").unwrap();
    let addrs = url.resolve().unwrap();
    assert!(!addrs.is_empty());
    assert!(
        addrs
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 8080),
        "{addrs:?}"
    );
}

#[test]
fn literal_addresses_resolve_without_dns() {
    let url = TargetUrl::parse("trickles://[::1]:7/").unwrap();
    assert_eq!(
        url.resolve().unwrap(),
        vec![SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 7)]
    );
}

#[test]
fn unresolvable_name_is_a_resolve_error_naming_the_host() {
    let url = TargetUrl::parse("trickles://no-such-host.invalid:4433/").unwrap();
    match url.resolve() {
        Err(ClientError::Resolve { host, .. }) => assert_eq!(host, "no-such-host.invalid"),
        other => panic!("expected a resolve error, got {other:?}"),
    }
}

#[test]
fn http_port_defaults_to_80_and_empty_path_to_slash() {
    let url = TargetUrl::parse("http://10.0.0.1").unwrap();
    assert_eq!(url.port, 80);
    assert_eq!(url.path, "/");
}

#[test]
fn query_is_kept_and_fragment_dropped() {
    let url = TargetUrl::parse("http://h:1/img.jpg?text=hi#frag").unwrap();
    assert_eq!(url.path, "/img.jpg?text=hi");
    assert_eq!(TargetUrl::parse("http://h:1?q").unwrap().path, "/?q");
}

#[test]
fn trickles_url_without_port_is_refused() {
    assert!(reason_of("trickles://10.0.0.1/x").contains("explicit port"));
}

#[test]
fn unbracketed_ipv6_is_refused_with_a_hint() {
    assert!(reason_of("trickles://::1:4433/x").contains("brackets"));
}

#[test]
fn malformed_urls_are_refused_with_a_reason() {
    let cases = [
        ("127.0.0.1:4433/x", "expected trickles://"),
        ("ftp://h:1/x", "unknown scheme"),
        ("https://h:1/x", "https is not supported"),
        ("trickles://:4433/x", "missing host"),
        ("trickles://h:/x", "empty port"),
        ("trickles://h:0/x", "port 0"),
        ("trickles://h:65536/x", "1 to 65535"),
        ("trickles://h:12ab/x", "1 to 65535"),
        ("trickles://[::1/x", "unterminated"),
        ("trickles://[::g]:1/x", "bad IPv6"),
        ("trickles://[fe80::1%25eth0]:1/x", "zone"),
        ("trickles://[::1]x:1/x", "after ']'"),
        ("trickles://256.1.1.1:1/x", "bad IPv4"),
        ("trickles://user@h:1/x", "user information"),
        ("trickles://h!st:1/x", "host name"),
        ("trickles://h:1/a b", "not allowed in a path"),
    ];
    for (input, expected) in cases {
        let reason = reason_of(input);
        assert!(
            reason.contains(expected),
            "{input:?}: {reason:?} lacks {expected:?}"
        );
    }
}
