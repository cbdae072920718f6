//! Attack paths from evidence: in each trace that called a sensitive tool, every source of
//! untrusted content that came in before the call (the user's input, a web fetch, a
//! retrieval, an MCP tool) makes an exercised path source → agent → sink; a prompt-injection
//! finding between the content coming in and the call makes it attacked. Pure; backends fetch
//! the traces (`Store::attack_evidence`).

use spyglass_model::finding::{Severity, Vector};
use spyglass_model::topology::{AttackPath, PathEvidence, ToolCategory};
use spyglass_model::{SpanId, SpanKind, TraceId};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Evidence kept per path.
const EVIDENCE: usize = 10;

/// The ingress of content the user typed.
pub const USER_INPUT: &str = "user_input";

/// A span, as much as attack paths need.
#[derive(Debug, Clone)]
pub struct EvSpan {
    pub span_id: SpanId,
    pub parent: Option<SpanId>,
    pub kind: SpanKind,
    pub name: String,
    pub agent_name: Option<String>,
    pub tool_name: Option<String>,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
}

/// A prompt-injection finding of the trace.
#[derive(Debug, Clone)]
pub struct EvFinding {
    pub id: u64,
    pub span_id: SpanId,
    pub severity: Severity,
    pub vector: Option<Vector>,
}

#[derive(Debug, Clone)]
pub struct TraceEvidence {
    pub trace_id: TraceId,
    pub spans: Vec<EvSpan>,
    pub injections: Vec<EvFinding>,
}

fn label(s: &EvSpan) -> &str {
    s.tool_name.as_deref().unwrap_or(&s.name)
}

/// The agent a span runs in: its own agent name, else its nearest agent ancestor's (as the
/// rollups attribute it).
fn agent_of<'a>(by_id: &HashMap<SpanId, &'a EvSpan>, s: &'a EvSpan) -> Option<&'a str> {
    if s.kind != SpanKind::Agent
        && let Some(a) = &s.agent_name
    {
        return Some(a);
    }
    let mut parent = s.parent;
    for _ in 0..256 {
        let p = by_id.get(&parent?)?;
        if p.kind == SpanKind::Agent {
            return Some(p.agent_name.as_deref().unwrap_or(&p.name));
        }
        parent = p.parent;
    }
    None
}

/// Where content that an agent did not write comes in.
fn ingress_category(s: &EvSpan, classify: &dyn Fn(&str) -> ToolCategory) -> Option<ToolCategory> {
    match s.kind {
        SpanKind::Retriever => Some(ToolCategory::DataStore),
        SpanKind::Tool => {
            let c = classify(label(s));
            matches!(
                c,
                ToolCategory::NetworkFetch | ToolCategory::DataStore | ToolCategory::McpServer
            )
            .then_some(c)
        }
        _ => None,
    }
}

#[derive(Default)]
struct Acc {
    ingress_category: Option<ToolCategory>,
    sink_category: Option<ToolCategory>,
    exercised: i64,
    attacked: i64,
    worst: Option<Severity>,
    evidence: Vec<(bool, PathEvidence)>,
}

