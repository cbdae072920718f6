//! The ingest side: spans into the partitioned span streams. `enqueue` returning `Ok` is the
//! acknowledgement point of scale-out mode (Redis has every entry, durably as far as its AOF
//! policy goes).

use crate::codec::encode_spans;
use crate::error::is_transient;
use crate::{QueueConfig, QueueError, QueueMetrics};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use spyglass_model::{Span, TraceId};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The partition of a trace: FNV-1a over the project and the trace id. Stable across builds
/// and processes (no seeded hasher): every ingest node must send a trace to the same stream.
pub fn partition_of(project_id: &str, trace_id: &TraceId, partitions: u32) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in project_id
        .as_bytes()
        .iter()
        .chain(&[0xff])
        .chain(&trace_id.0)
    {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % u64::from(partitions.max(1))) as u32
}

/// Writes spans to the span streams. Cheap to share behind an `Arc`; one per ingest node.
pub struct Producer {
    cfg: Arc<QueueConfig>,
    conn: ConnectionManager,
    budget: Arc<Semaphore>,
    budget_units: u32,
    metrics: QueueMetrics,
}

/// The budget counts kilobytes so that gigabytes fit a semaphore.
fn units(bytes: usize) -> u32 {
    (bytes / 1024 + 1).min(u32::MAX as usize) as u32
}

impl Producer {
    /// Checks the configuration and prepares a connection that is opened on first use, so an
    /// ingest node starts (and answers 503) while Redis is down. Must run inside a Tokio
    /// runtime.
    pub fn connect(cfg: &QueueConfig) -> Result<Producer, QueueError> {
        let client = cfg.client()?;
        let timeout = cfg.enqueue_timeout().max(Duration::from_millis(100));
        let manager_cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout.min(Duration::from_secs(1))))
            .set_response_timeout(Some(timeout))
            // Each attempt is short: `enqueue` itself retries until its deadline.
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500));
        let conn = ConnectionManager::new_lazy_with_config(client, manager_cfg)
            .map_err(|e| QueueError::Config(e.to_string()))?;
        let budget_units = units(cfg.max_pending_bytes.min(usize::MAX as u64) as usize)
            .min(Semaphore::MAX_PERMITS as u32);
        Ok(Producer {
            cfg: Arc::new(cfg.clone()),
            conn,
            budget: Arc::new(Semaphore::new(budget_units as usize)),
            budget_units,
            metrics: QueueMetrics::default(),
        })
    }

    /// Uses `metrics` (shared with the rest of the node) instead of private ones.
    pub fn with_metrics(mut self, metrics: QueueMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &QueueMetrics {
        &self.metrics
    }

    /// Writes `spans`, one entry per partition they fall in, in one pipeline; `Ok` once Redis
    /// has answered every XADD. While Redis is unreachable it retries until the enqueue
    /// timeout, then returns `Unavailable`; when more than `max_pending_bytes` already wait
    /// on Redis it returns `Unavailable` at once.
    ///
    /// A retry after a lost reply can write an entry twice; downstream tolerates that (the
    /// store keeps the latest version of a span and counts it once).
    pub async fn enqueue(&self, spans: Vec<Span>) -> Result<(), QueueError> {
        if spans.is_empty() {
            return Ok(());
        }
        let n_spans = spans.len() as u64;
        let mut parts: BTreeMap<u32, Vec<Span>> = BTreeMap::new();
        for s in spans {
            let p = partition_of(&s.project_id, &s.trace_id, self.cfg.partitions);
            parts.entry(p).or_default().push(s);
        }
        let mut pipe = redis::pipe();
        let mut bytes = 0usize;
        for (p, part) in &parts {
            let d = encode_spans(part);
            bytes += d.len();
            pipe.cmd("XADD")
                .arg(self.cfg.stream(*p))
                .arg("*")
                .arg("d")
                .arg(d);
        }
        drop(parts);

        // A request bigger than the whole buffer may still go, alone.
        let want = units(bytes).min(self.budget_units);
        let Ok(_permit) = self.budget.clone().try_acquire_many_owned(want) else {
            self.metrics.enqueue_unavailable.inc();
            tracing::debug!(bytes, "queue buffer full; refusing");
            return Err(QueueError::unavailable());
        };
        self.metrics.pending_bytes.inc_by(bytes as i64);
        let result = self.send(&pipe).await;
        self.metrics.pending_bytes.dec_by(bytes as i64);
        match &result {
            Ok(()) => {
                self.metrics.entries_enqueued.inc_by(pipe.len() as u64);
                self.metrics.spans_enqueued.inc_by(n_spans);
            }
            Err(QueueError::Unavailable { .. }) => {
                self.metrics.enqueue_unavailable.inc();
            }
            Err(_) => {
                self.metrics.enqueue_errors.inc();
            }
        }
        result
    }

    async fn send(&self, pipe: &redis::Pipeline) -> Result<(), QueueError> {
        let deadline = Instant::now() + self.cfg.enqueue_timeout();
        let mut delay = Duration::from_millis(25);
        loop {
            let mut conn = self.conn.clone();
            let attempt = tokio::time::timeout_at(deadline, pipe.exec_async(&mut conn)).await;
            match attempt {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) if is_transient(&e) => {
                    tracing::warn!(error = %e, "redis unavailable for enqueue; retrying");
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "enqueue failed");
                    return Err(QueueError::Redis(e.to_string()));
                }
                Err(_) => {
                    tracing::warn!("enqueue timed out waiting on redis");
                    return Err(QueueError::unavailable());
                }
            }
            if Instant::now() + delay >= deadline {
                return Err(QueueError::unavailable());
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_millis(400));
        }
    }

    /// One PING within the enqueue timeout (readiness).
    pub async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        match tokio::time::timeout(
            self.cfg.enqueue_timeout(),
            redis::cmd("PING").query_async::<String>(&mut conn),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(QueueError::unavailable()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        let t = TraceId::from_u128(0xdead_beef);
        // Pinned: a change would move live traces between partitions on upgrade.
        assert_eq!(
            partition_of("default", &t, 16),
            partition_of("default", &t, 16)
        );
        let pinned = partition_of("default", &TraceId::from_u128(1), 16);
        assert_eq!(pinned, PINNED);
        let mut seen = [0u32; 16];
        for i in 1..=1600u128 {
            seen[partition_of("p", &TraceId::from_u128(i * 7919), 16) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 50), "{seen:?}");
        assert_eq!(partition_of("p", &t, 1), 0);
    }

    const PINNED: u32 = 0;

    #[test]
    fn budget_units() {
        assert_eq!(units(0), 1);
        assert_eq!(units(64 << 20), 65537);
    }
}
