//! Everything besides spans: alert rules and events, price overrides, auth records, the audit
//! log; and the whole-store operations: stats, retention, deletion, export, compaction.
//!
//! Replace-by-key tables (alert rules, price overrides, auth records) are ReplacingMergeTrees:
//! a put inserts a row stamped later than any before it from this process, a delete inserts a
//! tombstone, and reads keep the latest row of each key (`LIMIT 1 BY`) before dropping
//! tombstones, so they are right whether or not ClickHouse has merged yet.
//!
//! Retention and deletion remove rows with synchronous mutations (`mutations_sync = 2`), so
//! what they removed is gone from every query when they return.

use super::client::{Ch, id_list};
use super::rows::{FINDING_COLUMNS, FindingRow, LATEST_SPAN, SPAN_COLUMNS, SpanRow};
use crate::archive::{ExportSpec, ExportedFile, Selection};
use crate::summary::{Contribution, TraceState};
use crate::{Batch, Result, RetentionReport, Store, StoreError, StoreStats};
use clickhouse::Row;
use serde::{Deserialize, Serialize};
use spyglass_model::TraceId;
use spyglass_model::alert::{AlertEvent, AlertRule};
use spyglass_model::audit::{AuditEntry, DeleteTarget, DeletionReport};
use spyglass_model::auth::{AuthKind, AuthRecord};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Trace ids per `IN (...)` list (a query's text is limited to 256 KiB by default).
const IDS_PER_QUERY: usize = 2_000;

/// Spans per batch written to the scratch store of an export.
const EXPORT_BATCH_SPANS: usize = 5_000;

/// The stamp of a replace-by-key row: the time, but always after the previous stamp of this
/// process, so two writes in the same nanosecond still order.
fn stamp() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = spyglass_model::now_ns();
    let prev = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
            Some(now.max(l.saturating_add(1)))
        })
        .expect("the update always succeeds");
    now.max(prev.saturating_add(1))
}

fn json<T: Serialize>(v: &T) -> Result<String> {
    serde_json::to_string(v).map_err(|e| StoreError::Database(e.to_string()))
}

fn parse<T: serde::de::DeserializeOwned>(column: &'static str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        column,
        message: e.to_string(),
    })
}

/// One text column.
#[derive(Row, Deserialize)]
struct Text {
    text: String,
}

/// One count.
#[derive(Row, Deserialize)]
struct Count {
    n: u64,
}

/// One trace id.
#[derive(Row, Deserialize)]
struct TraceRow {
    trace_id: u128,
}

async fn count(ch: &Ch, q: clickhouse::query::Query) -> Result<u64> {
    Ok(ch.fetch::<Count>(q).await?.first().map_or(0, |c| c.n))
}

/// A synchronous mutation deleting the rows of `table` that `condition` (binding the project
/// once) selects.
async fn delete_rows(ch: &Ch, table: &str, condition: &str, project: &str) -> Result<()> {
    ch.exec(
        ch.stmt(&format!("ALTER TABLE {table} DELETE WHERE {condition}"))
            .bind(project)
            .with_setting("mutations_sync", "2"),
    )
    .await
}

// ---------------------------------------------------------------------------------------------
// Alert rules and events.

#[derive(Row, Serialize)]
struct RuleInsert {
    project_id: String,
    id: String,
    rule: String,
    updated_ns: i64,
    deleted: u8,
}

/// The latest row of each rule (tombstones included).
const LATEST_RULES: &str = "SELECT project_id, id, rule, deleted FROM alert_rules";
const LATEST_RULES_TAIL: &str = "ORDER BY updated_ns DESC LIMIT 1 BY project_id, id";

pub async fn alert_rules(ch: &Ch, project: Option<&str>) -> Result<Vec<AlertRule>> {
    let texts = match project {
        Some(p) => {
            let sql = format!(
                "SELECT rule FROM ({LATEST_RULES} WHERE project_id = ? {LATEST_RULES_TAIL}) \
                 WHERE deleted = 0 ORDER BY project_id, id"
            );
            ch.fetch::<Text>(ch.read(&sql).bind(p)).await?
        }
        None => {
            let sql = format!(
                "SELECT rule FROM ({LATEST_RULES} {LATEST_RULES_TAIL}) \
                 WHERE deleted = 0 ORDER BY project_id, id"
            );
            ch.fetch::<Text>(ch.read(&sql)).await?
        }
    };
    texts
        .iter()
        .map(|t| parse("alert_rules.rule", &t.text))
        .collect()
}

