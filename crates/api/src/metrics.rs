//! The API's own metrics on `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use spyglass_engine::security::Action;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabel {
    action: &'static str,
}

pub struct ApiMetrics {
    guard_checks: Family<ActionLabel, Counter>,
    pub guard_seconds: Histogram,
    /// Live WebSocket subscribers connected now.
    pub live_subscribers: Gauge,
    /// Live subscriptions refused at the subscriber limit.
    pub live_refused: Counter,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        ApiMetrics {
            guard_checks: Family::default(),
            // 10 µs to ~0.3 s.
            guard_seconds: Histogram::new(exponential_buckets(0.00001, 2.0, 15)),
            live_subscribers: Gauge::default(),
            live_refused: Counter::default(),
        }
    }
}

impl ApiMetrics {
    pub fn guard_checks(&self, action: Action) -> Counter {
        let action = match action {
            Action::Allow => "allow",
            Action::Flag => "flag",
            Action::Block => "block",
        };
        self.guard_checks
            .get_or_create(&ActionLabel { action })
            .clone()
    }

    pub fn register(&self, root: &mut Registry) {
        let reg = root.sub_registry_with_prefix("spyglass_guard");
        reg.register(
            "checks",
            "Guard checks answered, by action",
            self.guard_checks.clone(),
        );
        reg.register(
            "check_seconds",
            "Server-side time of a guard check",
            self.guard_seconds.clone(),
        );
        let live = root.sub_registry_with_prefix("spyglass_live");
        live.register(
            "subscribers",
            "Live WebSocket subscribers connected",
            self.live_subscribers.clone(),
        );
        live.register(
            "refused",
            "Live subscriptions refused at max_live_subscribers",
            self.live_refused.clone(),
        );
    }
}
