//! The pieces the scale-out roles plug into the stages: the store chosen by the config, the
//! queue as the ingest pipeline's destination, and the processor's handler.

use crate::config::{Config, Role, StoreBackend};
use anyhow::Context;
use spyglass_engine::Engine;
use spyglass_queue::{Handler, HandlerError, LivePublisher, Producer, QueueError};
use spyglass_receiver::{Handoff, HandoffError};
use spyglass_store::clickhouse::ClickHouseStore;
use spyglass_store::duckdb::DuckDbStore;
use spyglass_store::{Batch, Store};
use std::sync::Arc;
use tokio::sync::broadcast;

/// The store this process opened.
pub enum Opened {
    DuckDb(Arc<DuckDbStore>),
    ClickHouse(Arc<ClickHouseStore>),
}

impl Opened {
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Opened::DuckDb(s) => s.clone(),
            Opened::ClickHouse(s) => s.clone(),
        }
    }

    /// Stops the embedded store's writers after everything queued is committed.
    pub async fn close(self) -> anyhow::Result<()> {
        if let Opened::DuckDb(s) = self {
            tokio::task::spawn_blocking(move || s.close()).await?;
        }
        Ok(())
    }
}

/// Checks the role has what it needs before anything starts.
pub fn check_role(cfg: &Config) -> anyhow::Result<()> {
    if cfg.role != Role::All && cfg.store.backend != StoreBackend::Clickhouse {
        anyhow::bail!(
            "--role {:?} shares its data with the other roles through ClickHouse: add \
             --store clickhouse://USER:PASSWORD@HOST:8123/DB (docs/self-hosting.md)",
            cfg.role
        );
    }
    if cfg.role != Role::All {
        cfg.queue
            .validate()
            .map_err(|e| anyhow::anyhow!("[queue]: {e}"))?;
    }
    Ok(())
}

pub async fn open_store(cfg: &Config) -> anyhow::Result<Opened> {
    Ok(match cfg.store.backend {
        StoreBackend::Duckdb => Opened::DuckDb(Arc::new(
            DuckDbStore::open(&cfg.data_dir, &cfg.store.duckdb)
                .with_context(|| format!("opening the store in {}", cfg.data_dir.display()))?,
        )),
        StoreBackend::Clickhouse => Opened::ClickHouse(Arc::new(
            ClickHouseStore::open(&cfg.store.clickhouse, cfg.retention.clone())
                .await
                .with_context(|| {
                    format!(
                        "opening the ClickHouse store at {}",
                        cfg.store.clickhouse.redacted_url()
                    )
                })?,
        )),
    })
}

/// The ingest role's destination: the Redis stream of the spans' partition.
pub struct QueueHandoff(pub Arc<Producer>);

#[async_trait::async_trait]
impl Handoff for QueueHandoff {
    async fn hand_off(&self, spans: Vec<spyglass_model::Span>) -> Result<(), HandoffError> {
        self.0.enqueue(spans).await.map_err(|e| HandoffError {
            retry_after_secs: match e {
                QueueError::Unavailable { retry_after_secs } => retry_after_secs.into(),
                _ => 1,
            },
            message: e.to_string(),
        })
    }
}

/// The processor: what the single-process pipeline does after normalizing, for spans read
/// from the queue. A failed write is retried by the consumer (the entry stays pending), and
/// the store makes a retried batch count once.
pub struct Process {
    pub engine: Arc<Engine>,
    pub store: Arc<dyn Store>,
    /// Committed batches for this process's forwarder.
    pub committed: broadcast::Sender<Arc<Batch>>,
    /// Committed batches for the api roles' live views.
    pub live: LivePublisher,
}

#[async_trait::async_trait]
impl Handler for Process {
    async fn handle(
        &self,
        _partition: u32,
        key: &str,
        mut spans: Vec<spyglass_model::Span>,
    ) -> Result<(), HandlerError> {
        let findings = self.engine.process(&mut spans);
        let batch = Arc::new(Batch { spans, findings });
        self.store.write_once(batch.clone(), key).await?;
        self.live.publish(&batch).await;
        let _ = self.committed.send(batch);
        Ok(())
    }
}
