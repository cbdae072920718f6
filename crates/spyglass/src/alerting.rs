//! Wires the alert evaluator to the store: metrics come from the analytics queries, rules and
//! events live in the store, config rules are synced into it at start, and each rule resumes
//! in the state its last event left it.

use anyhow::Context;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use spyglass_alerts::{AlertRepo, AlertsConfig, Evaluator, MetricSource, Notifier, RuleState};
use spyglass_model::alert::{AlertEvent, AlertRule};
use spyglass_model::analytics::{AnalyticsFilter, MAX_POINTS, Metric, TimeseriesQuery};
use spyglass_store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

struct StoreAlerts(Arc<dyn Store>);

/// A bucket width (whole minutes) that covers the range in at most `MAX_POINTS` buckets: the
/// query only wants the total, and the first bucket may start up to one width early.
fn interval_for(from_ns: i64, to_ns: i64) -> i64 {
    let minutes = ((to_ns - from_ns).max(1) as f64 / 60e9).ceil() as i64;
    60 * (minutes / (MAX_POINTS - 1) + 1)
}

#[async_trait::async_trait]
impl MetricSource for StoreAlerts {
    async fn measure(
        &self,
        project: &str,
        metric: Metric,
        filter: &AnalyticsFilter,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Option<f64>, String> {
        let q = TimeseriesQuery {
            metric,
            group_by: None,
            interval_s: interval_for(from_ns, to_ns),
            from_ns,
            to_ns,
            filter: filter.clone(),
            limit: 1,
        };
        let ts = self
            .0
            .timeseries(project, &q)
            .await
            .map_err(|e| e.to_string())?;
        let total = ts.series.first().and_then(|s| s.total);
        // "No spans" must read as no data, not as a count of 0 (a no-data rule fires on it).
        Ok(match (metric, total) {
            (Metric::Count, Some(0.0)) => None,
            _ => total,
        })
    }
}

#[async_trait::async_trait]
impl AlertRepo for StoreAlerts {
    async fn rules(&self) -> Result<Vec<AlertRule>, String> {
        self.0.alert_rules(None).await.map_err(|e| e.to_string())
    }

    async fn record(&self, event: &AlertEvent) -> Result<(), String> {
        self.0
            .record_alert_event(event)
            .await
            .map_err(|e| e.to_string())
    }
}

/// The notifier's counters on `/metrics`.
struct NotifierMetrics(Notifier);

impl std::fmt::Debug for NotifierMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NotifierMetrics")
    }
}

impl Collector for NotifierMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let n = &self.0;
        for (name, help, value) in [
            (
                "spyglass_alert_webhooks_delivered",
                "Webhook notifications delivered",
                n.delivered(),
            ),
            (
                "spyglass_alert_webhooks_failed",
                "Webhook notifications given up on (refused target, 4xx, attempts exhausted)",
                n.failed(),
            ),
            (
                "spyglass_alert_webhooks_dropped",
                "Webhook notifications dropped because the queue was full",
                n.dropped(),
            ),
        ] {
            let c = ConstCounter::new(value);
            c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
        }
        let g = ConstGauge::new(n.queued() as i64);
        g.encode(encoder.encode_descriptor(
            "spyglass_alert_webhooks_queued",
            "Webhook notifications waiting for delivery",
            None,
            g.metric_type(),
        )?)?;
        Ok(())
    }
}

/// Syncs the config's rules into the store (replacing config rules that changed, removing
/// ones no longer there), restores rule states, and starts the notifier and the evaluation
/// loop (when enabled).
pub async fn start(
    cfg: &AlertsConfig,
    store: Arc<dyn Store>,
    registry: &mut Registry,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Arc<Evaluator>> {
    let now = spyglass_model::now_ns();
    let wanted = cfg
        .build_rules(now)
        .map_err(anyhow::Error::msg)
        .context("invalid [alerts] configuration")?;
    for old in store
        .alert_rules(None)
        .await?
        .into_iter()
        .filter(|r| r.from_config)
    {
        if !wanted
            .iter()
            .any(|w| w.id == old.id && w.project_id == old.project_id)
        {
            store.delete_alert_rule(&old.project_id, &old.id).await?;
        }
    }
    for rule in &wanted {
        store.put_alert_rule(rule).await?;
    }

    let (notifier, _worker) = Notifier::start(cfg.notifier());
    registry.register_collector(Box::new(NotifierMetrics(notifier.clone())));
    let source = Arc::new(StoreAlerts(store.clone()));
    let evaluator = Arc::new(Evaluator::new(source.clone(), source, notifier));
    for e in store.latest_alert_events().await? {
        evaluator.restore(e.rule_id.clone(), RuleState::from_event(&e));
    }
    if cfg.enabled {
        evaluator
            .clone()
            .spawn(Duration::from_secs(cfg.evaluate_every_s.max(1)), shutdown);
        tracing::info!(
            rules = wanted.len(),
            every_s = cfg.evaluate_every_s,
            "alert evaluation running"
        );
    }
    Ok(evaluator)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_keep_the_point_count_bounded() {
        let m = 60_000_000_000i64;
        assert_eq!(interval_for(0, 5 * m), 60);
        let week = 7 * 24 * 60 * m;
        let i = interval_for(0, week);
        assert!(week / (i * 1_000_000_000) < MAX_POINTS, "{i}");
    }
}
