//! The running forwarder: one task reads the live stream of committed batches and hands each to
//! every exporter's queue (never waiting: a full queue drops), and one sender task per exporter
//! delivers. Ingest publishes to the live stream without waiting either, so forwarding can
//! fall behind or fail without slowing ingest by anything but the CPU it uses.

use crate::config::ForwardConfig;
use crate::error::ForwardError;
use crate::metrics::{DropReason, ExporterMetrics, ForwardMetrics};
use crate::queue::Queue;
use crate::sender::Sender;
use crate::transport::Transport;
use prometheus_client::registry::Registry;
use spyglass_store::Batch;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

/// How often at most a queue's drops are logged (they are counted always).
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

/// The forwarder's tasks; [`Forwarder::join`] waits for the final flush.
pub struct Forwarder {
    fan_out: Option<JoinHandle<()>>,
    exporters: Vec<Running>,
    shutdown_timeout: Duration,
}

struct Running {
    name: String,
    task: JoinHandle<()>,
    queue: Arc<Queue>,
    in_flight: Arc<AtomicUsize>,
    metrics: ExporterMetrics,
}

/// What the fan-out task pushes into.
struct Target {
    name: String,
    queue: Arc<Queue>,
    metrics: ExporterMetrics,
    log: DropLog,
}

/// Starts forwarding every batch published on `live` from now on, and registers the
/// `spyglass_forward_*` metrics. When `shutdown` turns true the forwarder stops taking new
/// batches (those already published are still taken) and sends what is queued; await
/// [`Forwarder::join`] after that for the bounded flush. Without exporters it does nothing.
/// Must be called on a Tokio runtime; a configuration error starts nothing.
pub fn spawn(
    cfg: &ForwardConfig,
    live: &broadcast::Sender<Arc<Batch>>,
    registry: &mut Registry,
    shutdown: watch::Receiver<bool>,
) -> Result<Forwarder, ForwardError> {
    cfg.validate()?;
    let mut forwarder = Forwarder {
        fan_out: None,
        exporters: Vec::new(),
        shutdown_timeout: cfg.shutdown_timeout(),
    };
    if cfg.exporters.is_empty() {
        return Ok(forwarder);
    }
    let transports = cfg
        .exporters
        .iter()
        .map(Transport::new)
        .collect::<Result<Vec<_>, _>>()?;
    let metrics = ForwardMetrics::default();
    metrics.register(registry);

    let (drain_tx, drain_rx) = watch::channel(false);
    let mut targets = Vec::new();
    for (e, transport) in cfg.exporters.iter().zip(transports) {
        let sender = Sender::new(e, transport, metrics.exporter(&e.name));
        targets.push(Target {
            name: e.name.clone(),
            queue: sender.queue.clone(),
            metrics: sender.delivery.metrics.clone(),
            log: DropLog::default(),
        });
        forwarder.exporters.push(Running {
            name: e.name.clone(),
            queue: sender.queue.clone(),
            in_flight: sender.in_flight.clone(),
            metrics: sender.delivery.metrics.clone(),
            task: tokio::spawn(sender.run(drain_rx.clone())),
        });
        tracing::info!(
            exporter = %e.name,
            endpoint = %e.endpoint,
            protocol = ?e.protocol,
            "forwarding spans"
        );
    }
    forwarder.fan_out = Some(tokio::spawn(fan_out(
        live.subscribe(),
        targets,
        shutdown,
        drain_tx,
    )));
    Ok(forwarder)
}

impl Forwarder {
    /// Waits for the exporters to send what is queued, at most `shutdown_timeout_ms` (each
    /// exporter flushes in parallel); what is still unsent then is dropped and counted. Call
    /// it after the shutdown signal, once ingest has stopped publishing.
    pub async fn join(self) {
        if let Some(fan_out) = self.fan_out {
            let _ = fan_out.await;
        }
        let deadline = tokio::time::Instant::now() + self.shutdown_timeout;
        for r in self.exporters {
            let abort = r.task.abort_handle();
            if tokio::time::timeout_at(deadline, r.task).await.is_err() {
                abort.abort();
                let left = r.queue.clear() + r.in_flight.swap(0, Ordering::Relaxed);
                r.metrics.dropped(DropReason::Shutdown, left as u64);
                tracing::warn!(
                    exporter = %r.name,
                    spans = left,
                    "shutdown wait ran out; dropped the spans not yet sent"
                );
            }
        }
    }
}

async fn fan_out(
    mut live: broadcast::Receiver<Arc<Batch>>,
    mut targets: Vec<Target>,
    mut shutdown: watch::Receiver<bool>,
    drain: watch::Sender<bool>,
) {
    let mut seen = Seen::default();
    loop {
        let received = tokio::select! {
            biased;
            r = live.recv() => r,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        match received {
            Ok(batch) => seen.push(&batch, &mut targets),
            Err(RecvError::Lagged(n)) => seen.lagged(n),
            Err(RecvError::Closed) => break,
        }
    }
    // What was published before the stop still goes.
    loop {
        match live.try_recv() {
            Ok(batch) => seen.push(&batch, &mut targets),
            Err(TryRecvError::Lagged(n)) => seen.lagged(n),
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    seen.count_lost(&mut targets);
    let _ = drain.send(true);
}

/// What the live stream delivered, for estimating the spans of lost batches.
#[derive(Default)]
struct Seen {
    batches: u64,
    spans: u64,
    /// Batches lost and not yet counted: they are counted at the mean batch size, which is
    /// better known once the batch after them has been seen.
    lost: u64,
}

impl Seen {
    fn push(&mut self, batch: &Arc<Batch>, targets: &mut [Target]) {
        self.batches += 1;
        self.spans += batch.spans.len() as u64;
        for t in targets.iter_mut() {
            let dropped = t.queue.push(batch) as u64;
            if dropped > 0 {
                t.metrics.dropped(DropReason::QueueFull, dropped);
                t.log.note(&t.name, DropReason::QueueFull, dropped);
            }
        }
        self.count_lost(targets);
    }

    fn lagged(&mut self, batches: u64) {
        self.lost += batches;
    }

    fn count_lost(&mut self, targets: &mut [Target]) {
        if self.lost == 0 {
            return;
        }
        let per_batch = self.spans.checked_div(self.batches).unwrap_or(1).max(1);
        let spans = self.lost.saturating_mul(per_batch);
        for t in targets {
            t.metrics.dropped(DropReason::Lagged, spans);
            tracing::warn!(
                exporter = %t.name,
                batches = self.lost,
                spans_estimated = spans,
                "forwarding fell behind the live stream and lost batches"
            );
        }
        self.lost = 0;
    }
}

/// Rate-limits drop warnings: a dead backend fills its queue and then drops on every batch.
#[derive(Default)]
struct DropLog {
    last: Option<Instant>,
    since: u64,
}

impl DropLog {
    fn note(&mut self, exporter: &str, reason: DropReason, spans: u64) {
        self.since += spans;
        if self.last.is_some_and(|t| t.elapsed() < DROP_LOG_EVERY) {
            return;
        }
        tracing::warn!(
            exporter,
            reason = reason.as_str(),
            spans = self.since,
            "dropped spans: the exporter's queue is full (its backend is slow or down)"
        );
        self.last = Some(Instant::now());
        self.since = 0;
    }
}
