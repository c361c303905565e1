//! [`Context`]: what every experiment starts from: root checked, binaries found (release by
//! default), a service fixture (key, served files, logs), the results directory, and the address
//! family; plus [`BaseArgs`], the flags every `trickles-lab exp` command shares, and [`url`] /
//! [`Protocol`], the two transports every experiment compares. It ends in
//! [`Context::publish`](super::report).

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::Args;

use crate::binaries::{Binaries, Profile};
use crate::error::Result;
use crate::fixture::{output_dir, ServiceFixture};
use crate::service::server::{ServerSpec, CONTROL_PORT};
pub use crate::service::server::{HTTP_PORT, TRICKLES_PORT};
use crate::service::Service;
use crate::topology::{require_root, Family, Host, Topology};

/// Trickles' stream bytes per packet on the testbeds: the largest round size whose RESPONSE
/// (131 bytes of header and continuation, the file's user continuation of 9 bytes plus its path,
/// PROTOCOL.md §4) still fits a 1,500-byte MTU over IPv6 for paths up to 30 characters. The
/// server's default of 1,200 leaves room for tunnels on the Internet; the testbed has none, and
/// kernel TCP there fills the MTU too (1,448 bytes a segment).
pub const EXPERIMENT_MSS: usize = 1280;

/// Flags of every experiment.
#[derive(Clone, Debug, Args)]
pub struct BaseArgs {
    /// Where the CSV and plots go (a folder per experiment is not made: files are named after
    /// the experiment).
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,
    /// Directory holding the trickles binaries (default: build them in release mode with cargo
    /// when the workspace is here, else look next to this executable).
    #[arg(long, value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// Run over IPv6 (2001:2::/48) instead of IPv4 (198.18.0.0/15).
    #[arg(long)]
    pub ipv6: bool,
    /// Keep the temporary directory (key, served files, process logs) and print its path.
    #[arg(long)]
    pub keep_temp: bool,
}

impl BaseArgs {
    /// Defaults for a run from code (tests): results into `out`, debug or release binaries.
    pub fn for_tests(out: PathBuf) -> Self {
        BaseArgs {
            out,
            bin_dir: None,
            ipv6: false,
            keep_temp: false,
        }
    }
}

/// What an experiment runs with.
pub struct Context {
    /// The executables.
    pub binaries: Binaries,
    /// Key, served files and logs.
    pub fixture: ServiceFixture,
    /// Absolute path of the results directory.
    pub out_dir: PathBuf,
    /// Address family of the run.
    pub family: Family,
    keep_temp: bool,
}

impl Context {
    /// Checks for root (naming `trickles-lab exp NAME`), then finds or builds the binaries
    /// (`profile`) and prepares the fixture.
    pub fn new(name: &str, base: &BaseArgs, profile: Profile) -> Result<Self> {
        require_root(&format!("trickles-lab exp {name}"))?;
        let binaries = Binaries::locate(base.bin_dir.as_deref(), profile)?;
        let fixture = ServiceFixture::new(&binaries)?;
        let out_dir = output_dir(&base.out)?;
        Ok(Context {
            binaries,
            fixture,
            out_dir,
            family: if base.ipv6 { Family::V6 } else { Family::V4 },
            keep_temp: base.keep_temp,
        })
    }

    /// `OUT/STEM` (extensions are added by the writers).
    pub fn result_path(&self, stem: &str) -> PathBuf {
        self.out_dir.join(stem)
    }

    /// A file in the fixture's directory (logs, statistics, downloads).
    pub fn temp_path(&self, name: &str) -> PathBuf {
        self.fixture.path().join(name)
    }

    /// A namespace topology of one host per role, for this run's address family.
    pub fn topology(&self, name: &str, roles: &[&str]) -> Result<Topology> {
        Topology::star(&format!("trickles-lab exp {name}"), roles, self.family)
    }

    /// Keeps the fixture when `--keep-temp` asked for it; its path.
    pub fn finish(mut self) -> Option<PathBuf> {
        self.keep_temp.then(|| self.fixture.keep())
    }
}

/// Starts `trickles-server` in `host`: Trickles on `[address]:4433`, HTTP on `[address]:8080`
/// (free ports on loopback), control endpoint on the host's own loopback, [`EXPERIMENT_MSS`].
pub fn start_server(context: &Context, host: &Host, name: &str) -> Result<Service<ServerSpec>> {
    let mut spec = ServerSpec::new(
        &context.fixture,
        host.udp(TRICKLES_PORT)?,
        host.control(CONTROL_PORT)?,
    );
    spec.config.tcp_listen = Some(host.tcp(HTTP_PORT)?);
    spec.config.mss = Some(EXPERIMENT_MSS);
    Service::start(&context.binaries, host, spec, name, context.fixture.path())
}

/// `trickles://[address]:4433/file` or `http://[address]:8080/file`.
pub fn url(protocol: Protocol, address: IpAddr, file: &str) -> String {
    let (scheme, port) = match protocol {
        Protocol::Trickles => ("trickles", TRICKLES_PORT),
        Protocol::Tcp => ("http", HTTP_PORT),
    };
    format!("{scheme}://{}/{file}", SocketAddr::new(address, port))
}

/// The two transports every experiment compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Trickles over UDP.
    Trickles,
    /// HTTP over kernel TCP (the baseline), same client and server programs.
    Tcp,
}

impl Protocol {
    /// Both, Trickles first.
    pub const BOTH: [Protocol; 2] = [Protocol::Trickles, Protocol::Tcp];

    /// "Trickles" or "TCP".
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Trickles => "Trickles",
            Protocol::Tcp => "TCP",
        }
    }
}
