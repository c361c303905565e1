//! The worked examples of `docs/PROTOCOL.md`, regenerated with the real code.
//!
//! A scripted transfer (fixed secret, time, RNG seed, connection id and addresses) runs a real
//! `ClientConnection` against a real `ServerEndpoint`; the datagrams it produces are dumped in hex
//! and annotated field by field. The annotation walks the bytes at the offsets the spec gives
//! and checks each field against what the parsers return, and an implementation of the spec's
//! cryptography written here from the text (HKDF-SHA256, SipHash-2-4-128, the nonce stream)
//! must reproduce every tag and nonce of the examples.
//!
//! Each generated section sits in the document between `<!-- example:NAME -->` and
//! `<!-- /example -->`. The test fails when a section differs from the code's output; run it
//! with `TRICKLES_BLESS=1` to rewrite the sections instead:
//!
//! ```text
//! TRICKLES_BLESS=1 cargo test -p trickles --test it protocol_examples::
//! ```

use std::fmt::Write as _;
use std::net::SocketAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use trickles::app::MemoryApplication;
use trickles::cc::{normal_step, WindowParams};
use trickles::client::{ClientConfig, ClientConnection, ClientError, ClientStatus};
use trickles::crypto::{Key, KeyRing};
use trickles::server::seal::pseudo_header;
use trickles::server::{DropReason, ServerConfig, ServerEndpoint};
use trickles::time::{Duration, Instant};
use trickles::wire::continuation::SealedContinuation;
use trickles::wire::response::{FLAG_FIN, FLAG_RETRANSMISSION};
use trickles::wire::{
    ContState, Header, HelloRepr, PacketType, RefuseRepr, RequestKind, RequestRepr, ResponseRepr,
};

/// The key file secret of the examples: bytes 0x00..=0x1f.
const SECRET: [u8; 32] = {
    let mut s = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        s[i] = i as u8;
        i += 1;
    }
    s
};
const EPOCH: u8 = 1;
/// 2023-11-14T22:13:20Z, in µs since the UNIX epoch.
const T0: Instant = Instant(1_700_000_000_000_000);
/// One-way delay of the scripted path.
const ONE_WAY: Duration = Duration::from_millis(20);
/// Seed of the server's connection-token RNG.
const SEED: u64 = 1;
/// "trickles" in ASCII, so it stands out in the dumps.
const CONN_ID: u64 = 0x7472_6963_6b6c_6573;
/// A small mss keeps the dumps short (the default is 1200).
const MSS: u16 = 32;
const PATH: &[u8] = b"/hello.txt";
const MISSING_PATH: &[u8] = b"/missing";
/// The packet the scripted path loses (its first transmission only).
const LOST_SEQ: u64 = 5;

fn client_v4() -> SocketAddr {
    "198.18.0.2:40000".parse().unwrap()
}

fn client_v6() -> SocketAddr {
    "[2001:db8::2]:40000".parse().unwrap()
}

fn server_addr() -> SocketAddr {
    "198.18.0.1:4433".parse().unwrap()
}

/// The served object: 1000 bytes of text (31 packets of 32 bytes and one of 8).
fn object() -> Vec<u8> {
    b"Trickles: every packet carries the state. "
        .iter()
        .copied()
        .cycle()
        .take(1000)
        .collect()
}

fn key() -> Key {
    Key::from_secret(EPOCH, &SECRET)
}

fn server_config() -> ServerConfig {
    ServerConfig {
        mss: MSS,
        ..ServerConfig::default()
    }
}

fn server(seed: u64) -> ServerEndpoint<MemoryApplication> {
    let mut app = MemoryApplication::new();
    app.insert(PATH, object());
    ServerEndpoint::new(server_config(), KeyRing::new(key()), app, seed)
}

// ---------------------------------------------------------------------------------------------
// The scripted transfer.
// ---------------------------------------------------------------------------------------------

/// One datagram of the transcript.
struct Sent {
    at: Instant,
    to_server: bool,
    lost: bool,
    payload: Vec<u8>,
}

/// Everything the examples show.
struct Scenario {
    transcript: Vec<Sent>,
    hello: Vec<u8>,
    first_response: Vec<u8>,
    request: Vec<u8>,
    request_at: Instant,
    retransmission: Vec<u8>,
    refuse: Vec<u8>,
}

