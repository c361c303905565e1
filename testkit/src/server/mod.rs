//! [`TestServer`]: the core's `ServerEndpoint` on a real UDP socket, on its own thread,
//! serving a `MemoryApplication` with the [test key](crate::test_key); with scripted
//! misbehaviour ([`FaultScript`]: lost packets, answers from another address, a crash and
//! restart) and a [`Relay`] in front: clients directly, the balancer (as a replica that
//! trusts its encapsulation) or the packet mirror.
//!
//! Set `TRICKLES_TEST_TRACE=1` to print the server's verdict on every datagram.

mod faults;
mod relay;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use trickles::app::MemoryApplication;
use trickles::crypto::KeyRing;
use trickles::server::{ServerConfig, ServerEndpoint};

pub use faults::FaultScript;
pub use relay::Relay;

use crate::clock::wall_clock;
use faults::Faults;

/// How long a receive waits before the thread looks at its stop flag.
const STOP_POLL: Duration = Duration::from_millis(20);

/// Every endpoint gets its own connection-token seed.
static NEXT_SEED: AtomicU64 = AtomicU64::new(1);

/// An application serving `objects` (name → body).
pub fn memory_app<'a>(objects: impl IntoIterator<Item = (&'a str, Vec<u8>)>) -> MemoryApplication {
    let mut app = MemoryApplication::new();
    for (name, body) in objects {
        app.insert(name.as_bytes().to_vec(), body);
    }
    app
}

/// A running in-test Trickles server; stops (closing its socket) on [`kill`](Self::kill) or
/// drop.
pub struct TestServer {
    addr: SocketAddr,
    seen: Arc<Seen>,
    thread: Option<JoinHandle<()>>,
}

/// What to start: built by [`TestServer::builder`].
pub struct TestServerBuilder {
    app: MemoryApplication,
    socket: Option<UdpSocket>,
    bind: SocketAddr,
    relay: Relay,
    script: FaultScript,
    keys: KeyRing,
    config: ServerConfig,
}

/// What the server thread shares with the test.
#[derive(Default)]
struct Seen {
    stop: AtomicBool,
    received: AtomicU64,
    handled: AtomicU64,
    sources: Mutex<BTreeSet<SocketAddr>>,
    clients: Mutex<BTreeSet<SocketAddr>>,
}

impl TestServer {
    /// Serves `app` to clients on `bind` (port 0 picks one) following `script`.
    pub fn start(bind: &str, app: MemoryApplication, script: FaultScript) -> TestServer {
        let bind = bind
            .parse()
            .unwrap_or_else(|e| panic!("test server address `{bind}`: {e}"));
        TestServer::builder(app).bind(bind).script(script).start()
    }

    /// A server of `app` on 127.0.0.1 (any port), for clients directly, with no faults and
    /// the test key; the builder's methods change that.
    pub fn builder(app: MemoryApplication) -> TestServerBuilder {
        TestServerBuilder {
            app,
            socket: None,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            relay: Relay::Direct,
            script: FaultScript::default(),
            keys: crate::test_keys(),
            config: ServerConfig::default(),
        }
    }

    /// The address it receives on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `trickles://ADDR/path` (IPv6 bracketed).
    pub fn url(&self, path: &str) -> String {
        format!("trickles://{}{}", self.addr, path)
    }

    /// Datagrams received so far (including those the relay refused).
    pub fn received(&self) -> u64 {
        self.seen.received.load(Ordering::SeqCst)
    }

    /// Datagrams handed to the endpoint so far (those the relay accepted).
    pub fn handled(&self) -> u64 {
        self.seen.handled.load(Ordering::SeqCst)
    }

    /// The distinct addresses (ip, port) datagrams came from.
    pub fn sources(&self) -> BTreeSet<SocketAddr> {
        lock(&self.seen.sources).clone()
    }

    /// The distinct clients the endpoint served: the sources, or the peers a relay named.
    pub fn clients(&self) -> BTreeSet<SocketAddr> {
        lock(&self.seen.clients).clone()
    }

