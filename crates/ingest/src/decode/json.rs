//! OTLP/JSON (the protobuf JSON mapping with OTLP's deviations) into the official prost types.
//!
//! Written against the OTLP specification rather than derived, because OTLP/JSON differs from
//! plain protobuf JSON and real exporters differ again: ids are hex (some old exporters send
//! base64), 64-bit integers arrive as strings or numbers, enums as integers or names, and keys
//! in lowerCamelCase or the proto's snake_case. A bad id does not fail the request: the span
//! gets an empty id and is rejected alone by validation.

use crate::error::IngestError;
use base64::Engine;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

pub fn decode(body: &[u8]) -> Result<ExportTraceServiceRequest, IngestError> {
    // serde would also read a struct from a JSON array; an OTLP request is an object.
    match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => {}
        _ => {
            return Err(IngestError::MalformedJson(
                "the body must be a JSON object (an ExportTraceServiceRequest with \"resourceSpans\")".into(),
            ));
        }
    }
    let req: JRequest =
        serde_json::from_slice(body).map_err(|e| IngestError::MalformedJson(e.to_string()))?;
    Ok(ExportTraceServiceRequest {
        resource_spans: req.resource_spans.into_iter().map(Into::into).collect(),
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JRequest {
    #[serde(rename = "resourceSpans", alias = "resource_spans")]
    resource_spans: Vec<JResourceSpans>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JResourceSpans {
    resource: Option<JResource>,
    #[serde(
        rename = "scopeSpans",
        alias = "scope_spans",
        alias = "instrumentationLibrarySpans"
    )]
    scope_spans: Vec<JScopeSpans>,
    #[serde(rename = "schemaUrl", alias = "schema_url")]
    schema_url: String,
}

impl From<JResourceSpans> for ResourceSpans {
    fn from(r: JResourceSpans) -> Self {
        ResourceSpans {
            resource: r.resource.map(|r| Resource {
                attributes: r.attributes.0,
                dropped_attributes_count: r.dropped_attributes_count,
                entity_refs: Vec::new(),
            }),
            scope_spans: r.scope_spans.into_iter().map(Into::into).collect(),
            schema_url: r.schema_url,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JResource {
    attributes: Attrs,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count")]
    dropped_attributes_count: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JScopeSpans {
    #[serde(alias = "instrumentationLibrary")]
    scope: Option<JScope>,
    spans: Vec<JSpan>,
    #[serde(rename = "schemaUrl", alias = "schema_url")]
    schema_url: String,
}

impl From<JScopeSpans> for ScopeSpans {
    fn from(s: JScopeSpans) -> Self {
        ScopeSpans {
            scope: s.scope.map(|s| InstrumentationScope {
                name: s.name,
                version: s.version,
                attributes: s.attributes.0,
                dropped_attributes_count: s.dropped_attributes_count,
            }),
            spans: s.spans.into_iter().map(Into::into).collect(),
            schema_url: s.schema_url,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JScope {
    name: String,
    version: String,
    attributes: Attrs,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count")]
    dropped_attributes_count: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JSpan {
    #[serde(rename = "traceId", alias = "trace_id")]
    trace_id: Id,
    #[serde(rename = "spanId", alias = "span_id")]
    span_id: Id,
    #[serde(rename = "traceState", alias = "trace_state")]
    trace_state: String,
    #[serde(rename = "parentSpanId", alias = "parent_span_id")]
    parent_span_id: Id,
    flags: U64,
    name: String,
    kind: EnumInt,
    #[serde(rename = "startTimeUnixNano", alias = "start_time_unix_nano")]
    start_time_unix_nano: U64,
    #[serde(rename = "endTimeUnixNano", alias = "end_time_unix_nano")]
    end_time_unix_nano: U64,
    attributes: Attrs,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count")]
    dropped_attributes_count: u32,
    events: Vec<JEvent>,
    #[serde(rename = "droppedEventsCount", alias = "dropped_events_count")]
    dropped_events_count: u32,
    links: Vec<JLink>,
    #[serde(rename = "droppedLinksCount", alias = "dropped_links_count")]
    dropped_links_count: u32,
    status: Option<JStatus>,
}

impl From<JSpan> for Span {
    fn from(s: JSpan) -> Self {
        Span {
            trace_id: s.trace_id.0,
            span_id: s.span_id.0,
            trace_state: s.trace_state,
            parent_span_id: s.parent_span_id.0,
            flags: s.flags.0 as u32,
            name: s.name,
            kind: s.kind.0,
            start_time_unix_nano: s.start_time_unix_nano.0,
            end_time_unix_nano: s.end_time_unix_nano.0,
            attributes: s.attributes.0,
            dropped_attributes_count: s.dropped_attributes_count,
            events: s
                .events
                .into_iter()
                .map(|e| span::Event {
                    time_unix_nano: e.time_unix_nano.0,
                    name: e.name,
                    attributes: e.attributes.0,
                    dropped_attributes_count: e.dropped_attributes_count,
                })
                .collect(),
            dropped_events_count: s.dropped_events_count,
            links: s
                .links
                .into_iter()
                .map(|l| span::Link {
                    trace_id: l.trace_id.0,
                    span_id: l.span_id.0,
                    trace_state: l.trace_state,
                    attributes: l.attributes.0,
                    dropped_attributes_count: l.dropped_attributes_count,
                    flags: l.flags.0 as u32,
                })
                .collect(),
            dropped_links_count: s.dropped_links_count,
            status: s.status.map(|st| Status {
                message: st.message,
                code: st.code.0,
            }),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JEvent {
    #[serde(rename = "timeUnixNano", alias = "time_unix_nano")]
    time_unix_nano: U64,
    name: String,
    attributes: Attrs,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count")]
    dropped_attributes_count: u32,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JLink {
    #[serde(rename = "traceId", alias = "trace_id")]
    trace_id: Id,
    #[serde(rename = "spanId", alias = "span_id")]
    span_id: Id,
    #[serde(rename = "traceState", alias = "trace_state")]
    trace_state: String,
    attributes: Attrs,
    #[serde(rename = "droppedAttributesCount", alias = "dropped_attributes_count")]
    dropped_attributes_count: u32,
    flags: U64,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JStatus {
    message: String,
    code: EnumInt,
}

/// An id: lowercase or uppercase hex per OTLP, or base64 from pre-1.0 exporters. Anything
/// else becomes an empty id, which validation rejects for that span only.
#[derive(Default)]
struct Id(Vec<u8>);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Option::<std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Id(s.map(|s| parse_id(&s)).unwrap_or_default()))
    }
}

/// Hex first; base64 only when the text is not hex but has the length of a base64 id.
fn parse_id(s: &str) -> Vec<u8> {
    if s.is_empty() {
        return Vec::new();
    }
    if s.len().is_multiple_of(2) && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("checked hex"))
            .collect();
    }
    if matches!(s.len(), 12 | 24)
        && let Ok(b) = base64::engine::general_purpose::STANDARD.decode(s)
    {
        return b;
    }
    // A marker of the wrong length, so the span is rejected with the id named.
    vec![0xff]
}

/// A uint64 sent as a JSON number or a decimal string.
#[derive(Default, Clone, Copy)]
struct U64(u64);

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = U64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an unsigned integer or a decimal string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<U64, E> {
                Ok(U64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<U64, E> {
                u64::try_from(v)
                    .map(U64)
                    .map_err(|_| E::custom(format!("negative value {v}")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<U64, E> {
                if (0.0..1.8446744073709552e19).contains(&v) && v.fract() == 0.0 {
                    Ok(U64(v as u64))
                } else {
                    Err(E::custom(format!("not an unsigned integer: {v}")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<U64, E> {
                v.trim()
                    .parse()
                    .map(U64)
                    .map_err(|_| E::custom(format!("not an unsigned integer: {v:?}")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<U64, E> {
                Ok(U64(0))
            }
        }
        d.deserialize_any(V)
    }
}

/// An enum as its integer or its proto name (SPAN_KIND_CLIENT, STATUS_CODE_ERROR).
#[derive(Default, Clone, Copy)]
struct EnumInt(i32);

impl<'de> Deserialize<'de> for EnumInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EnumInt;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an enum integer or name")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EnumInt, E> {
                Ok(EnumInt(i32::try_from(v).unwrap_or(0)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EnumInt, E> {
                Ok(EnumInt(i32::try_from(v).unwrap_or(0)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnumInt, E> {
                // Unknown integers are kept as proto3's open enums allow; an unknown name is
                // a malformed request, as protojson has it.
                span::SpanKind::from_str_name(v)
                    .map(|k| k as i32)
                    .or_else(|| {
                        opentelemetry_proto::tonic::trace::v1::status::StatusCode::from_str_name(v)
                            .map(|c| c as i32)
                    })
                    .or_else(|| v.parse().ok())
                    .map(EnumInt)
                    .ok_or_else(|| E::custom(format!("unknown enum value {v:?}")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<EnumInt, E> {
                Ok(EnumInt(0))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list of KeyValue. Entries without a key are dropped; values keep their AnyValue shape.
#[derive(Default)]
struct Attrs(Vec<KeyValue>);

impl<'de> Deserialize<'de> for Attrs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Option::<Vec<JKeyValue>>::deserialize(d)?;
        Ok(Attrs(
            v.unwrap_or_default().into_iter().map(Into::into).collect(),
        ))
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JKeyValue {
    key: String,
    value: Option<JAnyValue>,
}

impl From<JKeyValue> for KeyValue {
    fn from(kv: JKeyValue) -> Self {
        KeyValue {
            key: kv.key,
            value: kv.value.map(|v| v.0),
            key_strindex: 0,
        }
    }
}

struct JAnyValue(AnyValue);

impl<'de> Deserialize<'de> for JAnyValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JAnyValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an OTLP AnyValue object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<JAnyValue, A::Error> {
                use any_value::Value as AV;
                let mut value = None;
                while let Some(key) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    let v = match key.as_ref() {
                        "stringValue" | "string_value" => {
                            m.next_value::<Option<String>>()?.map(AV::StringValue)
                        }
                        "boolValue" | "bool_value" => {
                            m.next_value::<Option<bool>>()?.map(AV::BoolValue)
                        }
                        "intValue" | "int_value" => {
                            m.next_value::<Option<I64>>()?.map(|i| AV::IntValue(i.0))
                        }
                        "doubleValue" | "double_value" => {
                            m.next_value::<Option<F64>>()?.map(|f| AV::DoubleValue(f.0))
                        }
                        "arrayValue" | "array_value" => {
                            m.next_value::<Option<JArray>>()?.map(|a| {
                                AV::ArrayValue(ArrayValue {
                                    values: a.values.into_iter().map(|v| v.0).collect(),
                                })
                            })
                        }
                        "kvlistValue" | "kvlist_value" => {
                            m.next_value::<Option<JKvList>>()?.map(|a| {
                                AV::KvlistValue(KeyValueList {
                                    values: a.values.into_iter().map(Into::into).collect(),
                                })
                            })
                        }
                        "bytesValue" | "bytes_value" => match m.next_value::<Option<String>>()? {
                            Some(s) => Some(AV::BytesValue(
                                base64::engine::general_purpose::STANDARD
                                    .decode(s.as_bytes())
                                    .map_err(|e| {
                                        de::Error::custom(format!("bytesValue is not base64: {e}"))
                                    })?,
                            )),
                            None => None,
                        },
                        _ => {
                            m.next_value::<de::IgnoredAny>()?;
                            None
                        }
                    };
                    if v.is_some() {
                        value = v;
                    }
                }
                Ok(JAnyValue(AnyValue { value }))
            }
            fn visit_unit<E: de::Error>(self) -> Result<JAnyValue, E> {
                Ok(JAnyValue(AnyValue { value: None }))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _s: A) -> Result<JAnyValue, A::Error> {
                Err(de::Error::custom(
                    "AnyValue must be an object like {\"stringValue\": ...}",
                ))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JArray {
    values: Vec<JAnyValue>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JKvList {
    values: Vec<JKeyValue>,
}

struct I64(i64);

impl<'de> Deserialize<'de> for I64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = I64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a decimal string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<I64, E> {
                Ok(I64(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<I64, E> {
                i64::try_from(v)
                    .map(I64)
                    .map_err(|_| E::custom(format!("intValue {v} overflows int64")))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<I64, E> {
                if v.fract() == 0.0 && v.abs() < 9.2e18 {
                    Ok(I64(v as i64))
                } else {
                    Err(E::custom(format!("intValue {v} is not an integer")))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<I64, E> {
                v.trim()
                    .parse()
                    .map(I64)
                    .map_err(|_| E::custom(format!("intValue {v:?} is not an integer")))
            }
        }
        d.deserialize_any(V)
    }
}

/// A double; the protobuf JSON mapping spells non-finite values as strings.
struct F64(f64);

impl<'de> Deserialize<'de> for F64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = F64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<F64, E> {
                Ok(F64(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<F64, E> {
                Ok(F64(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<F64, E> {
                Ok(F64(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<F64, E> {
                match v {
                    "NaN" => Ok(F64(f64::NAN)),
                    "Infinity" => Ok(F64(f64::INFINITY)),
                    "-Infinity" => Ok(F64(f64::NEG_INFINITY)),
                    _ => v
                        .trim()
                        .parse()
                        .map(F64)
                        .map_err(|_| E::custom(format!("doubleValue {v:?} is not a number"))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_spec_example() {
        let body = br#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},
          "scopeSpans":[{"scope":{"name":"lib","version":"1.0"},"spans":[{"traceId":"5B8EFFF798038103D269B633813FC60C",
          "spanId":"EEE19B7EC3C1B174","parentSpanId":"","name":"op","kind":2,"startTimeUnixNano":"1544712660000000000",
          "endTimeUnixNano":1544712661000000000,"attributes":[{"key":"n","value":{"intValue":"42"}},
          {"key":"d","value":{"doubleValue":"NaN"}},{"key":"a","value":{"arrayValue":{"values":[{"boolValue":true}]}}}],
          "status":{"code":"STATUS_CODE_ERROR","message":"boom"},"unknownField":1}]}]}]}"#;
        let req = decode(body).unwrap();
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id.len(), 16);
        assert_eq!(span.span_id[0], 0xee);
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.kind, 2);
        assert_eq!(span.start_time_unix_nano, 1544712660000000000);
        assert_eq!(span.end_time_unix_nano, 1544712661000000000);
        assert_eq!(span.status.as_ref().unwrap().code, 2);
        assert_eq!(
            span.attributes[0].value.as_ref().unwrap().value,
            Some(any_value::Value::IntValue(42))
        );
        assert!(
            matches!(span.attributes[1].value.as_ref().unwrap().value, Some(any_value::Value::DoubleValue(d)) if d.is_nan())
        );
    }

    #[test]
    fn bad_ids_reject_only_the_span_and_base64_ids_decode() {
        assert_eq!(parse_id("xyz"), vec![0xff]);
        assert_eq!(parse_id("AAAAAAAAAAE="), vec![0, 0, 0, 0, 0, 0, 0, 1]);
        let body = br#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"nothex","spanId":"0102030405060708"}]}]}]}"#;
        let req = decode(body).unwrap();
        assert_eq!(
            req.resource_spans[0].scope_spans[0].spans[0].trace_id,
            vec![0xff]
        );
    }

    #[test]
    fn enum_names_must_be_known_and_integers_stay_open() {
        let doc = |kind: &str| {
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c",
                "spanId":"eee19b7ec3c1b174","name":"x","kind":{kind}}}]}}]}}]}}"#
            )
        };
        let kind_of =
            |r: ExportTraceServiceRequest| r.resource_spans[0].scope_spans[0].spans[0].kind;
        assert_eq!(
            kind_of(decode(doc("\"SPAN_KIND_SERVER\"").as_bytes()).unwrap()),
            2
        );
        assert_eq!(kind_of(decode(doc("3").as_bytes()).unwrap()), 3);
        assert_eq!(kind_of(decode(doc("77").as_bytes()).unwrap()), 77);
        let e = decode(doc("\"sideways\"").as_bytes()).unwrap_err();
        assert!(
            matches!(&e, IngestError::MalformedJson(m) if m.contains("sideways")),
            "{e}"
        );
    }

    #[test]
    fn malformed_json_is_an_error_with_position() {
        let e = decode(b"{\"resourceSpans\": [").unwrap_err();
        assert!(matches!(e, IngestError::MalformedJson(m) if m.contains("line 1")));
        assert!(decode(b"[1,2]").is_err());
        assert!(decode(b"\xff\xfe").is_err());
    }
}
