//! Repairs an OTLP trace request at the protobuf wire level, for the two cases where a
//! well-framed request is refused whole by prost although most of it is usable:
//!
//! - attribute values nested deeper than prost's recursion limit (100 messages): every
//!   `AnyValue` deeper than the cap becomes the string `[depth limit]`;
//! - strings that are not UTF-8: replaced lossily (U+FFFD), as every OTel backend displays them.
//!
//! It walks only the OTLP trace schema (below), copies unknown fields through, and recurses at
//! most `cap` AnyValues deep, so hostile nesting cannot exhaust the stack. Used only after a
//! plain decode failed; anything it cannot frame is still a malformed request.

use prost::encoding::{WireType, decode_varint, encode_varint};

/// What the repair changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Repairs {
    pub depth_cuts: usize,
    pub invalid_utf8: usize,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct WireError(String);

/// The message types of the trace request, with what each field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Msg {
    Request,
    ResourceSpans,
    Resource,
    ScopeSpans,
    Scope,
    Span,
    Event,
    Link,
    Status,
    KeyValue,
    AnyValue,
    ArrayValue,
    KvList,
    EntityRef,
}

enum Field {
    Message(Msg),
    String,
    Other,
}

fn field(m: Msg, tag: u32) -> Field {
    use Field::{Message as M, Other, String as S};
    match (m, tag) {
        (Msg::Request, 1) => M(Msg::ResourceSpans),
        (Msg::ResourceSpans, 1) => M(Msg::Resource),
        (Msg::ResourceSpans, 2) => M(Msg::ScopeSpans),
        (Msg::ResourceSpans, 3) => S,
        (Msg::Resource, 1) => M(Msg::KeyValue),
        (Msg::Resource, 3) => M(Msg::EntityRef),
        (Msg::EntityRef, 1..=4) => S,
        (Msg::ScopeSpans, 1) => M(Msg::Scope),
        (Msg::ScopeSpans, 2) => M(Msg::Span),
        (Msg::ScopeSpans, 3) => S,
        (Msg::Scope, 1 | 2) => S,
        (Msg::Scope, 3) => M(Msg::KeyValue),
        (Msg::Span, 3 | 5) => S,
        (Msg::Span, 9) => M(Msg::KeyValue),
        (Msg::Span, 11) => M(Msg::Event),
        (Msg::Span, 13) => M(Msg::Link),
        (Msg::Span, 15) => M(Msg::Status),
        (Msg::Event, 2) => S,
        (Msg::Event, 3) => M(Msg::KeyValue),
        (Msg::Link, 3) => S,
        (Msg::Link, 4) => M(Msg::KeyValue),
        (Msg::Status, 2) => S,
        (Msg::KeyValue, 1) => S,
        (Msg::KeyValue, 2) => M(Msg::AnyValue),
        (Msg::AnyValue, 1) => S,
        (Msg::AnyValue, 5) => M(Msg::ArrayValue),
        (Msg::AnyValue, 6) => M(Msg::KvList),
        (Msg::ArrayValue, 1) => M(Msg::AnyValue),
        (Msg::KvList, 1) => M(Msg::KeyValue),
        _ => Other,
    }
}

const DEPTH_MARKER: &[u8] = b"[depth limit]";

struct Walker {
    /// AnyValues kept per attribute value; deeper ones become the marker.
    cap: usize,
    repairs: Repairs,
}