pub fn paths(traces: &[TraceEvidence], classify: &dyn Fn(&str) -> ToolCategory) -> Vec<AttackPath> {
    type Key = (String, Option<String>, String);
    let mut acc: BTreeMap<Key, Acc> = BTreeMap::new();
    for t in traces {
        let by_id: HashMap<SpanId, &EvSpan> = t.spans.iter().map(|s| (s.span_id, s)).collect();
        let trace_start = t.spans.iter().map(|s| s.start_ns).min().unwrap_or(0);
        let root = t.spans.iter().find(|s| s.parent.is_none());
        // (label, category, span, when its content is in, when it started)
        type Ingress<'a> = (&'a str, Option<ToolCategory>, Option<&'a EvSpan>, i64, i64);
        let mut ingress: Vec<Ingress> = vec![(USER_INPUT, None, None, trace_start, trace_start)];
        for s in &t.spans {
            if let Some(c) = ingress_category(s, classify) {
                ingress.push((
                    label(s),
                    Some(c),
                    Some(s),
                    s.end_ns.unwrap_or(s.start_ns),
                    s.start_ns,
                ));
            }
        }
        let start_of = |id: SpanId| by_id.get(&id).map(|s| s.start_ns);
        let mut seen: HashSet<Key> = HashSet::new();
        for sink in t.spans.iter().filter(|s| s.kind == SpanKind::Tool) {
            let category = classify(label(sink));
            if !category.is_sensitive() {
                continue;
            }
            let agent = agent_of(&by_id, sink).map(str::to_string);
            for (name, in_category, in_span, content_at, started) in &ingress {
                if *content_at > sink.start_ns {
                    continue;
                }
                let key = (name.to_string(), agent.clone(), label(sink).to_string());
                if !seen.insert(key.clone()) {
                    continue;
                }
                // An injection between the content coming in and the call: in the user's
                // input for the user's path, in what tools brought for the others.
                let hit = t
                    .injections
                    .iter()
                    .filter(|f| match in_span {
                        None => f.vector != Some(Vector::Indirect),
                        Some(_) => f.vector != Some(Vector::Direct),
                    })
                    .filter(|f| {
                        start_of(f.span_id).is_some_and(|at| at >= *started && at <= sink.start_ns)
                    })
                    .max_by_key(|f| f.severity);
                let a = acc.entry(key).or_default();
                a.ingress_category = *in_category;
                a.sink_category = Some(category);
                a.exercised += 1;
                if let Some(f) = hit {
                    a.attacked += 1;
                    a.worst = a.worst.max(Some(f.severity));
                }
                a.evidence.push((
                    hit.is_some(),
                    PathEvidence {
                        trace_id: t.trace_id.to_string(),
                        ingress_span_id: in_span
                            .map(|s| s.span_id.to_string())
                            .or_else(|| root.map(|r| r.span_id.to_string())),
                        sink_span_id: sink.span_id.to_string(),
                        finding_id: hit.map(|f| format!("{:016x}", f.id)),
                        finding_span_id: hit.map(|f| f.span_id.to_string()),
                        time_ns: sink.start_ns,
                    },
                ));
            }
        }
    }
    let mut out: Vec<AttackPath> = acc
        .into_iter()
        .map(|((ingress, agent, sink), mut a)| {
            let sink_category = a.sink_category.unwrap_or(ToolCategory::Unknown);
            let severity = match a.worst {
                Some(s)
                    if matches!(
                        sink_category,
                        ToolCategory::CodeExecution | ToolCategory::Payments
                    ) =>
                {
                    s.raised()
                }
                Some(s) => s,
                None => Severity::Low,
            };
            a.evidence
                .sort_by(|x, y| y.0.cmp(&x.0).then(y.1.time_ns.cmp(&x.1.time_ns)));
            a.evidence.truncate(EVIDENCE);
            AttackPath {
                ingress,
                ingress_category: a.ingress_category,
                agent,
                sink,
                sink_category,
                exercised: a.exercised,
                attacked: a.attacked,
                severity,
                evidence: a.evidence.into_iter().map(|(_, e)| e).collect(),
            }
        })
        .collect();
    out.sort_by(|x, y| {
        (y.attacked > 0)
            .cmp(&(x.attacked > 0))
            .then(y.severity.cmp(&x.severity))
            .then(y.exercised.cmp(&x.exercised))
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(
        id: u64,
        parent: Option<u64>,
        kind: SpanKind,
        name: &str,
        start: i64,
        end: i64,
    ) -> EvSpan {
        EvSpan {
            span_id: SpanId::from_u64(id),
            parent: parent.map(SpanId::from_u64),
            kind,
            name: name.into(),
            agent_name: (kind == SpanKind::Agent).then(|| name.to_string()),
            tool_name: (kind == SpanKind::Tool).then(|| name.to_string()),
            start_ns: start,
            end_ns: Some(end),
        }
    }

    fn classify(name: &str) -> ToolCategory {
        match name {
            "fetch_page" => ToolCategory::NetworkFetch,
            "execute_code" => ToolCategory::CodeExecution,
            _ => ToolCategory::ReadOnly,
        }
    }

    #[test]
    fn an_injected_page_before_code_execution_is_an_attacked_path() {
        let spans = vec![
            span(1, None, SpanKind::Agent, "coder", 0, 100),
            span(2, Some(1), SpanKind::Tool, "fetch_page", 10, 20),
            span(3, Some(1), SpanKind::Llm, "chat", 30, 40),
            span(4, Some(1), SpanKind::Tool, "execute_code", 50, 60),
            // A fetch after the call did not feed it.
            span(5, Some(1), SpanKind::Tool, "fetch_page", 70, 80),
        ];
        let attacked = TraceEvidence {
            trace_id: TraceId::from_u128(7),
            spans: spans.clone(),
            injections: vec![EvFinding {
                id: 0xabc,
                span_id: SpanId::from_u64(2),
                severity: Severity::High,
                vector: Some(Vector::Indirect),
            }],
        };
        let clean = TraceEvidence {
            trace_id: TraceId::from_u128(8),
            spans,
            injections: vec![],
        };
        let p = paths(&[clean, attacked], &classify);
        let fetch = &p[0];
        assert_eq!(
            (
                fetch.ingress.as_str(),
                fetch.agent.as_deref(),
                fetch.sink.as_str()
            ),
            ("fetch_page", Some("coder"), "execute_code")
        );
        assert_eq!((fetch.exercised, fetch.attacked), (2, 1));
        assert_eq!(
            fetch.severity,
            Severity::Critical,
            "raised for code execution"
        );
        let e = &fetch.evidence[0];
        assert_eq!(e.trace_id, TraceId::from_u128(7).to_string());
        assert_eq!(e.ingress_span_id, Some(SpanId::from_u64(2).to_string()));
        assert_eq!(e.sink_span_id, SpanId::from_u64(4).to_string());
        assert_eq!(e.finding_id.as_deref(), Some("0000000000000abc"));
        let user = p.iter().find(|x| x.ingress == USER_INPUT).unwrap();
        assert_eq!(
            (user.exercised, user.attacked, user.severity),
            (2, 0, Severity::Low)
        );
    }
}
