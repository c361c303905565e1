//! What the simulator drives: a [`Node`] is an endpoint with an address that reacts to
//! datagrams and to its own timer, exactly like a sans-IO protocol endpoint behind a driver.

use std::any::Any;
use std::net::SocketAddr;

use crate::time::Instant;
use crate::Transmit;

/// A simulated endpoint. The network calls it, never the other way round: a node only returns
/// datagrams (appended to `out`, sent from the node's own address) and a timer deadline.
pub trait Node: 'static {
    /// Called once when the node is added (or rebuilt after a crash), at that virtual time.
    fn on_start(&mut self, _now: Instant, _out: &mut Vec<Transmit>) {}

    /// A datagram from `from` arrived at `now`.
    fn on_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        payload: &[u8],
        out: &mut Vec<Transmit>,
    );

    /// The next instant at which the node wants [`Node::on_timeout`] called, if any. The
    /// network asks again after every call into the node.
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// The deadline last returned by [`Node::poll_timeout`] has passed.
    fn on_timeout(&mut self, _now: Instant, _out: &mut Vec<Transmit>) {}
}

/// A [`Node`] that can also be looked at as its concrete type (for tests and scenarios).
pub(crate) trait AnyNode: Node {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Node> AnyNode for T {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Builds a fresh node (after a crash, or the first time); the argument is a seed the network
/// draws for that incarnation.
pub(crate) type NodeFactory = Box<dyn FnMut(u64) -> Box<dyn AnyNode>>;