fn read_key(buf: &mut &[u8]) -> Result<(u32, WireType), WireError> {
    let key = decode_varint(buf).map_err(|e| WireError(e.to_string()))?;
    let wire = WireType::try_from(key & 7)
        .map_err(|_| WireError(format!("invalid wire type {}", key & 7)))?;
    let tag = (key >> 3) as u32;
    if tag == 0 {
        return Err(WireError("field number 0".into()));
    }
    Ok((tag, wire))
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], WireError> {
    if buf.len() < n {
        return Err(WireError("truncated message".into()));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

fn put_key(out: &mut Vec<u8>, tag: u32, wire: WireType) {
    encode_varint(((tag as u64) << 3) | wire as u64, out);
}

fn put_bytes(out: &mut Vec<u8>, tag: u32, bytes: &[u8]) {
    put_key(out, tag, WireType::LengthDelimited);
    encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

impl Walker {
    /// Rewrites one message of type `m` into `out`. `any_depth` counts AnyValues above.
    fn message(
        &mut self,
        m: Msg,
        mut buf: &[u8],
        any_depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), WireError> {
        while !buf.is_empty() {
            let (tag, wire) = read_key(&mut buf)?;
            match wire {
                WireType::Varint => {
                    let v = decode_varint(&mut buf).map_err(|e| WireError(e.to_string()))?;
                    put_key(out, tag, wire);
                    encode_varint(v, out);
                }
                WireType::SixtyFourBit => {
                    let b = take(&mut buf, 8)?;
                    put_key(out, tag, wire);
                    out.extend_from_slice(b);
                }
                WireType::ThirtyTwoBit => {
                    let b = take(&mut buf, 4)?;
                    put_key(out, tag, wire);
                    out.extend_from_slice(b);
                }
                WireType::LengthDelimited => {
                    let len =
                        decode_varint(&mut buf).map_err(|e| WireError(e.to_string()))? as usize;
                    let body = take(&mut buf, len)?;
                    match field(m, tag) {
                        Field::String => match std::str::from_utf8(body) {
                            Ok(_) => put_bytes(out, tag, body),
                            Err(_) => {
                                self.repairs.invalid_utf8 += 1;
                                put_bytes(out, tag, String::from_utf8_lossy(body).as_bytes());
                            }
                        },
                        Field::Message(child) => {
                            let depth = any_depth + usize::from(child == Msg::AnyValue);
                            let mut inner = Vec::with_capacity(body.len());
                            if child == Msg::AnyValue && depth > self.cap {
                                self.repairs.depth_cuts += 1;
                                put_bytes(&mut inner, 1, DEPTH_MARKER);
                            } else {
                                self.message(child, body, depth, &mut inner)?;
                            }
                            put_bytes(out, tag, &inner);
                        }
                        Field::Other => put_bytes(out, tag, body),
                    }
                }
                WireType::StartGroup | WireType::EndGroup => {
                    return Err(WireError("groups are not used by OTLP".into()));
                }
            }
        }
        Ok(())
    }
}

/// Rewrites an `ExportTraceServiceRequest`, cutting AnyValues nested more than `cap` deep and
/// repairing invalid UTF-8.
pub fn repair(body: &[u8], cap: usize) -> Result<(Vec<u8>, Repairs), WireError> {
    let mut w = Walker {
        cap: cap.max(1),
        repairs: Repairs::default(),
    };
    let mut out = Vec::with_capacity(body.len());
    w.message(Msg::Request, body, 0, &mut out)?;
    Ok((out, w.repairs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{
        AnyValue, ArrayValue, KeyValue, any_value::Value,
    };
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
    use proptest::prelude::*;
    use prost::Message;

    fn request(attrs: Vec<KeyValue>, name: String) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        name,
                        start_time_unix_nano: 1_700_000_000_000_000_000,
                        attributes: attrs.clone(),
                        events: vec![span::Event {
                            name: "e".into(),
                            attributes: attrs,
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn nested(levels: usize) -> AnyValue {
        let mut v = AnyValue {
            value: Some(Value::StringValue("leaf".into())),
        };
        for _ in 1..levels {
            v = AnyValue {
                value: Some(Value::ArrayValue(ArrayValue { values: vec![v] })),
            };
        }
        v
    }

    #[test]
    fn cuts_deep_values_that_prost_refuses() {
        let kv = KeyValue {
            key: "deep".into(),
            value: Some(nested(150)),
            key_strindex: 0,
        };
        let bytes = request(vec![kv], "s".into()).encode_to_vec();
        assert!(
            ExportTraceServiceRequest::decode(&bytes[..]).is_err(),
            "prost refuses 150 levels"
        );
        let (fixed, r) = repair(&bytes, 16).unwrap();
        assert_eq!(r.depth_cuts, 2, "once in the attributes, once in the event");
        let req = ExportTraceServiceRequest::decode(&fixed[..]).unwrap();
        let mut v = req.resource_spans[0].scope_spans[0].spans[0].attributes[0]
            .value
            .clone()
            .unwrap();
        let mut depth = 1;
        while let Some(Value::ArrayValue(a)) = v.value {
            v = a.values[0].clone();
            depth += 1;
        }
        assert_eq!(depth, 17);
        assert_eq!(v.value, Some(Value::StringValue("[depth limit]".into())));
    }

    #[test]
    fn repairs_invalid_utf8() {
        let bytes = request(vec![], "XYZ".into()).encode_to_vec();
        let pos = bytes.windows(3).position(|w| w == b"XYZ").unwrap();
        let mut bad = bytes.clone();
        bad[pos + 1] = 0xff;
        assert!(ExportTraceServiceRequest::decode(&bad[..]).is_err());
        let (fixed, r) = repair(&bad, 16).unwrap();
        assert_eq!(r.invalid_utf8, 1);
        let req = ExportTraceServiceRequest::decode(&fixed[..]).unwrap();
        assert_eq!(
            req.resource_spans[0].scope_spans[0].spans[0].name,
            "X\u{fffd}Z"
        );
    }

    #[test]
    fn garbage_stays_garbage() {
        assert!(repair(&[0x0a, 0xff, 0xff, 0xff, 0x0f, 1, 2], 16).is_err());
        assert!(repair(&[0x0b], 16).is_err());
    }

    proptest! {
        /// On anything prost can encode within the cap, the repair changes nothing.
        #[test]
        fn identity_on_valid_requests(name in ".{0,40}", keys in proptest::collection::vec(("[a-z.]{1,12}", ".{0,20}", 1usize..6), 0..6)) {
            let attrs = keys.into_iter().map(|(k, v, d)| {
                let mut val = AnyValue { value: Some(Value::StringValue(v)) };
                for _ in 1..d { val = AnyValue { value: Some(Value::ArrayValue(ArrayValue { values: vec![val] })) }; }
                KeyValue { key: k, value: Some(val), key_strindex: 0 }
            }).collect();
            let req = request(attrs, name);
            let bytes = req.encode_to_vec();
            let (fixed, r) = repair(&bytes, 16).unwrap();
            prop_assert_eq!(r, Repairs::default());
            prop_assert_eq!(ExportTraceServiceRequest::decode(&fixed[..]).unwrap(), req);
        }
    }
}