/// Three round trips: the HELLO draws packets 1-3, their requests draw 4-8, of which 5 is
/// lost; the client declares the loss after three later packets, and its request for packet 6
/// (two SACK blocks) draws the retransmission of 5. Every datagram is recorded.
fn scenario() -> Scenario {
    let mut server = server(SEED);
    let mut client = ClientConnection::new(
        T0,
        server_addr(),
        PATH.to_vec(),
        ClientConfig::default(),
        CONN_ID,
    );
    let mut transcript = Vec::new();
    let hello = client
        .poll_transmit(T0)
        .expect("the client opens with a HELLO");
    assert!(client.poll_transmit(T0).is_none());
    transcript.push(Sent {
        at: T0,
        to_server: true,
        lost: false,
        payload: hello.payload.clone(),
    });
    let mut to_server = vec![hello.payload.clone()];
    let mut now = T0;
    for _round in 0..3 {
        now = now + ONE_WAY;
        let mut answers = Vec::new();
        for datagram in &to_server {
            server
                .handle_datagram(now, client_v4(), datagram, &mut answers)
                .expect("every scripted datagram is accepted");
        }
        now = now + ONE_WAY;
        to_server.clear();
        for answer in answers {
            let lost = response_seq(&answer.payload) == LOST_SEQ
                && response_flags(&answer.payload) & FLAG_RETRANSMISSION == 0;
            transcript.push(Sent {
                at: now - ONE_WAY,
                to_server: false,
                lost,
                payload: answer.payload.clone(),
            });
            if lost {
                continue;
            }
            client.handle_datagram(now, server_addr(), &answer.payload);
            while let Some(t) = client.poll_transmit(now) {
                transcript.push(Sent {
                    at: now,
                    to_server: true,
                    lost: false,
                    payload: t.payload.clone(),
                });
                to_server.push(t.payload);
            }
        }
    }
    let request_index = transcript
        .iter()
        .position(|s| s.to_server && sack_count(&s.payload) == 2)
        .expect("the client sends a request with two SACK blocks");
    let request = transcript[request_index].payload.clone();
    let request_at = transcript[request_index].at + ONE_WAY;
    let retransmission = transcript
        .iter()
        .find(|s| !s.to_server && response_flags(&s.payload) & FLAG_RETRANSMISSION != 0)
        .expect("the loss is repaired by a retransmission")
        .payload
        .clone();
    let first_response = transcript
        .iter()
        .find(|s| !s.to_server)
        .expect("the HELLO is answered")
        .payload
        .clone();

    let mut refused = Vec::new();
    let missing = HelloRepr {
        conn_id: CONN_ID,
        resume_offset: 0,
        receive_window: ClientConfig::default().receive_window as u32,
        request: MISSING_PATH,
    }
    .emit(ClientConfig::default().hello_padding);
    assert_eq!(
        server.handle_datagram(T0 + ONE_WAY, client_v4(), &missing, &mut refused),
        Err(DropReason::App)
    );
    assert_eq!(refused.len(), 1, "a REFUSE answers the unknown path");
    Scenario {
        transcript,
        hello: hello.payload,
        first_response,
        request,
        request_at,
        retransmission,
        refuse: refused.remove(0).payload,
    }
}

fn parse_response(datagram: &[u8]) -> ResponseRepr<'_> {
    let (header, body) = Header::parse(datagram).unwrap();
    assert_eq!(header.packet_type, PacketType::Response);
    ResponseRepr::parse(&header, body).unwrap()
}

fn parse_request(datagram: &[u8]) -> RequestRepr<'_> {
    let (header, body) = Header::parse(datagram).unwrap();
    assert_eq!(header.packet_type, PacketType::Request);
    RequestRepr::parse(&header, body).unwrap()
}

fn response_seq(datagram: &[u8]) -> u64 {
    parse_response(datagram).continuation.fields.seq
}

fn response_flags(datagram: &[u8]) -> u8 {
    parse_response(datagram).flags
}

