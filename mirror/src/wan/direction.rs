//! The two directions of an emulated path.
//!
//! Every configured peer sits on one side of the path: the *client* side (the end that starts
//! connections: trickles clients, the TCP baseline's client) or the *server* side (a server,
//! a balancer's VIP). A datagram from a client-side peer travels [`Direction::ToServer`] and
//! one from a server-side peer [`Direction::ToClient`], each through its own emulated link.

/// Which way a datagram travels through the emulated path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// From the client side towards the server side ("upstream").
    ToServer,
    /// From the server side towards the client side ("downstream").
    ToClient,
}

impl Direction {
    /// Both directions, in index order.
    pub const ALL: [Direction; 2] = [Direction::ToServer, Direction::ToClient];

    /// Position in per-direction arrays.
    pub const fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }

    /// Short name, for metrics labels and logs.
    pub const fn name(self) -> &'static str {
        match self {
            Direction::ToServer => "to_server",
            Direction::ToClient => "to_client",
        }
    }
}
