//! The write path. For each batch: read back the latest span versions of the traces it
//! touches (their summary state), fold the batch in, and insert what changed: findings,
//! links, rollup deltas, agent-version deltas, new summary versions, and the spans last.
//!
//! Redeliveries: a batch from the queue is written with its key (its entries' ids) as the
//! token of every insert (with the table's name), and the tables keep a window of tokens. Because the spans go
//! last, a batch that failed anywhere before them is delivered again against the same stored
//! state (its partition's later entries wait behind it), so it derives the same rows, and
//! whatever of them was already inserted is dropped as a duplicate. A batch whose spans were
//! inserted is complete. Other writes get a token of their own.

use super::client::{Ch, id_list, trace_lit};
use super::rows::{
    FindingRow, LinkInsert, SPAN_OUTLINE_COLUMNS, SpanInsert, SpanRow, SummaryInsert,
};
use crate::rollup::{RollupDeltas, derive};
use crate::summary::{Contribution, TraceState};
use crate::versions::{self, VersionDeltas};
use crate::{Batch, PriceFn, RecomputeReport, Result};
use clickhouse::Row;
use serde::{Deserialize, Serialize};
use spyglass_model::{Span, SpanKind, TraceId};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Trace ids per `IN (...)` list (a query's text is limited to 256 KiB by default).
const IDS_PER_QUERY: usize = 2_000;

#[derive(Default)]
pub struct Writer;

type Key = (Arc<str>, TraceId);

/// A trace's stored state and the version of its latest summary.
struct Loaded {
    state: TraceState,
    version: i64,
}

/// A token no other write uses, for a write that is not a redelivery: without one, ClickHouse
/// would still drop a block byte-identical to a recent one (the same spans imported again
/// after a deletion, say).
pub(super) fn unique_token() -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    format!(
        "once-{}-{}-{}",
        std::process::id(),
        spyglass_model::now_ns(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    )
}

/// Outline columns, plus what a trace's summary state keeps of payloads: the root's input and
/// output (previews) and the input of LLM spans that name a system prompt.
fn state_columns() -> String {
    let cols = SPAN_OUTLINE_COLUMNS.replacen(
        "CAST(NULL, 'Nullable(String)'), \
    CAST(NULL, 'Nullable(String)'), '{}'",
        "if(parent_span_id IS NULL OR (kind = 'llm' AND position(ifNull(input, ''), '\"system\"') > 0), input, NULL), \
         if(parent_span_id IS NULL, output, NULL), '{}'",
        1,
    );
    debug_assert_ne!(cols, SPAN_OUTLINE_COLUMNS);
    cols
}

#[derive(Row, Deserialize)]
struct TraceVersion {
    trace_id: u128,
    version: i64,
}

/// The latest version of every span of the given traces (summary-state columns).
pub(super) async fn latest_spans(ch: &Ch, project: &str, traces: &[TraceId]) -> Result<Vec<Span>> {
    let cols = state_columns();
    let mut out = Vec::new();
    for chunk in traces.chunks(IDS_PER_QUERY) {
        let sql = format!(
            "SELECT {cols} FROM spans WHERE project_id = ? AND trace_id IN {} {}",
            id_list(chunk.iter().map(|t| t.as_u128())),
            super::rows::LATEST_SPAN
        );
        for r in ch.fetch::<SpanRow>(ch.stmt(&sql).bind(project)).await? {
            out.push(r.into_span()?);
        }
    }
    Ok(out)
}

async fn load(ch: &Ch, touched: &BTreeMap<Arc<str>, Vec<TraceId>>) -> Result<HashMap<Key, Loaded>> {
    let mut out: HashMap<Key, Loaded> = HashMap::new();
    for (project, traces) in touched {
        for t in traces {
            out.insert(
                (project.clone(), *t),
                Loaded {
                    state: TraceState::default(),
                    version: 0,
                },
            );
        }
        for s in latest_spans(ch, project, traces).await? {
            if let Some(l) = out.get_mut(&(project.clone(), s.trace_id)) {
                l.state.apply(s.span_id, Contribution::of(&s));
            }
        }
        for chunk in traces.chunks(IDS_PER_QUERY) {
            let sql = format!(
                "SELECT trace_id, max(version) FROM trace_summaries \
                 WHERE project_id = ? AND trace_id IN {} GROUP BY trace_id",
                id_list(chunk.iter().map(|t| t.as_u128()))
            );
            for v in ch
                .fetch::<TraceVersion>(ch.stmt(&sql).bind(&**project))
                .await?
            {
                if let Some(l) = out.get_mut(&(project.clone(), TraceId::from_u128(v.trace_id))) {
                    l.version = v.version;
                }
            }
        }
    }
    Ok(out)
}

#[derive(Row, Serialize)]
pub(super) struct RollupInsert<'a> {
    project_id: &'a str,
    minute_ns: i64,
    dims_id: u64,
    service_name: &'a str,
    agent_name: Option<&'a str>,
    caller: Option<&'a str>,
    model: Option<&'a str>,
    tool_name: Option<&'a str>,
    kind: u8,
    is_error: bool,
    span_count: i64,
    error_count: i64,
    duration_ns: i64,
    input_tokens: i64,
    output_tokens: i64,
    cache_read_tokens: i64,
    cache_write_tokens: i64,
    reasoning_tokens: i64,
    total_tokens: i64,
    cost_nano_usd: i64,
    priced: i64,
    latency_zero: i64,
    latency_bins: (Vec<i16>, Vec<i64>),
}