/// SACK blocks of a REQUEST; 0 for any other datagram.
fn sack_count(datagram: &[u8]) -> usize {
    match Header::parse(datagram) {
        Ok((header, _)) if header.packet_type == PacketType::Request => {
            parse_request(datagram).sacks.len()
        }
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// The spec's cryptography, implemented from the text of docs/PROTOCOL.md.
// ---------------------------------------------------------------------------------------------

mod spec {
    use super::*;

    pub const HKDF_SALT: &[u8] = b"trickles/v1 key epoch";
    pub const LABEL_MAC: &[u8] = b"trickles/v1 continuation mac";
    pub const LABEL_NONCE: &[u8] = b"trickles/v1 packet nonce";

    pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// HKDF-Extract with the protocol salt.
    pub fn prk(secret: &[u8; 32]) -> [u8; 32] {
        hmac_sha256(HKDF_SALT, &[secret])
    }

    /// HKDF-Expand to 16 bytes with info = label ‖ epoch.
    pub fn subkey(secret: &[u8; 32], epoch: u8, label: &[u8]) -> [u8; 16] {
        let okm = hmac_sha256(&prk(secret), &[label, &[epoch], &[0x01]]);
        okm[..16].try_into().unwrap()
    }

    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }

    /// SipHash-2-4 with 128-bit output (Aumasson & Bernstein's reference `siphash.c`).
    pub fn siphash128(key: &[u8; 16], message: &[u8]) -> [u8; 16] {
        let k0 = u64::from_le_bytes(key[..8].try_into().unwrap());
        let k1 = u64::from_le_bytes(key[8..].try_into().unwrap());
        let mut v = [
            k0 ^ 0x736f_6d65_7073_6575,
            k1 ^ 0x646f_7261_6e64_6f6d ^ 0xee,
            k0 ^ 0x6c79_6765_6e65_7261,
            k1 ^ 0x7465_6462_7974_6573,
        ];
        let mut chunks = message.chunks_exact(8);
        for chunk in &mut chunks {
            let m = u64::from_le_bytes(chunk.try_into().unwrap());
            v[3] ^= m;
            round(&mut v);
            round(&mut v);
            v[0] ^= m;
        }
        let mut last = [0u8; 8];
        last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        last[7] = message.len() as u8;
        let b = u64::from_le_bytes(last);
        v[3] ^= b;
        round(&mut v);
        round(&mut v);
        v[0] ^= b;
        v[2] ^= 0xee;
        for _ in 0..4 {
            round(&mut v);
        }
        let h0 = v[0] ^ v[1] ^ v[2] ^ v[3];
        v[1] ^= 0xdd;
        for _ in 0..4 {
            round(&mut v);
        }
        let h1 = v[0] ^ v[1] ^ v[2] ^ v[3];
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&h0.to_le_bytes());
        out[8..].copy_from_slice(&h1.to_le_bytes());
        out
    }

    /// The continuation tag: SipHash-2-4-128 under the MAC subkey of pseudo-header ‖ body.
    pub fn tag(pseudo: &[u8], body: &[u8]) -> [u8; 16] {
        let key = subkey(&SECRET, EPOCH, LABEL_MAC);
        siphash128(&key, &[pseudo, body].concat())
    }

    /// r(j) of nonce stream `stream`: word j mod 4 of the block j div 4.
    pub fn r(stream: u64, j: u64) -> u32 {
        let key = subkey(&SECRET, EPOCH, LABEL_NONCE);
        let block = siphash128(
            &key,
            &[stream.to_le_bytes(), (j / 4).to_le_bytes()].concat(),
        );
        let i = (j % 4) as usize * 4;
        u32::from_le_bytes(block[i..i + 4].try_into().unwrap())
    }

    /// The pseudo-header: conn_id, client IP as IPv6 (IPv4 mapped), client port.
    pub fn pseudo_header(conn_id: u64, client: SocketAddr) -> Vec<u8> {
        let ip = match client.ip() {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            std::net::IpAddr::V6(v6) => v6,
        };
        [
            &conn_id.to_be_bytes()[..],
            &ip.octets()[..],
            &client.port().to_be_bytes()[..],
        ]
        .concat()
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering: hex dumps and field tables.
// ---------------------------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `hexdump -C` style, 16 bytes a line with a 4-digit hex offset; a line equal to the one
/// before is shown as `*`; the last line is the total length.
fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut previous: Option<&[u8]> = None;
    let mut starred = false;
    for (i, line) in bytes.chunks(16).enumerate() {
        if previous == Some(line) && line.len() == 16 {
            if !starred {
                out.push_str("*\n");
                starred = true;
            }
            continue;
        }
        starred = false;
        previous = Some(line);
        let mut hex_part = String::new();
        for (j, b) in line.iter().enumerate() {
            if j == 8 {
                hex_part.push(' ');
            }
            write!(hex_part, "{b:02x} ").unwrap();
        }
        let ascii: String = line
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        writeln!(out, "{:04x}  {hex_part:<49} |{ascii}|", i * 16).unwrap();
    }
    writeln!(out, "{:04x}", bytes.len()).unwrap();
    out
}

fn fenced(text: &str) -> String {
    format!("```text\n{text}```\n")
}

/// One annotated field.
struct Row {
    offset: usize,
    len: usize,
    in_continuation: Option<usize>,
    field: String,
    value: String,
}

/// Walks a datagram field by field at the spec's offsets, checking every field's bytes against
/// the value the parser returned.
struct Annotation<'a> {
    bytes: &'a [u8],
    next: usize,
    continuation_start: Option<usize>,
    rows: Vec<Row>,
}

