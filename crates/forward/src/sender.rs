//! One exporter's sending task: takes a request's worth of spans from its queue (a full batch,
//! or whatever waited `batch_timeout_ms`), encodes them and sends with retries. A batch that
//! still fails after the last attempt is dropped and counted; delivery is at most once.

use crate::config::ExporterConfig;
use crate::encode::RequestBuilder;
use crate::metrics::{DropReason, ExporterMetrics};
use crate::queue::{Chunk, Queue};
use crate::retry::{Backoff, Outcome};
use crate::transport::Transport;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

pub(crate) struct Sender {
    pub queue: Arc<Queue>,
    pub batch_max: usize,
    pub linger: Duration,
    pub concurrency: usize,
    pub delivery: Arc<Delivery>,
    /// Spans taken from the queue and not yet settled: what is lost if the task is stopped.
    pub in_flight: Arc<AtomicUsize>,
}

/// What sending one request needs; shared by the requests in flight.
pub(crate) struct Delivery {
    pub name: String,
    pub transport: Transport,
    pub max_attempts: u32,
    pub backoff: Backoff,
    pub metrics: ExporterMetrics,
    pub in_flight: Arc<AtomicUsize>,
}

impl Sender {
    pub fn new(cfg: &ExporterConfig, transport: Transport, metrics: ExporterMetrics) -> Self {
        let in_flight = Arc::<AtomicUsize>::default();
        Sender {
            queue: Arc::new(Queue::new(cfg.queue_max_spans, metrics.queue.clone())),
            batch_max: cfg.batch_max_spans,
            linger: cfg.batch_timeout(),
            concurrency: cfg.max_concurrent_requests.max(1),
            delivery: Arc::new(Delivery {
                name: cfg.name.clone(),
                transport,
                max_attempts: cfg.max_attempts,
                backoff: Backoff {
                    initial: Duration::from_millis(cfg.initial_backoff_ms),
                    max: Duration::from_millis(cfg.max_backoff_ms),
                },
                metrics,
                in_flight: in_flight.clone(),
            }),
            in_flight,
        }
    }

    /// Sends until `draining` turns true (or its sender goes), then sends what is queued
    /// without waiting for batches to fill, and returns once the queue is empty and every
    /// request has settled. At most `concurrency` requests are in flight; a batch is taken
    /// from the queue only when one may go, so the queue's bound holds what waits.
    pub async fn run(self, mut draining: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        // Dropping the set (the task aborted at the shutdown deadline) aborts the requests.
        let mut requests = JoinSet::new();
        let mut drain = false;
        loop {
            while requests.try_join_next().is_some() {}
            if drain {
                if self.queue.is_empty() {
                    break;
                }
            } else {
                tokio::select! {
                    _ = self.queue.ready(self.batch_max, self.linger) => {}
                    _ = draining.wait_for(|d| *d) => {
                        drain = true;
                        continue;
                    }
                }
            }
            let slot = slots
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let chunks = self.queue.pop(self.batch_max);
            let delivery = self.delivery.clone();
            requests.spawn(async move {
                delivery.deliver(chunks).await;
                drop(slot);
            });
        }
        while requests.join_next().await.is_some() {}
    }
}

impl Delivery {
    async fn deliver(&self, chunks: Vec<Chunk>) {
        let mut builder = RequestBuilder::default();
        for c in &chunks {
            builder.push_batch(&c.batch, c.range.clone());
        }
        drop(chunks);
        let spans = builder.len();
        if spans == 0 {
            return;
        }
        self.in_flight.fetch_add(spans, Ordering::Relaxed);
        let request = builder.finish();
        let mut failed = 0u32;
        loop {
            let started = Instant::now();
            let outcome = self.transport.clone().export(&request).await;
            self.metrics
                .send_seconds
                .observe(started.elapsed().as_secs_f64());
            match outcome {
                Outcome::Sent { rejected } => {
                    let rejected = rejected.min(spans as u64);
                    self.metrics.sent.inc_by(spans as u64 - rejected);
                    if rejected > 0 {
                        self.metrics.dropped(DropReason::Rejected, rejected);
                        tracing::warn!(
                            exporter = %self.name,
                            rejected,
                            spans,
                            "the backend rejected some spans of a request"
                        );
                    }
                    break;
                }
                Outcome::Retry { after, why } if failed + 1 < self.max_attempts => {
                    self.metrics.send_failures.inc();
                    failed += 1;
                    let wait = self.backoff.wait(failed, after);
                    tracing::debug!(
                        exporter = %self.name,
                        attempt = failed,
                        error = %why,
                        wait_ms = wait.as_millis() as u64,
                        "export failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                Outcome::Retry { why, .. } | Outcome::Fail { why } => {
                    self.metrics.send_failures.inc();
                    self.metrics.dropped(DropReason::SendFailed, spans as u64);
                    tracing::warn!(
                        exporter = %self.name,
                        spans,
                        attempts = failed + 1,
                        error = %why,
                        "export failed; dropped the batch"
                    );
                    break;
                }
            }
        }
        self.in_flight.fetch_sub(spans, Ordering::Relaxed);
    }
}
