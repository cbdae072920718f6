//! A trace's span outlines (`Store::trace_outline`): only the columns a tree needs, read as
//! Arrow batches. Reading whole spans row by row spends most of its time carrying payload
//! columns through the latest-version window and converting cells one at a time; for a
//! 100,000-span trace this is several times faster (benches/trace_read.rs).

use super::arrow::uuid_text;
use super::read::{corrupt, summary};
use crate::Result;
use duckdb::Connection;
use duckdb::arrow::array::{
    Array, AsArray, Float64Array, Int64Array, StringArray, UInt8Array, UInt64Array,
};
use duckdb::arrow::record_batch::RecordBatch;
use spyglass_model::span::version_key;
use spyglass_model::{
    CostSource, SpanId, SpanKind, SpanOutline, Status, Tokens, TraceId, TraceSummary,
};
use std::collections::HashMap;
use std::collections::hash_map::Entry;

/// Every stored version of the trace's spans; `trace_outline` keeps the latest of each. Most
/// spans have one version, so resolving them here is a hash lookup per row where the SQL
/// ways cost a window (sorting every row with every column) or a semi-join (a second scan);
/// under load on a small machine that was most of the trace view's wait.
const OUTLINE_SQL: &str = "SELECT s.span_id, s.parent_span_id, s.name, \
    coalesce(r.service_name, 'unknown_service'), s.kind, s.start_ns, s.end_ns, s.duration_ns, \
    s.status, s.status_message, s.agent_name, s.tool_name, s.provider, \
    coalesce(s.response_model, s.request_model), s.input_tokens, s.output_tokens, \
    s.cache_read_tokens, s.cache_write_tokens, s.reasoning_tokens, s.total_tokens, s.cost_usd, \
    s.cost_source, s.received_ns \
    FROM spans s LEFT JOIN (SELECT DISTINCT ON (resource_id) resource_id, service_name \
        FROM resources WHERE project_id = $1) r ON r.resource_id = s.resource_id \
    WHERE s.project_id = $1 AND s.trace_id = $2::UUID AND s.start_ns BETWEEN $3 AND $4 \
    AND s.received_ns BETWEEN $5 AND $6";

pub fn trace_outline(
    conn: &Connection,
    project: &str,
    trace: TraceId,
) -> Result<Option<(TraceSummary, Vec<SpanOutline>)>> {
    let Some((summary, bounds)) = summary(conn, project, trace)? else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(OUTLINE_SQL)?;
    let (lo, hi) = bounds.start;
    let (rlo, rhi) = bounds.received;
    let tid = uuid_text(trace);
    let mut latest = Latest::with_capacity(summary.span_count.max(0) as usize);
    for batch in stmt.query_arrow(duckdb::params![project, tid, lo, hi, rlo, rhi])? {
        read_batch(&batch, trace, &mut latest)?;
    }
    let mut out = latest.spans;
    out.sort_unstable_by_key(|s| (s.start_ns, s.span_id.as_u64()));
    Ok(Some((summary, out)))
}

/// The latest version of each span seen so far, by `spyglass_model::span::version_key` (the
/// order `LATEST` applies in SQL).
struct Latest {
    spans: Vec<SpanOutline>,
    versions: Vec<(bool, i64)>,
    index: HashMap<u64, usize, foldhash::fast::FixedState>,
}

impl Latest {
    fn with_capacity(n: usize) -> Self {
        Latest {
            spans: Vec::with_capacity(n),
            versions: Vec::with_capacity(n),
            index: HashMap::with_capacity_and_hasher(n, Default::default()),
        }
    }

    fn offer(&mut self, span: SpanOutline, received_ns: i64) {
        let version = version_key(span.end_ns, received_ns);
        match self.index.entry(span.span_id.as_u64()) {
            Entry::Vacant(e) => {
                e.insert(self.spans.len());
                self.spans.push(span);
                self.versions.push(version);
            }
            Entry::Occupied(e) => {
                let i = *e.get();
                if version > self.versions[i] {
                    self.spans[i] = span;
                    self.versions[i] = version;
                }
            }
        }
    }
}

