//! Alert rules and the events their evaluation produces. A rule watches one analytics metric
//! (with a filter) over a sliding window; the evaluator moves it through
//! ok → pending → firing → resolved and notifies webhooks on firing and resolving.

use crate::analytics::{AnalyticsFilter, Metric};
use serde::{Deserialize, Serialize};

string_enum!(
    Comparator {
        Gt => "gt",
        Gte => "gte",
        Lt => "lt",
        Lte => "lte",
    }
);

impl Comparator {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Comparator::Gt => value > threshold,
            Comparator::Gte => value >= threshold,
            Comparator::Lt => value < threshold,
            Comparator::Lte => value <= threshold,
        }
    }

    pub fn symbol(self) -> &'static str {
        match self {
            Comparator::Gt => ">",
            Comparator::Gte => "≥",
            Comparator::Lt => "<",
            Comparator::Lte => "≤",
        }
    }
}

string_enum!(
    /// What a rule compares.
    ConditionKind {
        /// The metric over the window against the threshold.
        Threshold => "threshold",
        /// The metric over the window divided by its per-window average over the baseline
        /// period before it, against the threshold (a multiple: 3 means "3× the usual").
        BaselineRatio => "baseline_ratio",
        /// Breached when the window holds no spans at all (the metric has no data).
        NoData => "no_data",
    }
);

string_enum!(
    AlertState {
        Ok => "ok",
        /// The condition holds, but not yet for the rule's `for` duration.
        Pending => "pending",
        Firing => "firing",
        /// Was firing, the condition cleared; becomes ok at the next evaluation that finds it
        /// clear.
        Resolved => "resolved",
    }
);

string_enum!(
    AlertSeverity {
        Info => "info",
        Warning => "warning",
        Critical => "critical",
    }
);

string_enum!(
    WebhookFormat {
        /// Spyglass's JSON body (see `docs/alerts.md`), signed with HMAC-SHA256.
        Json => "json",
        /// A Slack incoming-webhook body (`text` and `blocks`).
        Slack => "slack",
    }
);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    pub url: String,
    #[serde(default = "default_format")]
    pub format: WebhookFormat,
    /// HMAC-SHA256 key of the signature header. Write-only: rules read back through the API
    /// show `secret_set` instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Whether a secret is set; derived from `secret` (see `redacted`), whatever a client sends.
    #[serde(default)]
    pub secret_set: bool,
}

fn default_format() -> WebhookFormat {
    WebhookFormat::Json
}

impl Webhook {
    /// The form shown through the API: the secret replaced by whether there is one.
    pub fn redacted(&self) -> Webhook {
        Webhook {
            url: self.url.clone(),
            format: self.format,
            secret: None,
            secret_set: self.secret.is_some(),
        }
    }
}

/// A rule as stored and listed. Durations are seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertRule {
    /// Lowercase hex, assigned by the server (or the config's rule name for config rules).
    pub id: String,
    pub project_id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub enabled: bool,
    pub metric: Metric,
    #[serde(default)]
    pub filter: AnalyticsFilter,
    pub condition: ConditionKind,
    pub comparator: Comparator,
    pub threshold: f64,
    pub window_s: i64,
    /// How long the condition must hold before the rule fires (0: at once).
    pub for_s: i64,
    /// For `baseline_ratio`: the period before the window the baseline is taken from.
    #[serde(default)]
    pub baseline_s: Option<i64>,
    pub severity: AlertSeverity,
    #[serde(default)]
    pub webhooks: Vec<Webhook>,
    /// Rules from the config file cannot be changed through the API.
    #[serde(default)]
    pub from_config: bool,
    pub created_ns: i64,
    pub updated_ns: i64,
}

impl AlertRule {
    /// Checks the parts that serde cannot; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("name must not be empty".into());
        }
        if self.window_s < 60 || self.window_s % 60 != 0 {
            return Err("window_s must be a whole number of minutes, at least 60".into());
        }
        if self.for_s < 0 {
            return Err("for_s must not be negative".into());
        }
        if !self.threshold.is_finite() {
            return Err("threshold must be a finite number".into());
        }
        match (self.condition, self.baseline_s) {
            (ConditionKind::BaselineRatio, None) => {
                return Err("a baseline_ratio rule needs baseline_s".into());
            }
            (ConditionKind::BaselineRatio, Some(b)) if b < self.window_s => {
                return Err("baseline_s must be at least window_s".into());
            }
            _ => {}
        }
        for w in &self.webhooks {
            if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
                return Err(format!("webhook url {:?} must be http(s)", w.url));
            }
        }
        Ok(())
    }

    /// The rule as shown through the API (webhook secrets hidden).
    pub fn redacted(&self) -> AlertRule {
        AlertRule {
            webhooks: self.webhooks.iter().map(Webhook::redacted).collect(),
            ..self.clone()
        }
    }
}

/// A state change of a rule, stored and listed (`GET /api/v1/alerts/events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AlertEvent {
    /// Lowercase hex, unique.
    pub id: String,
    pub project_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub from: AlertState,
    pub to: AlertState,
    /// The metric's value at the evaluation (`null`: no data).
    pub value: Option<f64>,
    pub threshold: f64,
    pub severity: AlertSeverity,
    pub time_ns: i64,
    /// One line for people: "p95 latency 812 ms > 500 ms for 10m".
    pub message: String,
}

/// The latest state of a rule, for listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleStatus {
    pub rule: AlertRule,
    pub state: AlertState,
    /// When the rule entered its state.
    pub since_ns: Option<i64>,
    pub last_value: Option<f64>,
    pub last_evaluated_ns: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparators() {
        assert!(Comparator::Gt.holds(2.0, 1.0) && !Comparator::Gt.holds(1.0, 1.0));
        assert!(Comparator::Gte.holds(1.0, 1.0));
        assert!(Comparator::Lt.holds(0.5, 1.0) && !Comparator::Lt.holds(1.0, 1.0));
        assert!(Comparator::Lte.holds(1.0, 1.0));
    }

    #[test]
    fn secrets_are_write_only() {
        let w: Webhook =
            serde_json::from_str(r#"{"url":"https://example.com/h","secret":"s3cret"}"#).unwrap();
        let shown = serde_json::to_string(&w.redacted()).unwrap();
        assert!(!shown.contains("s3cret") && shown.contains(r#""secret_set":true"#));
        // `secret_set` is derived, whatever the input says.
        let w: Webhook =
            serde_json::from_str(r#"{"url":"https://example.com/h","secret_set":true}"#).unwrap();
        assert!(!w.redacted().secret_set);
    }
}
