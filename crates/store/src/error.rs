use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(String),
    #[error("schema migration {version} failed: {message}")]
    Migration { version: u32, message: String },
    #[error("the store is shutting down")]
    Closed,
    /// The database server cannot be reached (ClickHouse down or unreachable): retry later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("query timed out after {0} ms")]
    Timeout(u64),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// The data directory's filesystem is full: nothing was written; retry once space returns.
    #[error("the data directory's disk is full: {0}")]
    DiskFull(String),
    /// The data directory is not one this binary can use (corrupt, foreign, or written by a
    /// newer version); the message says what to do. Nothing in it was changed.
    #[error("data directory {dir}: {message}")]
    DataDir { dir: String, message: String },
    #[error("corrupt stored value in {column}: {message}")]
    Corrupt {
        column: &'static str,
        message: String,
    },
}

impl From<duckdb::Error> for StoreError {
    fn from(e: duckdb::Error) -> Self {
        StoreError::from_database_message(e.to_string())
    }
}

/// How the OS reports a full filesystem (ENOSPC), as DuckDB passes it on.
const ENOSPC_TEXT: &str = "No space left on device";

impl StoreError {
    /// A database error, told apart as [`StoreError::DiskFull`] when the disk was full.
    pub fn from_database_message(message: String) -> Self {
        if message.contains(ENOSPC_TEXT) {
            StoreError::DiskFull(message)
        } else {
            StoreError::Database(message)
        }
    }

    /// The same error again (errors are not `Clone`: `Io` holds an `io::Error`), for answering
    /// every request of a failed group commit.
    pub fn duplicate(&self) -> Self {
        match self {
            StoreError::DiskFull(m) => StoreError::DiskFull(m.clone()),
            StoreError::Closed => StoreError::Closed,
            StoreError::Unavailable(m) => StoreError::Unavailable(m.clone()),
            StoreError::Io(e) if e.raw_os_error() == Some(28) => {
                StoreError::DiskFull(e.to_string())
            }
            other => StoreError::from_database_message(other.to_string()),
        }
    }

    /// Whether this is the disk being full (retry later) rather than a fault.
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::DiskFull(_) => true,
            StoreError::Io(e) => {
                e.raw_os_error() == Some(28) || e.to_string().contains(ENOSPC_TEXT)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_full_is_told_apart() {
        let e = StoreError::from_database_message(
            "IO Error: Could not write file \"x.wal\": No space left on device".into(),
        );
        assert!(matches!(e, StoreError::DiskFull(_)));
        assert!(e.is_disk_full());
        assert!(e.duplicate().is_disk_full());
        let e = StoreError::from_database_message("Constraint Error: duplicate key".into());
        assert!(matches!(e, StoreError::Database(_)));
        assert!(!e.is_disk_full());
        let io = StoreError::Io(std::io::Error::from_raw_os_error(28));
        assert!(io.is_disk_full());
        assert!(matches!(io.duplicate(), StoreError::DiskFull(_)));
    }
}
