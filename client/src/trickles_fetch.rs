//! The Trickles UDP driver (waiting for the core's client state machine).

use std::net::SocketAddr;

use crate::error::{ClientError, Result};
use crate::options::FetchOptions;
use crate::recorder::TransferRecorder;
use crate::stats::TransferStats;
use crate::url::TargetUrl;

/// Fetches `url` once per recorder over one UDP socket.
pub async fn fetch_trickles(
    url: &TargetUrl,
    _addrs: &[SocketAddr],
    _opts: &FetchOptions,
    recorders: Vec<TransferRecorder>,
) -> Vec<Result<TransferStats>> {
    recorders
        .iter()
        .map(|_| {
            Err(ClientError::Protocol {
                url: url.to_string(),
                reason: "the Trickles client core is not available in this build yet".to_owned(),
            })
        })
        .collect()
}
