//! What a detector reports, before it knows where its text came from, and the masks that keep
//! secrets and personal data out of evidence. The finding types themselves are the model's
//! (`spyglass_model::finding`): findings are stored and served.

pub use spyglass_model::finding::{Category, Encoding, Field, Finding, Severity, Vector};
use std::borrow::Cow;

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
    fn excerpt_respects_char_boundaries() {
        let t = "héllo wörld and more";
        let e = excerpt(t, 0, t.len(), 3);
        assert!(e.starts_with('h') && e.ends_with('…'));
        assert_eq!(excerpt("a  b\n c", 0, 7, 100), "a b c");
    }
}
