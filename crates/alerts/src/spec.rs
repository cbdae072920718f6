//! How a rule is written, by the API (`POST /api/v1/alerts/rules`) and by the config file
//! (`[[alerts.rules]]`): every field optional, starting from a template when one is named,
//! so a first alert is `{"template": "error_rate"}` and a custom one names what it needs.

use crate::notify::NotifierConfig;
use crate::templates::{TEMPLATES, template};
use serde::{Deserialize, Serialize};
use spyglass_model::alert::{AlertRule, AlertSeverity, Comparator, ConditionKind, Webhook};
use spyglass_model::analytics::{AnalyticsFilter, Metric};
use std::time::Duration;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct RuleSpec {
    /// A built-in rule to start from: p95_latency, error_rate, cost_spike, no_data,
    /// high_severity_finding.
    pub template: Option<String>,
    /// The template's parameter: target ms, error ratio, cost multiple, no-data seconds.
    pub param: Option<f64>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
    pub metric: Option<Metric>,
    pub filter: Option<AnalyticsFilter>,
    pub condition: Option<ConditionKind>,
    pub comparator: Option<Comparator>,
    pub threshold: Option<f64>,
    pub window_s: Option<i64>,
    pub for_s: Option<i64>,
    pub baseline_s: Option<i64>,
    pub severity: Option<AlertSeverity>,
    pub webhooks: Option<Vec<Webhook>>,
}

impl RuleSpec {
    /// The rule this spec describes, with the given identity and times; the message of an
    /// error names the field at fault.
    pub fn build(&self, project: &str, id: &str, now_ns: i64) -> Result<AlertRule, String> {
        let mut r = match &self.template {
            Some(t) => template(t, project, self.param)
                .ok_or_else(|| format!("template {t:?} is not one of {}", TEMPLATES.join(", ")))?,
            None => {
                let metric = self.metric.ok_or("metric is required without a template")?;
                let condition = self.condition.unwrap_or(ConditionKind::Threshold);
                AlertRule {
                    id: String::new(),
                    project_id: project.to_string(),
                    name: format!("{metric}"),
                    description: None,
                    enabled: true,
                    metric,
                    filter: AnalyticsFilter::default(),
                    condition,
                    comparator: Comparator::Gt,
                    threshold: match (self.threshold, condition) {
                        (Some(t), _) => t,
                        (None, ConditionKind::NoData) => 0.0,
                        (None, _) => return Err("threshold is required without a template".into()),
                    },
                    window_s: 300,
                    for_s: 0,
                    baseline_s: None,
                    severity: AlertSeverity::Warning,
                    webhooks: Vec::new(),
                    from_config: false,
                    created_ns: now_ns,
                    updated_ns: now_ns,
                }
            }
        };
        r.id = id.to_string();
        r.project_id = project.to_string();
        r.created_ns = now_ns;
        r.updated_ns = now_ns;
        if let Some(v) = &self.name {
            r.name = v.clone();
        }
        if let Some(v) = &self.description {
            r.description = Some(v.clone());
        }
        if let Some(v) = self.enabled {
            r.enabled = v;
        }
        if let Some(v) = self.metric {
            r.metric = v;
        }
        if let Some(v) = &self.filter {
            r.filter = v.clone();
        }
        if let Some(v) = self.condition {
            r.condition = v;
        }
        if let Some(v) = self.comparator {
            r.comparator = v;
        }
        if let Some(v) = self.threshold {
            r.threshold = v;
        }
        if let Some(v) = self.window_s {
            r.window_s = v;
        }
        if let Some(v) = self.for_s {
            r.for_s = v;
        }
        if let Some(v) = self.baseline_s {
            r.baseline_s = Some(v);
        }
        if let Some(v) = self.severity {
            r.severity = v;
        }
        if let Some(v) = &self.webhooks {
            r.webhooks = v.clone();
        }
        for w in &mut r.webhooks {
            w.secret_set = w.secret.is_some();
        }
        r.validate()?;
        Ok(r)
    }
}

/// A rule of the config file: a spec and the project it watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigRule {
    #[serde(default = "default_project")]
    pub project: String,
    #[serde(flatten)]
    pub spec: RuleSpec,
}

fn default_project() -> String {
    spyglass_model::DEFAULT_PROJECT.to_string()
}

