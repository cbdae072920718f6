//! OTLP `AnyValue` helpers: scalar extraction for the mappings, and a JSON writer with depth
//! and size caps for the attribute maps that are stored verbatim.

use base64::Engine;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
use std::cell::Cell;
use std::fmt::Write;

/// Caps applied while writing values, and counts of what they cut (so the sender can be told).
#[derive(Debug, Clone)]
pub struct ValueCaps {
    /// Strings (and byte values) longer than this are cut with a marker.
    pub max_string_bytes: usize,
    /// Nested arrays/maps deeper than this become a marker string.
    pub max_depth: usize,
    /// Strings cut so far.
    pub cut_strings: Cell<usize>,
    /// Values replaced by the depth marker so far.
    pub cut_depth: Cell<usize>,
}

impl ValueCaps {
    pub fn new(max_string_bytes: usize, max_depth: usize) -> Self {
        ValueCaps {
            max_string_bytes,
            max_depth,
            cut_strings: Cell::new(0),
            cut_depth: Cell::new(0),
        }
    }

    fn string<'a>(&self, s: &'a str) -> std::borrow::Cow<'a, str> {
        if s.len() > self.max_string_bytes {
            self.cut_strings.set(self.cut_strings.get() + 1);
        }
        truncate_str(s, self.max_string_bytes)
    }

    fn depth_marker(&self, out: &mut String) {
        self.cut_depth.set(self.cut_depth.get() + 1);
        write_json_str(out, "[depth limit]");
    }
}

impl Default for ValueCaps {
    fn default() -> Self {
        ValueCaps::new(64 * 1024, 16)
    }
}

/// The text appended where a value was cut.
pub fn truncation_marker(cut_bytes: usize) -> String {
    format!("…[truncated {cut_bytes} bytes]")
}

/// Cuts `s` to at most `max` bytes on a char boundary and appends the marker.
pub fn truncate_str(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = String::with_capacity(end + 32);
    out.push_str(&s[..end]);
    out.push_str(&truncation_marker(s.len() - end));
    std::borrow::Cow::Owned(out)
}

/// Owned version of [`truncate_str`] that reuses the allocation when nothing is cut.
pub fn truncate_string(s: String, max: usize) -> String {
    if s.len() <= max {
        return s;
    }
    truncate_str(&s, max).into_owned()
}

/// The value as text: strings verbatim, scalars formatted, compound values as JSON.
pub fn as_text(v: &AnyValue) -> Option<String> {
    match v.value.as_ref()? {
        Value::StringValue(s) => Some(s.clone()),
        Value::BoolValue(b) => Some(b.to_string()),
        Value::IntValue(i) => Some(i.to_string()),
        Value::DoubleValue(d) => Some(fmt_f64(*d)),
        _ => {
            let mut s = String::new();
            write_json(&mut s, v, &ValueCaps::default(), 0);
            Some(s)
        }
    }
}

/// Borrowed string content, for string values only.
pub fn as_str(v: &AnyValue) -> Option<&str> {
    match v.value.as_ref()? {
        Value::StringValue(s) => Some(s),
        _ => None,
    }
}

/// An integer from an int, an integral double or a numeric string.
pub fn as_i64(v: &AnyValue) -> Option<i64> {
    match v.value.as_ref()? {
        Value::IntValue(i) => Some(*i),
        Value::DoubleValue(d) if d.is_finite() && d.fract() == 0.0 && d.abs() < 9.0e18 => {
            Some(*d as i64)
        }
        Value::StringValue(s) => {
            let t = s.trim();
            t.parse::<i64>().ok().or_else(|| {
                t.parse::<f64>()
                    .ok()
                    .filter(|d| d.is_finite() && d.fract() == 0.0 && d.abs() < 9.0e18)
                    .map(|d| d as i64)
            })
        }
        _ => None,
    }
}

/// A float from a double, an int or a numeric string.
pub fn as_f64(v: &AnyValue) -> Option<f64> {
    match v.value.as_ref()? {
        Value::DoubleValue(d) if d.is_finite() => Some(*d),
        Value::IntValue(i) => Some(*i as f64),
        Value::StringValue(s) => s.trim().parse::<f64>().ok().filter(|d| d.is_finite()),
        _ => None,
    }
}

/// The string items of an array value, or a single string as a one-item list. A string that
/// holds a JSON array of strings is read as that array (some SDKs serialize lists that way).
pub fn as_string_list(v: &AnyValue) -> Vec<String> {
    match v.value.as_ref() {
        Some(Value::ArrayValue(a)) => a.values.iter().filter_map(as_text).collect(),
        Some(Value::StringValue(s)) => {
            let t = s.trim_start();
            if t.starts_with('[')
                && let Ok(list) = serde_json::from_str::<Vec<String>>(s)
            {
                return list;
            }
            vec![s.clone()]
        }
        Some(_) => as_text(v).into_iter().collect(),
        None => Vec::new(),
    }
}

fn fmt_f64(d: f64) -> String {
    if d.is_finite() {
        d.to_string()
    } else if d.is_nan() {
        "NaN".to_string()
    } else if d > 0.0 {
        "Infinity".to_string()
    } else {
        "-Infinity".to_string()
    }
}

