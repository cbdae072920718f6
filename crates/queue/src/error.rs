//! The queue's one error type, and how Redis errors map onto it.

/// What a queue operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis is unreachable, timed out or still loading: the caller refuses the request
    /// (HTTP 503 with `Retry-After`, gRPC `UNAVAILABLE`) and the exporter retries.
    #[error("queue unavailable, retry after {retry_after_secs} s")]
    Unavailable { retry_after_secs: u32 },
    /// Bytes that are not a message of this codec (or of a version this build does not know).
    #[error("undecodable queue message: {0}")]
    Decode(String),
    /// Redis answered with an error that retrying will not cure (wrong type, bad script...).
    #[error("redis: {0}")]
    Redis(String),
    /// The configuration cannot work (no partitions, a URL Redis does not accept).
    #[error("queue configuration: {0}")]
    Config(String),
}

#[cfg(feature = "runtime")]
impl QueueError {
    pub(crate) fn unavailable() -> Self {
        QueueError::Unavailable {
            retry_after_secs: 1,
        }
    }
}

#[cfg(feature = "runtime")]
/// True when waiting and retrying (on a new connection) may succeed.
pub(crate) fn is_transient(e: &redis::RedisError) -> bool {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        return true;
    }
    // LOADING (replaying the AOF after a restart), BUSY (a long script), MASTERDOWN, TRYAGAIN.
    if matches!(
        e.code(),
        Some("LOADING" | "BUSY" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN")
    ) {
        return true;
    }
    !matches!(e.retry_method(), redis::RetryMethod::NoRetry)
}

#[cfg(feature = "runtime")]
impl From<redis::RedisError> for QueueError {
    fn from(e: redis::RedisError) -> Self {
        if is_transient(&e) {
            QueueError::unavailable()
        } else {
            QueueError::Redis(e.to_string())
        }
    }
}
