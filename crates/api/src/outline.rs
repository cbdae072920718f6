//! A trace's span tree as columns (`GET /api/v1/traces/{id}/outline`): one array per field and
//! each distinct string once. A trace of 100,000 spans is then a few megabytes that a browser
//! parses in tens of milliseconds, where the row form (`GET /api/v1/traces/{id}`) is tens of
//! megabytes of repeated keys and strings.

use serde::Serialize;
use spyglass_model::{SpanId, SpanOutline, TreeShape};
use std::collections::HashMap;
use utoipa::ToSchema;

/// The spans of a trace in tree order (depth first, children by start time, as in
/// `GET /api/v1/traces/{id}`), one array per field, every array `count` long. A column whose
/// values are all null is left out.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpanColumns {
    pub count: usize,
    /// The earliest start, Unix ns. `start_ns` holds offsets from it, which stay exact as
    /// JavaScript numbers (absolute nanoseconds do not).
    pub base_ns: i64,
    /// The strings that the string columns refer to by index; index 0 stands for null.
    pub strings: Vec<Option<String>>,
    #[schema(value_type = Vec<String>)]
    pub span_id: Vec<SpanId>,
    /// The row of the span's parent; -1 for a root (no parent, or a parent not in the trace).
    pub parent: Vec<i64>,
    pub depth: Vec<u32>,
    /// Indexes into `strings`, like every column below up to `cost_source`.
    pub name: Vec<u32>,
    pub service_name: Vec<u32>,
    pub kind: Vec<u32>,
    pub status: Vec<u32>,
    #[serde(skip_serializing_if = "all_zero")]
    pub status_message: Vec<u32>,
    #[serde(skip_serializing_if = "all_zero")]
    pub agent_name: Vec<u32>,
    #[serde(skip_serializing_if = "all_zero")]
    pub tool_name: Vec<u32>,
    #[serde(skip_serializing_if = "all_zero")]
    pub provider: Vec<u32>,
    #[serde(skip_serializing_if = "all_zero")]
    pub model: Vec<u32>,
    #[serde(skip_serializing_if = "all_zero")]
    pub cost_source: Vec<u32>,
    /// Offsets from `base_ns`.
    pub start_ns: Vec<i64>,
    /// Null while the span runs; its end is `start_ns + duration_ns`.
    pub duration_ns: Vec<Option<i64>>,
    #[serde(skip_serializing_if = "all_null")]
    pub input_tokens: Vec<Option<i64>>,
    #[serde(skip_serializing_if = "all_null")]
    pub output_tokens: Vec<Option<i64>>,
    #[serde(skip_serializing_if = "all_null")]
    pub cache_read_tokens: Vec<Option<i64>>,
    #[serde(skip_serializing_if = "all_null")]
    pub cache_write_tokens: Vec<Option<i64>>,
    #[serde(skip_serializing_if = "all_null")]
    pub reasoning_tokens: Vec<Option<i64>>,
    #[serde(skip_serializing_if = "all_null")]
    pub total_tokens: Vec<Option<i64>>,
    #[serde(skip_serializing_if = "all_null")]
    pub cost_usd: Vec<Option<f64>>,
}

fn all_zero(v: &[u32]) -> bool {
    v.iter().all(|&i| i == 0)
}

fn all_null<T>(v: &[Option<T>]) -> bool {
    v.iter().all(Option::is_none)
}

/// Interns strings: index 0 is null, the rest in order of first use.
struct Strings<'a> {
    index: HashMap<&'a str, u32, foldhash::fast::FixedState>,
    values: Vec<Option<String>>,
}

impl<'a> Strings<'a> {
    fn new() -> Self {
        Strings {
            index: HashMap::default(),
            values: vec![None],
        }
    }

    fn id(&mut self, s: Option<&'a str>) -> u32 {
        let Some(s) = s else { return 0 };
        *self.index.entry(s).or_insert_with(|| {
            self.values.push(Some(s.to_string()));
            self.values.len() as u32 - 1
        })
    }
}