impl<'a> Annotation<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Annotation {
            bytes,
            next: 0,
            continuation_start: None,
            rows: Vec::new(),
        }
    }

    fn take(&mut self, len: usize, field: &str, value: String) -> &'a [u8] {
        let at = self.next;
        let raw = &self.bytes[at..at + len];
        self.rows.push(Row {
            offset: at,
            len,
            in_continuation: self.continuation_start.map(|start| at - start),
            field: field.to_string(),
            value,
        });
        self.next += len;
        raw
    }

    /// A big-endian unsigned field that must decode to `value`.
    fn int(&mut self, len: usize, field: &str, value: u64, shown: String) {
        let raw = self.take(len, field, shown);
        let decoded = raw.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b));
        assert_eq!(decoded, value, "field {field}");
    }

    fn dec(&mut self, len: usize, field: &str, value: u64) {
        self.int(len, field, value, value.to_string());
    }

    fn hex_int(&mut self, len: usize, field: &str, value: u64) {
        self.int(
            len,
            field,
            value,
            format!("0x{value:0width$x}", width = 2 * len),
        );
    }

    /// A byte string that must equal `expected`.
    fn bytes(&mut self, field: &str, expected: &[u8], shown: String) {
        let raw = self.take(expected.len(), field, shown);
        assert_eq!(raw, expected, "field {field}");
    }

    fn header(&mut self, packet_type: PacketType, conn_id: u64) {
        self.dec(1, "version", 1);
        let name = match packet_type {
            PacketType::Hello => "HELLO",
            PacketType::Request => "REQUEST",
            PacketType::Response => "RESPONSE",
            PacketType::Refuse => "REFUSE",
        };
        let code = packet_type as u64;
        self.int(1, "type", code, format!("{code} ({name})"));
        self.hex_int(8, "conn_id", conn_id);
    }

    fn continuation(&mut self, sealed: &SealedContinuation<'_>) {
        let c = sealed.fields;
        self.continuation_start = Some(self.next);
        self.dec(1, "epoch", c.epoch.into());
        let state = match c.state {
            ContState::Normal => "normal",
            ContState::Recovery => "recovery",
            ContState::Bootstrap => "bootstrap",
        };
        self.int(
            1,
            "state",
            c.state as u64,
            format!("{} ({state})", c.state as u8),
        );
        self.dec(8, "seq", c.seq);
        let since = c.timestamp - T0.micros();
        let shown = format!("{} (T0 + {} ms)", c.timestamp, since / 1000);
        self.int(8, "timestamp", c.timestamp, shown);
        let mrtt = if c.mrtt == 0 {
            "0 (no sample)".to_string()
        } else {
            format!("{} µs", c.mrtt)
        };
        self.int(4, "mrtt", c.mrtt.into(), mrtt);
        self.dec(8, "tcp_base", c.tcp_base);
        self.dec(4, "start_cwnd", c.start_cwnd.into());
        self.dec(4, "ssthresh", c.ssthresh.into());
        self.dec(8, "first_loss", c.first_loss);
        self.dec(8, "first_bootstrap_seq", c.first_bootstrap_seq);
        self.hex_int(8, "token_base", c.token_base);
        self.dec(8, "data_base", c.data_base);
        self.dec(8, "start_offset", c.start_offset);
        self.dec(8, "total_len", c.total_len);
        self.dec(2, "mss", c.mss.into());
        self.dec(4, "window_cap", c.window_cap.into());
        self.dec(2, "ucont_len", c.ucont.len() as u64);
        self.bytes("ucont", c.ucont, quoted(c.ucont));
        self.bytes("tag", sealed.tag, hex(sealed.tag));
        self.continuation_start = None;
    }

    /// The table; every byte of the datagram must have been walked.
    fn finish(self) -> String {
        assert_eq!(
            self.next,
            self.bytes.len(),
            "annotation does not reach the end"
        );
        let mut out = String::from(
            "| off | hex | len | cont | field | value |\n|---:|---:|---:|---:|---|---|\n",
        );
        for row in &self.rows {
            let cont = row.in_continuation.map_or(String::new(), |o| o.to_string());
            writeln!(
                out,
                "| {} | 0x{:02x} | {} | {cont} | `{}` | {} |",
                row.offset, row.offset, row.len, row.field, row.value
            )
            .unwrap();
        }
        out
    }
}

fn quoted(bytes: &[u8]) -> String {
    format!("`\"{}\"`", String::from_utf8_lossy(bytes))
}

fn section(bytes: &[u8], table: String) -> String {
    format!("{}\n{table}", fenced(&hex_dump(bytes)))
}

fn hello_section(datagram: &[u8]) -> String {
    let (header, body) = Header::parse(datagram).unwrap();
    let hello = HelloRepr::parse(&header, body).unwrap();
    let mut a = Annotation::new(datagram);
    a.header(PacketType::Hello, hello.conn_id);
    a.dec(8, "resume_offset", hello.resume_offset);
    a.dec(4, "receive_window", hello.receive_window.into());
    a.dec(2, "request_len", hello.request.len() as u64);
    a.bytes("request", hello.request, quoted(hello.request));
    let padding = vec![0u8; datagram.len() - a.next];
    let shown = format!("zeros, up to {} bytes", datagram.len());
    a.bytes("padding", &padding, shown);
    section(datagram, a.finish())
}

