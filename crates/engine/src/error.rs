use thiserror::Error;

/// Why engine configuration could not be used. Processing a span never fails: a span the
/// engine cannot price is unpriced, a detector that finds nothing reports nothing.
#[derive(Debug, Error)]
pub enum EngineError {
    #[error("price table {source_name}: {message}")]
    PriceTable {
        source_name: String,
        message: String,
    },
    #[error("invalid pattern {name:?}: {message}")]
    Pattern { name: String, message: String },
    #[error("injection model: {message}")]
    Model { message: String },
    #[error("security config: {message}")]
    SecurityConfig { message: String },
}
