//! The whole server step on arbitrary datagrams from IPv4 and IPv6 sources: parse, open, check,
//! step, build. Claim: no panic, and a datagram that is not a valid REQUEST (random bytes never
//! carry a verifying continuation) is answered with at most the amplification budget of an
//! unvalidated source: 3 × its length.
#![no_main]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use trickles::app::MemoryApplication;
use trickles::crypto::{Key, KeyRing};
use trickles::server::{ServerConfig, ServerEndpoint};
use trickles::time::Instant;
use trickles_server::udp::driver::SharedApplication;

struct Fixture {
    app: Arc<MemoryApplication>,
    keys: KeyRing,
    sources: [SocketAddr; 2],
}

static FIXTURE: OnceLock<Fixture> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let fixture = FIXTURE.get_or_init(|| {
        let mut app = MemoryApplication::new();
        app.insert("/hello.txt", b"Trickles: every packet carries the state".to_vec());
        app.insert("/big", vec![7u8; 20_000]);
        Fixture {
            app: Arc::new(app),
            keys: KeyRing::new(Key::from_secret(1, &[1; 32])),
            sources: ["198.18.0.2:40000".parse().unwrap(), "[2001:2::2]:40000".parse().unwrap()],
        }
    });
    SERVER.with(|cell| {
        let mut slot = cell.borrow_mut();
        let server = slot.get_or_insert_with(|| {
            let config = ServerConfig {
                replay_capacity: 1_024,
                ..ServerConfig::default()
            };
            let app = SharedApplication(fixture.app.clone());
            ServerEndpoint::new(config, fixture.keys.clone(), app, 1)
        });
        serve(server, fixture, data);
    });
});

thread_local! {
    /// One endpoint for the whole run: its only state, the replay filter, is soft state a
    /// server keeps across datagrams too.
    static SERVER: RefCell<Option<ServerEndpoint<SharedApplication<MemoryApplication>>>> =
        const { RefCell::new(None) };
}

fn serve(
    server: &mut ServerEndpoint<SharedApplication<MemoryApplication>>,
    fixture: &Fixture,
    data: &[u8],
) {
    for from in &fixture.sources {
        let mut out = Vec::new();
        let verdict = server.handle_datagram(Instant(1_700_000_000_000_000), *from, data, &mut out);
        let sent: usize = out.iter().map(|t| t.payload.len()).sum();
        let is_request = data.get(1) == Some(&2);
        if verdict.is_err() || !is_request {
            assert!(sent <= 3 * data.len(), "{sent} bytes for {} received", data.len());
        }
    }
}
