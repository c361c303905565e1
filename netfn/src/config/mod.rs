//! Configuration: YAML files with located errors, values published to the datapath, reloads.
//!
//! - [`source`]: [`ConfigSource`] parses a file into any `serde` type; [`ConfigError`] says
//!   file, line and reason, for syntax errors and for checks across values alike;
//! - [`published`]: [`Published`] / [`Subscriber`], the lock-free-on-the-packet-path swap;
//! - [`reload`]: [`run_reloads`] on `SIGHUP`, file change or [`ReloadTrigger`], keeping the old
//!   configuration when the new one is invalid.

pub mod published;
pub mod reload;
pub mod source;

pub use published::{Published, Subscriber};
pub use reload::{run_reloads, ReloadOptions, ReloadTrigger};
pub use source::{line_of_path, ConfigError, ConfigSource};
