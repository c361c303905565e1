//! The protocol's integration tests, one binary (each module was a test file of its own): the
//! worked examples of the protocol, security claims, direct transfers and a bottleneck in the
//! simulator, the closed-form window against a per-ack Reno model, and the seeded scenarios
//! (`TRICKLES_SIM_SEED=N cargo test -p trickles --test it sim_scenarios::` replays one).

mod adversarial;
mod bottleneck;
mod cwnd_matches_reno;
mod direct_transfer;
mod protocol_examples;
mod replay_window;
mod replicas;
mod security;
mod sim_scenarios;
mod unreachable;
