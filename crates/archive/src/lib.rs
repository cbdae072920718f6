//! Archives: exporting a project's spans to a directory or an S3-compatible bucket (by hand
//! through `GET /api/v1/export` and `spyglass export`, or on schedule before retention deletes
//! them), and importing archives, OTLP/JSON files and trace exports back. docs/archive.md.

mod destination;
mod error;
mod export;
mod import;
mod scheduled;
pub mod tarstream;

pub use destination::Destination;
pub use error::{ArchiveError, Result};
pub use export::{day_slices, export_stream, export_to};
pub use import::{FileKind, ImportReport, ImportSink, TRACE_EXPORT_FORMAT, detect, import};
pub use scheduled::RetentionHook;

/// The `[archive]` table of the config file.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// Where data goes before retention deletes it: a directory or `s3://bucket/prefix`;
    /// empty turns the scheduled archive off.
    pub destination: String,
    /// `parquet` or `jsonl`.
    pub format: spyglass_store::archive::ArchiveFormat,
    /// Largest file `POST /api/v1/import` accepts, once decompressed.
    pub max_import_bytes: usize,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            destination: String::new(),
            format: spyglass_store::archive::ArchiveFormat::Parquet,
            max_import_bytes: 1024 * 1024 * 1024,
        }
    }
}