/// Writes a JSON string literal.
pub fn write_json_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Writes one AnyValue as JSON, applying the caps. Non-finite doubles become strings, bytes
/// become base64 strings, an absent value becomes `null`.
pub fn write_json(out: &mut String, v: &AnyValue, caps: &ValueCaps, depth: usize) {
    match v.value.as_ref() {
        None => out.push_str("null"),
        Some(Value::StringValue(s)) => write_json_str(out, &caps.string(s)),
        Some(Value::BoolValue(b)) => out.push_str(if *b { "true" } else { "false" }),
        Some(Value::IntValue(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::DoubleValue(d)) => {
            if d.is_finite() {
                let _ = write!(out, "{}", serde_json::Number::from_f64(*d).expect("finite"));
            } else {
                write_json_str(out, &fmt_f64(*d));
            }
        }
        Some(Value::BytesValue(b)) => {
            let enc = base64::engine::general_purpose::STANDARD.encode(b);
            write_json_str(out, &caps.string(&enc));
        }
        Some(Value::StringValueStrindex(i)) => {
            let _ = write!(out, "{i}");
        }
        Some(Value::ArrayValue(a)) => {
            if depth >= caps.max_depth {
                caps.depth_marker(out);
                return;
            }
            out.push('[');
            for (i, item) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item, caps, depth + 1);
            }
            out.push(']');
        }
        Some(Value::KvlistValue(kv)) => {
            if depth >= caps.max_depth {
                caps.depth_marker(out);
                return;
            }
            write_object(out, kv.values.iter(), caps, depth + 1);
        }
    }
}

/// Writes key/value pairs as a JSON object. A repeated key keeps its last value, as a JSON
/// reader would, but both are written; readers take the last.
pub fn write_object<'a>(
    out: &mut String,
    kvs: impl Iterator<Item = &'a KeyValue>,
    caps: &ValueCaps,
    depth: usize,
) {
    out.push('{');
    let mut first = true;
    for kv in kvs {
        if !first {
            out.push(',');
        }
        first = false;
        write_json_str(out, &kv.key);
        out.push(':');
        match &kv.value {
            Some(v) => write_json(out, v, caps, depth),
            None => out.push_str("null"),
        }
    }
    out.push('}');
}

/// Converts to a `serde_json::Value` (for the few places that need a tree).
pub fn to_json_value(v: &AnyValue) -> serde_json::Value {
    let mut s = String::new();
    write_json(&mut s, v, &ValueCaps::new(usize::MAX, 64), 0);
    serde_json::from_str(&s).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};
    use proptest::prelude::*;

    fn sv(s: &str) -> AnyValue {
        AnyValue {
            value: Some(Value::StringValue(s.to_string())),
        }
    }

    #[test]
    fn numbers_and_lists() {
        assert_eq!(as_i64(&sv(" 12 ")), Some(12));
        assert_eq!(as_i64(&sv("12.0")), Some(12));
        assert_eq!(
            as_i64(&AnyValue {
                value: Some(Value::DoubleValue(3.5))
            }),
            None
        );
        assert_eq!(as_f64(&sv("0.25")), Some(0.25));
        assert_eq!(
            as_string_list(&sv(r#"["stop","length"]"#)),
            vec!["stop", "length"]
        );
        let arr = AnyValue {
            value: Some(Value::ArrayValue(ArrayValue {
                values: vec![sv("a"), sv("b")],
            })),
        };
        assert_eq!(as_string_list(&arr), vec!["a", "b"]);
    }

    #[test]
    fn caps_depth_and_size() {
        let mut v = sv("x");
        for _ in 0..40 {
            v = AnyValue {
                value: Some(Value::ArrayValue(ArrayValue { values: vec![v] })),
            };
        }
        let mut out = String::new();
        write_json(&mut out, &v, &ValueCaps::new(10, 4), 0);
        assert_eq!(out, r#"[[[["[depth limit]"]]]]"#);
        let mut out = String::new();
        write_json(&mut out, &sv(&"é".repeat(20)), &ValueCaps::new(5, 4), 0);
        let back: String = serde_json::from_str(&out).unwrap();
        assert!(back.starts_with("éé…[truncated 36 bytes]"), "{back}");
    }

    #[test]
    fn object_writer_escapes_and_handles_non_finite() {
        let kvs = [
            KeyValue {
                key: "q\"\n\u{1}".into(),
                value: Some(sv("v")),
                key_strindex: 0,
            },
            KeyValue {
                key: "d".into(),
                value: Some(AnyValue {
                    value: Some(Value::DoubleValue(f64::NAN)),
                }),
                key_strindex: 0,
            },
            KeyValue {
                key: "m".into(),
                value: Some(AnyValue {
                    value: Some(Value::KvlistValue(KeyValueList {
                        values: vec![KeyValue {
                            key: "i".into(),
                            value: None,
                            key_strindex: 0,
                        }],
                    })),
                }),
                key_strindex: 0,
            },
        ];
        let mut out = String::new();
        write_object(&mut out, kvs.iter(), &ValueCaps::default(), 0);
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["q\"\n\u{1}"], "v");
        assert_eq!(parsed["d"], "NaN");
        assert_eq!(parsed["m"]["i"], serde_json::Value::Null);
    }

    proptest! {
        #[test]
        fn any_string_writes_valid_json(s in ".*", max in 1usize..64) {
            let mut out = String::new();
            write_json(&mut out, &sv(&s), &ValueCaps::new(max, 4), 0);
            let back: String = serde_json::from_str(&out).unwrap();
            if s.len() <= max { prop_assert_eq!(back, s); } else { prop_assert!(back.contains("…[truncated")); }
        }
    }
}
