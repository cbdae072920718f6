//! Deletion on request: the traces of a trace id, a session or a user, gone from every query at
//! once. Runs on the writer threads (each deletes the traces it owns, between its commits),
//! taking each trace's contribution out of the rollups and agent versions in the same
//! transaction, and forgetting it from the cache. The audit log is here too.

use super::arrow::uuid_text;
use super::writer::{Writer, load_state};
use crate::rollup::{Derived, RollupDeltas, derive};
use crate::versions::{Runs, VersionDeltas, runs};
use crate::{Result, StoreError};
use duckdb::{Connection, params};
use spyglass_model::TraceId;
use spyglass_model::audit::{AuditEntry, DeleteTarget, DeletionReport};
use std::sync::Arc;

/// The traces a target names (any version of their summary matching).
pub fn traces_of(conn: &Connection, project: &str, target: &DeleteTarget) -> Result<Vec<TraceId>> {
    let (col, value) = match target {
        DeleteTarget::Trace(t) => return Ok(vec![*t]),
        DeleteTarget::Session(s) => ("session_id", s.clone()),
        DeleteTarget::User(u) => ("user_id", u.clone()),
    };
    let mut stmt = conn.prepare(&format!(
        "SELECT DISTINCT replace(trace_id::VARCHAR, '-', '') FROM trace_summaries \
         WHERE project_id = ? AND {col} = ? \
         UNION SELECT DISTINCT replace(trace_id::VARCHAR, '-', '') FROM spans \
         WHERE project_id = ? AND {col} = ?"
    ))?;
    let rows = stmt.query_map(params![project, value, project, value], |r| {
        r.get::<_, String>(0)
    })?;
    rows.map(|r| {
        let hex = r?;
        hex.parse().map_err(|e| StoreError::Corrupt {
            column: "trace_id",
            message: format!("{e}"),
        })
    })
    .collect()
}

impl Writer {
    /// Deletes the given traces this writer owns.
    pub fn delete_traces(&mut self, project: &str, traces: &[TraceId]) -> Result<DeletionReport> {
        let owned: Vec<TraceId> = traces
            .iter()
            .copied()
            .filter(|t| self.partition.owns(*t))
            .collect();
        if owned.is_empty() {
            return Ok(DeletionReport::default());
        }
        let project_id: Arc<str> = project.into();
        let mut rollups = RollupDeltas::default();
        let mut versions = VersionDeltas::default();
        let mut report = DeletionReport::default();
        let conn = &self.conn;
        let cache = &mut self.cache;
        let result = super::in_transaction(conn, || {
            for t in &owned {
                let state = match cache.get_mut(project, *t) {
                    Some(e) => std::mem::take(&mut e.state),
                    None => load_state(conn, project, *t)?,
                };
                if state.is_empty() {
                    continue;
                }
                rollups.change(derive(&project_id, &state), &Derived::default());
                versions.change(&project_id, runs(&state), &Runs::default());
                let id = uuid_text(*t);
                report.spans += conn.execute(
                    "DELETE FROM spans WHERE project_id = ? AND trace_id = ?::UUID",
                    params![project, id],
                )? as u64;
                for table in ["span_links", "findings", "trace_summaries"] {
                    conn.execute(
                        &format!("DELETE FROM {table} WHERE project_id = ? AND trace_id = ?::UUID"),
                        params![project, id],
                    )?;
                }
                report.traces += 1;
            }
            super::rollups::append(conn, std::mem::take(&mut rollups))?;
            super::versions::append(conn, std::mem::take(&mut versions))?;
            Ok(())
        });
        // Whether it committed or not, the cache must not keep what it took out.
        for t in &owned {
            self.cache.remove(project, *t);
        }
        result.map(|()| report)
    }
}

pub fn record(conn: &Connection, e: &AuditEntry) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?)",
        params![
            e.project_id,
            e.time_ns,
            e.actor,
            e.action,
            e.target,
            e.detail.to_string()
        ],
    )?;
    Ok(())
}

pub fn list(
    conn: &Connection,
    project: &str,
    before_ns: Option<i64>,
    limit: u32,
) -> Result<Vec<AuditEntry>> {
    let limit = limit.clamp(1, spyglass_model::query::MAX_LIMIT);
    let mut stmt = conn.prepare(&format!(
        "SELECT project_id, time_ns, actor, action, target, detail FROM audit_log \
         WHERE project_id = ? AND time_ns < ? ORDER BY time_ns DESC LIMIT {limit}"
    ))?;
    let rows = stmt.query_map(params![project, before_ns.unwrap_or(i64::MAX)], |r| {
        Ok(AuditEntry {
            project_id: r.get(0)?,
            time_ns: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            target: r.get(4)?,
            detail: serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default(),
        })
    })?;
    Ok(rows.collect::<duckdb::Result<_>>()?)
}
