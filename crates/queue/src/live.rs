//! The live stream: processors publish each committed batch, API nodes tail it and feed their
//! WebSocket subscribers. Best effort by design, like the embedded mode's broadcast: a batch
//! that cannot be published is logged and dropped, never retried ahead of newer ones.

use crate::codec::{decode_batch, encode_batch};
use crate::{QueueConfig, QueueError, QueueMetrics};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::streams::StreamReadReply;
use redis::{AsyncConnectionConfig, Value};
use spyglass_store::Batch;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Publishes committed batches to `<prefix>:live`, capped at about `live_max_len` entries.
pub struct LivePublisher {
    cfg: Arc<QueueConfig>,
    conn: ConnectionManager,
    metrics: QueueMetrics,
}

impl LivePublisher {
    /// Prepares a lazily opened connection; must run inside a Tokio runtime.
    pub fn new(cfg: &QueueConfig) -> Result<LivePublisher, QueueError> {
        let client = cfg.client()?;
        let t = cfg.enqueue_timeout().max(Duration::from_millis(100));
        let mc = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(t.min(Duration::from_secs(1))))
            .set_response_timeout(Some(t))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_lazy_with_config(client, mc)
            .map_err(|e| QueueError::Config(e.to_string()))?;
        Ok(LivePublisher {
            cfg: Arc::new(cfg.clone()),
            conn,
            metrics: QueueMetrics::default(),
        })
    }

    pub fn with_metrics(mut self, metrics: QueueMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Waits at most the enqueue timeout; failures are logged, not returned.
    pub async fn publish(&self, batch: &Batch) {
        if batch.spans.is_empty() && batch.findings.is_empty() {
            return;
        }
        let mut conn = self.conn.clone();
        let cmd = redis::cmd("XADD")
            .arg(self.cfg.live_stream())
            .arg("MAXLEN")
            .arg("~")
            .arg(self.cfg.live_max_len)
            .arg("*")
            .arg("d")
            .arg(encode_batch(batch))
            .to_owned();
        match tokio::time::timeout(self.cfg.enqueue_timeout(), cmd.exec_async(&mut conn)).await {
            Ok(Ok(())) => {
                self.metrics.live_published.inc();
            }
            Ok(Err(e)) => {
                self.metrics.live_errors.inc();
                tracing::warn!(error = %e, "live publish failed; batch not sent live");
            }
            Err(_) => {
                self.metrics.live_errors.inc();
                tracing::warn!("live publish timed out; batch not sent live");
            }
        }
    }
}

/// Tails the live stream into a broadcast channel.
pub struct LiveReader;

impl LiveReader {
    /// Reads from the stream's current end (older batches are not replayed) until `shutdown`,
    /// sending each decoded batch to `tx`; reconnects on errors, resuming after the last batch
    /// seen. Having no receivers is not an error.
    pub async fn run(
        cfg: &QueueConfig,
        tx: broadcast::Sender<Arc<Batch>>,
        shutdown: CancellationToken,
    ) -> Result<(), QueueError> {
        Self::run_with_metrics(cfg, tx, shutdown, QueueMetrics::default()).await
    }

    pub async fn run_with_metrics(
        cfg: &QueueConfig,
        tx: broadcast::Sender<Arc<Batch>>,
        shutdown: CancellationToken,
        metrics: QueueMetrics,
    ) -> Result<(), QueueError> {
        let client = cfg.client()?;
        let stream = cfg.live_stream();
        let conn_cfg = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_millis(1000 + 3000)));
        let mut conn = None;
        let mut last: Option<String> = None;
        let mut backoff = Duration::from_millis(100);
        loop {
            let step = async {
                if conn.is_none() {
                    conn = Some(
                        client
                            .get_multiplexed_async_connection_with_config(&conn_cfg)
                            .await?,
                    );
                }
                let c = conn.as_mut().expect("set above");
                if last.is_none() {
                    // The concrete id of the current end, so nothing published between two
                    // reads is missed (`$` would mean "after whatever is last now").
                    let top: Vec<(String, Value)> = redis::cmd("XREVRANGE")
                        .arg(&stream)
                        .arg("+")
                        .arg("-")
                        .arg("COUNT")
                        .arg(1)
                        .query_async(c)
                        .await?;
                    last = Some(
                        top.first()
                            .map_or_else(|| "0-0".to_string(), |t| t.0.clone()),
                    );
                }
                let r: Option<StreamReadReply> = redis::cmd("XREAD")
                    .arg("BLOCK")
                    .arg(1000)
                    .arg("STREAMS")
                    .arg(&stream)
                    .arg(last.as_deref().unwrap_or("$"))
                    .query_async(c)
                    .await?;
                Ok::<_, redis::RedisError>(r)
            };
            let r = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                r = step => r,
            };
            match r {
                Ok(reply) => {
                    backoff = Duration::from_millis(100);
                    for id in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                        last = Some(id.id.clone());
                        let batch = match id.map.get("d") {
                            Some(Value::BulkString(b)) => decode_batch(b),
                            _ => Err(QueueError::Decode("entry has no `d` field".into())),
                        };
                        match batch {
                            Ok(b) => {
                                let _ = tx.send(Arc::new(b));
                            }
                            Err(e) => {
                                metrics.live_errors.inc();
                                tracing::warn!(id = %id.id, error = %e, "undecodable live batch skipped");
                            }
                        }
                    }
                }
                Err(e) => {
                    metrics.live_errors.inc();
                    tracing::warn!(error = %e, "reading the live stream failed; reconnecting");
                    conn = None;
                    tokio::select! {
                        _ = shutdown.cancelled() => return Ok(()),
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }
}
