//! Claims about a served file rewritten in place while a connection streams it: the next
//! request is answered with a REFUSE saying the content changed (code 3), never with bytes of
//! the new content after bytes of the old.

use std::net::SocketAddr;
use std::os::unix::fs::FileExt;
use std::time::{Duration as StdDuration, UNIX_EPOCH};

use trickles::crypto::{Key, KeyRing};
use trickles::server::{DropReason, ServerConfig, ServerEndpoint};
use trickles::time::{Duration, Instant};
use trickles::wire::{
    Header, HelloRepr, PacketType, RefuseRepr, RequestKind, RequestRepr, ResponseRepr, SackBlock,
};
use trickles::Transmit;
use trickles_server::static_files::StaticFiles;

const T0: Instant = Instant(1_700_000_000_000_000);
const CONN_ID: u64 = 5150;
const LEN: usize = 300_000;

fn client() -> SocketAddr {
    "198.18.0.2:40000".parse().expect("addr")
}

/// A root holding `/file.bin` whose modification time is in 2001, as a copied file's may be.
fn root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("file.bin");
    std::fs::write(&path, vec![b'o'; LEN]).expect("write");
    let file = std::fs::File::options()
        .write(true)
        .open(&path)
        .expect("open");
    file.set_modified(UNIX_EPOCH + StdDuration::from_secs(1_000_000_000))
        .expect("set mtime");
    dir
}

/// The first request after a HELLO, proving receipt of every response to it.
fn first_request(responses: &[Transmit]) -> Vec<u8> {
    let (mut summary, mut right, mut first) = (0, 0, None);
    for t in responses {
        let (h, body) = Header::parse(&t.payload).expect("header");
        let r = ResponseRepr::parse(&h, body).expect("response");
        summary ^= r.nonce;
        right = r.continuation.fields.seq;
        first.get_or_insert_with(|| r.continuation_bytes.to_vec());
    }
    let block = SackBlock {
        left: 1,
        right,
        summary,
    };
    RequestRepr::emit(
        CONN_ID,
        RequestKind::Normal,
        0,
        1,
        &first.expect("a response"),
        &[block],
    )
}

#[test]
fn file_rewritten_in_place_mid_transfer_is_refused_as_changed_not_mixed() {
    let dir = root();
    let app = StaticFiles::new(dir.path()).expect("root");
    let keys = KeyRing::new(Key::from_secret(1, &[3; 32]));
    let mut server = ServerEndpoint::new(ServerConfig::default(), keys, app, 1);
    let hello = HelloRepr {
        conn_id: CONN_ID,
        resume_offset: 0,
        receive_window: 16 << 20,
        request: b"/file.bin",
    }
    .emit(1400);
    let mut responses = Vec::new();
    server
        .handle_datagram(T0, client(), &hello, &mut responses)
        .expect("hello answered");
    assert!(!responses.is_empty());

    // Same length, other bytes, written into the same inode (no truncation, no rename).
    let file = std::fs::File::options()
        .write(true)
        .open(dir.path().join("file.bin"))
        .expect("open for writing");
    file.write_all_at(&vec![b'n'; LEN], 0).expect("rewrite");

    let mut out = Vec::new();
    let now = T0 + Duration::from_millis(10);
    let result = server.handle_datagram(now, client(), &first_request(&responses), &mut out);
    assert_eq!(result, Err(DropReason::App));
    let kinds: Vec<PacketType> = out
        .iter()
        .map(|t| Header::parse(&t.payload).expect("header").0.packet_type)
        .collect();
    assert_eq!(kinds, [PacketType::Refuse], "new bytes were sent");
    let (h, body) = Header::parse(&out[0].payload).expect("header");
    let refuse = RefuseRepr::parse(&h, body).expect("refuse");
    assert_eq!((refuse.conn_id, refuse.code), (CONN_ID, 3));
    assert_eq!(refuse.message, b"content changed");
}

#[test]
fn client_fails_with_content_changed_and_has_only_old_bytes() {
    use trickles::client::{ClientConfig, ClientConnection, ClientError, ClientStatus};

    let dir = root();
    let app = StaticFiles::new(dir.path()).expect("root");
    let keys = KeyRing::new(Key::from_secret(1, &[4; 32]));
    let mut server = ServerEndpoint::new(ServerConfig::default(), keys, app, 2);
    let mut now = T0;
    let mut client = ClientConnection::new(
        now,
        "198.18.0.1:4433".parse().expect("addr"),
        b"/file.bin".to_vec(),
        ClientConfig::default(),
        CONN_ID,
    );
    let mut received = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut rewritten = false;
    let rewrite = || {
        let file = std::fs::File::options()
            .write(true)
            .open(dir.path().join("file.bin"))
            .expect("open for writing");
        file.write_all_at(&vec![b'n'; LEN], 0).expect("rewrite");
    };
    for _ in 0..10_000 {
        now = now + Duration::from_millis(1);
        // One datagram at a time, so the file can change between two requests.
        while let Some(t) = client.poll_transmit(now) {
            let mut out = Vec::new();
            let _ = server.handle_datagram(now, client_addr(), &t.payload, &mut out);
            for answer in out {
                client.handle_datagram(now, answer.destination, &answer.payload);
            }
            loop {
                let n = client.read(&mut buf);
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&buf[..n]);
            }
            if !rewritten && received.len() >= LEN / 4 {
                rewrite();
                rewritten = true;
            }
        }
        if client.poll_timeout().is_some_and(|at| at <= now) {
            client.handle_timeout(now);
        }
        if matches!(
            client.status(),
            ClientStatus::Done | ClientStatus::Failed(_)
        ) {
            break;
        }
    }
    assert!(rewritten, "the transfer ended before a quarter of it");
    match client.status() {
        ClientStatus::Failed(ClientError::Refused { code, message }) => {
            assert_eq!((code, message.as_str()), (3, "content changed"));
        }
        other => panic!("the client ended {other:?}"),
    }
    assert!(received.len() < LEN);
    assert!(
        received.iter().all(|&b| b == b'o'),
        "a new byte was delivered"
    );
}

/// The address the in-memory client sends from.
fn client_addr() -> SocketAddr {
    client()
}