impl SpanColumns {
    /// The spans in the shape's order.
    pub fn new(spans: &[SpanOutline], shape: &TreeShape) -> Self {
        let mut row_of = vec![0usize; spans.len()];
        for (row, &i) in shape.order.iter().enumerate() {
            row_of[i] = row;
        }
        let base_ns = spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
        let mut strings = Strings::new();
        let n = shape.order.len();
        // Sized up front: growing a hundred-thousand-entry column by doubling copies it again
        // and again, into freshly faulted memory.
        let mut c = SpanColumns {
            count: n,
            base_ns,
            strings: Vec::new(),
            span_id: Vec::with_capacity(n),
            parent: Vec::with_capacity(n),
            depth: Vec::with_capacity(n),
            name: Vec::with_capacity(n),
            service_name: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            status_message: Vec::with_capacity(n),
            agent_name: Vec::with_capacity(n),
            tool_name: Vec::with_capacity(n),
            provider: Vec::with_capacity(n),
            model: Vec::with_capacity(n),
            cost_source: Vec::with_capacity(n),
            start_ns: Vec::with_capacity(n),
            duration_ns: Vec::with_capacity(n),
            input_tokens: Vec::with_capacity(n),
            output_tokens: Vec::with_capacity(n),
            cache_read_tokens: Vec::with_capacity(n),
            cache_write_tokens: Vec::with_capacity(n),
            reasoning_tokens: Vec::with_capacity(n),
            total_tokens: Vec::with_capacity(n),
            cost_usd: Vec::with_capacity(n),
        };
        for &i in &shape.order {
            let s = &spans[i];
            c.span_id.push(s.span_id);
            c.parent
                .push(shape.parent[i].map_or(-1, |p| row_of[p] as i64));
            c.depth.push(shape.depth[i]);
            c.name.push(strings.id(Some(&s.name)));
            c.service_name.push(strings.id(Some(&s.service_name)));
            c.kind.push(strings.id(Some(s.kind.as_str())));
            c.status.push(strings.id(Some(s.status.as_str())));
            c.status_message
                .push(strings.id(s.status_message.as_deref()));
            c.agent_name.push(strings.id(s.agent_name.as_deref()));
            c.tool_name.push(strings.id(s.tool_name.as_deref()));
            c.provider.push(strings.id(s.provider.as_deref()));
            c.model.push(strings.id(s.model.as_deref()));
            c.cost_source
                .push(strings.id(s.cost_source.map(|c| c.as_str())));
            c.start_ns.push(s.start_ns - base_ns);
            c.duration_ns.push(s.duration_ns);
            c.input_tokens.push(s.tokens.input);
            c.output_tokens.push(s.tokens.output);
            c.cache_read_tokens.push(s.tokens.cache_read);
            c.cache_write_tokens.push(s.tokens.cache_write);
            c.reasoning_tokens.push(s.tokens.reasoning);
            c.total_tokens.push(s.tokens.total);
            c.cost_usd.push(s.cost_usd);
        }
        c.strings = strings.values;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spyglass_model::{Span, SpanKind, Status, TraceId, tree_shape};

    fn span(id: u64, parent: Option<u64>, start: i64, name: &str) -> SpanOutline {
        let mut s = Span::new(TraceId::from_u128(9), SpanId::from_u64(id), name, start);
        s.parent_span_id = parent.map(SpanId::from_u64);
        s.service_name = "svc".into();
        SpanOutline::from(&s)
    }

    #[test]
    fn columns_hold_the_tree_in_order_with_strings_once() {
        let base = 1_760_000_000_000_000_000;
        let mut llm = span(2, Some(1), base + 10, "chat");
        llm.kind = SpanKind::Llm;
        llm.model = Some("gpt-4o".into());
        llm.tokens.input = Some(12);
        llm.duration_ns = Some(5);
        llm.status = Status::Error;
        let spans = vec![
            span(1, None, base, "agent"),
            span(3, Some(1), base + 20, "chat"),
            llm,
            span(4, Some(99), base + 5, "orphan"),
        ];
        let c = SpanColumns::new(&spans, &tree_shape(&spans));
        assert_eq!(c.count, 4);
        assert_eq!(c.base_ns, base);
        let ids: Vec<u64> = c.span_id.iter().map(|s| s.as_u64()).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
        assert_eq!(c.parent, [-1, 0, 0, -1], "a missing parent makes a root");
        assert_eq!(c.depth, [0, 1, 1, 0]);
        assert_eq!(c.start_ns, [0, 10, 20, 5]);
        let text = |i: u32| c.strings[i as usize].as_deref();
        let names: Vec<_> = c.name.iter().map(|&i| text(i)).collect();
        assert_eq!(
            names,
            [Some("agent"), Some("chat"), Some("chat"), Some("orphan")]
        );
        assert_eq!(c.name[1], c.name[2], "a repeated string is one entry");
        assert_eq!(text(c.model[1]), Some("gpt-4o"));
        assert_eq!(c.model[0], 0, "0 is null");
        assert_eq!(text(c.status[1]), Some("error"));
        assert_eq!(text(c.kind[1]), Some("llm"));
        assert_eq!(c.duration_ns[1], Some(5));
        assert_eq!(c.input_tokens, [None, Some(12), None, None]);

        let json = serde_json::to_value(&c).unwrap();
        assert!(json.get("input_tokens").is_some());
        for absent in ["cost_usd", "agent_name", "tool_name", "output_tokens"] {
            assert!(json.get(absent).is_none(), "{absent}: an all-null column");
        }
        assert_eq!(json["span_id"][0], "0000000000000001");
    }

    #[test]
    fn an_empty_trace_has_empty_columns() {
        let c = SpanColumns::new(&[], &tree_shape(&[]));
        assert_eq!(c.count, 0);
        assert_eq!(c.strings, [None]);
    }
}
