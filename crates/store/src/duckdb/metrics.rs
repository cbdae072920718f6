//! The store's own metrics, registered on the server's `/metrics`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub struct StoreMetrics {
    pub spans_committed: Counter,
    pub commit_errors: Counter,
    /// Commits and checkpoints that failed for want of disk space.
    pub write_errors: Counter,
    /// 1 while the store can write, 0 from a commit that failed for want of disk until the
    /// next one that succeeds.
    pub writable: Gauge,
    /// Times the database was reopened after a failed write invalidated it.
    pub reopens: Counter,
    pub commit_seconds: Histogram,
    pub batch_spans: Histogram,
    pub queue_depth: Gauge,
    pub cached_spans: Gauge,
    pub summary_loads: Counter,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        StoreMetrics {
            spans_committed: Counter::default(),
            commit_errors: Counter::default(),
            write_errors: Counter::default(),
            writable: Gauge::default(),
            reopens: Counter::default(),
            commit_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            batch_spans: Histogram::new(exponential_buckets(1.0, 4.0, 10)),
            queue_depth: Gauge::default(),
            cached_spans: Gauge::default(),
            summary_loads: Counter::default(),
        }
    }
}

impl StoreMetrics {
    pub fn register(&self, reg: &mut Registry) {
        let reg = reg.sub_registry_with_prefix("spyglass_store");
        reg.register(
            "spans_committed",
            "Span rows committed to storage",
            self.spans_committed.clone(),
        );
        reg.register(
            "commit_errors",
            "Group commits that failed",
            self.commit_errors.clone(),
        );
        reg.register(
            "write_errors",
            "Commits and checkpoints that failed because the data directory's disk was full",
            self.write_errors.clone(),
        );
        reg.register(
            "writable",
            "1 while the store can write; 0 after a commit failed for want of disk, until one succeeds",
            self.writable.clone(),
        );
        reg.register(
            "reopens",
            "Times the database was reopened after a failed write invalidated it",
            self.reopens.clone(),
        );
        reg.register(
            "commit_seconds",
            "Duration of one group commit",
            self.commit_seconds.clone(),
        );
        reg.register(
            "commit_batch_spans",
            "Spans per group commit",
            self.batch_spans.clone(),
        );
        reg.register(
            "writer_queue_requests",
            "Write requests waiting for the writer",
            self.queue_depth.clone(),
        );
        reg.register(
            "summary_cache_spans",
            "Span contributions held by the trace summary cache",
            self.cached_spans.clone(),
        );
        reg.register(
            "summary_loads",
            "Traces reloaded from storage to update their summary",
            self.summary_loads.clone(),
        );
    }
}
