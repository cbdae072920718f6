//! Ingest: OTLP request bodies → validated, normalized canonical spans.
//!
//! `decode` turns bytes into OTLP messages (protobuf, OTLP/JSON, gzip with a hard cap),
//! `normalize` validates each span and maps every known semantic convention onto the
//! canonical span (`docs/canonical-span.md`).

pub mod anyvalue;
pub mod conventions;
pub mod decode;
mod error;
pub mod limits;
pub mod messages;
pub mod normalize;
mod view;

pub use decode::{Decoded, ExportTraceServiceRequest, ExportTraceServiceResponse, Format};
pub use error::IngestError;
pub use limits::Limits;
pub use normalize::{Normalized, Normalizer};
