//! Webhook bodies. The JSON form is versioned so receivers can tell a future shape apart; the
//! Slack form is what an incoming-webhook URL accepts as is.

use crate::error::NotifyError;
use serde::Serialize;
use spyglass_model::alert::{AlertEvent, AlertRule, AlertState, WebhookFormat};

/// The `version` of the JSON body.
pub const BODY_VERSION: u32 = 1;

#[derive(Serialize)]
struct JsonBody<'a> {
    version: u32,
    event: &'a AlertEvent,
    rule: &'a AlertRule,
}

/// The body of a webhook for `event`. The rule is always sent redacted: its other webhooks'
/// secrets are not this receiver's business.
pub fn render(
    format: WebhookFormat,
    event: &AlertEvent,
    rule: &AlertRule,
) -> Result<Vec<u8>, NotifyError> {
    let encoded = match format {
        WebhookFormat::Json => serde_json::to_vec(&JsonBody {
            version: BODY_VERSION,
            event,
            rule: &rule.redacted(),
        }),
        WebhookFormat::Slack => serde_json::to_vec(&slack(event)),
    };
    encoded.map_err(|e| NotifyError::Encode(e.to_string()))
}

fn slack(event: &AlertEvent) -> serde_json::Value {
    let (emoji, label) = match event.to {
        AlertState::Firing => (":rotating_light:", "FIRING"),
        AlertState::Resolved => (":white_check_mark:", "RESOLVED"),
        AlertState::Pending => (":hourglass_flowing_sand:", "PENDING"),
        AlertState::Ok => (":large_green_circle:", "OK"),
    };
    let severity = event.severity.as_str().to_uppercase();
    let name = escape(&event.rule_name);
    let message = escape(&event.message);
    let text = format!("{emoji} {label} [{severity}] {name}: {message}");
    let detail = format!(
        "{emoji} *{label}* [{severity}] *{name}*\n{message}\nproject `{}` · rule `{}`",
        escape(&event.project_id),
        escape(&event.rule_id)
    );
    serde_json::json!({
        "text": text,
        "blocks": [{ "type": "section", "text": { "type": "mrkdwn", "text": detail } }],
    })
}

/// Slack reads `<…>` as links and mentions and `&` as an entity; a rule name must not be able
/// to ping a channel.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use spyglass_model::alert::{AlertSeverity, Comparator, ConditionKind, Webhook};
    use spyglass_model::analytics::{AnalyticsFilter, Metric};

    fn rule() -> AlertRule {
        AlertRule {
            id: "r1".into(),
            project_id: "default".into(),
            name: "Slow <!channel>".into(),
            description: None,
            enabled: true,
            metric: Metric::LatencyP95,
            filter: AnalyticsFilter::default(),
            condition: ConditionKind::Threshold,
            comparator: Comparator::Gt,
            threshold: 500.0,
            window_s: 600,
            for_s: 600,
            baseline_s: None,
            severity: AlertSeverity::Critical,
            webhooks: vec![Webhook {
                url: "https://example.com/h".into(),
                format: WebhookFormat::Json,
                secret: Some("s3cret".into()),
                secret_set: false,
            }],
            from_config: false,
            created_ns: 0,
            updated_ns: 0,
        }
    }

    fn event(rule: &AlertRule) -> AlertEvent {
        crate::state::Transition {
            from: AlertState::Pending,
            to: AlertState::Firing,
            value: Some(812.0),
        }
        .event("00ff".into(), rule, 7)
    }

    #[test]
    fn json_body_is_versioned_and_redacted() {
        let r = rule();
        let body = render(WebhookFormat::Json, &event(&r), &r).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["version"], 1);
        assert_eq!(v["event"]["to"], "firing");
        assert_eq!(v["event"]["value"], 812.0);
        assert_eq!(v["rule"]["id"], "r1");
        assert_eq!(v["rule"]["webhooks"][0]["secret_set"], true);
        assert!(!String::from_utf8(body).unwrap().contains("s3cret"));
    }

    #[test]
    fn slack_body_escapes_and_labels() {
        let r = rule();
        let body = render(WebhookFormat::Slack, &event(&r), &r).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let text = v["text"].as_str().unwrap();
        assert!(text.starts_with(":rotating_light: FIRING [CRITICAL] Slow &lt;!channel&gt;: "));
        assert!(text.ends_with("latency_p95 812.0 ms &gt; 500 (window 10m, for 10m)"));
        assert_eq!(v["blocks"][0]["text"]["type"], "mrkdwn");
    }
}
