use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("schema migration {version} failed: {message}")]
    Migration { version: u32, message: String },
    #[error("the store is shutting down")]
    Closed,
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("query timed out after {0} ms")]
    Timeout(u64),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt stored value in {column}: {message}")]
    Corrupt {
        column: &'static str,
        message: String,
    },
}

impl From<duckdb::Error> for StoreError {
    fn from(e: duckdb::Error) -> Self {
        StoreError::Database(e.to_string())
    }
}
