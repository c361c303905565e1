//! The kernel memory a namespace's sockets hold, from `ss -m` run inside it: per socket
//! `skmem:(r…,rb…,t…,tb…,f…,w…,o…,bl…,d…)`, of which we sum `r` (receive queue, `rmem_alloc`),
//! `w` (send queue, `wmem_queued`), `f` (memory reserved ahead, `forward_alloc`) and `o`
//! (options). `t` (bytes in the qdisc or device) is part of `w` for TCP and not added twice.
//!
//! Why not `/proc/net/sockstat`: its `inuse` counts are per namespace, but its `mem` field is
//! the protocol's machine-wide total, so on one machine it would add the clients' receive
//! buffers to the server's. We read it anyway ([`sockstat_tcp_pages`]) and record it beside.

use crate::error::Result;
use crate::topology::Namespace;

/// Sockets and their memory in one namespace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketMemory {
    /// TCP sockets seen (listening ones included).
    pub tcp_sockets: u64,
    /// TCP sockets in the ESTABLISHED state.
    pub tcp_established: u64,
    /// UDP sockets seen.
    pub udp_sockets: u64,
    /// Sum of r + w + f + o over all of them, bytes.
    pub bytes: u64,
}

/// Reads the sockets of `namespace` (TCP and UDP, IPv4 and IPv6).
pub fn socket_memory(namespace: &Namespace) -> Result<SocketMemory> {
    let tcp = namespace.exec("ss", &["-tanmH"])?;
    let udp = namespace.exec("ss", &["-uanmH"])?;
    let mut total = SocketMemory::default();
    for (text, is_tcp) in [(tcp, true), (udp, false)] {
        let parsed = parse_ss(&text);
        if is_tcp {
            total.tcp_sockets = parsed.sockets;
            total.tcp_established = parsed.established;
        } else {
            total.udp_sockets = parsed.sockets;
        }
        total.bytes += parsed.bytes;
    }
    Ok(total)
}

/// `mem` of the `TCP:` line of `/proc/net/sockstat` (pages, machine-wide).
pub fn sockstat_tcp_pages(namespace: &Namespace) -> Result<u64> {
    let text = namespace.exec("cat", &["/proc/net/sockstat"])?;
    Ok(parse_sockstat_tcp_mem(&text).unwrap_or(0))
}

struct Parsed {
    sockets: u64,
    established: u64,
    bytes: u64,
}

/// Sums `ss -anmH` output: a socket's line starts with its state; its `skmem:(..)` may be on
/// the same or the next line.
fn parse_ss(text: &str) -> Parsed {
    let mut parsed = Parsed {
        sockets: 0,
        established: 0,
        bytes: 0,
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        if !line.starts_with(char::is_whitespace) && !trimmed.is_empty() {
            parsed.sockets += 1;
            if trimmed.starts_with("ESTAB") {
                parsed.established += 1;
            }
        }
        if let Some(start) = line.find("skmem:(") {
            let fields = &line[start + 7..];
            let fields = &fields[..fields.find(')').unwrap_or(fields.len())];
            parsed.bytes += skmem_bytes(fields);
        }
    }
    parsed
}

fn skmem_bytes(fields: &str) -> u64 {
    fields
        .split(',')
        .filter_map(|field| {
            let split = field.find(|c: char| c.is_ascii_digit())?;
            let (name, value) = field.split_at(split);
            matches!(name, "r" | "w" | "f" | "o")
                .then(|| value.parse::<u64>().ok())
                .flatten()
        })
        .sum()
}

fn parse_sockstat_tcp_mem(text: &str) -> Option<u64> {
    let line = text.lines().find(|line| line.starts_with("TCP:"))?;
    let mut words = line.split_whitespace();
    while let Some(word) = words.next() {
        if word == "mem" {
            return words.next()?.parse().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_the_queues_and_reservations_of_every_socket() {
        let text = "LISTEN 0 1024 198.18.2.2:8080 0.0.0.0:*\n\t skmem:(r0,rb131072,t0,tb16384,f0,w0,o0,bl0,d0)\n\
                    ESTAB 0 3000 198.18.2.2:8080 198.18.1.2:5000\n\t skmem:(r0,rb131072,t1000,tb87040,f1096,w4000,o0,bl0,d0)\n\
                    ESTAB 10 0 [2001:2:0:2::2]:8080 [2001:2:0:1::2]:5001 skmem:(r2304,rb131072,t0,tb87040,f0,w0,o24,bl0,d0)\n";
        let parsed = parse_ss(text);
        assert_eq!(parsed.sockets, 3);
        assert_eq!(parsed.established, 2);
        assert_eq!(parsed.bytes, 1096 + 4000 + 2304 + 24);
    }

    #[test]
    fn reads_the_tcp_mem_pages_of_sockstat() {
        let text =
            "sockets: used 5\nTCP: inuse 3 orphan 0 tw 0 alloc 4 mem 17\nUDP: inuse 1 mem 2\n";
        assert_eq!(parse_sockstat_tcp_mem(text), Some(17));
    }
}