fn response_section(datagram: &[u8]) -> String {
    let r = parse_response(datagram);
    let mut a = Annotation::new(datagram);
    a.header(PacketType::Response, r.conn_id);
    let seq = r.continuation.fields.seq;
    a.hex_int(4, "nonce", r.nonce.into());
    let echo = if r.echo == 0 {
        "0 (answer to a HELLO)".to_string()
    } else {
        format!("{} (copied from the request)", r.echo)
    };
    a.int(4, "echo", r.echo.into(), echo);
    let mut names = Vec::new();
    if r.flags & FLAG_FIN != 0 {
        names.push("FIN");
    }
    if r.flags & FLAG_RETRANSMISSION != 0 {
        names.push("RETRANSMISSION");
    }
    let flags = if names.is_empty() {
        format!("0x{:02x} (none)", r.flags)
    } else {
        format!("0x{:02x} ({})", r.flags, names.join(", "))
    };
    a.int(1, "flags", r.flags.into(), flags);
    a.dec(2, "cont_len", r.continuation_bytes.len() as u64);
    a.continuation(&r.continuation);
    let (offset, len) = r.continuation.fields.data_range(seq).unwrap();
    let shown = format!(
        "stream bytes {offset}..{}: {}",
        offset + len as u64,
        quoted(r.data)
    );
    a.bytes("data", r.data, shown);
    section(datagram, a.finish())
}

fn request_section(datagram: &[u8]) -> String {
    let r = parse_request(datagram);
    let mut a = Annotation::new(datagram);
    a.header(PacketType::Request, r.conn_id);
    let kind = match r.kind {
        RequestKind::Normal => "normal",
        RequestKind::SlowStart => "slow start",
    };
    a.int(
        1,
        "kind",
        r.kind as u64,
        format!("{} ({kind})", r.kind as u8),
    );
    a.dec(1, "attempt", r.attempt.into());
    let echo = format!("{} (client clock, 100 µs units)", r.echo);
    a.int(4, "echo", r.echo.into(), echo);
    a.dec(2, "cont_len", r.continuation.body.len() as u64 + 16);
    a.continuation(&r.continuation);
    a.dec(1, "sack_count", r.sacks.len() as u64);
    for (i, block) in r.sacks.clone().enumerate() {
        a.dec(8, &format!("block[{i}].left"), block.left);
        a.dec(8, &format!("block[{i}].right"), block.right);
        let shown = format!(
            "0x{:08x} = r({}) ^ r({})",
            block.summary,
            block.left,
            block.right + 1
        );
        a.int(
            4,
            &format!("block[{i}].summary"),
            block.summary.into(),
            shown,
        );
    }
    section(datagram, a.finish())
}

fn refuse_section(datagram: &[u8]) -> String {
    let (header, body) = Header::parse(datagram).unwrap();
    let r = RefuseRepr::parse(&header, body).unwrap();
    let mut a = Annotation::new(datagram);
    a.header(PacketType::Refuse, r.conn_id);
    a.int(1, "code", r.code.into(), format!("{} (not found)", r.code));
    a.dec(2, "msg_len", r.message.len() as u64);
    a.bytes("message", r.message, quoted(r.message));
    section(datagram, a.finish())
}

fn pseudo_header_section(client: SocketAddr) -> String {
    let p = pseudo_header(CONN_ID, client);
    let mut a = Annotation::new(&p);
    a.hex_int(8, "conn_id", CONN_ID);
    let ip = match client.ip() {
        std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        std::net::IpAddr::V6(v6) => v6,
    };
    a.bytes("client_ip", &ip.octets(), format!("`{ip}`"));
    a.dec(2, "client_port", client.port().into());
    section(&p, a.finish())
}

fn keys_section() -> String {
    let mac = spec::subkey(&SECRET, EPOCH, spec::LABEL_MAC);
    let nonce = spec::subkey(&SECRET, EPOCH, spec::LABEL_NONCE);
    let le = |k: &[u8; 16], half: usize| {
        u64::from_le_bytes(k[half * 8..half * 8 + 8].try_into().unwrap())
    };
    let mut out = String::new();
    writeln!(out, "secret     {}", hex(&SECRET)).unwrap();
    writeln!(out, "epoch      {EPOCH}").unwrap();
    writeln!(out, "PRK        {}", hex(&spec::prk(&SECRET))).unwrap();
    for (name, k) in [("mac key", mac), ("nonce key", nonce)] {
        writeln!(out, "{name:<10} {}", hex(&k)).unwrap();
        writeln!(
            out,
            "           k0 = 0x{:016x}, k1 = 0x{:016x}",
            le(&k, 0),
            le(&k, 1)
        )
        .unwrap();
    }
    fenced(&out)
}

