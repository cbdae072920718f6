//! Trace and session summaries: what the trace list and the session view show.

use crate::ids::{SpanId, TraceId};
use crate::span::{Span, Status, Tokens};
use serde::{Deserialize, Serialize};

/// One trace, kept current on ingest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceSummary {
    pub trace_id: TraceId,
    pub root_span_id: Option<SpanId>,
    /// The root span's name, or the earliest span's while the root has not arrived.
    pub name: String,
    pub service_name: String,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    pub duration_ns: Option<i64>,
    pub span_count: i64,
    pub error_count: i64,
    pub running_count: i64,
    pub status: Status,
    pub tokens: Tokens,
    pub cost_usd: Option<f64>,
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub environment: Option<String>,
    pub agents: Vec<String>,
    pub services: Vec<String>,
    pub models: Vec<String>,
    pub tools: Vec<String>,
    pub kinds: Vec<String>,
    pub input_preview: Option<String>,
    pub output_preview: Option<String>,
    pub last_received_ns: i64,
}

/// A trace summary with its spans as a tree (the trace view).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TraceDetail {
    pub trace: TraceSummary,
    /// The span tree flattened in depth-first order (children by start time); `depth` and
    /// `parent_span_id` give the shape. Flat, so a deep trace cannot exhaust a stack anywhere.
    pub spans: Vec<TreeRow>,
}

/// One row of the flattened span tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TreeRow {
    #[serde(flatten)]
    pub span: SpanOutline,
    pub depth: u32,
    pub child_count: u32,
}

/// The fields of a span that the tree and waterfall need (no input/output/attributes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SpanOutline {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_span_id: Option<SpanId>,
    pub name: String,
    pub service_name: String,
    pub kind: crate::span::SpanKind,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    pub duration_ns: Option<i64>,
    pub status: Status,
    pub status_message: Option<String>,
    pub agent_name: Option<String>,
    pub tool_name: Option<String>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub tokens: Tokens,
    pub cost_usd: Option<f64>,
    pub cost_source: Option<crate::span::CostSource>,
}

impl From<&Span> for SpanOutline {
    fn from(s: &Span) -> Self {
        SpanOutline {
            trace_id: s.trace_id,
            span_id: s.span_id,
            parent_span_id: s.parent_span_id,
            name: s.name.clone(),
            service_name: s.service_name.to_string(),
            kind: s.kind,
            start_ns: s.start_ns,
            end_ns: s.end_ns,
            duration_ns: s.duration_ns,
            status: s.status,
            status_message: s.status_message.clone(),
            agent_name: s.agent_name.clone(),
            tool_name: s.tool_name.clone(),
            provider: s.provider.clone(),
            model: s.model().map(str::to_string),
            tokens: s.tokens,
            cost_usd: s.cost_usd,
            cost_source: s.cost_source,
        }
    }
}

/// Flattens spans into tree order. Spans whose parent is missing (not arrived yet, or in
/// another trace) are roots, so nothing is hidden; a parent cycle from bad ids is broken by
/// visiting each span once. Children and roots are ordered by start time.
pub fn build_tree(spans: &[Span]) -> Vec<TreeRow> {
    use std::collections::HashMap;
    let index: HashMap<SpanId, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id, i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_span_id.and_then(|p| index.get(&p)) {
            Some(&p) if p != i => children[p].push(i),
            _ => roots.push(i),
        }
    }
    let key = |&i: &usize| (spans[i].start_ns, spans[i].span_id);
    for c in children.iter_mut() {
        c.sort_by_key(key);
    }
    roots.sort_by_key(key);

    let mut visited = vec![false; spans.len()];
    let mut out = Vec::with_capacity(spans.len());
    let walk = |start: usize, out: &mut Vec<TreeRow>, visited: &mut Vec<bool>| {
        let mut stack = vec![(start, 0u32)];
        while let Some((i, depth)) = stack.pop() {
            if visited[i] {
                continue;
            }
            visited[i] = true;
            out.push(TreeRow {
                span: SpanOutline::from(&spans[i]),
                depth,
                child_count: children[i].len() as u32,
            });
            for &c in children[i].iter().rev() {
                stack.push((c, depth + 1));
            }
        }
    };
    for r in roots {
        walk(r, &mut out, &mut visited);
    }
    // Spans reachable only through a cycle.
    for i in 0..spans.len() {
        if !visited[i] {
            walk(i, &mut out, &mut visited);
        }
    }
    out
}

/// A session: the traces of one conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionSummary {
    pub session_id: String,
    pub user_id: Option<String>,
    pub trace_count: i64,
    pub span_count: i64,
    pub error_count: i64,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    pub tokens: Tokens,
    pub cost_usd: Option<f64>,
    pub first_input_preview: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SessionDetail {
    pub session: SessionSummary,
    /// The session's traces in start order (its turns).
    pub traces: Vec<TraceSummary>,
}

/// Distinct values for the filter pickers, most frequent first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Facets {
    pub services: Vec<FacetValue>,
    pub agents: Vec<FacetValue>,
    pub models: Vec<FacetValue>,
    pub users: Vec<FacetValue>,
    pub kinds: Vec<FacetValue>,
    pub environments: Vec<FacetValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FacetValue {
    pub value: String,
    pub count: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: u64, parent: Option<u64>, start: i64) -> Span {
        let mut s = Span::new(
            TraceId::from_u128(7),
            SpanId::from_u64(id),
            &format!("s{id}"),
            start,
        );
        s.parent_span_id = parent.map(SpanId::from_u64);
        s
    }

    #[test]
    fn tree_orders_children_and_keeps_orphans() {
        let spans = vec![
            span(1, None, 0),
            span(3, Some(1), 20),
            span(2, Some(1), 10),
            span(4, Some(99), 5),
        ];
        let rows = build_tree(&spans);
        let names: Vec<_> = rows
            .iter()
            .map(|r| (r.span.name.as_str(), r.depth))
            .collect();
        assert_eq!(names, [("s1", 0), ("s2", 1), ("s3", 1), ("s4", 0)]);
        assert_eq!(rows[0].child_count, 2);
    }

    #[test]
    fn deep_chains_and_cycles_are_safe() {
        let mut spans: Vec<Span> = (1..=100_000u64)
            .map(|i| span(i, Some(i - 1), i as i64))
            .collect();
        spans[0].parent_span_id = None;
        let rows = build_tree(&spans);
        assert_eq!(rows.len(), 100_000);
        assert_eq!(rows.last().unwrap().depth, 99_999);
        let cyc = vec![span(1, Some(2), 0), span(2, Some(1), 1)];
        assert_eq!(build_tree(&cyc).len(), 2);
    }
}
