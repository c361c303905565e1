//! What keeps the mirror from being an open reflector or an amplifier: per-source token
//! buckets and the never-more-out-than-in byte budget, in a bounded table.
//!
//! - [`token_bucket`]: an integer token bucket, time as an argument;
//! - [`source_guard`]: the per-source table of buckets and credits.

pub mod source_guard;
pub mod token_bucket;

pub use source_guard::{Admitted, GuardLimits, RateLimited, SourceGuard};
pub use token_bucket::{BucketRate, TokenBucket};