#[derive(Row, Serialize)]
pub(super) struct VersionInsert<'a> {
    project_id: &'a str,
    agent: &'a str,
    fingerprint: u64,
    tools: String,
    models: String,
    system_prompt_hash: Option<u64>,
    first_seen_ns: i64,
    last_seen_ns: i64,
    runs: i64,
}

/// What a set of trace changes adds to the derived tables.
#[derive(Default)]
pub(super) struct Derived {
    pub rollups: RollupDeltas,
    pub versions: VersionDeltas,
}

impl Derived {
    /// Inserts the rollup and agent-version deltas (each table with its own token).
    pub async fn insert(self, ch: &Ch, token: &str) -> Result<()> {
        let rollups = self.rollups.into_rows();
        let rows: Vec<RollupInsert> = rollups
            .iter()
            .map(|(k, a)| {
                let (zero, bins) = a.latency.parts();
                RollupInsert {
                    project_id: &k.project_id,
                    minute_ns: k.minute_ns,
                    dims_id: k.dims_id(),
                    service_name: &k.service_name,
                    agent_name: k.agent_name.as_deref(),
                    caller: k.caller.as_deref(),
                    model: k.model.as_deref(),
                    tool_name: k.tool_name.as_deref(),
                    kind: k.kind.code(),
                    is_error: k.is_error,
                    span_count: a.count,
                    error_count: a.errors,
                    duration_ns: a.duration_ns,
                    input_tokens: a.tokens[0],
                    output_tokens: a.tokens[1],
                    cache_read_tokens: a.tokens[2],
                    cache_write_tokens: a.tokens[3],
                    reasoning_tokens: a.tokens[4],
                    total_tokens: a.tokens[5],
                    cost_nano_usd: a.cost_nano_usd,
                    priced: a.priced,
                    latency_zero: zero,
                    latency_bins: bins.iter().copied().unzip(),
                }
            })
            .collect();
        ch.insert::<RollupInsert>("rollup_deltas", &rows, Some(&format!("{token}-rollups")))
            .await?;
        let versions = self.versions.into_rows();
        let rows: Vec<VersionInsert> = versions
            .iter()
            .map(|((project, agent, fingerprint), r)| VersionInsert {
                project_id: project,
                agent,
                fingerprint: *fingerprint,
                tools: serde_json::to_string(&r.version.tools).unwrap_or_else(|_| "[]".into()),
                models: serde_json::to_string(&r.version.models).unwrap_or_else(|_| "[]".into()),
                system_prompt_hash: r.version.system_prompt_hash,
                first_seen_ns: r.first_seen_ns,
                last_seen_ns: r.last_seen_ns,
                runs: r.runs,
            })
            .collect();
        ch.insert::<VersionInsert>("agent_versions", &rows, Some(&format!("{token}-versions")))
            .await
    }
}

