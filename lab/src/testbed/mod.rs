//! Network-namespace testbeds for the experiments (issue 5): hosts in their own namespaces
//! around a forwarding router, veth links, addresses from the benchmarking ranges
//! (198.18.0.0/15, 2001:2::/48), rates shaped with TBF where the router forwards.
//!
//! Everything here needs root ([`privilege::require_root`]). Cleanup is layered like the
//! processes' ([`crate::children`]): the [`StarTestbed`] guard deletes its namespaces on drop
//! (after killing what runs in them), Ctrl-C unwinds to that drop, and a run killed outright
//! leaves namespaces that the next run removes ([`namespace::remove_stale`]).

pub mod command_line;
pub mod namespace;
pub mod privilege;
pub mod star;

pub use namespace::{Namespace, NamespaceRef};
pub use privilege::require_root;
pub use star::{Family, Host, StarTestbed};
