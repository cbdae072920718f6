//! Canonical rows as Arrow record batches, in table column order. DuckDB appends Arrow
//! batches several times faster than row-by-row (design.md §1), so the write path is columnar.

use duckdb::arrow::array::{
    ArrayRef, FixedSizeBinaryBuilder, Float32Builder, Float64Builder, Int64Builder, ListBuilder,
    StringBuilder, UInt8Builder, UInt16Builder, UInt64Builder,
};
use duckdb::arrow::datatypes::{DataType, Field, Schema};
use duckdb::arrow::record_batch::RecordBatch;
use spyglass_model::{Span, SpanFinding, TraceId, TraceSummary};
use std::collections::HashMap;
use std::sync::Arc;

fn uuid_field(name: &str) -> Field {
    Field::new(name, DataType::FixedSizeBinary(16), false).with_metadata(HashMap::from([(
        "ARROW:extension:name".to_string(),
        "arrow.uuid".to_string(),
    )]))
}

fn str_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Utf8, nullable)
}

fn list_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        false,
    )
}

fn i64_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::Int64, nullable)
}

fn u64_field(name: &str, nullable: bool) -> Field {
    Field::new(name, DataType::UInt64, nullable)
}

fn tokens_fields() -> Vec<Field> {
    [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "total_tokens",
    ]
    .iter()
    .map(|n| i64_field(n, true))
    .collect()
}

struct Tok([Int64Builder; 6]);

impl Tok {
    fn new(n: usize) -> Self {
        Tok(std::array::from_fn(|_| Int64Builder::with_capacity(n)))
    }
    fn push(&mut self, t: &spyglass_model::Tokens) {
        for (b, v) in self.0.iter_mut().zip([
            t.input,
            t.output,
            t.cache_read,
            t.cache_write,
            t.reasoning,
            t.total,
        ]) {
            b.append_option(v);
        }
    }
    fn finish(self, out: &mut Vec<ArrayRef>) {
        for mut b in self.0 {
            out.push(Arc::new(b.finish()));
        }
    }
}

fn strings(n: usize, bytes: usize) -> StringBuilder {
    StringBuilder::with_capacity(n, bytes)
}

fn list(n: usize) -> ListBuilder<StringBuilder> {
    ListBuilder::with_capacity(StringBuilder::new(), n)
}

fn push_list<'a>(b: &mut ListBuilder<StringBuilder>, items: impl IntoIterator<Item = &'a str>) {
    for s in items {
        b.values().append_value(s);
    }
    b.append(true);
}

pub fn spans_schema() -> Arc<Schema> {
    let mut f = vec![
        str_field("project_id", false),
        uuid_field("trace_id"),
        u64_field("span_id", false),
        u64_field("parent_span_id", true),
        str_field("name", false),
        Field::new("otel_kind", DataType::UInt8, false),
        Field::new("kind", DataType::UInt8, false),
        i64_field("start_ns", false),
        i64_field("end_ns", true),
        i64_field("duration_ns", true),
        Field::new("status", DataType::UInt8, false),
        str_field("status_message", true),
        str_field("session_id", true),
        str_field("user_id", true),
        str_field("agent_name", true),
        str_field("agent_id", true),
        str_field("tool_name", true),
        str_field("provider", true),
        str_field("request_model", true),
        str_field("response_model", true),
    ];
    f.extend(tokens_fields());
    f.extend([
        Field::new("cost_usd", DataType::Float64, true),
        Field::new("cost_source", DataType::UInt8, true),
        str_field("input", true),
        str_field("output", true),
        str_field("attributes", false),
        u64_field("resource_id", false),
        str_field("events", true),
        str_field("links", true),
        Field::new("conventions", DataType::UInt16, false),
        str_field("unmapped_keys", true),
        i64_field("received_ns", false),
    ]);
    Arc::new(Schema::new(f))
}

