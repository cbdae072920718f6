use thiserror::Error;

#[derive(Debug, Error)]
pub enum ArchiveError {
    #[error("archive destination {0}")]
    Destination(String),
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    #[error(transparent)]
    Store(#[from] spyglass_store::StoreError),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    /// The file is not one `spyglass import` reads, or is damaged.
    #[error("{0}")]
    Format(String),
    #[error("file larger than {limit} bytes once decompressed")]
    TooLarge { limit: usize },
}

pub type Result<T> = std::result::Result<T, ArchiveError>;
