//! Forwarding: every span Spyglass accepts is also sent on over OTLP (gRPC or HTTP/protobuf)
//! to the backends configured under `[[forward.exporters]]` (Jaeger, Tempo, Datadog,
//! Honeycomb, another Spyglass), enriched with what Spyglass knows: cost, canonical kind and
//! security findings as `spyglass.*` attributes. Delivery is best effort, at most once, and
//! never slows ingest (docs/forwarding.md).
//!
//! `encode` is pure (canonical spans → OTLP); `queue`, `sender` and `forwarder` are the
//! runtime behind [`spawn`].

mod anyvalue;
mod config;
pub mod encode;
mod error;
mod forwarder;
mod metrics;
mod queue;
mod retry;
mod sender;
mod transport;

pub use config::{Compression, ExporterConfig, ForwardConfig, Protocol, TlsConfig};
pub use error::ForwardError;
pub use forwarder::{Forwarder, spawn};
pub use metrics::DropReason;
