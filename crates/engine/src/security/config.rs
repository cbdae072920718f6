//! Security engine settings, read from the `[security]` table of the server configuration
//! (every field optional).

use super::finding::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The injection threshold the shipped model was tuned to on the validation set: precision
/// first, since every span of every agent goes through the detector.
pub const DEFAULT_INJECTION_THRESHOLD: f32 = 0.5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Injection score (0..1) at or above which a text gets an injection finding.
    pub injection_threshold: f32,
    /// `check_text` blocks at or above this injection score.
    pub block_threshold: f32,
    /// `check_text` also blocks on any finding at least this severe.
    pub block_severity: Severity,
    /// Mask secrets in stored spans (`[REDACTED:openai_api_key]`).
    pub secret_masking: bool,
    /// Mask personal data in stored spans (`[REDACTED:email]`).
    pub pii_masking: bool,
    /// A project's own PII patterns, reported as `pii.<name>`.
    pub custom_pii_patterns: Vec<CustomPiiPattern>,
    /// Detector ids (`pii.ip_address`, `secret.jwt`, `injection.role_play`) or whole families
    /// (`prompt_injection`, `pii`, `secret`) to turn off.
    pub disabled_detectors: Vec<String>,
    /// Look for injections in system and developer prompts too. Off by default: they are
    /// written by the application's developers, and they read like instructions by design.
    pub scan_system_prompts: bool,
    /// Bytes of each text scanned; the rest of a longer text is not looked at. Bounds the CPU a
    /// single huge payload can take from the ingest path.
    pub max_scan_bytes: usize,
    /// Per-project masking (`[security.projects.<project id>]`); unset keys keep the defaults
    /// above.
    pub projects: BTreeMap<String, ProjectMasking>,
}

/// A project's own masking policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectMasking {
    pub secret_masking: Option<bool>,
    pub pii_masking: Option<bool>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig {
            injection_threshold: DEFAULT_INJECTION_THRESHOLD,
            block_threshold: 0.9,
            block_severity: Severity::Critical,
            secret_masking: true,
            pii_masking: false,
            custom_pii_patterns: Vec::new(),
            disabled_detectors: Vec::new(),
            scan_system_prompts: false,
            max_scan_bytes: 256 * 1024,
            projects: BTreeMap::new(),
        }
    }
}

/// A named regular expression (Rust `regex` syntax) whose matches are personal data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPiiPattern {
    /// Lowercase letters, digits and `_`; the detector is `pii.<name>` and the mask
    /// `[REDACTED:<name>]`.
    pub name: String,
    pub regex: String,
    #[serde(default = "medium")]
    pub severity: Severity,
}

fn medium() -> Severity {
    Severity::Medium
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_toml_with_defaults() {
        let c: SecurityConfig = toml::from_str(
            r#"
            pii_masking = true
            disabled_detectors = ["pii.ip_address"]
            [projects.support]
            secret_masking = false
            [[custom_pii_patterns]]
            name = "employee_id"
            regex = 'EMP-\d{6}'
            "#,
        )
        .unwrap();
        assert!(c.pii_masking && c.secret_masking);
        assert_eq!(c.injection_threshold, DEFAULT_INJECTION_THRESHOLD);
        assert_eq!(c.custom_pii_patterns[0].severity, Severity::Medium);
        assert_eq!(c.projects["support"].secret_masking, Some(false));
        assert_eq!(c.projects["support"].pii_masking, None);
        assert!(toml::from_str::<SecurityConfig>("pii_mask = true").is_err());
        assert_eq!(
            toml::from_str::<SecurityConfig>("").unwrap(),
            SecurityConfig::default()
        );
    }
}
