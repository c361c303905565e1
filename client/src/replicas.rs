//! Choosing among a service's replicas: when a URL has several server addresses (repeated
//! `--server`, or a host name with several A or AAAA records), the client asks each of them for
//! the object at once and ranks them by how soon they answer, as the original Trickles client
//! ranked replicas by probed round trips. The transfers then start at the best one and move down
//! the ranking when it fails ([`trickles::client::ClientConnection::with_replicas`]).
//!
//! A probe is the transfer's own HELLO, under a connection id of its own: a replica that answers
//! it has the object and the key, which a ping would not show. Each answer costs the replica's
//! initial window (at most three times the padded HELLO: the anti-amplification rule), which the
//! client drops. Ranking waits for every replica, but not longer than three times the first
//! answer's delay plus [`GRACE`], nor than the core's initial RTO: a slow or dead replica costs
//! the transfer little. Replicas that refuse the request, or whose host says "unreachable", rank
//! last; those that did not answer in time, just before them, in the order given.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use trickles::client::{ClientConfig, ClientConnection, ClientStatus};

use crate::trickles_fetch::wall_clock;
use crate::udp_socket::{ClientSocket, RecvBatch, SendBatch};
use crate::via_mirror::DatagramPath;

/// Waited after three times the first answer's delay, for replicas a little slower.
pub const GRACE: Duration = Duration::from_millis(20);

/// How one replica answered its probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Answer {
    /// It began to send the object after this long.
    Served(Duration),
    /// Nothing in time.
    Silent,
    /// It refused the request, or its host said it is unreachable.
    Refused,
}

/// One replica and how it answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ranked {
    pub addr: SocketAddr,
    pub answer: Answer,
}

/// The replicas of `candidates` usable from one socket: those of the first one's address family
/// (a socket is IPv4 or IPv6), in the order given, without repeats; the others are named in a
/// warning.
pub fn same_family(candidates: &[SocketAddr]) -> Vec<SocketAddr> {
    let Some(first) = candidates.first() else {
        return Vec::new();
    };
    let mut usable: Vec<SocketAddr> = Vec::with_capacity(candidates.len());
    for &addr in candidates {
        if addr.is_ipv4() != first.is_ipv4() {
            tracing::warn!(%addr, first = %first, "replica skipped: not of the first address's family");
        } else if !usable.contains(&addr) {
            usable.push(addr);
        }
    }
    usable
}

/// Probes every candidate with a HELLO for `request` and returns them ranked, best first
/// (see the module documentation). One candidate is returned as it is, unprobed.
pub async fn rank(
    socket: &ClientSocket,
    path: &DatagramPath,
    request: &[u8],
    config: &ClientConfig,
    candidates: &[SocketAddr],
) -> Vec<Ranked> {
    let mut ranked: Vec<Ranked> = candidates
        .iter()
        .map(|&addr| Ranked {
            addr,
            answer: Answer::Silent,
        })
        .collect();
    if candidates.len() < 2 {
        return ranked;
    }
    let now = wall_clock();
    let mut probes: HashMap<u64, (usize, ClientConnection)> = HashMap::new();
    let mut outbox = Vec::new();
    for (index, &addr) in candidates.iter().enumerate() {
        let conn_id = loop {
            let id: u64 = rand::random();
            if !probes.contains_key(&id) {
                break id;
            }
        };
        let mut probe = ClientConnection::new(now, addr, request.to_vec(), config.clone(), conn_id);
        while let Some(transmit) = probe.poll_transmit(now) {
            outbox.push(transmit);
        }
        probes.insert(conn_id, (index, probe));
    }
    path.wrap_all(&mut outbox);
    socket.send_all(&mut SendBatch::new(), &outbox).await;

    let started = Instant::now();
    let mut deadline = started + Duration::from_micros(config.initial_rto.micros());
    let (mut inbox, mut quoted) = (RecvBatch::new(), vec![0u8; 512]);
    let mut open = candidates.len();
    while open > 0 {
        let wait = tokio::time::Instant::from_std(deadline);
        match tokio::time::timeout_at(wait, socket.incoming()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::debug!(%error, "udp receive error while ranking"),
            Err(_elapsed) => break,
        }
        // Hosts saying a replica is unreachable.
        while let Ok(Some(unreachable)) = socket.try_recv_unreachable(&mut quoted) {
            let quoted = path.quoted(&quoted[..unreachable.quoted_len]);
            let probe = quoted
                .and_then(trickles::wire::connection_id)
                .and_then(|id| probes.get(&id));
            if let Some(&(index, _)) = probe {
                if ranked[index].answer == Answer::Silent {
                    ranked[index].answer = Answer::Refused;
                    open -= 1;
                }
            }
        }
        // Answers.
        while let Ok(count) = socket.try_recv_batch(&mut inbox) {
            if count == 0 {
                break;
            }
            let now = wall_clock();
            for datagram in inbox.iter() {
                let Some(from) = datagram.from.filter(|_| !datagram.truncated) else {
                    continue;
                };
                let Some((from, payload)) = path.received(from, datagram.payload) else {
                    continue;
                };
                let Some((index, probe)) =
                    trickles::wire::connection_id(payload).and_then(|id| probes.get_mut(&id))
                else {
                    continue;
                };
                if ranked[*index].answer != Answer::Silent {
                    continue;
                }
                probe.handle_datagram(now, from, payload);
                let answer = match probe.status() {
                    ClientStatus::Connecting => continue,
                    ClientStatus::Transferring | ClientStatus::Done => {
                        Answer::Served(started.elapsed())
                    }
                    ClientStatus::Failed(_) => Answer::Refused,
                };
                if open == candidates.len() {
                    if let Answer::Served(first) = answer {
                        deadline = deadline.min(Instant::now() + first * 2 + GRACE);
                    }
                }
                ranked[*index].answer = answer;
                open -= 1;
            }
        }
    }
    // Stable: equal answers keep the order given.
    ranked.sort_by_key(|r| r.answer);
    tracing::info!(ranking = ?ranked, "replicas ranked");
    ranked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_takes_the_replicas_of_the_first_family_once_each() {
        let addrs: Vec<SocketAddr> = [
            "198.18.0.1:1",
            "[2001:2::1]:1",
            "198.18.0.2:1",
            "198.18.0.1:1",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        assert_eq!(same_family(&addrs), vec![addrs[0], addrs[2]]);
        assert_eq!(same_family(&addrs[1..2]), vec![addrs[1]]);
        assert!(same_family(&[]).is_empty());
    }

    #[test]
    fn answers_rank_served_by_delay_then_silent_then_refused() {
        let mut answers = [
            Answer::Refused,
            Answer::Silent,
            Answer::Served(Duration::from_millis(9)),
            Answer::Served(Duration::from_millis(2)),
        ];
        answers.sort();
        assert_eq!(
            answers,
            [
                Answer::Served(Duration::from_millis(2)),
                Answer::Served(Duration::from_millis(9)),
                Answer::Silent,
                Answer::Refused
            ]
        );
    }
}
