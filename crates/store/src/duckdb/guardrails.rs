//! The guardrail registry: guardrail spans of every convention (our SDK's guard checks,
//! TraceCtrl's evaluations, OpenInference and Langfuse guardrail spans) in the window, grouped
//! by guardrail and agent, with their decisions.

use crate::Result;
use duckdb::{Connection, params};
use spyglass_model::analytics::{Point, TimeseriesQuery};
use spyglass_model::topology::{Guardrail, is_violation};
use spyglass_model::{SpanKind, Status};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The parent of a guardrail span is looked for this far before the window.
const PARENT_SLACK_NS: i64 = 3_600_000_000_000;

struct Check {
    name: String,
    agent: Option<String>,
    decision: String,
    error: bool,
    duration_ns: i64,
    start_ns: i64,
}

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

fn aggregate(checks: Vec<Check>, from_ns: i64, to_ns: i64) -> Vec<Guardrail> {
    let interval_s = TimeseriesQuery::auto_interval_s(from_ns, to_ns);
    let w = interval_s * 1_000_000_000;
    let first_bucket = from_ns.div_euclid(w) * w;
    let buckets = ((to_ns - first_bucket) + w - 1) / w;
    let mut groups: HashMap<(String, Option<String>), Vec<Check>> = HashMap::new();
    for c in checks {
        groups
            .entry((c.name.clone(), c.agent.clone()))
            .or_default()
            .push(c);
    }
    let mut out: Vec<Guardrail> = groups
        .into_iter()
        .map(|((name, agent), cs)| {
            let mut durations: Vec<i64> = cs.iter().map(|c| c.duration_ns).collect();
            durations.sort_unstable();
            let q = |p: f64| {
                (!durations.is_empty()).then(|| {
                    durations[((durations.len() - 1) as f64 * p).floor() as usize] as f64 / 1e6
                })
            };
            let mut decisions: BTreeMap<String, i64> = BTreeMap::new();
            let mut over_time = vec![0i64; buckets.max(0) as usize];
            let mut violations = 0;
            let mut last_violation = None;
            for c in &cs {
                *decisions.entry(c.decision.clone()).or_default() += 1;
                if is_violation(&c.decision) {
                    violations += 1;
                    last_violation = last_violation.max(Some(c.start_ns));
                    let i = ((c.start_ns - first_bucket) / w) as usize;
                    if let Some(b) = over_time.get_mut(i) {
                        *b += 1;
                    }
                }
            }
            let checks = cs.len() as i64;
            Guardrail {
                name,
                agent,
                checks,
                violations,
                violation_rate: (checks > 0).then(|| violations as f64 / checks as f64),
                errors: cs.iter().filter(|c| c.error).count() as i64,
                latency_p50_ms: q(0.5),
                latency_p95_ms: q(0.95),
                decisions,
                first_ns: cs.iter().map(|c| c.start_ns).min().unwrap_or(0),
                last_ns: cs.iter().map(|c| c.start_ns).max().unwrap_or(0),
                last_violation_ns: last_violation,
                violations_over_time: over_time
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| Point {
                        t_ns: first_bucket + i as i64 * w,
                        value: Some(v as f64),
                    })
                    .collect(),
                interval_s,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.violations
            .cmp(&a.violations)
            .then_with(|| (&a.name, &a.agent).cmp(&(&b.name, &b.agent)))
    });
    out
}
