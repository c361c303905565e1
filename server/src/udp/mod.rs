//! The UDP driver: worker threads that receive Trickles requests in batches, hand them to the
//! protocol core and send its answers in batches.

pub mod batch;
pub mod metrics;
pub mod socket;