pub async fn put_alert_rule(ch: &Ch, rule: &AlertRule) -> Result<()> {
    let row = RuleInsert {
        project_id: rule.project_id.clone(),
        id: rule.id.clone(),
        rule: json(rule)?,
        updated_ns: stamp(),
        deleted: 0,
    };
    ch.insert::<RuleInsert>("alert_rules", &[row], None).await
}

pub async fn delete_alert_rule(ch: &Ch, project: &str, id: &str) -> Result<bool> {
    let live = count(
        ch,
        ch.stmt(
            "SELECT toUInt64(count()) FROM (SELECT deleted FROM alert_rules \
             WHERE project_id = ? AND id = ? ORDER BY updated_ns DESC LIMIT 1) WHERE deleted = 0",
        )
        .bind(project)
        .bind(id),
    )
    .await?
        > 0;
    if live {
        let row = RuleInsert {
            project_id: project.to_string(),
            id: id.to_string(),
            rule: String::new(),
            updated_ns: stamp(),
            deleted: 1,
        };
        ch.insert::<RuleInsert>("alert_rules", &[row], None).await?;
    }
    Ok(live)
}

#[derive(Row, Serialize)]
struct EventInsert {
    project_id: String,
    id: String,
    rule_id: String,
    time_ns: i64,
    event: String,
}

pub async fn record_alert_event(ch: &Ch, event: &AlertEvent) -> Result<()> {
    let row = EventInsert {
        project_id: event.project_id.clone(),
        id: event.id.clone(),
        rule_id: event.rule_id.clone(),
        time_ns: event.time_ns,
        event: json(event)?,
    };
    ch.insert::<EventInsert>("alert_events", &[row], None).await
}

pub async fn alert_events(
    ch: &Ch,
    project: &str,
    rule_id: Option<&str>,
    before_ns: Option<i64>,
    limit: u32,
) -> Result<Vec<AlertEvent>> {
    let limit = limit.clamp(1, spyglass_model::query::MAX_LIMIT);
    let before = before_ns.unwrap_or(i64::MAX);
    let rule_filter = if rule_id.is_some() {
        "AND rule_id = ?"
    } else {
        ""
    };
    let sql = format!(
        "SELECT event FROM alert_events WHERE project_id = ? {rule_filter} AND time_ns < ? \
         ORDER BY time_ns DESC, id DESC LIMIT {limit}"
    );
    let mut q = ch.read(&sql).bind(project);
    if let Some(r) = rule_id {
        q = q.bind(r);
    }
    let texts = ch.fetch::<Text>(q.bind(before)).await?;
    texts
        .iter()
        .map(|t| parse("alert_events.event", &t.text))
        .collect()
}

pub async fn latest_alert_events(ch: &Ch) -> Result<Vec<AlertEvent>> {
    let texts = ch
        .fetch::<Text>(ch.read(
            "SELECT event FROM alert_events \
             ORDER BY time_ns DESC, id DESC LIMIT 1 BY project_id, rule_id",
        ))
        .await?;
    texts
        .iter()
        .map(|t| parse("alert_events.event", &t.text))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Price overrides.

#[derive(Row, Serialize, Deserialize)]
struct OverridesRow {
    project_id: String,
    overrides: Option<String>,
}

#[derive(Row, Serialize)]
struct OverridesInsert {
    project_id: String,
    overrides: Option<String>,
    updated_ns: i64,
}

pub async fn price_overrides(ch: &Ch) -> Result<Vec<(String, String)>> {
    let rows = ch
        .fetch::<OverridesRow>(ch.read(
            "SELECT project_id, overrides FROM (SELECT project_id, overrides FROM price_overrides \
             ORDER BY updated_ns DESC LIMIT 1 BY project_id) \
             WHERE overrides IS NOT NULL ORDER BY project_id",
        ))
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| r.overrides.map(|o| (r.project_id, o)))
        .collect())
}