/// The `[alerts]` table of the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// Evaluate the rules at all.
    pub enabled: bool,
    /// Seconds between evaluations of every rule.
    pub evaluate_every_s: u64,
    /// Deliver webhooks to loopback, private and link-local addresses (refused by default:
    /// a rule written through the API must not reach the server's own network).
    pub allow_private_webhooks: bool,
    /// Attempts per webhook delivery, the first included.
    pub webhook_attempts: u32,
    /// The wait after a first failed delivery, doubling per attempt up to `webhook_max_backoff_ms`.
    pub webhook_backoff_ms: u64,
    pub webhook_max_backoff_ms: u64,
    pub webhook_timeout_ms: u64,
    /// Rules kept in the config file (read-only through the API).
    pub rules: Vec<ConfigRule>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        let n = NotifierConfig::default();
        AlertsConfig {
            enabled: true,
            evaluate_every_s: 30,
            allow_private_webhooks: false,
            webhook_attempts: n.max_attempts,
            webhook_backoff_ms: n.initial_backoff.as_millis() as u64,
            webhook_max_backoff_ms: n.max_backoff.as_millis() as u64,
            webhook_timeout_ms: n.timeout.as_millis() as u64,
            rules: Vec::new(),
        }
    }
}

impl AlertsConfig {
    pub fn notifier(&self) -> NotifierConfig {
        NotifierConfig {
            allow_private: self.allow_private_webhooks,
            max_attempts: self.webhook_attempts.max(1),
            initial_backoff: Duration::from_millis(self.webhook_backoff_ms),
            max_backoff: Duration::from_millis(self.webhook_max_backoff_ms),
            timeout: Duration::from_millis(self.webhook_timeout_ms.max(1)),
            ..NotifierConfig::default()
        }
    }

    /// The config's rules, built, with ids derived from their names (`config-<project>-<name>`), so a
    /// restart keeps each rule's identity and history.
    pub fn build_rules(&self, now_ns: i64) -> Result<Vec<AlertRule>, String> {
        let mut out: Vec<AlertRule> = Vec::new();
        for (i, c) in self.rules.iter().enumerate() {
            let mut r = c
                .spec
                .build(&c.project, "", now_ns)
                .map_err(|e| format!("[[alerts.rules]] #{}: {e}", i + 1))?;
            // Rule ids are global (the evaluator keys states by them): the project is in it.
            r.id = format!("config-{}-{}", slug(&r.project_id), slug(&r.name));
            r.from_config = true;
            if out
                .iter()
                .any(|o| o.id == r.id && o.project_id == r.project_id)
            {
                return Err(format!(
                    "[[alerts.rules]] #{}: another rule of project {:?} is named {:?}",
                    i + 1,
                    r.project_id,
                    r.name
                ));
            }
            out.push(r);
        }
        Ok(out)
    }
}

fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_with_overrides() {
        let spec: RuleSpec = serde_json::from_str(
            r#"{"template":"error_rate","param":0.05,"name":"checkout errors","filter":{"service":"checkout"}}"#,
        )
        .unwrap();
        let r = spec.build("p", "abc", 7).unwrap();
        assert_eq!(
            (r.metric, r.threshold, r.window_s),
            (Metric::ErrorRate, 0.05, 300)
        );
        assert_eq!(r.filter.service.as_deref(), Some("checkout"));
        assert_eq!(
            (r.id.as_str(), r.project_id.as_str(), r.created_ns),
            ("abc", "p", 7)
        );
    }

    #[test]
    fn a_custom_rule_needs_a_metric_and_threshold() {
        let e = RuleSpec::default().build("p", "x", 0).unwrap_err();
        assert!(e.contains("metric"), "{e}");
        let spec = RuleSpec {
            metric: Some(Metric::Cost),
            ..RuleSpec::default()
        };
        assert!(spec.build("p", "x", 0).unwrap_err().contains("threshold"));
        let spec = RuleSpec {
            metric: Some(Metric::Cost),
            threshold: Some(5.0),
            window_s: Some(30),
            ..RuleSpec::default()
        };
        assert!(spec.build("p", "x", 0).unwrap_err().contains("window_s"));
        let e = RuleSpec {
            template: Some("nope".into()),
            ..RuleSpec::default()
        }
        .build("p", "x", 0)
        .unwrap_err();
        assert!(e.contains("p95_latency"), "{e}");
    }

    #[test]
    fn config_rules_get_stable_ids_and_clashes_are_refused() {
        let cfg: AlertsConfig = toml::from_str(
            r#"
            [[rules]]
            template = "no_data"
            name = "No spans: 5 minutes!"
            [[rules]]
            project = "other"
            template = "no_data"
            name = "No spans: 5 minutes!"
            "#,
        )
        .unwrap();
        let rules = cfg.build_rules(1).unwrap();
        assert_eq!(rules[0].id, "config-default-no-spans-5-minutes");
        assert_eq!(rules[0].project_id, "default");
        assert!(rules.iter().all(|r| r.from_config));
        let mut twice = cfg.clone();
        twice.rules[1].project = "default".into();
        assert!(twice.build_rules(1).unwrap_err().contains("another rule"));
    }
}
