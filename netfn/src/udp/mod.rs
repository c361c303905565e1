//! The userspace UDP datapath pieces every network function uses.
//!
//! - [`batch`]: `recvmmsg`/`sendmmsg` with reused buffers; sends are two-part (header + body);
//! - [`error_queue`]: ICMP "destination unreachable" for our own datagrams, read from the
//!   socket's error queue (the client resumes at once, the balancer re-forwards);
//! - [`socket`]: `SO_REUSEPORT` socket groups with large buffers and a poll timeout;
//! - [`workers`]: one thread per socket, a stop flag, and the receive-or-idle helper.

pub mod batch;
pub mod error_queue;
pub mod socket;
pub mod workers;

pub use batch::{Outgoing, Received, RecvBatch, SendBatch, SendOutcome, BATCH_LEN};
pub use socket::{
    bind_group, bind_one, bind_with, has_requested_buffers, BindOptions, PortSharing, POLL_INTERVAL,
};
pub use workers::{receive, Exclusivity, WorkerContext, WorkerGroup};