/// The next summary version of a trace: after the stored one, and the time otherwise (so
/// versions written by different processes still order).
fn next_version(stored: i64) -> i64 {
    spyglass_model::now_ns().max(stored + 1)
}

impl Writer {
    /// Writes a batch; `token` names the delivery (the same for a redelivery of it).
    pub async fn write(
        &mut self,
        ch: &Ch,
        batch: &Batch,
        token: &str,
        ttl: &(dyn Fn(&str) -> u16 + Sync),
    ) -> Result<()> {
        if batch.spans.is_empty() && batch.findings.is_empty() {
            return Ok(());
        }
        let mut touched: BTreeMap<Arc<str>, Vec<TraceId>> = BTreeMap::new();
        for s in &batch.spans {
            let v = touched.entry(s.project_id.clone()).or_default();
            if !v.contains(&s.trace_id) {
                v.push(s.trace_id);
            }
        }
        let mut loaded = load(ch, &touched).await?;
        let mut derived = Derived::default();
        let mut before = HashMap::with_capacity(loaded.len());
        for (k, l) in &loaded {
            before.insert(
                k.clone(),
                (derive(&k.0, &l.state), versions::runs(&l.state)),
            );
        }
        for s in &batch.spans {
            let l = loaded
                .get_mut(&(s.project_id.clone(), s.trace_id))
                .expect("every touched trace is loaded");
            l.state.apply(s.span_id, Contribution::of(s));
        }
        let mut summaries = Vec::with_capacity(loaded.len());
        for (k, l) in &loaded {
            let (rollups_before, runs_before) = before.remove(k).expect("recorded above");
            derived
                .rollups
                .change(rollups_before, &derive(&k.0, &l.state));
            derived
                .versions
                .change(&k.0, runs_before, &versions::runs(&l.state));
            summaries.push(SummaryInsert::of(
                &k.0,
                k.1,
                &l.state,
                next_version(l.version),
                ttl(&k.0),
            ));
        }

        let findings: Vec<FindingRow> = batch.findings.iter().map(FindingRow::of).collect();
        ch.insert::<FindingRow>("findings", &findings, Some(&format!("{token}-findings")))
            .await?;
        let links: Vec<LinkInsert> = batch
            .spans
            .iter()
            .flat_map(|s| {
                s.links.iter().map(move |l| LinkInsert {
                    project_id: &s.project_id,
                    trace_id: s.trace_id.as_u128(),
                    span_id: s.span_id.as_u64(),
                    linked_trace_id: l.trace_id.as_u128(),
                    linked_span_id: l.span_id.as_u64(),
                    start_ns: s.start_ns,
                })
            })
            .collect();
        ch.insert::<LinkInsert>("span_links", &links, Some(&format!("{token}-links")))
            .await?;
        derived.insert(ch, token).await?;
        ch.insert::<SummaryInsert>(
            "trace_summaries",
            &summaries,
            Some(&format!("{token}-summaries")),
        )
        .await?;
        let spans: Vec<SpanInsert> = batch
            .spans
            .iter()
            .map(|s| SpanInsert::of(s, ttl(&s.project_id)))
            .collect();
        ch.insert::<SpanInsert>("spans", &spans, Some(&format!("{token}-spans")))
            .await
    }

