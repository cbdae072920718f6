//! Retention: deleting a project's data older than its window, in one transaction on a writer
//! thread (so it never interleaves with a commit of the same writer), whole traces at a time.

use crate::{Result, RetentionReport};
use duckdb::{Connection, params};

/// Deletes the project's traces whose every span started before `cutoff_ns` (spans, links,
/// findings and summaries), and its rollup minutes, agent-version rows and alert events
/// before it.
pub fn apply(conn: &Connection, project: &str, cutoff_ns: i64) -> Result<RetentionReport> {
    super::in_transaction(conn, || {
        conn.execute(
            "CREATE OR REPLACE TEMP TABLE expired AS SELECT trace_id FROM trace_summaries \
             WHERE project_id = ? GROUP BY trace_id HAVING max(max_start_ns) < ?",
            params![project, cutoff_ns],
        )?;
        let traces: i64 = conn.query_row("SELECT count(*) FROM expired", [], |r| r.get(0))?;
        let mut report = RetentionReport {
            traces: traces as u64,
            ..RetentionReport::default()
        };
        if traces > 0 {
            report.spans = conn.execute(
                "DELETE FROM spans WHERE project_id = ? AND trace_id IN (SELECT trace_id FROM expired)",
                params![project],
            )? as u64;
            for table in ["span_links", "findings", "trace_summaries"] {
                conn.execute(
                    &format!(
                        "DELETE FROM {table} WHERE project_id = ? AND trace_id IN (SELECT trace_id FROM expired)"
                    ),
                    params![project],
                )?;
            }
        }
        let minute = cutoff_ns.div_euclid(crate::rollup::MINUTE_NS) * crate::rollup::MINUTE_NS;
        report.rollup_rows = conn.execute(
            "DELETE FROM rollups_minute WHERE project_id = ? AND minute_ns < ?",
            params![project, minute],
        )? as u64;
        conn.execute(
            "DELETE FROM agent_versions WHERE project_id = ? AND last_seen_ns < ?",
            params![project, cutoff_ns],
        )?;
        conn.execute(
            "DELETE FROM alert_events WHERE project_id = ? AND time_ns < ?",
            params![project, cutoff_ns],
        )?;
        conn.execute_batch("DROP TABLE expired")?;
        Ok(report)
    })
}

/// Every project with stored traces.
pub fn projects(conn: &Connection) -> Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT DISTINCT project_id FROM trace_summaries ORDER BY 1")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    Ok(rows.collect::<duckdb::Result<_>>()?)
}
