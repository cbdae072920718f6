//! Prometheus metrics of the queue, shared (cheap clones) by producers and consumers.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Default)]
pub struct QueueMetrics {
    pub entries_enqueued: Counter,
    pub spans_enqueued: Counter,
    pub enqueue_errors: Counter,
    pub enqueue_unavailable: Counter,
    pub pending_bytes: Gauge,
    pub entries_handled: Counter,
    pub spans_handled: Counter,
    pub handler_failures: Counter,
    pub dead_lettered: Counter,
    pub reclaimed: Counter,
    pub partitions_owned: Gauge,
    pub leases_lost: Counter,
    pub live_published: Counter,
    pub live_errors: Counter,
}

impl QueueMetrics {
    pub fn register(&self, reg: &mut Registry) {
        let reg = reg.sub_registry_with_prefix("spyglass_queue");
        let counters = [
            (
                "entries_enqueued",
                "Stream entries written by ingest (one per partition of a request)",
                &self.entries_enqueued,
            ),
            (
                "spans_enqueued",
                "Spans written to the span streams",
                &self.spans_enqueued,
            ),
            (
                "enqueue_errors",
                "Enqueues that failed with a Redis error other than unavailability",
                &self.enqueue_errors,
            ),
            (
                "enqueue_unavailable",
                "Enqueues refused because Redis was unreachable or the pending buffer was full",
                &self.enqueue_unavailable,
            ),
            (
                "entries_handled",
                "Entries handled and acknowledged",
                &self.entries_handled,
            ),
            (
                "spans_handled",
                "Spans in handled entries",
                &self.spans_handled,
            ),
            (
                "handler_failures",
                "Handler errors; the entry is retried with backoff",
                &self.handler_failures,
            ),
            (
                "dead_lettered",
                "Undecodable entries moved to the dead-letter stream",
                &self.dead_lettered,
            ),
            (
                "reclaimed",
                "Pending entries taken over from another consumer (XAUTOCLAIM)",
                &self.reclaimed,
            ),
            (
                "leases_lost",
                "Partitions lost because their lease expired or was taken",
                &self.leases_lost,
            ),
            (
                "live_published",
                "Batches published to the live stream",
                &self.live_published,
            ),
            (
                "live_errors",
                "Live stream publishes or reads that failed",
                &self.live_errors,
            ),
        ];
        for (name, help, c) in counters {
            reg.register(name, help, c.clone());
        }
        reg.register(
            "pending_bytes",
            "Encoded bytes waiting on Redis (the ingest side's bounded buffer)",
            self.pending_bytes.clone(),
        );
        reg.register(
            "partitions_owned",
            "Partitions this processor holds the lease of",
            self.partitions_owned.clone(),
        );
    }
}
