//! The engine stage: what Spyglass knows about a span beyond what it was sent. Per batch,
//! pure functions over canonical spans (cost, security findings and redaction, loops), run
//! after normalization and before storage, in the embedded server and the scale-out
//! processor alike.

pub mod cost;
mod engine;
mod error;
pub mod guard;
pub mod loops;
pub mod security;
pub mod tools;

pub use engine::{Engine, EngineConfig};
pub use error::EngineError;