/// Builds the `spans` batch; `resource_ids[i]` is the resource of `spans[i]`.
pub fn spans_batch(spans: &[&Span], resource_ids: &[u64]) -> RecordBatch {
    let n = spans.len();
    let mut project = strings(n, n * 8);
    let mut trace = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut span_id = UInt64Builder::with_capacity(n);
    let mut parent = UInt64Builder::with_capacity(n);
    let mut name = strings(n, n * 24);
    let mut otel_kind = UInt8Builder::with_capacity(n);
    let mut kind = UInt8Builder::with_capacity(n);
    let mut start = Int64Builder::with_capacity(n);
    let mut end = Int64Builder::with_capacity(n);
    let mut dur = Int64Builder::with_capacity(n);
    let mut status = UInt8Builder::with_capacity(n);
    let mut status_msg = strings(n, 0);
    let mut ids: [StringBuilder; 8] = std::array::from_fn(|_| strings(n, n * 8));
    let mut tok = Tok::new(n);
    let mut cost = Float64Builder::with_capacity(n);
    let mut cost_source = UInt8Builder::with_capacity(n);
    let mut input = strings(n, n * 64);
    let mut output = strings(n, n * 64);
    let mut attrs = strings(n, n * 128);
    let mut res_ids = UInt64Builder::with_capacity(n);
    let mut events = strings(n, n * 2);
    let mut links = strings(n, n * 2);
    let mut conventions = UInt16Builder::with_capacity(n);
    let mut unmapped = strings(n, 0);
    let mut received = Int64Builder::with_capacity(n);

    for (s, resource_id) in spans.iter().zip(resource_ids) {
        project.append_value(&s.project_id);
        trace.append_value(s.trace_id.0).expect("16 bytes");
        span_id.append_value(s.span_id.as_u64());
        parent.append_option(s.parent_span_id.map(|p| p.as_u64()));
        name.append_value(&s.name);
        otel_kind.append_value(s.otel_kind.code());
        kind.append_value(s.kind.code());
        start.append_value(s.start_ns);
        end.append_option(s.end_ns);
        dur.append_option(s.duration_ns);
        status.append_value(s.status.code());
        status_msg.append_option(s.status_message.as_deref());
        for (b, v) in ids.iter_mut().zip([
            &s.session_id,
            &s.user_id,
            &s.agent_name,
            &s.agent_id,
            &s.tool_name,
            &s.provider,
            &s.request_model,
            &s.response_model,
        ]) {
            b.append_option(v.as_deref());
        }
        tok.push(&s.tokens);
        cost.append_option(s.cost_usd);
        cost_source.append_option(s.cost_source.map(|c| c.code()));
        input.append_option(s.input.as_deref());
        output.append_option(s.output.as_deref());
        attrs.append_value(s.attributes.as_str());
        res_ids.append_value(*resource_id);
        events.append_option(json_list(&s.events));
        links.append_option(json_list(&s.links));
        conventions.append_value(s.conventions.bits());
        unmapped.append_option(json_list(&s.unmapped_keys));
        received.append_value(s.received_ns);
    }

    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(project.finish()),
        Arc::new(trace.finish()),
        Arc::new(span_id.finish()),
        Arc::new(parent.finish()),
        Arc::new(name.finish()),
        Arc::new(otel_kind.finish()),
        Arc::new(kind.finish()),
        Arc::new(start.finish()),
        Arc::new(end.finish()),
        Arc::new(dur.finish()),
        Arc::new(status.finish()),
        Arc::new(status_msg.finish()),
    ];
    for mut b in ids {
        cols.push(Arc::new(b.finish()));
    }
    tok.finish(&mut cols);
    cols.extend([
        Arc::new(cost.finish()) as ArrayRef,
        Arc::new(cost_source.finish()),
        Arc::new(input.finish()),
        Arc::new(output.finish()),
        Arc::new(attrs.finish()),
        Arc::new(res_ids.finish()),
        Arc::new(events.finish()),
        Arc::new(links.finish()),
        Arc::new(conventions.finish()),
        Arc::new(unmapped.finish()),
        Arc::new(received.finish()),
    ]);
    RecordBatch::try_new(spans_schema(), cols).expect("spans batch matches its schema")
}

/// A JSON array, or `None` for an empty list (most spans have no events, links or unmapped
/// keys, and a NULL costs nothing to store).
fn json_list<T: serde::Serialize>(items: &[T]) -> Option<String> {
    (!items.is_empty()).then(|| serde_json::to_string(items).expect("lists of serializable items"))
}

