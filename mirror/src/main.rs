//! `trickles-mirror`: the packet mirror binary.

fn main() {}
