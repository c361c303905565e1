//! The integration tests of trickles-anycast, one binary: the controller against a fake BIRD
//! control socket (no root), the example configurations, and the real BIRD in a network
//! namespace (root; skipped with a message otherwise).

mod bfd_responder;
mod binary;
mod examples;
mod fake_bird;
mod real_bird;
mod support;