fn mac_input_section(response: &[u8]) -> String {
    let r = parse_response(response);
    let pseudo = pseudo_header(CONN_ID, client_v4());
    let input = [&pseudo[..], r.continuation.body].concat();
    let mut out = hex_dump(&input);
    writeln!(
        out,
        "\ntag = {}",
        hex(&spec::tag(&pseudo, r.continuation.body))
    )
    .unwrap();
    fenced(&out)
}

fn nonces_section(response: &[u8], request: &[u8]) -> String {
    let token_base = parse_response(response).continuation.fields.token_base;
    let mut out = String::new();
    writeln!(out, "token_base = 0x{token_base:016x}").unwrap();
    for b in 0..3u64 {
        let words: Vec<String> = (4 * b..4 * b + 4)
            .map(|j| format!("r({j:2}) = 0x{:08x}", spec::r(token_base, j)))
            .collect();
        writeln!(out, "block {b}: {}", words.join("  ")).unwrap();
    }
    for seq in 1..=8u64 {
        let nonce = spec::r(token_base, seq) ^ spec::r(token_base, seq + 1);
        writeln!(
            out,
            "packet nonce of seq {seq} = r({seq}) ^ r({}) = 0x{nonce:08x}",
            seq + 1
        )
        .unwrap();
    }
    for block in parse_request(request).sacks {
        let (l, r) = (block.left, block.right);
        let proof = spec::r(token_base, l) ^ spec::r(token_base, r + 1);
        writeln!(
            out,
            "range nonce of [{l}, {r}] = r({l}) ^ r({}) = 0x{proof:08x}",
            r + 1
        )
        .unwrap();
    }
    fenced(&out)
}