/// Builds the `resources` batch from spans, one row per distinct resource.
pub fn resources_batch(rows: &[(u64, &Span)]) -> RecordBatch {
    let n = rows.len();
    let mut project = strings(n, n * 8);
    let mut id = UInt64Builder::with_capacity(n);
    let mut service = strings(n, n * 16);
    let mut scope = strings(n, n * 24);
    let mut env = strings(n, n * 8);
    let mut attrs = strings(n, n * 160);
    for (i, s) in rows {
        project.append_value(&s.project_id);
        id.append_value(*i);
        service.append_value(&s.service_name);
        scope.append_value(&s.scope_name);
        env.append_option(s.environment.as_deref());
        attrs.append_value(s.resource_attributes.as_str());
    }
    let schema = Arc::new(Schema::new(vec![
        str_field("project_id", false),
        u64_field("resource_id", false),
        str_field("service_name", false),
        str_field("scope_name", false),
        str_field("environment", true),
        str_field("attributes", false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(project.finish()),
            Arc::new(id.finish()),
            Arc::new(service.finish()),
            Arc::new(scope.finish()),
            Arc::new(env.finish()),
            Arc::new(attrs.finish()),
        ],
    )
    .expect("resources batch matches its schema")
}

/// A stable 64-bit id (FNV-1a) of what a span shares with its resource and scope: stored data
/// refers to it, so it must not change between releases. Ids are per project.
pub fn resource_id(s: &Span) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    let parts: [&str; 4] = [
        s.resource_attributes.as_str(),
        &s.service_name,
        &s.scope_name,
        s.environment.as_deref().unwrap_or("\u{0}none"),
    ];
    for part in parts {
        for b in part.as_bytes().iter().chain([&0xffu8]) {
            h ^= *b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
    }
    h
}

/// Builds the `findings` batch (one row per finding).
pub fn findings_batch(findings: &[&SpanFinding]) -> RecordBatch {
    let n = findings.len();
    let mut project = strings(n, n * 8);
    let mut id = UInt64Builder::with_capacity(n);
    let mut trace = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut span_id = UInt64Builder::with_capacity(n);
    let mut span_name = strings(n, n * 16);
    let mut span_kind = UInt8Builder::with_capacity(n);
    let mut service = strings(n, n * 16);
    let mut agent = strings(n, n * 8);
    let mut session = strings(n, n * 8);
    let mut user = strings(n, n * 8);
    let mut time = Int64Builder::with_capacity(n);
    let mut received = Int64Builder::with_capacity(n);
    let mut category = UInt8Builder::with_capacity(n);
    let mut detector = strings(n, n * 24);
    let mut severity = UInt8Builder::with_capacity(n);
    let mut score = Float32Builder::with_capacity(n);
    let mut field = UInt8Builder::with_capacity(n);
    let mut key = strings(n, n * 8);
    let mut start = UInt64Builder::with_capacity(n);
    let mut end = UInt64Builder::with_capacity(n);
    let mut evidence = strings(n, n * 64);
    let mut vector = UInt8Builder::with_capacity(n);
    let mut encoding = UInt8Builder::with_capacity(n);
    for sf in findings {
        let f = &sf.finding;
        project.append_value(&sf.project_id);
        id.append_value(sf.id);
        trace.append_value(sf.trace_id.0).expect("16 bytes");
        span_id.append_value(sf.span_id.as_u64());
        span_name.append_value(&sf.span_name);
        span_kind.append_value(sf.span_kind.code());
        service.append_value(&sf.service_name);
        agent.append_option(sf.agent_name.as_deref());
        session.append_option(sf.session_id.as_deref());
        user.append_option(sf.user_id.as_deref());
        time.append_value(sf.time_ns);
        received.append_value(sf.received_ns);
        category.append_value(f.category.code());
        detector.append_value(&f.detector);
        severity.append_value(f.severity.code());
        score.append_value(f.score);
        field.append_value(f.field.code());
        key.append_option(f.key.as_deref());
        start.append_value(f.start as u64);
        end.append_value(f.end as u64);
        evidence.append_value(&f.evidence);
        vector.append_option(f.vector.map(|v| v.code()));
        encoding.append_option(f.encoding.map(|e| e.code()));
    }
    let u8_field = |name: &str, nullable| Field::new(name, DataType::UInt8, nullable);
    let schema = Arc::new(Schema::new(vec![
        str_field("project_id", false),
        u64_field("id", false),
        uuid_field("trace_id"),
        u64_field("span_id", false),
        str_field("span_name", false),
        u8_field("span_kind", false),
        str_field("service_name", false),
        str_field("agent_name", true),
        str_field("session_id", true),
        str_field("user_id", true),
        i64_field("time_ns", false),
        i64_field("received_ns", false),
        u8_field("category", false),
        str_field("detector", false),
        u8_field("severity", false),
        Field::new("score", DataType::Float32, false),
        u8_field("field", false),
        str_field("key", true),
        u64_field("start_offset", false),
        u64_field("end_offset", false),
        str_field("evidence", false),
        u8_field("vector", true),
        u8_field("encoding", true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(project.finish()),
        Arc::new(id.finish()),
        Arc::new(trace.finish()),
        Arc::new(span_id.finish()),
        Arc::new(span_name.finish()),
        Arc::new(span_kind.finish()),
        Arc::new(service.finish()),
        Arc::new(agent.finish()),
        Arc::new(session.finish()),
        Arc::new(user.finish()),
        Arc::new(time.finish()),
        Arc::new(received.finish()),
        Arc::new(category.finish()),
        Arc::new(detector.finish()),
        Arc::new(severity.finish()),
        Arc::new(score.finish()),
        Arc::new(field.finish()),
        Arc::new(key.finish()),
        Arc::new(start.finish()),
        Arc::new(end.finish()),
        Arc::new(evidence.finish()),
        Arc::new(vector.finish()),
        Arc::new(encoding.finish()),
    ];
    RecordBatch::try_new(schema, columns).expect("findings batch matches its schema")
}

/// Builds the `span_links` batch (one row per link).
pub fn links_batch(spans: &[&Span]) -> Option<RecordBatch> {
    let n: usize = spans.iter().map(|s| s.links.len()).sum();
    if n == 0 {
        return None;
    }
    let mut project = strings(n, n * 8);
    let mut trace = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut span_id = UInt64Builder::with_capacity(n);
    let mut ltrace = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut lspan = UInt64Builder::with_capacity(n);
    for s in spans {
        for l in &s.links {
            project.append_value(&s.project_id);
            trace.append_value(s.trace_id.0).expect("16 bytes");
            span_id.append_value(s.span_id.as_u64());
            ltrace.append_value(l.trace_id.0).expect("16 bytes");
            lspan.append_value(l.span_id.as_u64());
        }
    }
    let schema = Arc::new(Schema::new(vec![
        str_field("project_id", false),
        uuid_field("trace_id"),
        u64_field("span_id", false),
        uuid_field("linked_trace_id"),
        u64_field("linked_span_id", false),
    ]));
    Some(
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(project.finish()),
                Arc::new(trace.finish()),
                Arc::new(span_id.finish()),
                Arc::new(ltrace.finish()),
                Arc::new(lspan.finish()),
            ],
        )
        .expect("links batch matches its schema"),
    )
}

/// A summary row to write: the project, the summary, the trace's latest span start, and the
/// version (higher replaces lower).
pub struct SummaryRow<'a> {
    pub project_id: &'a str,
    pub summary: TraceSummary,
    pub max_start_ns: i64,
    pub min_received_ns: i64,
    pub version: i64,
}

impl<'a> SummaryRow<'a> {
    /// The summary version of a trace's state, with where its spans are stored.
    pub fn of(
        project_id: &'a str,
        trace: TraceId,
        state: &crate::summary::TraceState,
        version: i64,
    ) -> Self {
        let (max_start_ns, min_received_ns) = state.storage_bounds();
        SummaryRow {
            project_id,
            summary: state.summary(trace),
            max_start_ns,
            min_received_ns,
            version,
        }
    }
}

/// Builds the `trace_summaries` batch.
pub fn summaries_batch(rows: &[SummaryRow]) -> RecordBatch {
    let n = rows.len();
    let mut project = strings(n, n * 8);
    let mut trace = FixedSizeBinaryBuilder::with_capacity(n, 16);
    let mut root = UInt64Builder::with_capacity(n);
    let mut name = strings(n, n * 24);
    let mut service = strings(n, n * 16);
    let mut start = Int64Builder::with_capacity(n);
    let mut max_start = Int64Builder::with_capacity(n);
    let mut end = Int64Builder::with_capacity(n);
    let mut dur = Int64Builder::with_capacity(n);
    let mut counts: [Int64Builder; 3] = std::array::from_fn(|_| Int64Builder::with_capacity(n));
    let mut status = strings(n, n * 5);
    let mut tok = Tok::new(n);
    let mut cost = Float64Builder::with_capacity(n);
    let mut opt: [StringBuilder; 3] = std::array::from_fn(|_| strings(n, n * 8));
    let mut lists: [ListBuilder<StringBuilder>; 5] = std::array::from_fn(|_| list(n));
    let mut previews: [StringBuilder; 2] = std::array::from_fn(|_| strings(n, n * 64));
    let mut min_received = Int64Builder::with_capacity(n);
    let mut received = Int64Builder::with_capacity(n);
    let mut version = Int64Builder::with_capacity(n);
    for r in rows {
        let s = &r.summary;
        project.append_value(r.project_id);
        trace.append_value(s.trace_id.0).expect("16 bytes");
        root.append_option(s.root_span_id.map(|x| x.as_u64()));
        name.append_value(&s.name);
        service.append_value(&s.service_name);
        start.append_value(s.start_ns);
        max_start.append_value(r.max_start_ns);
        end.append_option(s.end_ns);
        dur.append_option(s.duration_ns);
        for (b, v) in counts
            .iter_mut()
            .zip([s.span_count, s.error_count, s.running_count])
        {
            b.append_value(v);
        }
        status.append_value(s.status.as_str());
        tok.push(&s.tokens);
        cost.append_option(s.cost_usd);
        for (b, v) in opt
            .iter_mut()
            .zip([&s.session_id, &s.user_id, &s.environment])
        {
            b.append_option(v.as_deref());
        }
        for (b, v) in lists
            .iter_mut()
            .zip([&s.agents, &s.services, &s.models, &s.tools, &s.kinds])
        {
            push_list(b, v.iter().map(String::as_str));
        }
        for (b, v) in previews
            .iter_mut()
            .zip([&s.input_preview, &s.output_preview])
        {
            b.append_option(v.as_deref());
        }
        min_received.append_value(r.min_received_ns);
        received.append_value(s.last_received_ns);
        version.append_value(r.version);
    }
    let mut fields = vec![
        str_field("project_id", false),
        uuid_field("trace_id"),
        u64_field("root_span_id", true),
        str_field("name", false),
        str_field("service_name", false),
        i64_field("start_ns", false),
        i64_field("max_start_ns", false),
        i64_field("end_ns", true),
        i64_field("duration_ns", true),
        i64_field("span_count", false),
        i64_field("error_count", false),
        i64_field("running_count", false),
        str_field("status", false),
    ];
    fields.extend(tokens_fields());
    fields.extend([
        Field::new("cost_usd", DataType::Float64, true),
        str_field("session_id", true),
        str_field("user_id", true),
        str_field("environment", true),
        list_field("agents"),
        list_field("services"),
        list_field("models"),
        list_field("tools"),
        list_field("kinds"),
        str_field("input_preview", true),
        str_field("output_preview", true),
        i64_field("min_received_ns", false),
        i64_field("last_received_ns", false),
        i64_field("version", false),
    ]);
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(project.finish()),
        Arc::new(trace.finish()),
        Arc::new(root.finish()),
        Arc::new(name.finish()),
        Arc::new(service.finish()),
        Arc::new(start.finish()),
        Arc::new(max_start.finish()),
        Arc::new(end.finish()),
        Arc::new(dur.finish()),
    ];
    for mut b in counts {
        cols.push(Arc::new(b.finish()));
    }
    cols.push(Arc::new(status.finish()));
    tok.finish(&mut cols);
    cols.push(Arc::new(cost.finish()));
    for mut b in opt {
        cols.push(Arc::new(b.finish()));
    }
    for mut b in lists {
        cols.push(Arc::new(b.finish()));
    }
    for mut b in previews {
        cols.push(Arc::new(b.finish()));
    }
    cols.push(Arc::new(min_received.finish()));
    cols.push(Arc::new(received.finish()));
    cols.push(Arc::new(version.finish()));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)
        .expect("summaries batch matches its schema")
}

/// DuckDB's text form of a UUID, for query parameters.
pub fn uuid_text(t: TraceId) -> String {
    let h = t.to_hex();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
