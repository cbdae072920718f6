//! The guardrail registry's aggregation, shared by the backends: each backend finds the
//! guardrail checks of the window (its own SQL), this groups them by guardrail and agent.

use spyglass_model::analytics::{Point, TimeseriesQuery};
use spyglass_model::topology::{Guardrail, is_violation};
use std::collections::{BTreeMap, HashMap};

/// One guardrail span: what it checked, for which agent, and what it decided.
pub(crate) struct Check {
    pub name: String,
    pub agent: Option<String>,
    pub decision: String,
    pub error: bool,
    pub duration_ns: i64,
    pub start_ns: i64,
}

/// Per guardrail and agent: checks, violations (also over time, in the window's automatic
/// buckets), errors, latency and decisions; the most violated first.
pub(crate) fn aggregate(checks: Vec<Check>, from_ns: i64, to_ns: i64) -> Vec<Guardrail> {
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