pub async fn put_price_overrides(ch: &Ch, project: &str, json: Option<&str>) -> Result<()> {
    let row = OverridesInsert {
        project_id: project.to_string(),
        overrides: json.map(str::to_string),
        updated_ns: stamp(),
    };
    ch.insert::<OverridesInsert>("price_overrides", &[row], None)
        .await
}

// ---------------------------------------------------------------------------------------------
// Stats, retention, projects.

#[derive(Row, Deserialize)]
struct StatsRow {
    span_rows: u64,
    trace_count: u64,
    disk_bytes: u64,
}

pub async fn stats(ch: &Ch) -> Result<StoreStats> {
    let rows = ch
        .fetch::<StatsRow>(
            ch.read(
                // Scalar subqueries are Nullable: each is made plain.
                "SELECT toUInt64(ifNull((SELECT count() FROM spans), 0)), \
                 toUInt64(ifNull((SELECT uniqExact(project_id, trace_id) FROM trace_summaries), 0)), \
                 toUInt64(ifNull((SELECT sum(bytes_on_disk) FROM system.parts \
                  WHERE database = ? AND active), 0))",
            )
            .bind(&ch.db),
        )
        .await?;
    let r = rows
        .first()
        .ok_or_else(|| StoreError::Database("no stats row".into()))?;
    Ok(StoreStats {
        span_rows: r.span_rows as i64,
        trace_count: r.trace_count as i64,
        disk_bytes: r.disk_bytes,
    })
}

/// Deletes the project's traces whose every span started before `cutoff_ns` (spans, links,
/// findings and summaries), and its rollup minutes, agent-version rows and alert events
/// before it.
pub async fn apply_retention(ch: &Ch, project: &str, cutoff_ns: i64) -> Result<RetentionReport> {
    let expired: Vec<u128> = ch
        .fetch::<TraceRow>(
            ch.stmt(
                "SELECT trace_id FROM trace_summaries WHERE project_id = ? \
                 GROUP BY trace_id HAVING max(max_start_ns) < ?",
            )
            .bind(project)
            .bind(cutoff_ns),
        )
        .await?
        .into_iter()
        .map(|r| r.trace_id)
        .collect();
    let mut report = RetentionReport {
        traces: expired.len() as u64,
        ..RetentionReport::default()
    };
    for chunk in expired.chunks(IDS_PER_QUERY) {
        let of_traces = format!("project_id = ? AND trace_id IN {}", id_list(chunk));
        report.spans += count(
            ch,
            ch.stmt(&format!(
                "SELECT toUInt64(count()) FROM spans WHERE {of_traces}"
            ))
            .bind(project),
        )
        .await?;
        // Summaries last: a pass that failed halfway finds the traces again.
        for table in ["span_links", "findings", "spans", "trace_summaries"] {
            delete_rows(ch, table, &of_traces, project).await?;
        }
    }
    let minute = cutoff_ns.div_euclid(crate::rollup::MINUTE_NS) * crate::rollup::MINUTE_NS;
    for (table, condition) in [
        ("rollups_minute", format!("minute_ns < {minute}")),
        ("agent_versions", format!("last_seen_ns < {cutoff_ns}")),
        ("alert_events", format!("time_ns < {cutoff_ns}")),
    ] {
        let condition = format!("project_id = ? AND {condition}");
        let n = count(
            ch,
            ch.stmt(&format!(
                "SELECT toUInt64(count()) FROM {table} WHERE {condition}"
            ))
            .bind(project),
        )
        .await?;
        if n > 0 {
            delete_rows(ch, table, &condition, project).await?;
        }
        if table == "rollups_minute" {
            report.rollup_rows = n;
        }
    }
    Ok(report)
}

