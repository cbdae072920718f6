//! Synthetic agent traces as real OTLP requests: the `spyglass demo` scenarios and the random
//! trace trees the load generator sends. No IO; callers send the requests however they like.

pub mod build;
pub mod demo;
pub mod random;

pub use build::{Rng, TraceBuilder, kv_bool, kv_f64, kv_int, kv_str};
