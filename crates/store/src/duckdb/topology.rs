//! The rollup rows the topology and inventory are built from (`crate::topology`), and the
//! traces attack paths are found in (`crate::attack`).

use super::rollups::{MEASURES, agg_at, merged_sketch};
use crate::attack::{EvFinding, EvSpan, TraceEvidence};
use crate::rollup::MINUTE_NS;
use crate::topology::{AgentIdentity, TopoRow};
use crate::{Result, StoreError};
use duckdb::{Connection, ToSql, params};
use spyglass_model::finding::{Category, Severity, Vector};
use spyglass_model::{SpanId, SpanKind, TraceId};
use std::collections::HashMap;

pub fn rows(conn: &Connection, project: &str, from_ns: i64, to_ns: i64) -> Result<Vec<TopoRow>> {
    let sums: Vec<String> = MEASURES
        .split(", ")
        .map(|c| format!("sum({c})::BIGINT"))
        .collect();
    let sql = format!(
        "SELECT service_name, agent_name, caller, kind, tool_name, model, {}, list(latency), \
         min(minute_ns), max(minute_ns) FROM rollups_minute \
         WHERE project_id = ? AND minute_ns >= ? AND minute_ns < ? GROUP BY ALL",
        sums.join(", ")
    );
    let from = from_ns.div_euclid(MINUTE_NS) * MINUTE_NS;
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params![project, from, to_ns])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut agg = agg_at(r, 6)?;
        agg.latency = merged_sketch(r.get(17)?)?;
        if agg.count == 0 && agg.tokens == [0; 6] {
            continue;
        }
        out.push(TopoRow {
            service: r.get(0)?,
            agent: r.get(1)?,
            caller: r.get(2)?,
            kind: SpanKind::from_code(r.get(3)?).unwrap_or(SpanKind::Other),
            tool: r.get(4)?,
            model: r.get(5)?,
            agg,
            first_ns: r.get(18)?,
            last_ns: r.get::<_, i64>(19)? + MINUTE_NS,
        });
    }
    Ok(out)
}

/// See `Store::attack_evidence`.
pub fn attack_evidence(
    conn: &Connection,
    project: &str,
    from_ns: i64,
    to_ns: i64,
    sinks: &[String],
    max_traces: usize,
) -> Result<Vec<TraceEvidence>> {
    if sinks.is_empty() {
        return Ok(Vec::new());
    }
    let marks = vec!["?"; sinks.len()].join(", ");
    let cand = format!(
        "SELECT trace_id FROM spans WHERE project_id = ? AND start_ns >= ? AND start_ns < ? \
         AND kind = {} AND tool_name IN ({marks}) GROUP BY trace_id ORDER BY max(start_ns) DESC \
         LIMIT {max_traces}",
        SpanKind::Tool.code()
    );
    let mut params: Vec<&dyn ToSql> = vec![&project, &from_ns, &to_ns];
    params.extend(sinks.iter().map(|s| s as &dyn ToSql));
    params.push(&project);
    let sql = format!(
        "WITH cand AS ({cand}) \
         SELECT replace(s.trace_id::VARCHAR, '-', ''), s.span_id, s.parent_span_id, s.kind, s.name, \
         s.agent_name, s.tool_name, s.start_ns, s.end_ns FROM spans s SEMI JOIN cand c ON s.trace_id = c.trace_id \
         WHERE s.project_id = ? \
         QUALIFY row_number() OVER (PARTITION BY s.trace_id, s.span_id \
         ORDER BY (s.end_ns IS NOT NULL) DESC, s.received_ns DESC) = 1"
    );
    let mut traces: HashMap<TraceId, TraceEvidence> = HashMap::new();
    {
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query(params.as_slice())?;
        while let Some(r) = rows.next()? {
            let hex: String = r.get(0)?;
            let trace_id: TraceId = hex.parse().map_err(|e| StoreError::Corrupt {
                column: "spans.trace_id",
                message: format!("{e}"),
            })?;
            let t = traces.entry(trace_id).or_insert_with(|| TraceEvidence {
                trace_id,
                spans: Vec::new(),
                injections: Vec::new(),
            });
            t.spans.push(EvSpan {
                span_id: SpanId::from_u64(r.get(1)?),
                parent: r.get::<_, Option<u64>>(2)?.map(SpanId::from_u64),
                kind: SpanKind::from_code(r.get(3)?).unwrap_or(SpanKind::Other),
                name: r.get(4)?,
                agent_name: r.get(5)?,
                tool_name: r.get(6)?,
                start_ns: r.get(7)?,
                end_ns: r.get(8)?,
            });
        }
    }
    let findings = format!(
        "WITH cand AS ({cand}) \
         SELECT DISTINCT ON (f.id) replace(f.trace_id::VARCHAR, '-', ''), f.span_id, f.id, f.severity, f.vector \
         FROM findings f SEMI JOIN cand c ON f.trace_id = c.trace_id \
         WHERE f.project_id = ? AND f.category = {}",
        Category::PromptInjection.code()
    );
    let mut stmt = conn.prepare(&findings)?;
    let mut rows = stmt.query(params.as_slice())?;
    while let Some(r) = rows.next()? {
        let hex: String = r.get(0)?;
        let Ok(trace_id) = hex.parse::<TraceId>() else {
            continue;
        };
        if let Some(t) = traces.get_mut(&trace_id) {
            t.injections.push(EvFinding {
                span_id: SpanId::from_u64(r.get(1)?),
                id: r.get(2)?,
                severity: Severity::from_code(r.get(3)?).unwrap_or(Severity::Medium),
                vector: r.get::<_, Option<u8>>(4)?.and_then(Vector::from_code),
            });
        }
    }
    Ok(traces.into_values().collect())
}

