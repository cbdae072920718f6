//! The `agent_versions` table: appending a commit's rows, merging them, and an agent's history.
//!
//! `runs` is exact (each agent span counts once, in the version of what ran in it, see
//! `crate::versions`). `first_seen_ns` and `last_seen_ns` are the min and max over the rows
//! appended for a version, so they may still include a run that has since moved to another
//! version (a late span changed what it used): approximate in that case, never outside the
//! starts of runs that were seen with the version.

use crate::versions::{VersionDeltas, agent_version, history};
use crate::{Result, StoreError};
use duckdb::{Connection, params};
use spyglass_model::topology::AgentVersion;

/// Rows tolerated before they are merged (reads aggregate them either way).
pub const COMPACT_AFTER: u64 = 20_000;

/// Appends a commit's rows (in the caller's transaction); returns the rows written.
pub fn append(conn: &Connection, deltas: VersionDeltas) -> Result<usize> {
    if deltas.is_empty() {
        return Ok(0);
    }
    let rows = deltas.into_rows();
    if rows.is_empty() {
        return Ok(0);
    }
    let mut app = conn.appender("agent_versions")?;
    for ((project, agent, fingerprint), r) in &rows {
        app.append_row(params![
            &**project,
            agent,
            *fingerprint,
            json(&r.version.tools),
            json(&r.version.models),
            r.version.system_prompt_hash,
            r.first_seen_ns,
            r.last_seen_ns,
            r.runs,
        ])?;
    }
    app.flush()?;
    Ok(rows.len())
}

/// A list of names as JSON text (strings always serialize).
fn json(names: &[String]) -> String {
    serde_json::to_string(names).unwrap_or_else(|_| "[]".into())
}

/// Merges the rows of every (project, agent, fingerprint) into one, dropping those whose runs
/// net out, in one transaction; returns the row counts before and after.
pub fn compact(conn: &Connection) -> Result<(usize, usize)> {
    let run = || -> Result<(usize, usize)> {
        let before: i64 =
            conn.query_row("SELECT count(*) FROM agent_versions", [], |r| r.get(0))?;
        conn.execute_batch(
            "CREATE OR REPLACE TEMP TABLE agent_versions_merged AS \
             SELECT project_id, agent, fingerprint, any_value(tools) AS tools, \
             any_value(models) AS models, any_value(system_prompt_hash) AS system_prompt_hash, \
             min(first_seen_ns) AS first_seen_ns, max(last_seen_ns) AS last_seen_ns, \
             sum(runs)::BIGINT AS runs \
             FROM agent_versions GROUP BY project_id, agent, fingerprint HAVING sum(runs) <> 0; \
             DELETE FROM agent_versions; \
             INSERT INTO agent_versions SELECT * FROM agent_versions_merged; \
             DROP TABLE agent_versions_merged;",
        )?;
        let after: i64 = conn.query_row("SELECT count(*) FROM agent_versions", [], |r| r.get(0))?;
        Ok((before as usize, after as usize))
    };
    super::in_transaction(conn, run)
}

/// See `Store::agent_versions`.
pub fn agent_versions(conn: &Connection, project: &str, agent: &str) -> Result<Vec<AgentVersion>> {
    let mut stmt = conn.prepare(
        "SELECT fingerprint, any_value(tools), any_value(models), any_value(system_prompt_hash), \
         min(first_seen_ns), max(last_seen_ns), sum(runs)::BIGINT \
         FROM agent_versions WHERE project_id = ? AND agent = ? \
         GROUP BY fingerprint HAVING sum(runs) > 0",
    )?;
    let mut rows = stmt.query(params![project, agent])?;
    let mut out = Vec::new();
    let list = |text: String| -> Result<Vec<String>> {
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
            column: "agent_versions.tools",
            message: e.to_string(),
        })
    };
    while let Some(r) = rows.next()? {
        out.push(agent_version(
            r.get(0)?,
            list(r.get(1)?)?,
            list(r.get(2)?)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ));
    }
    Ok(history(out))
}
