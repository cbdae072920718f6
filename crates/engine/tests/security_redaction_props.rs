//! Properties of masking: whatever JSON a span carries and wherever a secret sits in it, the
//! masked text is still valid JSON and no longer contains the secret; on plain text, the
//! secret is gone and the text around it is kept.

use proptest::prelude::*;
use spyglass_engine::security::{Direction, SecurityConfig, SecurityEngine};
use spyglass_model::{JsonText, Span, SpanId, SpanKind, TraceId};
use std::sync::OnceLock;

fn engine() -> &'static SecurityEngine {
    static E: OnceLock<SecurityEngine> = OnceLock::new();
    E.get_or_init(|| SecurityEngine::new(SecurityConfig::default()).unwrap())
}

/// Secrets of several detectors, built from random bodies.
fn secret() -> impl Strategy<Value = String> {
    let alnum = "[A-Za-z0-9]";
    prop_oneof![
        proptest::string::string_regex(&format!("{alnum}{{48}}"))
            .unwrap()
            .prop_map(|b| format!("sk-proj-{b}")),
        proptest::string::string_regex(&format!("{alnum}{{36}}"))
            .unwrap()
            .prop_map(|b| format!("ghp_{b}")),
        proptest::string::string_regex("[A-Z2-7]{16}")
            .unwrap()
            .prop_map(|b| format!("AKIA{b}")),
        proptest::string::string_regex(&format!("{alnum}{{24}}"))
            .unwrap()
            .prop_map(|b| format!("sk_live_{b}")),
        proptest::string::string_regex(&format!("{alnum}{{40}}"))
            .unwrap()
            .prop_map(|b| format!(
                "-----BEGIN PRIVATE KEY-----\n{b}\n{b}\n-----END PRIVATE KEY-----"
            )),
    ]
}

/// Text around a secret: words, punctuation, quotes, backslashes, newlines, non-ASCII.
fn filler() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z .,:;\"'\\\\\n\t{}\\[\\]é😀]{0,24}").unwrap()
}

/// What separates a secret from the text around it (a key glued to a word is not one).
fn separator() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(" "),
        Just("\n"),
        Just("="),
        Just(": "),
        Just("\""),
        Just("'"),
        Just("\t"),
        Just(", ")
    ]
}

/// A JSON value with `needle` placed somewhere inside a string.
fn json_with(needle: String) -> impl Strategy<Value = serde_json::Value> {
    (filler(), separator(), separator(), filler(), 0usize..4, "[a-z._]{1,12}").prop_map(move |(before, s1, s2, after, shape, key)| {
        let s = serde_json::Value::String(format!("{before}{s1}{needle}{s2}{after}"));
        // Prefixed so it never collides with the fixed keys below.
        let key = format!("k{key}");
        match shape {
            0 => serde_json::json!({ key: s, "n": 1.5, "ok": true }),
            1 => serde_json::json!([{"role": "user", "content": s}, {"role": "assistant", "content": "fine"}]),
            2 => serde_json::json!({"outer": {"list": [1, null, s, "x"]}, key: "plain"}),
            _ => serde_json::json!({ key: [s] }),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn masked_span_json_is_valid_and_secret_free(secret in secret(), value in secret().prop_flat_map(json_with)) {
        // Two secrets: one in the attributes, one in the input.
        let mut span = Span::new(TraceId::from_u128(1), SpanId::from_u64(1), "s", 0);
        span.kind = SpanKind::Llm;
        let attrs = serde_json::json!({"a": format!("x {secret} y"), "nested": value.clone()});
        span.attributes = JsonText::from_value(&attrs);
        span.input = Some(value.to_string());
        let inner = find_secret(&value);
        let findings = engine().scan_span(&mut span);
        prop_assert!(!findings.is_empty());
        let input = span.input.as_deref().unwrap();
        prop_assert!(serde_json::from_str::<serde_json::Value>(input).is_ok(), "input: {}", input);
        prop_assert!(serde_json::from_str::<serde_json::Value>(span.attributes.as_str()).is_ok());
        prop_assert!(!input.contains(&inner), "input still has the secret: {}", input);
        prop_assert!(!span.attributes.as_str().contains(&secret));
        prop_assert!(!span.attributes.as_str().contains(&inner));
    }

    #[test]
    fn masked_plain_text_drops_only_the_secret(before in "[a-zA-Z ,.]{0,40}", secret in secret(), after in "[a-zA-Z ,.]{0,40}") {
        let text = format!("{before} {secret} {after}");
        let v = engine().check_text(&text, Direction::Output);
        let masked = v.redacted.expect("a secret is masked by default");
        prop_assert!(!masked.contains(&secret));
        prop_assert!(masked.starts_with(&format!("{before} ")), "{}", masked);
        prop_assert!(masked.ends_with(&format!(" {after}")), "{}", masked);
        prop_assert!(masked.contains("[REDACTED:"));
    }
}

/// The secret inside a generated value (the one `json_with` embedded).
fn find_secret(v: &serde_json::Value) -> String {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut strings = Vec::new();
    walk(v, &mut strings);
    let s = strings.into_iter().max_by_key(|s| s.len()).unwrap();
    // The secret is the longest run of secret characters (a PEM block keeps its inner lines).
    for prefix in ["sk-proj-", "ghp_", "AKIA", "sk_live_", "-----BEGIN"] {
        if let Some(i) = s.find(prefix) {
            let rest = &s[i..];
            let end = if prefix == "-----BEGIN" {
                rest.find("-----END PRIVATE KEY-----")
                    .map(|e| e + 25)
                    .unwrap()
            } else {
                rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
                    .unwrap_or(rest.len())
            };
            return rest[..end].to_string();
        }
    }
    panic!("no secret in {s}");
}
