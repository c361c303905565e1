//! `trickles-client`: the command line around the `trickles_client` library.
//!
//! ```text
//! trickles-client get URL [-o FILE] [--stats-json FILE] [--parallel N] [--timeout SECS]
//!                         [--quiet] [--http-range-resume] [--metrics ADDR]
//! ```
//! URL is `trickles://HOST:PORT/PATH` or `http://HOST[:PORT]/PATH`. The body goes to FILE
//! (`-o -` or no `-o`: stdout); with `--parallel N` transfer i goes to `FILE.i` (nothing is
//! written without `-o`). Errors are printed as `error: ...`; the exit code says which kind
//! (2 bad URL or usage, 3 not found, 4 timeout, 5 DNS failure, 6 connection, 1 anything else).

mod cli;

fn main() {
    std::process::exit(cli::run());
}
