//! The path every OTLP request takes, whichever receiver it came through: admission against
//! a bounded in-flight budget, decode, normalize, the engine, durable write, then live
//! broadcast. A
//! request is answered only after its spans are committed.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use spyglass_engine::Engine;
use spyglass_ingest::decode::{self, Decoded, Format};
use spyglass_ingest::{IngestError, Normalized, Normalizer};
use spyglass_store::{Batch, Store, StoreError};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast};

/// Why a request was not taken.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("ingest queue is full ({in_flight} bytes in flight); retry after {retry_after_secs}s")]
    Overloaded {
        in_flight: usize,
        retry_after_secs: u64,
    },
    #[error("storage unavailable: {0}")]
    Store(#[from] StoreError),
    /// The queue of the scale-out roles did not take the spans (nothing was acknowledged).
    #[error("queue unavailable: {message}; retry after {retry_after_secs}s")]
    Queue {
        message: String,
        retry_after_secs: u64,
    },
}

/// Where the ingest role sends normalized spans instead of the engine and the store: the
/// queue the processors read (Redis Streams). `Ok` means the spans are durable there, and the
/// request is acknowledged.
#[async_trait::async_trait]
pub trait Handoff: Send + Sync + 'static {
    async fn hand_off(&self, spans: Vec<spyglass_model::Span>) -> Result<(), HandoffError>;
}

#[derive(Debug)]
pub struct HandoffError {
    pub message: String,
    pub retry_after_secs: u64,
}

/// What an accepted request did.
#[derive(Debug, Default)]
pub struct Accepted {
    pub accepted: u64,
    pub rejected: u64,
    /// The partial-success message; empty when everything was taken whole.
    pub message: String,
}

pub struct IngestMetrics {
    pub requests: Counter,
    pub spans_received: Counter,
    pub spans_accepted: Counter,
    pub spans_rejected: Counter,
    pub requests_refused: Counter,
    pub bytes_in_flight: Gauge,
    pub spans_in_flight: Gauge,
    pub request_seconds: Histogram,
    pub findings: Counter,
}

impl IngestMetrics {
    fn new() -> Self {
        IngestMetrics {
            requests: Counter::default(),
            spans_received: Counter::default(),
            spans_accepted: Counter::default(),
            spans_rejected: Counter::default(),
            requests_refused: Counter::default(),
            bytes_in_flight: Gauge::default(),
            spans_in_flight: Gauge::default(),
            request_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            findings: Counter::default(),
        }
    }

    pub fn register(&self, reg: &mut Registry) {
        let reg = reg.sub_registry_with_prefix("spyglass_ingest");
        reg.register(
            "requests",
            "OTLP export requests received",
            self.requests.clone(),
        );
        reg.register(
            "spans_received",
            "Spans received in OTLP requests",
            self.spans_received.clone(),
        );
        reg.register(
            "spans_accepted",
            "Spans accepted and stored",
            self.spans_accepted.clone(),
        );
        reg.register(
            "spans_rejected",
            "Spans rejected as invalid (OTLP partial success)",
            self.spans_rejected.clone(),
        );
        reg.register(
            "requests_refused",
            "Requests refused because the ingest queue was full",
            self.requests_refused.clone(),
        );
        reg.register(
            "queue_bytes",
            "Request bytes admitted and not yet stored (the ingest queue depth)",
            self.bytes_in_flight.clone(),
        );
        reg.register(
            "queue_spans",
            "Spans decoded and not yet stored",
            self.spans_in_flight.clone(),
        );
        reg.register(
            "findings",
            "Security findings made on ingested spans",
            self.findings.clone(),
        );
        reg.register(
            "request_seconds",
            "Time from admission to acknowledgement of a request",
            self.request_seconds.clone(),
        );
    }
}

pub struct Pipeline {
    normalizer: Normalizer,
    engine: Arc<Engine>,
    store: Arc<dyn Store>,
    budget: Arc<Semaphore>,
    max_in_flight: usize,
    live: broadcast::Sender<Arc<Batch>>,
    metrics: IngestMetrics,
    handoff: Option<Arc<dyn Handoff>>,
}

/// A request admitted into the pipeline; holds its share of the in-flight budget.
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    bytes: usize,
    started: Instant,
    gauge: Gauge,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.gauge.dec_by(self.bytes as i64);
    }
}

/// Permits count kilobytes so that a budget of gigabytes fits the semaphore's range.
fn units(bytes: usize) -> u32 {
    (bytes / 1024 + 1).min(u32::MAX as usize) as u32
}

impl Pipeline {
    /// `max_in_flight_bytes` bounds the decoded request bytes between admission and commit;
    /// committed batches are published on `live`.
    pub fn new(
        normalizer: Normalizer,
        engine: Arc<Engine>,
        store: Arc<dyn Store>,
        max_in_flight_bytes: usize,
        live: broadcast::Sender<Arc<Batch>>,
    ) -> Self {
        let max_units = units(max_in_flight_bytes) as usize;
        Pipeline {
            normalizer,
            engine,
            store,
            budget: Arc::new(Semaphore::new(max_units)),
            max_in_flight: max_units,
            live,
            metrics: IngestMetrics::new(),
            handoff: None,
        }
    }

