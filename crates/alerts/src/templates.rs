//! Built-in rules for the common questions, so a first alert is one choice rather than a
//! form. Each returns a complete rule for `project` with an empty id, no webhooks and zero
//! timestamps: the caller assigns those when saving.

use spyglass_model::Severity;
use spyglass_model::alert::{AlertRule, AlertSeverity, Comparator, ConditionKind};
use spyglass_model::analytics::{AnalyticsFilter, Metric};

/// The names [`template`] knows.
pub const TEMPLATES: &[&str] = &[
    "p95_latency",
    "error_rate",
    "cost_spike",
    "no_data",
    "high_severity_finding",
];

/// A template by name, with its parameter (see each function; `None` takes the default).
pub fn template(name: &str, project: &str, param: Option<f64>) -> Option<AlertRule> {
    Some(match name {
        "p95_latency" => p95_latency_above(project, param.unwrap_or(5_000.0)),
        "error_rate" => error_rate_above(project, param.unwrap_or(0.02)),
        "cost_spike" => cost_spike(project, param.unwrap_or(3.0)),
        "no_data" => no_data(project, param.map_or(300, |s| s as i64)),
        "high_severity_finding" => high_severity_finding(project),
        _ => return None,
    })
}

#[allow(clippy::too_many_arguments)]
fn base(
    project: &str,
    name: String,
    metric: Metric,
    condition: ConditionKind,
    threshold: f64,
    window_s: i64,
    for_s: i64,
    severity: AlertSeverity,
) -> AlertRule {
    AlertRule {
        id: String::new(),
        project_id: project.to_string(),
        name,
        description: None,
        enabled: true,
        metric,
        filter: AnalyticsFilter::default(),
        condition,
        comparator: Comparator::Gt,
        threshold,
        window_s,
        for_s,
        baseline_s: None,
        severity,
        webhooks: Vec::new(),
        from_config: false,
        created_ns: 0,
        updated_ns: 0,
    }
}

/// p95 latency above `target_ms` over 10 minutes, for 10 minutes: long enough that one slow
/// burst of model calls does not page anyone.
pub fn p95_latency_above(project: &str, target_ms: f64) -> AlertRule {
    let mut r = base(
        project,
        format!("p95 latency above {target_ms} ms"),
        Metric::LatencyP95,
        ConditionKind::Threshold,
        target_ms,
        600,
        600,
        AlertSeverity::Warning,
    );
    r.description = Some("The 95th percentile span duration over the last 10 minutes.".into());
    r
}

/// Error rate (0..1) above `ratio` over 5 minutes, for 5 minutes.
pub fn error_rate_above(project: &str, ratio: f64) -> AlertRule {
    let mut r = base(
        project,
        format!("error rate above {}%", ratio * 100.0),
        Metric::ErrorRate,
        ConditionKind::Threshold,
        ratio,
        300,
        300,
        AlertSeverity::Critical,
    );
    r.description = Some("Failed spans over all spans in the last 5 minutes.".into());
    r
}

/// Cost over the last 5 minutes above `multiple` × its usual level, for 5 minutes. The
/// baseline is the cost of the 7 days before the window scaled to one window, so the ratio
/// is the same as "cost per minute now vs the average cost per minute over the last week";
/// a 5-minute window smooths single expensive calls that a per-minute one would flag.
pub fn cost_spike(project: &str, multiple: f64) -> AlertRule {
    let mut r = base(
        project,
        format!("cost above {multiple}× its 7-day baseline"),
        Metric::Cost,
        ConditionKind::BaselineRatio,
        multiple,
        300,
        300,
        AlertSeverity::Warning,
    );
    r.baseline_s = Some(7 * 86_400);
    r.description = Some("Spend per window against the previous week's average.".into());
    r
}

/// No spans at all for `window_s` (a whole number of minutes): the agents or their
/// instrumentation stopped. Fires at once, since the window already is the grace period.
pub fn no_data(project: &str, window_s: i64) -> AlertRule {
    let mut r = base(
        project,
        format!("no spans for {}", crate::state::duration(window_s)),
        Metric::Count,
        ConditionKind::NoData,
        0.0,
        window_s,
        0,
        AlertSeverity::Warning,
    );
    r.description = Some("Nothing was received for the project in the window.".into());
    r
}

/// Any high or critical security finding in the last 5 minutes, at once.
pub fn high_severity_finding(project: &str) -> AlertRule {
    let mut r = base(
        project,
        "high-severity security finding".into(),
        Metric::Findings,
        ConditionKind::Threshold,
        0.0,
        300,
        0,
        AlertSeverity::Critical,
    );
    r.filter.min_severity = Some(Severity::High);
    r.description = Some("Prompt injection, leaked secrets and the like, high or worse.".into());
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_is_valid() {
        for name in TEMPLATES {
            let r = template(name, "default", None).unwrap();
            r.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(r.project_id, "default");
            assert!(r.enabled && r.webhooks.is_empty());
        }
        assert!(template("nope", "default", None).is_none());
    }

    #[test]
    fn parameters() {
        let r = template("p95_latency", "p", Some(800.0)).unwrap();
        assert_eq!(
            (r.metric, r.threshold, r.window_s, r.for_s),
            (Metric::LatencyP95, 800.0, 600, 600)
        );
        let r = template("error_rate", "p", None).unwrap();
        assert_eq!((r.threshold, r.window_s, r.for_s), (0.02, 300, 300));
        assert_eq!(r.name, "error rate above 2%");
        let r = template("cost_spike", "p", Some(5.0)).unwrap();
        assert_eq!(
            (r.condition, r.threshold, r.baseline_s),
            (ConditionKind::BaselineRatio, 5.0, Some(604_800))
        );
        let r = template("no_data", "p", Some(600.0)).unwrap();
        assert_eq!(
            (r.condition, r.window_s, r.for_s),
            (ConditionKind::NoData, 600, 0)
        );
        assert_eq!(r.name, "no spans for 10m");
        let r = template("high_severity_finding", "p", None).unwrap();
        assert_eq!(r.filter.min_severity, Some(Severity::High));
        assert_eq!(
            (r.comparator, r.threshold, r.for_s),
            (Comparator::Gt, 0.0, 0)
        );
    }
}
