//! The guardrail registry: guardrail spans of every convention (our SDK's guard checks,
//! TraceCtrl's evaluations, OpenInference and Langfuse guardrail spans) in the window, grouped
//! by guardrail and agent, with their decisions.

use crate::Result;
use crate::guardrails::{Check, aggregate};
use duckdb::{Connection, params};
use spyglass_model::topology::Guardrail;
use spyglass_model::{SpanKind, Status};
use std::collections::HashSet;

/// The parent of a guardrail span is looked for this far before the window.
const PARENT_SLACK_NS: i64 = 3_600_000_000_000;

pub fn registry(
    conn: &Connection,
    project: &str,
    from_ns: i64,
    to_ns: i64,
) -> Result<Vec<Guardrail>> {
    let sql = format!(
        "WITH g AS (SELECT trace_id, span_id, parent_span_id, \
             coalesce(json_extract_string(attributes, '$.\"tracectrl.guardrail.name\"'), name) AS gname, \
             coalesce(agent_name, json_extract_string(attributes, '$.\"spyglass.guard.agent\"')) AS agent, \
             lower(coalesce(json_extract_string(attributes, '$.\"spyglass.guard.action\"'), \
                   json_extract_string(attributes, '$.\"tracectrl.guardrail.decision\"'), \
                   json_extract_string(attributes, '$.\"guardrail.decision\"'))) AS decision, \
             status, coalesce(duration_ns, 0) AS duration_ns, start_ns \
           FROM spans WHERE project_id = ? AND start_ns >= ? AND start_ns < ? AND kind = {guard} \
           QUALIFY row_number() OVER (PARTITION BY trace_id, span_id \
             ORDER BY (end_ns IS NOT NULL) DESC, received_ns DESC) = 1) \
         SELECT g.trace_id::VARCHAR, g.span_id, g.gname, g.agent, g.decision, g.status, g.duration_ns, g.start_ns, \
           CASE WHEN p.kind = {agent} THEN coalesce(p.agent_name, p.name) ELSE p.agent_name END \
         FROM g LEFT JOIN spans p ON p.project_id = ? AND p.trace_id = g.trace_id \
           AND p.span_id = g.parent_span_id AND p.start_ns >= ? AND p.start_ns < ?",
        guard = SpanKind::Guardrail.code(),
        agent = SpanKind::Agent.code(),
    );
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params![
        project,
        from_ns,
        to_ns,
        project,
        from_ns - PARENT_SLACK_NS,
        to_ns
    ])?;
    let mut seen: HashSet<(String, u64)> = HashSet::new();
    let mut checks = Vec::new();
    while let Some(r) = rows.next()? {
        // A parent stored in several versions joins once per version.
        if !seen.insert((r.get(0)?, r.get(1)?)) {
            continue;
        }
        let agent: Option<String> = r.get(3)?;
        checks.push(Check {
            name: r.get(2)?,
            agent: agent.or(r.get(8)?),
            decision: r
                .get::<_, Option<String>>(4)?
                .unwrap_or_else(|| "unknown".into()),
            error: r.get::<_, u8>(5)? == Status::Error.code(),
            duration_ns: r.get(6)?,
            start_ns: r.get(7)?,
        });
    }
    Ok(aggregate(checks, from_ns, to_ns))
}