/// See `Store::agent_identities`.
pub fn agent_identities(
    conn: &Connection,
    project: &str,
    from_ns: i64,
    to_ns: i64,
) -> Result<Vec<AgentIdentity>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT coalesce(s.agent_name, s.name), s.agent_id, coalesce(r.scope_name, ''), s.conventions, count(*) \
         FROM spans s LEFT JOIN (SELECT DISTINCT ON (project_id, resource_id) project_id, resource_id, scope_name FROM resources) r \
         ON r.project_id = s.project_id AND r.resource_id = s.resource_id \
         WHERE s.project_id = ? AND s.start_ns >= ? AND s.start_ns < ? AND s.kind = {} \
         GROUP BY ALL",
        SpanKind::Agent.code()
    ))?;
    let rows = stmt.query_map(params![project, from_ns, to_ns], |r| {
        Ok(AgentIdentity {
            agent: r.get(0)?,
            agent_id: r.get(1)?,
            scope: r.get(2)?,
            conventions: spyglass_model::Conventions::from_bits(r.get(3)?),
            runs: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<duckdb::Result<_>>()?)
}

/// See `Store::tool_descriptions`.
pub fn tool_descriptions(
    conn: &Connection,
    project: &str,
    from_ns: i64,
    to_ns: i64,
) -> Result<Vec<(String, String)>> {
    // One attribute text per tool (its latest call's), parsed once: extracting JSON from every
    // tool span of a day would cost more than the rest of the inventory.
    let mut stmt = conn.prepare(&format!(
        "SELECT tool_name, arg_max(attributes, start_ns) FROM spans \
         WHERE project_id = ? AND start_ns >= ? AND start_ns < ? AND kind = {} \
         AND tool_name IS NOT NULL GROUP BY tool_name",
        SpanKind::Tool.code()
    ))?;
    let rows = stmt.query_map(params![project, from_ns, to_ns], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (tool, attributes) = row?;
        let Ok(serde_json::Value::Object(map)) = serde_json::from_str(&attributes) else {
            continue;
        };
        let description = ["gen_ai.tool.description", "tool.description"]
            .iter()
            .find_map(|k| map.get(*k).and_then(|v| v.as_str()));
        if let Some(d) = description {
            out.push((tool, d.to_string()));
        }
    }
    Ok(out)
}
