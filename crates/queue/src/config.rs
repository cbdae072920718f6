//! Where the queue is and how it behaves; the `[queue]` table of the configuration.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The scale-out queue: Redis Streams holding normalized spans between ingest and processor
/// nodes, plus the live stream the API nodes tail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Redis URL, e.g. `redis://127.0.0.1:6379` or `redis://:password@host:6379/0`. Redis
    /// should run with AOF (`appendonly yes`, `appendfsync always` or `everysec`): ingest
    /// acknowledges spans as soon as Redis has them.
    pub url: String,
    /// Prefix of every key: `<prefix>:spans:<p>`, `<prefix>:live`, `<prefix>:dead`,
    /// `<prefix>:lease:<p>`, `<prefix>:processors`. Several deployments can share a Redis.
    pub prefix: String,
    /// Number of span streams. A trace always goes to the same one, and one processor at a time
    /// handles a partition, so this caps the processors that do useful work. Changing it
    /// moves traces between partitions: drain the queue first.
    pub partitions: u32,
    /// Consumer group of the processors.
    pub group: String,
    /// How long an enqueue waits for Redis (reconnecting) before the request is refused.
    pub enqueue_timeout_ms: u64,
    /// Encoded bytes that may wait on Redis at once; past it requests are refused at once.
    pub max_pending_bytes: u64,
    /// Entries read per XREADGROUP.
    pub read_count: usize,
    /// How long one XREADGROUP / XREAD waits for new entries.
    pub block_ms: u64,
    /// Lifetime of a partition lease and of a processor heartbeat. A dead processor's
    /// partitions are taken over this long after its last renewal.
    pub lease_ms: u64,
    /// Approximate number of batches kept in the live stream.
    pub live_max_len: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            url: "redis://127.0.0.1:6379".to_string(),
            prefix: "spyglass".to_string(),
            partitions: 16,
            group: "spyglass-processors".to_string(),
            enqueue_timeout_ms: 2000,
            max_pending_bytes: 64 << 20,
            read_count: 64,
            block_ms: 1000,
            lease_ms: 10_000,
            live_max_len: 10_000,
        }
    }
}

impl QueueConfig {
    /// Checks what serde cannot: ranges, and that Redis accepts the URL.
    pub fn validate(&self) -> Result<(), crate::QueueError> {
        let bad = |m: &str| Err(crate::QueueError::Config(m.to_string()));
        if self.partitions == 0 || self.partitions > 4096 {
            return bad("partitions must be between 1 and 4096");
        }
        if self.prefix.is_empty() || self.group.is_empty() {
            return bad("prefix and group must not be empty");
        }
        if self.lease_ms < 300 {
            return bad("lease_ms must be at least 300");
        }
        if self.read_count == 0 {
            return bad("read_count must be at least 1");
        }
        if self.block_ms == 0 || self.block_ms >= self.lease_ms {
            // A blocked read must end before the lease it runs under expires.
            return bad("block_ms must be between 1 and lease_ms");
        }
        redis::Client::open(self.url.as_str())
            .map_err(|e| crate::QueueError::Config(format!("url: {e}")))?;
        Ok(())
    }

    pub fn enqueue_timeout(&self) -> Duration {
        Duration::from_millis(self.enqueue_timeout_ms)
    }

    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }

    /// The span stream of partition `p`.
    pub fn stream(&self, p: u32) -> String {
        format!("{}:spans:{p}", self.prefix)
    }

    pub fn lease_key(&self, p: u32) -> String {
        format!("{}:lease:{p}", self.prefix)
    }

    pub fn dead_stream(&self) -> String {
        format!("{}:dead", self.prefix)
    }

    pub fn live_stream(&self) -> String {
        format!("{}:live", self.prefix)
    }

    pub fn processors_key(&self) -> String {
        format!("{}:processors", self.prefix)
    }

    pub(crate) fn client(&self) -> Result<redis::Client, crate::QueueError> {
        self.validate()?;
        redis::Client::open(self.url.as_str())
            .map_err(|e| crate::QueueError::Config(format!("url: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_fields() {
        let c: QueueConfig = serde_json::from_str(r#"{"partitions": 4}"#).unwrap();
        assert_eq!(c.partitions, 4);
        assert_eq!(c.lease_ms, 10_000);
        assert_eq!(c.stream(3), "spyglass:spans:3");
        assert!(c.validate().is_ok());
        assert!(serde_json::from_str::<QueueConfig>(r#"{"partitons": 4}"#).is_err());
        let zero = QueueConfig {
            partitions: 0,
            ..Default::default()
        };
        assert!(zero.validate().is_err());
        let url = QueueConfig {
            url: "http://x".into(),
            ..Default::default()
        };
        assert!(url.validate().is_err());
    }
}
