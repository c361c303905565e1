//! BIRD 2 through its control socket (`bird -s SOCK`, the protocol `birdc` speaks): read the
//! protocols table, enable and disable a protocol the operator's configuration names. The
//! controller never touches kernel routes; BIRD does what BIRD is configured to do with the
//! protocols it is told to enable.
//!
//! - [`reply`]: the line protocol (numbered codes, continuations) and [`reply::ReplyReader`];
//! - [`protocols`]: the `show protocols` table, [`ProtocolStatus`];
//! - [`round`]: the conversation of one controller round ([`round::bird_round`]);
//! - [`BirdClient`]: one connection, blocking with timeouts (the service runs it on tokio's
//!   blocking pool); it checks the greeting, so a socket that answers garbage is an error
//!   ([`BirdError::Garbage`]) before any command is sent.

pub mod protocols;
pub mod reply;
pub mod round;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use protocols::{parse_bfd_sessions, parse_protocols, BfdSession, ProtocolStatus};
pub use reply::{Reply, ReplyReader};

use crate::config::is_bird_symbol;

/// What went wrong talking to BIRD.
#[derive(Debug, thiserror::Error)]
pub enum BirdError {
    /// Nothing listens at the socket (BIRD not started yet, or a wrong path).
    #[error("BIRD is not up: cannot connect to {path}: {source}")]
    NotUp {
        /// The control socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing failed (timeout, BIRD went away).
    #[error("BIRD control socket {path}: {source}")]
    Io {
        /// The control socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The socket answered something that is not BIRD's control protocol.
    #[error("BIRD control socket {path} answered garbage: {reason}")]
    Garbage {
        /// The control socket.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// BIRD refused a command (its code and message).
    #[error("BIRD refused `{command}`: {code} {message}")]
    Refused {
        /// The command.
        command: String,
        /// BIRD's error code (8xxx run-time, 9xxx parse).
        code: u16,
        /// BIRD's message.
        message: String,
    },
    /// The configuration names a protocol BIRD's configuration does not have.
    #[error("BIRD has no protocol `{0}`: add it to BIRD's configuration (see docs/ANYCAST.md); nothing is announced for it")]
    MissingProtocol(String),
}

/// The greeting BIRD sends on connect.
const GREETING: u16 = 1;
/// `enable`: "enabled" (11) or "already enabled" (10); `disable`: "disabled" (9) or "already
/// disabled" (8).
const ENABLED: [u16; 2] = [10, 11];
const DISABLED: [u16; 2] = [8, 9];

/// One connection to BIRD's control socket.
#[derive(Debug)]
pub struct BirdClient {
    path: PathBuf,
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    /// BIRD's version line from the greeting.
    pub greeting: String,
}

impl BirdClient {
    /// Connect and read the greeting; each read and write waits at most `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Self, BirdError> {
        let stream = UnixStream::connect(path).map_err(|source| BirdError::NotUp {
            path: path.to_owned(),
            source,
        })?;
        let io = |source| BirdError::Io {
            path: path.to_owned(),
            source,
        };
        stream.set_read_timeout(Some(timeout)).map_err(io)?;
        stream.set_write_timeout(Some(timeout)).map_err(io)?;
        let reader = BufReader::new(stream.try_clone().map_err(io)?);
        let mut client = BirdClient {
            path: path.to_owned(),
            writer: stream,
            reader,
            greeting: String::new(),
        };
        let hello = client.read_reply()?;
        if hello.final_code() != GREETING || hello.lines.len() != 1 {
            return Err(client.garbage(format!(
                "expected the greeting `0001 BIRD ... ready.`, got {hello:?}"
            )));
        }
        client.greeting = hello.lines[0].text.clone();
        Ok(client)
    }

    fn garbage(&self, reason: String) -> BirdError {
        BirdError::Garbage {
            path: self.path.clone(),
            reason,
        }
    }

    fn read_reply(&mut self) -> Result<Reply, BirdError> {
        let mut reader = ReplyReader::default();
        let mut line = String::new();
        loop {
            line.clear();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|source| BirdError::Io {
                    path: self.path.clone(),
                    source,
                })?;
            if n == 0 {
                return Err(BirdError::Io {
                    path: self.path.clone(),
                    source: std::io::ErrorKind::UnexpectedEof.into(),
                });
            }
            if let Some(reply) = reader
                .push(line.trim_end_matches(['\n', '\r']))
                .map_err(|g| self.garbage(g.0))?
            {
                return Ok(reply);
            }
        }
    }

    /// Send one command and read its reply; an 8xxx/9xxx reply is [`BirdError::Refused`].
    pub fn command(&mut self, command: &str) -> Result<Reply, BirdError> {
        self.writer
            .write_all(format!("{command}\n").as_bytes())
            .map_err(|source| BirdError::Io {
                path: self.path.clone(),
                source,
            })?;
        let reply = self.read_reply()?;
        if let Some(error) = reply.error() {
            return Err(BirdError::Refused {
                command: command.to_owned(),
                code: error.code,
                message: error.text.clone(),
            });
        }
        Ok(reply)
    }

    /// `show protocols`.
    pub fn protocols(&mut self) -> Result<Vec<ProtocolStatus>, BirdError> {
        let reply = self.command("show protocols")?;
        parse_protocols(&reply).map_err(|reason| self.garbage(reason))
    }

    /// `show bfd sessions` (empty when BIRD has no BFD protocol).
    pub fn bfd_sessions(&mut self) -> Result<Vec<BfdSession>, BirdError> {
        match self.command("show bfd sessions") {
            Ok(reply) => Ok(parse_bfd_sessions(&reply)),
            Err(BirdError::Refused { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// `enable NAME` (announce); returns true when it was disabled before.
    pub fn enable(&mut self, protocol: &str) -> Result<bool, BirdError> {
        self.switch("enable", protocol, ENABLED)
    }

    /// `disable NAME` (withdraw); returns true when it was enabled before.
    pub fn disable(&mut self, protocol: &str) -> Result<bool, BirdError> {
        self.switch("disable", protocol, DISABLED)
    }

    fn switch(&mut self, verb: &str, protocol: &str, codes: [u16; 2]) -> Result<bool, BirdError> {
        if !is_bird_symbol(protocol) {
            return Err(BirdError::MissingProtocol(protocol.to_owned()));
        }
        let command = format!("{verb} {protocol}");
        let reply = match self.command(&command) {
            // BIRD's parser does not know the symbol: the configuration lacks the protocol.
            Err(BirdError::Refused {
                code: 9001,
                message,
                ..
            }) if message.contains("CF_SYM_UNDEFINED") => {
                return Err(BirdError::MissingProtocol(protocol.to_owned()))
            }
            other => other?,
        };
        let result = reply.lines.iter().find(|l| codes.contains(&l.code));
        match result {
            Some(line) if line.text.starts_with(&format!("{protocol}:")) => {
                Ok(line.code == codes[1])
            }
            _ => Err(self.garbage(format!("`{command}` answered {:?}", reply.lines))),
        }
    }
}
