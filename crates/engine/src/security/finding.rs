//! What a detector reports. Findings are stored (one row each) and served by the API, so every
//! type here serializes to stable snake_case JSON, and nothing in a finding repeats the secret
//! or personal data it found: the evidence is masked when the finding is made.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// The family a detector belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    PromptInjection,
    Pii,
    Secret,
    Loop,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::PromptInjection => "prompt_injection",
            Category::Pii => "pii",
            Category::Secret => "secret",
            Category::Loop => "loop",
        }
    }
}

/// How bad a finding is; ordered, so `max()` picks the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// One step worse, saturating at critical.
    pub fn raised(self) -> Severity {
        match self {
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }
}

/// Which text of a span (or of a `check_text` call) a finding is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Input,
    Output,
    StatusMessage,
    /// The span's attributes (JSON object text); the finding's `key` names the attribute.
    Attribute,
    /// Text given to `check_text`.
    Text,
}

/// Whether injected instructions came from the user (direct) or from content the agent read:
/// a tool result, a retrieved document, a web page, an e-mail (indirect).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Vector {
    Direct,
    Indirect,
}

/// How an injection payload was hidden, when it was decoded before it was recognized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Base64,
    Hex,
    Rot13,
    /// `%69%67…` or `\u0069\u0067…` / `\x69\x67…` escapes.
    Escapes,
}

/// One detection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub category: Category,
    /// Dotted id, e.g. `injection.override`, `pii.credit_card`, `secret.openai_api_key`; custom
    /// PII patterns are `pii.<name>`.
    pub detector: Cow<'static, str>,
    pub severity: Severity,
    /// Confidence in [0, 1]: the combined injection score, or how sure a pattern match is
    /// (checksummed and prefixed tokens near 1, keyword + entropy matches lower).
    pub score: f32,
    pub field: Field,
    /// The attribute key when `field` is `attribute`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Byte range in the field's stored text (for attributes: in the attributes JSON text).
    pub start: usize,
    pub end: usize,
    /// A short excerpt to show; secrets and personal data are masked.
    pub evidence: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
}

impl Finding {
    /// What redaction writes in place of the match: `openai_api_key` for
    /// `secret.openai_api_key`, `email` for `pii.email`.
    pub fn label(&self) -> &str {
        self.detector
            .split_once('.')
            .map_or(&*self.detector, |(_, rest)| rest)
    }
}

/// A finding before it is placed in a field: detectors work on bare text and do not know where
/// it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hit {
    pub category: Category,
    pub detector: Cow<'static, str>,
    pub severity: Severity,
    pub score: f32,
    pub start: usize,
    pub end: usize,
    pub evidence: String,
    pub vector: Option<Vector>,
    pub encoding: Option<Encoding>,
}

impl Hit {
    pub fn into_finding(self, field: Field, key: Option<&str>, base: usize) -> Finding {
        Finding {
            category: self.category,
            detector: self.detector,
            severity: self.severity,
            score: self.score,
            field,
            key: key.map(str::to_string),
            start: base + self.start,
            end: base + self.end,
            evidence: self.evidence,
            vector: self.vector,
            encoding: self.encoding,
        }
    }
}

/// Masks a secret for display: its first few characters (a provider prefix such as `sk-` or
/// `AKIA` tells which key leaked without making it usable), then its length.
pub(crate) fn mask_secret(secret: &str) -> String {
    let keep = match secret.chars().count() {
        0..=11 => 0,
        12..=23 => 3,
        _ => 6,
    };
    let prefix: String = secret.chars().take(keep).collect();
    format!("{prefix}…[{} chars]", secret.chars().count())
}

/// Masks all but the last `keep` ASCII digits or letters, keeping separators, so a card reads
/// `****-****-****-1111`.
pub(crate) fn mask_tail(value: &str, keep: usize) -> String {
    let total = value.bytes().filter(u8::is_ascii_alphanumeric).count();
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                seen += 1;
                if seen + keep > total { c } else { '*' }
            } else {
                c
            }
        })
        .collect()
}

/// Cuts `text[start..end]` to at most `max` bytes on a character boundary, for evidence.
pub(crate) fn excerpt(text: &str, start: usize, end: usize, max: usize) -> String {
    let mut end = end.min(text.len()).min(start + max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut start = start.min(end);
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let mut s: String = text[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if end < text.len() && end == start + max {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_snake_case_and_omits_empty_options() {
        let f = Finding {
            category: Category::PromptInjection,
            detector: Cow::Borrowed("injection.override"),
            severity: Severity::High,
            score: 0.97,
            field: Field::StatusMessage,
            key: None,
            start: 3,
            end: 9,
            evidence: "ignore previous".into(),
            vector: Some(Vector::Indirect),
            encoding: None,
        };
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["category"], "prompt_injection");
        assert_eq!(json["field"], "status_message");
        assert_eq!(json["vector"], "indirect");
        assert!(json.get("key").is_none());
        assert!(json.get("encoding").is_none());
        let back: Finding = serde_json::from_value(json).unwrap();
        assert_eq!(back, f);
    }

    #[test]
    fn label_is_the_detector_after_its_family() {
        let mut f = Hit {
            category: Category::Secret,
            detector: Cow::Borrowed("secret.openai_api_key"),
            severity: Severity::Critical,
            score: 1.0,
            start: 0,
            end: 1,
            evidence: String::new(),
            vector: None,
            encoding: None,
        }
        .into_finding(Field::Attribute, Some("k"), 10);
        assert_eq!(f.label(), "openai_api_key");
        assert_eq!((f.start, f.end, f.key.as_deref()), (10, 11, Some("k")));
        f.detector = Cow::Borrowed("plain");
        assert_eq!(f.label(), "plain");
    }

    #[test]
    fn masks_keep_only_a_prefix_or_a_tail() {
        let key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
        let m = mask_secret(key);
        assert!(m.starts_with("sk-pro…"));
        assert!(!m.contains("abcdefghij"));
        assert_eq!(mask_secret("hunter2"), "…[7 chars]");
        assert_eq!(mask_tail("4111-1111-1111-1234", 4), "****-****-****-1234");
        assert_eq!(mask_tail("078-05-1120", 4), "***-**-1120");
    }

    #[test]
    fn severity_orders_and_raises() {
        assert!(Severity::Critical > Severity::High);
        assert_eq!(Severity::Low.raised(), Severity::Medium);
        assert_eq!(Severity::Critical.raised(), Severity::Critical);
    }

    #[test]
    fn excerpt_respects_char_boundaries() {
        let t = "héllo wörld and more";
        let e = excerpt(t, 0, t.len(), 3);
        assert!(e.starts_with('h') && e.ends_with('…'));
        assert_eq!(excerpt("a  b\n c", 0, 7, 100), "a b c");
    }
}