/// Every project with stored traces.
pub async fn projects(ch: &Ch) -> Result<Vec<String>> {
    Ok(ch
        .fetch::<Text>(ch.read("SELECT DISTINCT project_id FROM trace_summaries ORDER BY 1"))
        .await?
        .into_iter()
        .map(|t| t.text)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Export.

/// Writes the selected spans (latest versions) with their findings under
/// `dir/project=<id>/day=<YYYY-MM-DD>/`, and lists the files written.
///
/// The files are written by the same code as the DuckDB backend's export, so they are the same
/// column for column: the selected latest span versions and the findings of their traces are
/// copied from ClickHouse into a scratch DuckDB store (in a temporary directory under `dir`),
/// which then exports them.
pub async fn export(
    ch: &Ch,
    spec: &ExportSpec,
    dir: &std::path::Path,
) -> Result<Vec<ExportedFile>> {
    let selection = match spec.selection {
        Selection::Started { from_ns, to_ns } => {
            format!("start_ns >= {from_ns} AND start_ns < {to_ns}")
        }
        Selection::Expiring { cutoff_ns } => format!(
            "trace_id IN (SELECT trace_id FROM trace_summaries WHERE project_id = ? \
             GROUP BY trace_id HAVING max(max_start_ns) < {cutoff_ns})"
        ),
    };
    let sql = format!(
        "SELECT {SPAN_COLUMNS} FROM spans WHERE project_id = ? AND {selection} {LATEST_SPAN}"
    );
    let mut q = ch.stmt(&sql).bind(spec.project.as_str());
    if matches!(spec.selection, Selection::Expiring { .. }) {
        q = q.bind(spec.project.as_str());
    }
    let mut cursor = q.fetch::<SpanRow>().map_err(super::client::error)?;

    std::fs::create_dir_all(dir)?;
    let mut scratch: Option<(tempfile::TempDir, crate::duckdb::DuckDbStore)> = None;
    let mut bounds: Option<(i64, i64)> = None;
    let mut pending: Vec<spyglass_model::Span> = Vec::new();
    loop {
        let row = cursor.next().await.map_err(super::client::error)?;
        let flush = match (&row, pending.last()) {
            (None, _) => !pending.is_empty(),
            // Whole traces per batch (the rows come ordered by trace).
            (Some(r), Some(last)) => {
                pending.len() >= EXPORT_BATCH_SPANS && r.trace_id != last.trace_id.as_u128()
            }
            (Some(_), None) => false,
        };
        if flush {
            let spans = std::mem::take(&mut pending);
            let store = match &scratch {
                Some((_, s)) => s,
                None => {
                    let tmp = tempfile::Builder::new()
                        .prefix(".spyglass-export-")
                        .tempdir_in(dir)?;
                    let path = tmp.path().to_path_buf();
                    let store = tokio::task::spawn_blocking(move || {
                        crate::duckdb::DuckDbStore::open(&path, &scratch_config())
                    })
                    .await
                    .map_err(|e| StoreError::Database(format!("export task failed: {e}")))??;
                    &scratch.insert((tmp, store)).1
                }
            };
            let findings = export_findings(ch, &spec.project, &spans).await?;
            store.write(Arc::new(Batch { spans, findings })).await?;
        }
        let Some(row) = row else { break };
        let span = row.into_span()?;
        bounds = Some(match bounds {
            None => (span.start_ns, span.start_ns),
            Some((lo, hi)) => (lo.min(span.start_ns), hi.max(span.start_ns)),
        });
        pending.push(span);
    }
    let (Some((_tmp, store)), Some((lo, hi))) = (scratch, bounds) else {
        return Ok(Vec::new());
    };
    let files = store
        .export(
            &ExportSpec {
                project: spec.project.clone(),
                selection: Selection::Started {
                    from_ns: lo,
                    to_ns: hi.saturating_add(1),
                },
                format: spec.format,
            },
            dir,
        )
        .await;
    tokio::task::spawn_blocking(move || store.close())
        .await
        .map_err(|e| StoreError::Database(format!("export task failed: {e}")))?;
    files
}

/// The scratch store of an export: small, one thread.
fn scratch_config() -> crate::duckdb::DuckDbConfig {
    crate::duckdb::DuckDbConfig {
        memory_limit: "512MB".into(),
        threads: 1,
        readers: 1,
        writers: 1,
        group_commit_linger_ms: 0,
        summary_cache_spans: 50_000,
        ..Default::default()
    }
}

/// The findings of the traces of `spans` (latest version of each).
async fn export_findings(
    ch: &Ch,
    project: &str,
    spans: &[spyglass_model::Span],
) -> Result<Vec<spyglass_model::SpanFinding>> {
    let mut traces: Vec<u128> = spans.iter().map(|s| s.trace_id.as_u128()).collect();
    traces.dedup();
    let mut out = Vec::new();
    for chunk in traces.chunks(IDS_PER_QUERY) {
        let sql = format!(
            "SELECT {FINDING_COLUMNS} FROM findings WHERE project_id = ? AND trace_id IN {} \
             ORDER BY id, received_ns DESC LIMIT 1 BY id",
            id_list(chunk)
        );
        for r in ch.fetch::<FindingRow>(ch.stmt(&sql).bind(project)).await? {
            out.push(r.into_finding()?);
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Deletion on request.

#[derive(Row, Deserialize)]
struct TraceVersion {
    trace_id: u128,
    version: i64,
}

/// The traces a target names (any version of their summary, or any span version, matching).
async fn traces_of(ch: &Ch, project: &str, target: &DeleteTarget) -> Result<Vec<TraceId>> {
    let (col, value) = match target {
        DeleteTarget::Trace(t) => return Ok(vec![*t]),
        DeleteTarget::Session(s) => ("session_id", s.as_str()),
        DeleteTarget::User(u) => ("user_id", u.as_str()),
    };
    let sql = format!(
        "SELECT DISTINCT trace_id FROM (\
           SELECT trace_id FROM trace_summaries WHERE project_id = ? AND {col} = ? \
           UNION ALL SELECT trace_id FROM spans WHERE project_id = ? AND {col} = ?) \
         ORDER BY trace_id"
    );
    Ok(ch
        .fetch::<TraceRow>(
            ch.stmt(&sql)
                .bind(project)
                .bind(value)
                .bind(project)
                .bind(value),
        )
        .await?
        .into_iter()
        .map(|r| TraceId::from_u128(r.trace_id))
        .collect())
}

/// Deletes the traces a target names: every span, link, finding and summary of theirs, with
/// their contributions taken out of the rollups and agent versions.
///
/// The negative deltas go first, under a token derived from the traces and their summary
/// versions, and the rows after (summaries last): a deletion retried after a failure finds the
/// same traces in the same state, so its deltas are dropped as duplicates.
pub async fn delete(ch: &Ch, project: &str, target: &DeleteTarget) -> Result<DeletionReport> {
    let traces = traces_of(ch, project, target).await?;
    let project_id: Arc<str> = project.into();
    let mut report = DeletionReport::default();
    for chunk in traces.chunks(IDS_PER_QUERY) {
        let mut states: HashMap<TraceId, TraceState> = HashMap::new();
        for s in super::write::latest_spans(ch, project, chunk).await? {
            states
                .entry(s.trace_id)
                .or_default()
                .apply(s.span_id, Contribution::of(&s));
        }
        // The traces with spans, in a stable order.
        let owned: Vec<TraceId> = chunk
            .iter()
            .copied()
            .filter(|t| states.get(t).is_some_and(|s| !s.is_empty()))
            .collect();
        if owned.is_empty() {
            continue;
        }
        let ids = id_list(owned.iter().map(|t| t.as_u128()));
        let versions: HashMap<u128, i64> = ch
            .fetch::<TraceVersion>(
                ch.stmt(&format!(
                    "SELECT trace_id, max(version) FROM trace_summaries \
                     WHERE project_id = ? AND trace_id IN {ids} GROUP BY trace_id"
                ))
                .bind(project),
            )
            .await?
            .into_iter()
            .map(|v| (v.trace_id, v.version))
            .collect();
        let mut token = crate::versions::Fnv::default();
        token.field(b"delete");
        token.field(project.as_bytes());
        let mut derived = super::write::Derived::default();
        for t in &owned {
            let state = &states[t];
            derived.rollups.change(
                crate::rollup::derive(&project_id, state),
                &crate::rollup::Derived::default(),
            );
            derived.versions.change(
                &project_id,
                crate::versions::runs(state),
                &crate::versions::Runs::default(),
            );
            token.bytes(&t.as_u128().to_le_bytes());
            token.bytes(
                &versions
                    .get(&t.as_u128())
                    .copied()
                    .unwrap_or(0)
                    .to_le_bytes(),
            );
            token.bytes(&(state.len() as u64).to_le_bytes());
            token.bytes(&state.last_received_ns.to_le_bytes());
        }
        let token = format!("delete-{:016x}-{}", token.finish(), owned.len());
        derived.insert(ch, &token).await?;

        let of_traces = format!("project_id = ? AND trace_id IN {ids}");
        report.spans += count(
            ch,
            ch.stmt(&format!(
                "SELECT toUInt64(count()) FROM spans WHERE {of_traces}"
            ))
            .bind(project),
        )
        .await?;
        for table in ["span_links", "findings", "spans", "trace_summaries"] {
            delete_rows(ch, table, &of_traces, project).await?;
        }
        report.traces += owned.len() as u64;
    }
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// Auth records.

#[derive(Row, Serialize)]
struct AuthInsert {
    kind: String,
    id: String,
    body: String,
    updated_ns: i64,
    deleted: u8,
}

pub async fn auth_records(ch: &Ch) -> Result<Vec<AuthRecord>> {
    let texts = ch
        .fetch::<Text>(ch.read(
            "SELECT body FROM (SELECT kind, id, body, deleted FROM auth_records \
             ORDER BY updated_ns DESC LIMIT 1 BY kind, id) \
             WHERE deleted = 0 ORDER BY kind, id",
        ))
        .await?;
    texts
        .iter()
        .map(|t| parse("auth_records.body", &t.text))
        .collect()
}

pub async fn put_auth_record(ch: &Ch, record: &AuthRecord) -> Result<()> {
    let row = AuthInsert {
        kind: record.kind().as_str().to_string(),
        id: record.id().to_string(),
        body: json(record)?,
        updated_ns: stamp(),
        deleted: 0,
    };
    ch.insert::<AuthInsert>("auth_records", &[row], None).await
}

pub async fn delete_auth_record(ch: &Ch, kind: AuthKind, id: &str) -> Result<bool> {
    let live = count(
        ch,
        ch.stmt(
            "SELECT toUInt64(count()) FROM (SELECT deleted FROM auth_records \
             WHERE kind = ? AND id = ? ORDER BY updated_ns DESC LIMIT 1) WHERE deleted = 0",
        )
        .bind(kind.as_str())
        .bind(id),
    )
    .await?
        > 0;
    if live {
        let row = AuthInsert {
            kind: kind.as_str().to_string(),
            id: id.to_string(),
            body: String::new(),
            updated_ns: stamp(),
            deleted: 1,
        };
        ch.insert::<AuthInsert>("auth_records", &[row], None)
            .await?;
    }
    Ok(live)
}

// ---------------------------------------------------------------------------------------------
// The audit log.

#[derive(Row, Serialize, Deserialize)]
struct AuditRow {
    project_id: String,
    time_ns: i64,
    actor: String,
    action: String,
    target: String,
    detail: String,
}

pub async fn record_audit(ch: &Ch, entry: &AuditEntry) -> Result<()> {
    let row = AuditRow {
        project_id: entry.project_id.clone(),
        time_ns: entry.time_ns,
        actor: entry.actor.clone(),
        action: entry.action.clone(),
        target: entry.target.clone(),
        detail: entry.detail.to_string(),
    };
    ch.insert::<AuditRow>("audit_log", &[row], None).await
}

pub async fn audit_log(
    ch: &Ch,
    project: &str,
    before_ns: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEntry>> {
    let limit = limit.clamp(1, spyglass_model::query::MAX_LIMIT);
    let sql = format!(
        "SELECT project_id, time_ns, actor, action, target, detail FROM audit_log \
         WHERE project_id = ? AND time_ns < ? ORDER BY time_ns DESC LIMIT {limit}"
    );
    let rows = ch
        .fetch::<AuditRow>(
            ch.read(&sql)
                .bind(project)
                .bind(before_ns.unwrap_or(i64::MAX)),
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            project_id: r.project_id,
            time_ns: r.time_ns,
            actor: r.actor,
            action: r.action,
            target: r.target,
            detail: serde_json::from_str(&r.detail).unwrap_or_default(),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Compaction.

/// Merges the replacing and aggregating tables down to one row per key (reads are the same
/// before and after).
pub async fn compact(ch: &Ch) -> Result<()> {
    for table in [
        "spans",
        "span_links",
        "trace_summaries",
        "findings",
        "rollups_minute",
        "alert_rules",
        "price_overrides",
        "auth_records",
    ] {
        ch.exec(ch.stmt(&format!("OPTIMIZE TABLE {table} FINAL")))
            .await?;
    }
    Ok(())
}