/// Run-length form of a window sequence: `8×8` is window 8 for eight acks.
fn runs(windows: &[u32]) -> String {
    let mut parts: Vec<(u32, usize)> = Vec::new();
    for &w in windows {
        match parts.last_mut() {
            Some((v, n)) if *v == w => *n += 1,
            _ => parts.push((w, 1)),
        }
    }
    parts
        .iter()
        .map(|&(v, n)| {
            if n == 1 {
                v.to_string()
            } else {
                format!("{v}×{n}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn cwnd_section() -> String {
    let mut out = String::new();
    let vectors = [
        (1u64, 3u32, 0x3FFFu32, 11u64),
        (0, 2, 8, 33),
        (110, 5, 5, 128),
    ];
    for (tcp_base, start_cwnd, ssthresh, last) in vectors {
        let p = WindowParams {
            tcp_base,
            start_cwnd,
            ssthresh,
            max_cwnd: trickles::cc::MAX_CWND,
        };
        let windows: Vec<u32> = (tcp_base..=last).map(|k| p.cwnd(k)).collect();
        writeln!(
            out,
            "tcp_base {tcp_base}, start_cwnd {start_cwnd}, ssthresh {ssthresh}:\n  \
             cwnd(k) for k = {tcp_base}..={last}: {}",
            runs(&windows)
        )
        .unwrap();
        let steps: Vec<String> = (tcp_base..tcp_base + 7)
            .map(|k| {
                let seqs: Vec<String> =
                    normal_step(&p, k).unwrap().map(|s| s.to_string()).collect();
                format!("{k}→{{{}}}", seqs.join(","))
            })
            .collect();
        writeln!(out, "  normal step, request k → seqs: {}", steps.join(" ")).unwrap();
    }
    fenced(&out)
}

/// One line per datagram of the scripted transfer.
fn transcript_section(s: &Scenario) -> String {
    let mut by_time: Vec<&Sent> = s.transcript.iter().collect();
    by_time.sort_by_key(|sent| sent.at);
    let mut out = String::new();
    for sent in by_time {
        let ms = (sent.at.micros() - T0.micros()) / 1000;
        let arrow = if sent.to_server { "C→S" } else { "S→C" };
        let (header, body) = Header::parse(&sent.payload).unwrap();
        let what = match header.packet_type {
            PacketType::Hello => {
                let h = HelloRepr::parse(&header, body).unwrap();
                format!(
                    "HELLO    {} bytes, request {}",
                    sent.payload.len(),
                    String::from_utf8_lossy(h.request)
                )
            }
            PacketType::Request => {
                let r = parse_request(&sent.payload);
                let c = r.continuation.fields;
                let blocks: Vec<String> = r
                    .sacks
                    .map(|b| format!("[{},{}]", b.left, b.right))
                    .collect();
                format!(
                    "REQUEST  for seq {:>2} (tcp_base {}), SACK {}",
                    c.seq,
                    c.tcp_base,
                    blocks.join(" ")
                )
            }
            PacketType::Response => {
                let r = parse_response(&sent.payload);
                let c = r.continuation.fields;
                let mut line = format!(
                    "RESPONSE seq {:>2}, state {:?}, tcp_base {}, start_cwnd {}",
                    c.seq, c.state, c.tcp_base, c.start_cwnd
                );
                if r.flags & FLAG_RETRANSMISSION != 0 {
                    line.push_str(", RETRANSMISSION");
                }
                if sent.lost {
                    line.push_str("  (lost)");
                }
                line
            }
            PacketType::Refuse => "REFUSE".to_string(),
        };
        writeln!(out, "T0+{ms:>3} ms  {arrow}  {what}").unwrap();
    }
    fenced(&out)
}

/// Every generated section of the document, by marker name.
fn sections(s: &Scenario) -> Vec<(&'static str, String)> {
    vec![
        ("keys", keys_section()),
        ("pseudo-header-v4", pseudo_header_section(client_v4())),
        ("pseudo-header-v6", pseudo_header_section(client_v6())),
        ("transcript", transcript_section(s)),
        ("hello", hello_section(&s.hello)),
        ("response", response_section(&s.first_response)),
        ("mac-input", mac_input_section(&s.first_response)),
        ("nonces", nonces_section(&s.first_response, &s.request)),
        ("request", request_section(&s.request)),
        ("retransmission", response_section(&s.retransmission)),
        ("refuse", refuse_section(&s.refuse)),
        ("cwnd", cwnd_section()),
    ]
}

// ---------------------------------------------------------------------------------------------
// The document.
// ---------------------------------------------------------------------------------------------

const DOC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md");
const END_MARKER: &str = "<!-- /example -->";

fn start_marker(name: &str) -> String {
    format!("<!-- example:{name} -->\n")
}

/// Byte range of the content of section `name` in `doc` (between the markers).
fn section_range(doc: &str, name: &str) -> Option<core::ops::Range<usize>> {
    let marker = start_marker(name);
    let start = doc.find(&marker)? + marker.len();
    let end = start + doc[start..].find(END_MARKER)?;
    Some(start..end)
}

/// Names of every example marker in `doc` (a line of its own; prose may quote the syntax).
fn marker_names(doc: &str) -> Vec<String> {
    doc.lines()
        .filter_map(|line| line.strip_prefix("<!-- example:")?.strip_suffix(" -->"))
        .map(str::to_string)
        .collect()
}

#[test]
fn document_examples_are_what_the_code_produces() {
    let scenario = scenario();
    let generated = sections(&scenario);
    let mut doc = std::fs::read_to_string(DOC_PATH).expect("docs/PROTOCOL.md exists");
    let bless = std::env::var_os("TRICKLES_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, content) in &generated {
        let range = section_range(&doc, name)
            .unwrap_or_else(|| panic!("docs/PROTOCOL.md lacks the markers of example {name}"));
        if doc[range.clone()] != *content {
            if bless {
                doc.replace_range(range, content);
            } else {
                stale.push(*name);
            }
        }
    }
    let known: Vec<&str> = generated.iter().map(|(name, _)| *name).collect();
    for name in marker_names(&doc) {
        assert!(
            known.contains(&name.as_str()),
            "unknown example marker {name}"
        );
    }
    if bless {
        std::fs::write(DOC_PATH, doc).expect("docs/PROTOCOL.md is writable");
    }
    assert!(
        stale.is_empty(),
        "examples {stale:?} of docs/PROTOCOL.md differ from the code; \
         rerun with TRICKLES_BLESS=1 to regenerate them"
    );
}

// ---------------------------------------------------------------------------------------------
// Claims the document makes about its examples.
// ---------------------------------------------------------------------------------------------

#[test]
fn request_example_is_accepted_by_any_server_holding_the_key_at_its_time() {
    let s = scenario();
    let request = parse_request(&s.request);
    let c = request.continuation.fields;
    assert_eq!(
        (c.seq, c.tcp_base, request.kind),
        (6, 1, RequestKind::Normal)
    );
    let blocks: Vec<(u64, u64)> = request.sacks.clone().map(|b| (b.left, b.right)).collect();
    assert_eq!(blocks, vec![(1, 4), (6, 8)]);
    for block in request.sacks.clone() {
        assert!(key().range_nonce_matches(c.token_base, block.left, block.right, block.summary));
        assert_eq!(
            block.summary,
            spec::r(c.token_base, block.left) ^ spec::r(c.token_base, block.right + 1)
        );
    }
    // A replica that never saw the connection (another RNG seed, empty replay filter) answers
    // it with exactly the retransmission the scripted server sent.
    let mut replica = server(SEED + 1);
    let mut out = Vec::new();
    let sent = replica.handle_datagram(s.request_at, client_v4(), &s.request, &mut out);
    assert_eq!(sent, Ok(1));
    assert_eq!(out[0].payload, s.retransmission);
    assert_eq!(out[0].destination, client_v4());
    // ... once: the same request again is a replay.
    assert_eq!(
        replica.handle_datagram(s.request_at, client_v4(), &s.request, &mut out),
        Err(DropReason::Replay)
    );
    let mut fresh = server(SEED);
    assert_eq!(
        fresh.handle_datagram(s.request_at, client_v6(), &s.request, &mut out),
        Err(DropReason::Mac),
        "the MAC binds the client address"
    );
    let too_late = Instant(c.timestamp) + ServerConfig::default().freshness + Duration(1);
    assert_eq!(
        fresh.handle_datagram(too_late, client_v4(), &s.request, &mut out),
        Err(DropReason::Stale)
    );
}

#[test]
fn retransmission_example_carries_the_recovery_state() {
    let s = scenario();
    let r = parse_response(&s.retransmission);
    let c = r.continuation.fields;
    assert_eq!(r.flags, FLAG_RETRANSMISSION);
    assert_eq!(c.state, ContState::Recovery);
    assert_eq!((c.seq, c.first_loss), (LOST_SEQ, LOST_SEQ));
    // Window 6 in flight at the loss, halved to 3; the post-loss epoch starts after seq 10.
    assert_eq!((c.tcp_base, c.start_cwnd, c.ssthresh), (11, 3, 3));
    assert_eq!(c.first_bootstrap_seq, 11);
    assert_eq!(r.echo, parse_request(&s.request).echo);
    assert_eq!(r.data, &object()[128..160]);
}

#[test]
fn an_implementation_of_the_spec_reproduces_every_tag_and_nonce() {
    // The SipHash written from the spec matches the first reference vector.
    let key: [u8; 16] = core::array::from_fn(|i| i as u8);
    assert_eq!(
        hex(&spec::siphash128(&key, &[])),
        "a3817f04ba25a8e66df67214c7550293"
    );
    let s = scenario();
    for sent in s.transcript.iter().filter(|s| !s.to_server) {
        let r = parse_response(&sent.payload);
        let c = r.continuation.fields;
        let pseudo = spec::pseudo_header(CONN_ID, client_v4());
        assert_eq!(pseudo, pseudo_header(CONN_ID, client_v4()));
        assert_eq!(spec::tag(&pseudo, r.continuation.body), r.continuation.tag);
        let nonce = spec::r(c.token_base, c.seq) ^ spec::r(c.token_base, c.seq + 1);
        assert_eq!(nonce, r.nonce, "seq {}", c.seq);
        assert_eq!(key_nonce(c.token_base, c.seq), nonce);
    }
    assert_eq!(
        spec::pseudo_header(CONN_ID, client_v6()),
        pseudo_header(CONN_ID, client_v6())
    );
}

fn key_nonce(token_base: u64, seq: u64) -> u32 {
    key().packet_nonce(token_base, seq)
}

#[test]
fn hello_example_is_a_padded_hello_that_draws_three_packets() {
    let s = scenario();
    let (header, body) = Header::parse(&s.hello).unwrap();
    let hello = HelloRepr::parse(&header, body).unwrap();
    assert_eq!(s.hello.len(), 1400);
    assert_eq!(
        (hello.conn_id, hello.resume_offset, hello.request),
        (CONN_ID, 0, PATH)
    );
    let answers: Vec<&Sent> = s
        .transcript
        .iter()
        .filter(|t| !t.to_server && t.at == T0 + ONE_WAY)
        .collect();
    assert_eq!(answers.len(), 3);
    let total: usize = answers.iter().map(|t| t.payload.len()).sum();
    assert!(total <= 3 * s.hello.len(), "anti-amplification");
    let first = parse_response(&s.first_response);
    assert_eq!(first.continuation.fields.seq, 1);
    assert_eq!(first.echo, 0);
    assert_eq!(first.data, &object()[..32]);
}

#[test]
fn refuse_example_fails_the_client_with_its_code() {
    let s = scenario();
    let (header, body) = Header::parse(&s.refuse).unwrap();
    let refuse = RefuseRepr::parse(&header, body).unwrap();
    assert_eq!(
        (refuse.conn_id, refuse.code, refuse.message),
        (CONN_ID, 1, &b"not found"[..])
    );
    let mut client = ClientConnection::new(
        T0,
        server_addr(),
        MISSING_PATH.to_vec(),
        ClientConfig::default(),
        CONN_ID,
    );
    client.handle_datagram(T0 + ONE_WAY + ONE_WAY, server_addr(), &s.refuse);
    assert_eq!(
        client.status(),
        ClientStatus::Failed(ClientError::Refused {
            code: 1,
            message: "not found".into()
        })
    );
}
