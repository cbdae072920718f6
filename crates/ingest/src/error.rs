use thiserror::Error;

/// Why a whole request could not be used. Per-span problems are not errors: they become
/// rejected spans in the OTLP partial-success answer.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum IngestError {
    #[error("malformed OTLP protobuf: {0}")]
    MalformedProtobuf(String),
    #[error("malformed OTLP/JSON: {0}")]
    MalformedJson(String),
    #[error("corrupt gzip body: {0}")]
    CorruptGzip(String),
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    DecompressedTooLarge { limit: usize },
    #[error("unsupported content encoding {0:?}; use gzip or identity")]
    UnsupportedEncoding(String),
}
