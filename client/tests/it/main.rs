//! The client's integration tests, one binary (each module was a test file of its own): the
//! `trickles-client` executable, HTTP and Trickles fetches against in-process servers with
//! scripted faults, sinks and statistics, URL parsing, and fetches through the packet mirror.

mod cli;
mod http_fetch;
mod sinks_and_stats;
mod support;
mod trickles_fetch;
mod url_parsing;
mod via_mirror;