    /// Stops it and closes its socket (the port then answers "unreachable"): a crash.
    pub fn kill(&mut self) {
        self.seen.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

impl TestServerBuilder {
    /// Receive on `bind` (port 0 picks one).
    pub fn bind(mut self, bind: SocketAddr) -> Self {
        self.bind = bind;
        self
    }

    /// Receive on an already bound socket (when its address must be known first, e.g. by a
    /// mirror's peer table).
    pub fn socket(mut self, socket: UdpSocket) -> Self {
        self.socket = Some(socket);
        self
    }

    /// Who sends to it.
    pub fn relay(mut self, relay: Relay) -> Self {
        self.relay = relay;
        self
    }

    /// How it misbehaves.
    pub fn script(mut self, script: FaultScript) -> Self {
        self.script = script;
        self
    }

    /// Its keys (default: the test key).
    pub fn keys(mut self, keys: KeyRing) -> Self {
        self.keys = keys;
        self
    }

    /// The endpoint's configuration (default: the core's).
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// Starts it; panics naming the address when it cannot bind.
    pub fn start(self) -> TestServer {
        let bind = self.bind;
        self.try_start()
            .unwrap_or_else(|e| panic!("test server on {bind}: {e}"))
    }

    /// Starts it, or says why the socket could not be bound.
    pub fn try_start(self) -> std::io::Result<TestServer> {
        let socket = match self.socket {
            Some(socket) => socket,
            None => UdpSocket::bind(self.bind)?,
        };
        socket.set_read_timeout(Some(STOP_POLL))?;
        let addr = socket.local_addr()?;
        let reply = if self.script.answer_from_other_socket {
            UdpSocket::bind(SocketAddr::new(addr.ip(), 0))?
        } else {
            socket.try_clone()?
        };
        let seen = Arc::new(Seen::default());
        let shared = seen.clone();
        let (app, keys, config) = (self.app, self.keys, self.config);
        let endpoint = move || {
            let seed = NEXT_SEED.fetch_add(1, Ordering::Relaxed);
            ServerEndpoint::new(config.clone(), keys.clone(), app.clone(), seed)
        };
        let (relay, faults) = (self.relay, Faults::new(self.script));
        let thread =
            std::thread::spawn(move || serve(&socket, &reply, endpoint, &relay, faults, &shared));
        Ok(TestServer {
            addr,
            seen,
            thread: Some(thread),
        })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The server thread: receive, let the relay unwrap, let the endpoint answer, let the relay
/// re-address the answers, send what the script does not drop.
fn serve(
    socket: &UdpSocket,
    reply: &UdpSocket,
    endpoint: impl Fn() -> ServerEndpoint<MemoryApplication>,
    relay: &Relay,
    mut faults: Faults,
    seen: &Seen,
) {
    let trace = std::env::var_os("TRICKLES_TEST_TRACE").is_some();
    let mut server = endpoint();
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::new();
    while !seen.stop.load(Ordering::SeqCst) {
        let Ok((len, from)) = socket.recv_from(&mut buf) else {
            continue;
        };
        let count = seen.received.fetch_add(1, Ordering::SeqCst) + 1;
        lock(&seen.sources).insert(from);
        match faults.on_receive(count) {
            faults::Alive::Dead => continue,
            faults::Alive::Restarted => server = endpoint(),
            faults::Alive::Yes => {}
        }
        let Some(ingress) = relay.unwrap(from, &buf[..len]) else {
            continue;
        };
        seen.handled.fetch_add(1, Ordering::SeqCst);
        lock(&seen.clients).insert(ingress.client);
        out.clear();
        let verdict =
            server.handle_datagram(wall_clock(), ingress.client, ingress.payload, &mut out);
        if trace {
            eprintln!("srv #{count} len {len} -> {verdict:?}");
        }
        relay.readdress(ingress.reply, &mut out);
        for transmit in &out {
            if faults.send_this() {
                let _ = reply.send_to(&transmit.payload, transmit.destination);
            }
        }
    }
}
