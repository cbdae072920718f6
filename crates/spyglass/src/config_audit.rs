//! Configuration changes in the audit log: at start, a digest of each top-level section of
//! the effective configuration is compared with the one recorded last; the sections that
//! changed are recorded as `config.changed`. Only digests are stored, never values (the file
//! holds webhook secrets and exporter headers).

use crate::config::Config;
use sha2::{Digest, Sha256};
use spyglass_model::audit::AuditEntry;
use spyglass_store::Store;
use std::collections::BTreeMap;

const ACTION: &str = "config.changed";

/// A digest per top-level section.
pub fn digests(cfg: &Config) -> BTreeMap<String, String> {
    let value = serde_json::to_value(cfg).unwrap_or_default();
    let mut out = BTreeMap::new();
    if let serde_json::Value::Object(sections) = value {
        for (key, v) in sections {
            let digest = Sha256::digest(v.to_string().as_bytes());
            let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            out.insert(key, hex);
        }
    }
    out
}

/// The sections whose digest differs from `before` (every one when nothing was recorded).
fn changed(
    before: Option<&BTreeMap<String, String>>,
    now: &BTreeMap<String, String>,
) -> Vec<String> {
    now.iter()
        .filter(|(k, v)| before.and_then(|b| b.get(*k)) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Records the change since the last recorded configuration, if any.
pub async fn record(store: &dyn Store, project: &str, cfg: &Config) -> anyhow::Result<()> {
    let now = digests(cfg);
    let last = store
        .audit_log(project, None, spyglass_model::query::MAX_LIMIT)
        .await?
        .into_iter()
        .find(|e| e.action == ACTION)
        .and_then(|e| {
            serde_json::from_value::<BTreeMap<String, String>>(e.detail["digests"].clone()).ok()
        });
    let sections = changed(last.as_ref(), &now);
    if sections.is_empty() {
        return Ok(());
    }
    tracing::info!(sections = ?sections, "configuration changed since the last start");
    store
        .record_audit(&AuditEntry::now(
            project,
            "config",
            ACTION,
            if last.is_none() {
                "first start".into()
            } else {
                sections.join(", ")
            },
            serde_json::json!({"changed": sections, "digests": now}),
        ))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_sections_are_named_and_values_never_stored() {
        let mut cfg = Config {
            data_dir: "/srv/hunter2-not-in-the-log".into(),
            ..Config::default()
        };
        let a = digests(&cfg);
        assert!(!serde_json::to_string(&a).unwrap().contains("hunter2"));
        cfg.retention.days = 7;
        let b = digests(&cfg);
        assert_eq!(changed(Some(&a), &b), ["retention"]);
        assert!(changed(Some(&b), &b).is_empty());
        assert_eq!(changed(None, &b).len(), b.len());
    }
}
