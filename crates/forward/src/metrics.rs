//! Forwarding's metrics on `/metrics`, labelled by exporter: what was sent, what was dropped
//! and why, how full each queue is and how long sends take.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ExporterLabel {
    exporter: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabel {
    exporter: String,
    reason: &'static str,
}

/// Why spans were not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The exporter's queue was at `queue_max_spans`.
    QueueFull,
    /// The forwarder fell behind the live stream and lost whole batches (estimated from the
    /// mean batch size: the lost batches are never seen).
    Lagged,
    /// Every attempt failed, or the backend refused the request for good.
    SendFailed,
    /// The backend accepted the request but rejected these spans (OTLP partial success).
    Rejected,
    /// Still queued when the shutdown wait ran out.
    Shutdown,
}

impl DropReason {
    const ALL: [DropReason; 5] = [
        DropReason::QueueFull,
        DropReason::Lagged,
        DropReason::SendFailed,
        DropReason::Rejected,
        DropReason::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::Lagged => "lagged",
            DropReason::SendFailed => "send_failed",
            DropReason::Rejected => "rejected",
            DropReason::Shutdown => "shutdown",
        }
    }
}

fn send_histogram() -> Histogram {
    // 1 ms to ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

pub struct ForwardMetrics {
    spans_sent: Family<ExporterLabel, Counter>,
    spans_dropped: Family<DropLabel, Counter>,
    queue_spans: Family<ExporterLabel, Gauge>,
    send_seconds: Family<ExporterLabel, Histogram, fn() -> Histogram>,
    send_failures: Family<ExporterLabel, Counter>,
}

impl Default for ForwardMetrics {
    fn default() -> Self {
        ForwardMetrics {
            spans_sent: Family::default(),
            spans_dropped: Family::default(),
            queue_spans: Family::default(),
            send_seconds: Family::new_with_constructor(send_histogram),
            send_failures: Family::default(),
        }
    }
}

impl ForwardMetrics {
    pub fn register(&self, reg: &mut Registry) {
        let reg = reg.sub_registry_with_prefix("spyglass_forward");
        reg.register(
            "spans_sent",
            "Spans an exporter's backend accepted",
            self.spans_sent.clone(),
        );
        reg.register(
            "spans_dropped",
            "Spans an exporter did not deliver, by reason (queue_full, lagged, send_failed, rejected, shutdown)",
            self.spans_dropped.clone(),
        );
        reg.register(
            "queue_spans",
            "Spans waiting in an exporter's queue",
            self.queue_spans.clone(),
        );
        reg.register(
            "send_seconds",
            "Time of one export request attempt, by exporter",
            self.send_seconds.clone(),
        );
        reg.register(
            "send_failures",
            "Export request attempts that failed (each retry counts)",
            self.send_failures.clone(),
        );
    }

    /// One exporter's handles; every series exists from the start, so a dashboard shows 0
    /// rather than nothing.
    pub fn exporter(&self, name: &str) -> ExporterMetrics {
        let label = ExporterLabel {
            exporter: name.to_string(),
        };
        ExporterMetrics {
            sent: self.spans_sent.get_or_create(&label).clone(),
            queue: self.queue_spans.get_or_create(&label).clone(),
            send_seconds: self.send_seconds.get_or_create(&label).clone(),
            send_failures: self.send_failures.get_or_create(&label).clone(),
            dropped: DropReason::ALL.map(|reason| {
                self.spans_dropped
                    .get_or_create(&DropLabel {
                        exporter: name.to_string(),
                        reason: reason.as_str(),
                    })
                    .clone()
            }),
        }
    }
}

/// The metrics of one exporter; cheap to clone (each handle shares its series).
#[derive(Clone, Debug)]
pub struct ExporterMetrics {
    pub sent: Counter,
    pub queue: Gauge,
    pub send_seconds: Histogram,
    pub send_failures: Counter,
    dropped: [Counter; 5],
}

impl ExporterMetrics {
    pub fn dropped(&self, reason: DropReason, spans: u64) {
        if spans > 0 {
            self.dropped[reason as usize].inc_by(spans);
        }
    }
}
