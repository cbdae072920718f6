//! Stored attribute JSON back into OTLP `AnyValue`s: the inverse of the normalizer's writer
//! (`spyglass_ingest::anyvalue::write_json`). Integers become ints and numbers with a fraction
//! or exponent doubles, as the writer printed them; key order and repeated keys are kept, so
//! normalizing the result writes the same text again. What the writer could not keep (bytes,
//! written as base64, and non-finite doubles, written as strings) comes back as strings.
//!
//! Values are taken as raw JSON text and numbers parsed by the standard library, which rounds
//! correctly: serde_json's default float parser may be one unit off in the last place, and a
//! forwarded double must be the double that was received.

use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value::Value,
};
use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;
use spyglass_model::JsonText;
use std::fmt;

/// The members of a JSON object text, in order; empty for anything that is not an object.
pub fn key_values(text: &JsonText) -> Vec<KeyValue> {
    members(text.as_str()).unwrap_or_default()
}

pub fn string(key: &str, v: impl Into<String>) -> KeyValue {
    key_value(key, Some(Value::StringValue(v.into())))
}

pub fn int(key: &str, v: i64) -> KeyValue {
    key_value(key, Some(Value::IntValue(v)))
}

pub fn double(key: &str, v: f64) -> KeyValue {
    key_value(key, Some(Value::DoubleValue(v)))
}

fn key_value(key: &str, v: Option<Value>) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: v }),
        key_strindex: 0,
    }
}

fn members(text: &str) -> Option<Vec<KeyValue>> {
    let raw = serde_json::from_str::<Members>(text).ok()?;
    Some(
        raw.0
            .into_iter()
            .map(|(key, v)| KeyValue {
                key,
                value: Some(AnyValue { value: value(v) }),
                key_strindex: 0,
            })
            .collect(),
    )
}

fn value(raw: &RawValue) -> Option<Value> {
    let text = raw.get();
    Some(match text.as_bytes().first()? {
        b'"' => Value::StringValue(serde_json::from_str(text).ok()?),
        b't' => Value::BoolValue(true),
        b'f' => Value::BoolValue(false),
        b'n' => return None,
        b'[' => Value::ArrayValue(ArrayValue {
            values: serde_json::from_str::<Vec<&RawValue>>(text)
                .ok()?
                .into_iter()
                .map(|v| AnyValue { value: value(v) })
                .collect(),
        }),
        b'{' => Value::KvlistValue(KeyValueList {
            values: members(text)?,
        }),
        _ => number(text)?,
    })
}

/// OTLP ints are i64: a larger integer can only have been written from elsewhere, and is
/// kept as a double.
fn number(text: &str) -> Option<Value> {
    if !text.contains(['.', 'e', 'E'])
        && let Ok(i) = text.parse::<i64>()
    {
        return Some(Value::IntValue(i));
    }
    text.parse::<f64>().ok().map(Value::DoubleValue)
}

/// An object's members as raw values, in order, repeated keys included.
struct Members<'a>(Vec<(String, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spyglass_ingest::anyvalue::{ValueCaps, write_object};

    fn rewrite(text: &str) -> String {
        let kvs = key_values(&JsonText::parse(text.to_string()).unwrap());
        let mut out = String::new();
        write_object(&mut out, kvs.iter(), &ValueCaps::default(), 0);
        out
    }

    #[test]
    fn the_normalizers_writer_gives_the_same_text_back() {
        for text in [
            r#"{}"#,
            r#"{"z":1,"a":-2,"m":1.0,"e":1e+20,"f":0.25,"p":-985091479481.8905}"#,
            r#"{"s":"x\"\n\\é\u0001","b":true,"n":null}"#,
            r#"{"arr":[1,"two",[3.5,false],{"k":null}],"obj":{"b":1,"a":{"c":[]}}}"#,
            r#"{"dup":1,"dup":2}"#,
        ] {
            assert_eq!(rewrite(text), text);
        }
    }

    #[test]
    fn numbers_keep_their_type() {
        let kvs = key_values(
            &JsonText::parse(r#"{"i":3,"d":3.0,"big":18446744073709551615}"#.into()).unwrap(),
        );
        let v = |i: usize| kvs[i].value.as_ref().unwrap().value.clone().unwrap();
        assert_eq!(v(0), Value::IntValue(3));
        assert_eq!(v(1), Value::DoubleValue(3.0));
        assert!(matches!(v(2), Value::DoubleValue(_)));
    }

    #[test]
    fn non_objects_give_no_members() {
        assert!(key_values(&JsonText::parse("[1]".into()).unwrap()).is_empty());
        assert!(key_values(&JsonText::default()).is_empty());
    }
}
