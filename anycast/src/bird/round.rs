//! One round's conversation with BIRD: connect (the greeting is checked), `show protocols`,
//! `disable` retired protocols, `enable` / `disable` what differs from the plan
//! ([`crate::decision::action`]), then read `show protocols` and `show bfd sessions` again for
//! the report. Blocking, with a timeout per command; the controller runs it on tokio's
//! blocking pool.

use super::{BfdSession, BirdClient, BirdError, ProtocolStatus};
use crate::config::BirdConfig;
use crate::decision::{self, Action};

/// The outcome of one conversation with BIRD.
#[derive(Debug)]
pub struct BirdRound {
    /// `show protocols` after the commands.
    pub protocols: Vec<ProtocolStatus>,
    /// BIRD's BFD sessions (read only when some announcement has a `bfd_address`).
    pub bfd: Vec<BfdSession>,
    /// Per announcement: is its protocol enabled now?
    pub enabled: Vec<Result<bool, BirdError>>,
}

/// Talk to the BIRD at `config`: make each `(protocol, announce)` of `plan` true, disable the
/// `retired` protocols, and report. A dead or garbled connection fails the whole round; a
/// missing or refusing protocol fails only its own entry of [`BirdRound::enabled`].
pub fn bird_round(
    config: &BirdConfig,
    plan: &[(String, bool)],
    retired: &[String],
    with_bfd: bool,
) -> Result<BirdRound, BirdError> {
    let mut bird = BirdClient::connect(&config.socket, config.timeout)?;
    let protocols = bird.protocols()?;
    let find = |name: &str| protocols.iter().find(|p| p.name == name);
    for name in retired {
        if find(name).is_some_and(ProtocolStatus::is_enabled) {
            bird.disable(name)?;
        }
    }
    let mut enabled = Vec::with_capacity(plan.len());
    for (name, announce) in plan {
        let result = match decision::action(*announce, find(name)) {
            Err(decision::MissingProtocol) => Err(BirdError::MissingProtocol(name.clone())),
            Ok(None) => Ok(*announce),
            Ok(Some(Action::Enable)) => bird.enable(name).map(|_| true),
            Ok(Some(Action::Disable)) => bird.disable(name).map(|_| false),
        };
        // A dead connection fails every later command too: stop here.
        if let Err(e @ (BirdError::Io { .. } | BirdError::Garbage { .. })) = result {
            return Err(e);
        }
        enabled.push(result);
    }
    // Read the table again so the report shows the state after the commands.
    let protocols = bird.protocols()?;
    let bfd = if with_bfd {
        bird.bfd_sessions()?
    } else {
        Vec::new()
    };
    Ok(BirdRound {
        protocols,
        bfd,
        enabled,
    })
}
