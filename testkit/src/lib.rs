//! What the workspace's tests share, so that no crate writes its own scaffolding.
//!
//! | piece | for |
//! |---|---|
//! | [`ChildProcess`] ([`process`]) | a program under test as a separate process: killed on drop and when the parent dies, log kept and quoted on failure, readiness wait, SIGTERM with grace, SIGKILL, pause and resume |
//! | [`Namespace`], [`NamespaceRef`] ([`namespace`]) | a network namespace deleted on drop, with processes and threads started inside it; [`may_create_namespaces`] for tests that need root |
//! | [`workspace_binary`] ([`binary`]) | another workspace crate's executable, built by cargo (a crate's own: `env!("CARGO_BIN_EXE_<name>")`) |
//! | [`free_udp_addr`], [`free_tcp_addr`] ([`ports`]) | a loopback port for a service the test starts |
//! | [`TestServer`] ([`server`], feature `trickles`) | the core's endpoint on a real UDP socket with scripted faults, for clients directly, behind the balancer (feature `balancer-relay`) or behind the mirror (feature `mirror-relay`) |
//! | [`TestMirror`] (feature `mirror-relay`) | the packet mirror's datapath in-process on loopback, with an emulated link and its metrics |
//! | [`fetch_with_core`] (feature `trickles`) | a transfer driven by hand with the core's client over a real socket: directly, alternating between replicas, or through the mirror |
//! | [`test_key`], [`wall_clock`] (feature `trickles`) | the key every test server uses; the clock the drivers use |
//! | [`TestkitError`] ([`error`]) | why a process or namespace step failed, naming the process, file or command |
//! | [`interrupt`] | Ctrl-C for a program that waits on children (the lab) |
//!
//! Without features the crate links only `libc` and `thiserror`, so a program (the lab) can
//! use the process and namespace guards without linking the protocol. Its own tests need the
//! features: `cargo test -p trickles-testkit --all-features`.
//!
//! A network function started as a process from its configuration, awaited until it says
//! where it listens, and stopped with SIGTERM:
//!
//! ```no_run
//! use std::time::Duration;
//! use trickles_testkit::{workspace_binary, ChildProcess};
//!
//! let mirror = workspace_binary("trickles-mirror", "trickles-mirror").unwrap();
//! let dir = std::env::temp_dir();
//! let yaml = "listen: [\"127.0.0.1:0\"]\n\
//!             peers:\n\
//!             \x20 - { name: client, addresses: [\"127.0.0.1:40000\"], side: client }\n\
//!             \x20 - { name: server, addresses: [\"127.0.0.1:4433\"], side: server }\n";
//! let (config, log) = (dir.join("mirror.yaml"), dir.join("mirror.log"));
//! let mut child = ChildProcess::spawn_configured("trickles-mirror", &mirror, &config, yaml, &log)
//!     .unwrap();
//! let listening = child
//!     .wait_for_log_line("trickles-mirror: listening on ", Duration::from_secs(10))
//!     .unwrap();
//! println!("the mirror listens on {listening}");
//! child.terminate(Duration::from_secs(5)).unwrap();
//! ```

pub mod binary;
pub mod command_line;
pub mod error;
#[cfg(feature = "frames")]
pub mod frames;
pub mod interrupt;
pub mod namespace;
pub mod ports;
pub mod process;
pub mod unprivileged;

#[cfg(feature = "trickles")]
mod clock;
#[cfg(feature = "trickles")]
pub mod core_client;
#[cfg(feature = "trickles")]
mod key;
#[cfg(feature = "mirror-relay")]
pub mod mirror;
#[cfg(feature = "trickles")]
pub mod server;

pub use binary::workspace_binary;
pub use error::{Result, TestkitError};
pub use namespace::{may_create_namespaces, may_create_tun_devices, Namespace, NamespaceRef};
pub use ports::{free_tcp_addr, free_udp_addr};
pub use process::ChildProcess;

#[cfg(feature = "trickles")]
pub use clock::wall_clock;
#[cfg(feature = "trickles")]
pub use core_client::{fetch_with_core, ClientPath, CoreTransfer};
#[cfg(feature = "trickles")]
pub use key::{test_key, test_keys, TEST_EPOCH, TEST_SECRET};
#[cfg(feature = "mirror-relay")]
pub use mirror::{exact_peer, lossy_link, server_and_tagged_clients, TestMirror};
#[cfg(feature = "trickles")]
pub use server::{memory_app, FaultScript, Relay, TestServer, TestServerBuilder};
