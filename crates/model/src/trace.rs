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

/// The shape of a span forest: the order its rows are drawn in, and each span's depth and
/// tree parent. Indexes are into the spans the shape was made from.
#[derive(Debug, Clone, PartialEq)]
pub struct TreeShape {
    /// Depth first; children, and roots, by start time then span id.
    pub order: Vec<usize>,
    pub depth: Vec<u32>,
    /// The parent in the tree: `None` for a root, which is a span without a parent, one whose
    /// parent is not among the spans, or one where a parent cycle was broken.
    pub parent: Vec<Option<usize>>,
    pub child_count: Vec<u32>,
}

/// Spans whose parent is missing (not arrived yet, or in another trace) are roots, so nothing
/// is hidden; a parent cycle from bad ids is broken by visiting each span once. Linear apart
/// from sorting siblings, and iterative, so a trace 100,000 spans deep is fine.
pub fn tree_shape(spans: &[SpanOutline]) -> TreeShape {
    use std::collections::HashMap;
    let n = spans.len();
    let mut index: HashMap<u64, usize, foldhash::fast::FixedState> =
        HashMap::with_capacity_and_hasher(n, Default::default());
    for (i, s) in spans.iter().enumerate() {
        index.insert(s.span_id.as_u64(), i);
    }
    let linked: Vec<Option<usize>> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let p = *index.get(&s.parent_span_id?.as_u64())?;
            (p != i).then_some(p)
        })
        .collect();
    // Children of span p are children[first[p]..first[p + 1]] (one allocation, not one per span).
    let mut first = vec![0usize; n + 1];
    for p in linked.iter().flatten() {
        first[p + 1] += 1;
    }
    for i in 0..n {
        first[i + 1] += first[i];
    }
    let mut fill = first.clone();
    let mut children = vec![0usize; first[n]];
    let mut roots = Vec::new();
    for (i, p) in linked.iter().enumerate() {
        match p {
            Some(p) => {
                children[fill[*p]] = i;
                fill[*p] += 1;
            }
            None => roots.push(i),
        }
    }
    let key = |&i: &usize| (spans[i].start_ns, spans[i].span_id.as_u64());
    for p in 0..n {
        children[first[p]..first[p + 1]].sort_unstable_by_key(key);
    }
    roots.sort_unstable_by_key(key);

    let mut shape = TreeShape {
        order: Vec::with_capacity(n),
        depth: vec![0; n],
        parent: vec![None; n],
        child_count: (0..n).map(|p| (first[p + 1] - first[p]) as u32).collect(),
    };
    let mut visited = vec![false; n];
    let mut stack = Vec::new();
    let starts = roots.into_iter().chain(0..n);
    for start in starts {
        stack.push((start, None));
        while let Some((i, parent)) = stack.pop() {
            if visited[i] {
                continue;
            }
            visited[i] = true;
            shape.order.push(i);
            shape.parent[i] = parent;
            shape.depth[i] = parent.map_or(0, |p: usize| shape.depth[p] + 1);
            for &c in children[first[i]..first[i + 1]].iter().rev() {
                stack.push((c, Some(i)));
            }
        }
    }
    shape
}

/// Flattens spans into tree order (see [`tree_shape`]).
pub fn build_tree(spans: Vec<SpanOutline>) -> Vec<TreeRow> {
    let shape = tree_shape(&spans);
    let mut spans: Vec<Option<SpanOutline>> = spans.into_iter().map(Some).collect();
    shape
        .order
        .iter()
        .map(|&i| TreeRow {
            span: spans[i].take().expect("each span is in the order once"),
            depth: shape.depth[i],
            child_count: shape.child_count[i],
        })
        .collect()
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

    fn tree(spans: &[Span]) -> Vec<TreeRow> {
        build_tree(spans.iter().map(SpanOutline::from).collect())
    }

    #[test]
    fn tree_orders_children_and_keeps_orphans() {
        let spans = vec![
            span(1, None, 0),
            span(3, Some(1), 20),
            span(2, Some(1), 10),
            span(4, Some(99), 5),
        ];
        let rows = tree(&spans);
        let names: Vec<_> = rows
            .iter()
            .map(|r| (r.span.name.as_str(), r.depth))
            .collect();
        assert_eq!(names, [("s1", 0), ("s2", 1), ("s3", 1), ("s4", 0)]);
        assert_eq!(rows[0].child_count, 2);
    }

    #[test]
    fn shape_gives_tree_parents_and_depths() {
        let spans: Vec<SpanOutline> = [
            span(1, None, 0),
            span(3, Some(1), 20),
            span(2, Some(1), 10),
            span(5, Some(3), 30),
            span(4, Some(99), 5),
            // A cycle: 6 -> 7 -> 6, entered at the first of them by index.
            span(6, Some(7), 40),
            span(7, Some(6), 41),
            // Its own parent: a root.
            span(8, Some(8), 1),
        ]
        .iter()
        .map(SpanOutline::from)
        .collect();
        let shape = tree_shape(&spans);
        let ids: Vec<u64> = shape
            .order
            .iter()
            .map(|&i| spans[i].span_id.as_u64())
            .collect();
        assert_eq!(ids, [1, 2, 3, 5, 8, 4, 6, 7], "roots and siblings by start");
        assert_eq!(
            shape.parent,
            [None, Some(0), Some(0), Some(1), None, None, Some(5), None]
        );
        assert_eq!(shape.depth, [0, 1, 1, 2, 0, 0, 1, 0]);
        assert_eq!(shape.child_count[0], 2);
        let rows = build_tree(spans);
        let depths: Vec<u32> = rows.iter().map(|r| r.depth).collect();
        assert_eq!(depths, [0, 1, 1, 2, 0, 0, 0, 1]);
    }

    #[test]
    fn deep_chains_and_cycles_are_safe() {
        let mut spans: Vec<Span> = (1..=100_000u64)
            .map(|i| span(i, Some(i - 1), i as i64))
            .collect();
        spans[0].parent_span_id = None;
        let rows = tree(&spans);
        assert_eq!(rows.len(), 100_000);
        assert_eq!(rows.last().unwrap().depth, 99_999);
        let cyc = vec![span(1, Some(2), 0), span(2, Some(1), 1)];
        assert_eq!(tree(&cyc).len(), 2);
    }
}