    /// Re-prices the stored LLM and embedding spans of `[from_ns, to_ns)` in place (a
    /// mutation per chunk of traces), then writes the summaries and rollup deltas of the
    /// traces whose costs changed.
    pub async fn recompute_costs(
        &mut self,
        ch: &Ch,
        project: &str,
        from_ns: i64,
        to_ns: i64,
        price: PriceFn,
        ttl: &(dyn Fn(&str) -> u16 + Sync),
    ) -> Result<RecomputeReport> {
        #[derive(Row, Deserialize)]
        struct Id {
            trace_id: u128,
        }
        let sql = format!(
            "SELECT DISTINCT trace_id FROM spans WHERE project_id = ? AND start_ns >= ? \
             AND start_ns < ? AND kind IN ('{}', '{}')",
            SpanKind::Llm.as_str(),
            SpanKind::Embedding.as_str()
        );
        let traces: Vec<TraceId> = ch
            .fetch::<Id>(ch.stmt(&sql).bind(project).bind(from_ns).bind(to_ns))
            .await?
            .into_iter()
            .map(|r| TraceId::from_u128(r.trace_id))
            .collect();
        let mut report = RecomputeReport::default();
        let p: Arc<str> = Arc::from(project);
        for chunk in traces.chunks(IDS_PER_QUERY) {
            let touched = BTreeMap::from([(p.clone(), chunk.to_vec())]);
            let loaded = load(ch, &touched).await?;
            let mut spans = latest_spans(ch, project, chunk).await?;
            spans.retain(|s| {
                matches!(s.kind, SpanKind::Llm | SpanKind::Embedding)
                    && s.start_ns >= from_ns
                    && s.start_ns < to_ns
            });
            report.spans_examined += spans.len() as u64;
            let old: Vec<_> = spans.iter().map(|s| (s.cost_usd, s.cost_source)).collect();
            price(&mut spans);
            let changed: Vec<&Span> = spans
                .iter()
                .zip(&old)
                .filter(|(s, (c, src))| s.cost_usd != *c || s.cost_source != *src)
                .map(|(s, _)| s)
                .collect();
            if changed.is_empty() {
                continue;
            }
            report.spans_changed += changed.len() as u64;
            // Every stored version of a changed span gets the new cost, so whichever version
            // a read picks agrees.
            let ids = id_list(changed.iter().map(|s| s.span_id.as_u64()));
            let costs = format!(
                "[{}]",
                changed
                    .iter()
                    .map(|s| s.cost_usd.map_or("NULL".to_string(), |c| format!("{c:?}")))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let sources = format!(
                "[{}]",
                changed
                    .iter()
                    .map(|s| s
                        .cost_source
                        .map_or("NULL".to_string(), |c| c.code().to_string()))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let keys = format!(
                "[{}]",
                changed
                    .iter()
                    .map(|s| format!(
                        "({}, toUInt64({}))",
                        trace_lit(s.trace_id),
                        s.span_id.as_u64()
                    ))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            let traces_changed = id_list(changed.iter().map(|s| s.trace_id.as_u128()));
            let sql = format!(
                "ALTER TABLE spans UPDATE \
                 cost_usd = CAST(arrayElement(CAST({costs}, 'Array(Nullable(Float64))'), indexOf({keys}, (trace_id, span_id))), 'Nullable(Float64)'), \
                 cost_source = CAST(arrayElement(CAST({sources}, 'Array(Nullable(UInt8))'), indexOf({keys}, (trace_id, span_id))), 'Nullable(UInt8)') \
                 WHERE project_id = ? AND trace_id IN {traces_changed} AND span_id IN {ids} \
                 AND has({keys}, (trace_id, span_id))"
            );
            ch.exec(
                ch.stmt(&sql)
                    .bind(project)
                    .with_setting("mutations_sync", "2"),
            )
            .await?;
            // Fold the new costs into the traces' states and write what changed.
            let mut derived = Derived::default();
            let mut summaries = Vec::new();
            let by_trace: HashMap<TraceId, Vec<&Span>> =
                changed.iter().fold(HashMap::new(), |mut m, s| {
                    m.entry(s.trace_id).or_insert_with(Vec::new).push(s);
                    m
                });
            for (t, spans) in by_trace {
                let Some(l) = loaded.get(&(p.clone(), t)) else {
                    continue;
                };
                let mut state = l.state.clone();
                let rollups_before = derive(&p, &state);
                for s in spans {
                    state.replace(s.span_id, Contribution::of(s));
                }
                derived.rollups.change(rollups_before, &derive(&p, &state));
                summaries.push(SummaryInsert::of(
                    &p,
                    t,
                    &state,
                    next_version(l.version),
                    ttl(&p),
                ));
                report.traces_touched += 1;
            }
            derived
                .insert(ch, &format!("recompute-{}", spyglass_model::now_ns()))
                .await?;
            ch.insert::<SummaryInsert>("trace_summaries", &summaries, None)
                .await?;
        }
        Ok(report)
    }
}