    /// Sends normalized spans to `handoff` (the ingest role's queue) instead of running the
    /// engine and writing the store here.
    pub fn with_handoff(mut self, handoff: Arc<dyn Handoff>) -> Self {
        self.handoff = Some(handoff);
        self
    }

    pub fn metrics(&self) -> &IngestMetrics {
        &self.metrics
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Spans, as soon as they are committed, for live subscribers.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Batch>> {
        self.live.subscribe()
    }

    pub fn limits(&self) -> &spyglass_ingest::Limits {
        &self.normalizer.limits
    }

    /// Takes a share of the in-flight budget for a body of `bytes`, or refuses at once (the
    /// caller answers 503/UNAVAILABLE with a retry delay; waiting would only pile up memory).
    pub fn admit(&self, bytes: usize) -> Result<Admission, PipelineError> {
        self.metrics.requests.inc();
        let want = units(bytes).min(self.max_in_flight as u32);
        match self.budget.clone().try_acquire_many_owned(want) {
            Ok(permit) => {
                self.metrics.bytes_in_flight.inc_by(bytes as i64);
                Ok(Admission {
                    _permit: permit,
                    bytes,
                    started: Instant::now(),
                    gauge: self.metrics.bytes_in_flight.clone(),
                })
            }
            Err(_) => {
                self.metrics.requests_refused.inc();
                let in_flight = (self.max_in_flight - self.budget.available_permits()) * 1024;
                Err(PipelineError::Overloaded {
                    in_flight,
                    retry_after_secs: 1,
                })
            }
        }
    }

    /// Enlarges an admission to `bytes` (a body that grew when decompressed).
    pub fn grow(&self, a: &mut Admission, bytes: usize) -> Result<(), PipelineError> {
        let extra = units(bytes)
            .min(self.max_in_flight as u32)
            .saturating_sub(units(a.bytes));
        if extra > 0 {
            match self.budget.clone().try_acquire_many_owned(extra) {
                Ok(p) => a._permit.merge(p),
                Err(_) => {
                    self.metrics.requests_refused.inc();
                    let in_flight = (self.max_in_flight - self.budget.available_permits()) * 1024;
                    return Err(PipelineError::Overloaded {
                        in_flight,
                        retry_after_secs: 1,
                    });
                }
            }
        }
        if bytes > a.bytes {
            self.metrics
                .bytes_in_flight
                .inc_by((bytes - a.bytes) as i64);
            a.bytes = bytes;
        }
        Ok(())
    }

    /// Decodes a body (already decompressed) and runs the request.
    pub async fn export_bytes(
        &self,
        admission: Admission,
        body: &[u8],
        format: Format,
        project: &str,
    ) -> Result<Accepted, PipelineError> {
        let decoded = decode::decode_request(body, format, self.normalizer.limits.max_value_depth)?;
        self.export(admission, decoded, project).await
    }

    /// Normalizes, then runs the engine, stores durably and publishes (or hands the spans
    /// to the queue, in the ingest role). Returns only after the commit.
    pub async fn export(
        &self,
        admission: Admission,
        decoded: Decoded,
        project: &str,
    ) -> Result<Accepted, PipelineError> {
        let received_ns = spyglass_model::now_ns();
        let mut normalized: Normalized =
            self.normalizer
                .normalize(decoded.request, project, received_ns);
        for r in decoded.repairs {
            normalized.warn(r);
        }
        let n = normalized.spans.len() as u64;
        self.metrics.spans_received.inc_by(n + normalized.rejected);
        self.metrics.spans_rejected.inc_by(normalized.rejected);
        let message = normalized.message();
        let rejected = normalized.rejected;
        let result =
            if n > 0 {
                self.metrics.spans_in_flight.inc_by(n as i64);
                let r =
                    match &self.handoff {
                        Some(handoff) => handoff.hand_off(normalized.spans).await.map_err(|e| {
                            PipelineError::Queue {
                                message: e.message,
                                retry_after_secs: e.retry_after_secs,
                            }
                        }),
                        None => self.commit(normalized.spans).await,
                    };
                self.metrics.spans_in_flight.dec_by(n as i64);
                r.map(|()| {
                    self.metrics.spans_accepted.inc_by(n);
                })
            } else {
                Ok(())
            };
        self.metrics
            .request_seconds
            .observe(admission.started.elapsed().as_secs_f64());
        result?;
        Ok(Accepted {
            accepted: n,
            rejected,
            message,
        })
    }

    /// The engine, the durable write, then the live stream.
    async fn commit(&self, mut spans: Vec<spyglass_model::Span>) -> Result<(), PipelineError> {
        let findings = self.engine.process(&mut spans);
        if !findings.is_empty() {
            self.metrics.findings.inc_by(findings.len() as u64);
        }
        let batch = Arc::new(Batch { spans, findings });
        self.store.write(batch.clone()).await?;
        // Nobody listening is fine.
        let _ = self.live.send(batch);
        Ok(())
    }
}
