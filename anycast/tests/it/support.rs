//! Test scaffolding: a fake BIRD control socket speaking the birdc protocol from a thread, a
//! fake Trickles service that answers probes, and waiting with a generous deadline.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How a fake BIRD answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Like BIRD 2.
    Bird,
    /// Something else listens there (an HTTP server, say).
    Garbage,
}

/// The fake's protocol table and the commands it received.
#[derive(Debug)]
pub struct FakeState {
    /// (name, proto, table, state, info)
    pub protocols: Vec<(String, String, String, String, String)>,
    /// Every command line received.
    pub commands: Vec<String>,
    /// How it answers.
    pub mode: Mode,
    /// BFD sessions: (neighbor address, state).
    pub bfd: Vec<(String, String)>,
}

/// A fake BIRD control socket.
pub struct FakeBird {
    /// The socket path.
    pub path: PathBuf,
    /// Its state.
    pub state: Arc<Mutex<FakeState>>,
    stop: Arc<AtomicBool>,
}

impl FakeBird {
    /// Listen at `path` with `protocols` (name, proto, enabled).
    pub fn start(path: &Path, protocols: &[(&str, &str, bool)], mode: Mode) -> Self {
        let state = Arc::new(Mutex::new(FakeState {
            protocols: protocols
                .iter()
                .map(|(name, proto, on)| {
                    let table = if *proto == "BGP" {
                        "---"
                    } else if name.ends_with('6') {
                        "master6"
                    } else {
                        "master4"
                    };
                    let (state, info) = match (*proto, *on) {
                        ("BGP", true) => ("up", "Established"),
                        (_, true) => ("up", ""),
                        _ => ("down", ""),
                    };
                    (
                        name.to_string(),
                        proto.to_string(),
                        table.to_owned(),
                        state.to_owned(),
                        info.to_owned(),
                    )
                })
                .collect(),
            commands: Vec::new(),
            mode,
            bfd: Vec::new(),
        }));
        let listener = UnixListener::bind(path).expect("bind the fake BIRD socket");
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, flag) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let shared = shared.clone();
                        std::thread::spawn(move || serve(stream, &shared));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FakeBird {
            path: path.to_owned(),
            state,
            stop,
        }
    }

    /// The commands received so far.
    pub fn commands(&self) -> Vec<String> {
        self.state.lock().expect("state").commands.clone()
    }

    /// The state of protocol `name`.
    pub fn protocol_state(&self, name: &str) -> Option<String> {
        let state = self.state.lock().expect("state");
        state
            .protocols
            .iter()
            .find(|p| p.0 == name)
            .map(|p| p.3.clone())
    }

    /// List a BFD session.
    pub fn add_bfd_session(&self, address: &str, state: &str) {
        self.state
            .lock()
            .expect("state")
            .bfd
            .push((address.to_owned(), state.to_owned()));
    }

    /// Set a protocol's state as if BIRD was reconfigured.
    pub fn set_state(&self, name: &str, value: &str) {
        let mut state = self.state.lock().expect("state");
        if let Some(p) = state.protocols.iter_mut().find(|p| p.0 == name) {
            p.3 = value.to_owned();
        }
    }
}

impl Drop for FakeBird {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(stream: UnixStream, state: &Mutex<FakeState>) {
    let mut out = stream.try_clone().expect("clone");
    let garbage = state.lock().expect("state").mode == Mode::Garbage;
    if garbage {
        let _ = out.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        return;
    }
    let _ = out.write_all(b"0001 BIRD 2.0.12 ready.\n");
    for line in BufReader::new(stream).lines() {
        let Ok(line) = line else { return };
        let reply = answer(&line, &mut state.lock().expect("state"));
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(line: &str, state: &mut FakeState) -> String {
    state.commands.push(line.to_owned());
    let words: Vec<&str> = line.split_whitespace().collect();
    let undefined =
        "9001 syntax error, unexpected CF_SYM_UNDEFINED, expecting CF_SYM_KNOWN or TEXT or ALL\n"
            .to_owned();
    match words.as_slice() {
        ["show", "protocols"] => {
            let mut text =
                "2002-Name       Proto      Table      State  Since         Info\n".to_owned();
            for (i, (name, proto, table, st, info)) in state.protocols.iter().enumerate() {
                let lead = if i == 0 { "1002-" } else { " " };
                text += &format!(
                    "{lead}{name:<10} {proto:<10} {table:<10} {st:<6} 12:00:00.000  {info}\n"
                );
            }
            text + "0000 \n"
        }
        ["show", "bfd", "sessions"] => {
            let mut text = "1020-anycast_bfd:\n IP address                Interface  State      Since         Interval  Timeout\n".to_owned();
            for (address, st) in &state.bfd {
                text += &format!(
                    " {address:<25} anycast-bird {st:<10} 12:00:00.000    0.100    0.300\n"
                );
            }
            text + "0000 \n"
        }
        [verb @ ("enable" | "disable"), name] => {
            let Some(p) = state.protocols.iter_mut().find(|p| p.0 == *name) else {
                return undefined;
            };
            let enable = *verb == "enable";
            let was = p.3 != "down";
            p.3 = if enable { "up".into() } else { "down".into() };
            let (code, word) = match (enable, was) {
                (true, false) => (11, "enabled"),
                (true, true) => (10, "already enabled"),
                (false, true) => (9, "disabled"),
                (false, false) => (8, "already disabled"),
            };
            format!("{code:04}-{name}: {word}\n0000 \n")
        }
        _ => "9001 syntax error, unexpected GARBAGE\n".to_owned(),
    }
}

/// A fake Trickles service: echoes every datagram (the probe looks for its connection id at
/// bytes 2..10) until stopped; then the port is closed and probes are refused.
pub struct FakeService {
    /// Its address.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeService {
    /// Bind `addr` (port 0 for any) and answer.
    pub fn start(addr: &str) -> Self {
        let socket = UdpSocket::bind(addr).expect("bind the fake service");
        socket
            .set_read_timeout(Some(Duration::from_millis(10)))
            .expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !flag.load(Ordering::SeqCst) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    let _ = socket.send_to(&buf[..n], from);
                }
            }
        });
        FakeService {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    /// Stop answering and close the port.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FakeService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Wait until `condition` holds, at most `limit`; panics naming `what`.
pub async fn wait_until(what: &str, limit: Duration, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The controller's configuration text for these tests: `announcements` is YAML.
pub fn config_text(socket: &Path, state_file: &Path, announcements: &str) -> String {
    format!(
        "bird:\n  socket: {}\n  timeout_ms: 1000\nstate_file: {}\nmetrics: 127.0.0.1:0\ndrain_wait_ms: 200\nhealth:\n  interval_ms: 100\n  timeout_ms: 50\n  rise: 1\n  fall: 2\nannouncements:\n{announcements}",
        socket.display(),
        state_file.display()
    )
}