fn column<'a, T: 'static>(b: &'a RecordBatch, i: usize, name: &'static str) -> Result<&'a T> {
    b.column(i)
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| corrupt(name, format!("unexpected type {}", b.column(i).data_type())))
}

fn strings<'a>(b: &'a RecordBatch, i: usize, name: &'static str) -> Result<&'a StringArray> {
    b.column(i)
        .as_string_opt::<i32>()
        .ok_or_else(|| corrupt(name, format!("unexpected type {}", b.column(i).data_type())))
}

fn opt_str(a: &StringArray, row: usize) -> Option<String> {
    a.is_valid(row).then(|| a.value(row).to_string())
}

fn opt_i64(a: &Int64Array, row: usize) -> Option<i64> {
    a.is_valid(row).then(|| a.value(row))
}

fn read_batch(b: &RecordBatch, trace: TraceId, out: &mut Latest) -> Result<()> {
    let span_id = column::<UInt64Array>(b, 0, "span_id")?;
    let parent = column::<UInt64Array>(b, 1, "parent_span_id")?;
    let name = strings(b, 2, "name")?;
    let service = strings(b, 3, "service_name")?;
    let kind = column::<UInt8Array>(b, 4, "kind")?;
    let start = column::<Int64Array>(b, 5, "start_ns")?;
    let end = column::<Int64Array>(b, 6, "end_ns")?;
    let duration = column::<Int64Array>(b, 7, "duration_ns")?;
    let status = column::<UInt8Array>(b, 8, "status")?;
    let status_message = strings(b, 9, "status_message")?;
    let agent = strings(b, 10, "agent_name")?;
    let tool = strings(b, 11, "tool_name")?;
    let provider = strings(b, 12, "provider")?;
    let model = strings(b, 13, "model")?;
    let tokens: [&Int64Array; 6] = [
        column(b, 14, "input_tokens")?,
        column(b, 15, "output_tokens")?,
        column(b, 16, "cache_read_tokens")?,
        column(b, 17, "cache_write_tokens")?,
        column(b, 18, "reasoning_tokens")?,
        column(b, 19, "total_tokens")?,
    ];
    let cost = column::<Float64Array>(b, 20, "cost_usd")?;
    let cost_source = column::<UInt8Array>(b, 21, "cost_source")?;
    let received = column::<Int64Array>(b, 22, "received_ns")?;
    for row in 0..b.num_rows() {
        let t = |k: usize| opt_i64(tokens[k], row);
        let span = SpanOutline {
            trace_id: trace,
            span_id: SpanId::from_u64(span_id.value(row)),
            parent_span_id: parent
                .is_valid(row)
                .then(|| SpanId::from_u64(parent.value(row))),
            name: name.value(row).to_string(),
            service_name: service.value(row).to_string(),
            kind: SpanKind::from_code(kind.value(row)).unwrap_or(SpanKind::Other),
            start_ns: start.value(row),
            end_ns: opt_i64(end, row),
            duration_ns: opt_i64(duration, row),
            status: Status::from_code(status.value(row)).unwrap_or(Status::Unset),
            status_message: opt_str(status_message, row),
            agent_name: opt_str(agent, row),
            tool_name: opt_str(tool, row),
            provider: opt_str(provider, row),
            model: opt_str(model, row),
            tokens: Tokens {
                input: t(0),
                output: t(1),
                cache_read: t(2),
                cache_write: t(3),
                reasoning: t(4),
                total: t(5),
            },
            cost_usd: cost.is_valid(row).then(|| cost.value(row)),
            cost_source: cost_source
                .is_valid(row)
                .then(|| CostSource::from_code(cost_source.value(row)))
                .flatten(),
        };
        out.offer(span, received.value(row));
    }
    Ok(())
}
