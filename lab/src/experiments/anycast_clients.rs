//! The clients `trickles-lab exp anycast` compares at the anycast address, one program
//! (`trickles-client get`): Trickles, TCP with range resume (reconnects and asks for the rest
//! when its connection breaks, or after 1 s without a byte), and plain TCP (allowed to fail: it
//! cannot continue at a site that has no state for its connection).

use std::net::IpAddr;
use std::time::Duration;

use clap::ValueEnum;

use super::context::{url, Context, Protocol};
use crate::service::client::ClientSpec;

/// A client of the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Client {
    /// `trickles://ANYCAST:4433/FILE`.
    Trickles,
    /// `http://ANYCAST:8080/FILE` with range resume.
    TcpResume,
    /// Plain `http://ANYCAST:8080/FILE`.
    Tcp,
}

impl Client {
    /// Its name in tables and plots.
    pub fn label(self) -> &'static str {
        match self {
            Client::Trickles => "Trickles",
            Client::TcpResume => "TCP (range resume)",
            Client::Tcp => "TCP",
        }
    }

    /// How to run it for `file` at `anycast`, its files named after `stem`.
    pub fn spec(self, anycast: IpAddr, file: &str, context: &Context, stem: &str) -> ClientSpec {
        let protocol = match self {
            Client::Trickles => Protocol::Trickles,
            Client::TcpResume | Client::Tcp => Protocol::Tcp,
        };
        let download = context.temp_path(&format!("{stem}.download"));
        let mut spec = ClientSpec::single(
            url(protocol, anycast, file),
            download,
            context.fixture.path(),
            stem,
        );
        spec.idle_timeout = Duration::from_secs(10);
        spec.range_resume = self == Client::TcpResume;
        spec.stall_resume = spec.range_resume.then_some(Duration::from_secs(1));
        spec.allow_failure = self == Client::Tcp;
        spec
    }
}
