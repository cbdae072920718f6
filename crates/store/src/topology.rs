//! The topology as a view of the rollups: every rollup row is a span count in the agent it ran
//! in (or its service), so agent → tool and agent → model edges are its tool and model rows,
//! and agent → agent edges are the agent rows with a caller. Shared by every backend; they
//! only aggregate the rows over the window.

use crate::analytics::metric_value;
use crate::rollup::RollupAgg;
use spyglass_model::SpanKind;
use spyglass_model::analytics::Metric;
use spyglass_model::topology::{
    Edge, Node, NodeKind, Relation, Stats, ToolCategory, Topology, node_id,
};
use std::collections::HashMap;

/// Rollups over the window, grouped by everything the graph needs.
#[derive(Debug, Clone)]
pub struct TopoRow {
    pub service: String,
    pub agent: Option<String>,
    pub caller: Option<String>,
    pub kind: SpanKind,
    pub tool: Option<String>,
    pub model: Option<String>,
    pub agg: RollupAgg,
    pub first_ns: i64,
    pub last_ns: i64,
}

#[derive(Default)]
struct Acc {
    /// The node's own spans (runs or calls).
    own: RollupAgg,
    /// Tokens and cost of everything that ran in it (agents and services).
    usage: RollupAgg,
    first: Option<i64>,
    last: Option<i64>,
}

impl Acc {
    fn seen(&mut self, r: &TopoRow) {
        self.first = Some(self.first.map_or(r.first_ns, |f| f.min(r.first_ns)));
        self.last = Some(self.last.map_or(r.last_ns, |l| l.max(r.last_ns)));
    }

    fn stats(&self, usage_from_all: bool) -> Stats {
        let a = &self.own;
        let u = if usage_from_all { &self.usage } else { a };
        Stats {
            calls: a.count,
            errors: a.errors,
            error_rate: metric_value(Metric::ErrorRate, a),
            latency_p50_ms: metric_value(Metric::LatencyP50, a),
            latency_p95_ms: metric_value(Metric::LatencyP95, a),
            tokens: u.tokens[5],
            cost_usd: u.cost_usd(),
            first_ns: self.first,
            last_ns: self.last,
        }
    }
}

pub fn build(
    from_ns: i64,
    to_ns: i64,
    rows: &[TopoRow],
    classify: &dyn Fn(&str) -> ToolCategory,
) -> Topology {
    let mut nodes: HashMap<(NodeKind, String), Acc> = HashMap::new();
    let mut edges: HashMap<(String, String), (Relation, Acc)> = HashMap::new();
    for r in rows {
        let runs_in = match &r.agent {
            Some(a) => (NodeKind::Agent, a.clone()),
            None => (NodeKind::Service, r.service.clone()),
        };
        let target = match r.kind {
            SpanKind::Agent => {
                let source = match &r.caller {
                    Some(c) => ((NodeKind::Agent, c.clone()), Relation::Delegates),
                    None => ((NodeKind::Service, r.service.clone()), Relation::Invokes),
                };
                r.agent
                    .as_ref()
                    .map(|a| ((NodeKind::Agent, a.clone()), Some(source)))
            }
            SpanKind::Tool | SpanKind::Retriever => {
                r.tool.as_ref().map(|t| ((NodeKind::Tool, t.clone()), None))
            }
            SpanKind::Llm | SpanKind::Embedding | SpanKind::Reranker => r
                .model
                .as_ref()
                .map(|m| ((NodeKind::Model, m.clone()), None)),
            _ => None,
        };
        let runs_in_node = nodes.entry(runs_in.clone()).or_default();
        runs_in_node.usage.merge(&r.agg);
        runs_in_node.seen(r);
        if r.agent.is_none() {
            // A service's own figures are the spans that ran in no agent.
            runs_in_node.own.merge(&r.agg);
        }
        let Some((target, agent_source)) = target else {
            continue;
        };
        let (source, relation) = match agent_source {
            Some(s) => s,
            None => (
                runs_in,
                if target.0 == NodeKind::Tool {
                    Relation::CallsTool
                } else {
                    Relation::CallsModel
                },
            ),
        };
        let t = nodes.entry(target.clone()).or_default();
        if target.0 != NodeKind::Agent || r.kind == SpanKind::Agent {
            t.own.merge(&r.agg);
        }
        if target.0 == NodeKind::Model {
            t.usage.merge(&r.agg);
        }
        t.seen(r);
        nodes.entry(source.clone()).or_default().seen(r);
        let e = edges
            .entry((node_id(source.0, &source.1), node_id(target.0, &target.1)))
            .or_insert_with(|| (relation, Acc::default()));
        e.1.own.merge(&r.agg);
        e.1.seen(r);
    }
    let mut nodes: Vec<Node> = nodes
        .into_iter()
        .map(|((kind, name), acc)| Node {
            id: node_id(kind, &name),
            category: (kind == NodeKind::Tool).then(|| classify(&name)),
            stats: acc.stats(matches!(kind, NodeKind::Agent | NodeKind::Service)),
            kind,
            name,
        })
        .collect();
    nodes.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    let mut edges: Vec<Edge> = edges
        .into_iter()
        .map(|((source, target), (relation, acc))| Edge {
            source,
            target,
            relation,
            stats: acc.stats(false),
        })
        .collect();
    edges.sort_by(|a, b| (&a.source, &a.target).cmp(&(&b.source, &b.target)));
    Topology {
        from_ns,
        to_ns,
        nodes,
        edges,
    }
}

/// How an agent's runs were recorded: its ids and the instrumentation scopes and conventions
/// of its agent spans.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentIdentity {
    pub agent: String,
    pub agent_id: Option<String>,
    pub scope: String,
    pub conventions: spyglass_model::Conventions,
    pub runs: i64,
}

/// The agent framework an instrumentation scope (or, failing that, a convention) names.
pub fn framework(scope: &str, conventions: spyglass_model::Conventions) -> Option<&'static str> {
    use spyglass_model::Convention;
    let s = scope.to_ascii_lowercase();
    const SCOPES: &[(&str, &str)] = &[
        ("langgraph", "langgraph"),
        ("langchain", "langchain"),
        ("crewai", "crewai"),
        ("autogen", "autogen"),
        ("openai_agents", "openai-agents"),
        ("openai.agents", "openai-agents"),
        ("agents-sdk", "openai-agents"),
        ("llama_index", "llamaindex"),
        ("llamaindex", "llamaindex"),
        ("google.adk", "google-adk"),
        ("google_adk", "google-adk"),
        ("smolagents", "smolagents"),
        ("pydantic_ai", "pydantic-ai"),
        ("pydantic-ai", "pydantic-ai"),
        ("strands", "strands-agents"),
        ("semantic_kernel", "semantic-kernel"),
        ("semantickernel", "semantic-kernel"),
        ("dspy", "dspy"),
        ("haystack", "haystack"),
        ("mastra", "mastra"),
        ("ai", "vercel-ai"),
        ("spyglass", "spyglass-sdk"),
        ("tracectrl", "tracectrl"),
        ("goclaw", "goclaw"),
    ];
    let words: Vec<&str> = s
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-')
        .collect();
    SCOPES
        .iter()
        .find(|(k, _)| {
            if k.len() <= 2 {
                words.contains(k)
            } else {
                s.contains(k)
            }
        })
        .map(|(_, f)| *f)
        .or_else(|| {
            [
                (Convention::VercelAi, "vercel-ai"),
                (Convention::TraceCtrl, "tracectrl"),
                (Convention::GoClaw, "goclaw"),
                (Convention::AgentStack, "agentstack"),
            ]
            .into_iter()
            .find(|(c, _)| conventions.contains(*c))
            .map(|(_, f)| f)
        })
}

/// The MCP server a tool is served by, when its name says so (`mcp__<server>__<tool>`, the
/// form Claude Code and several gateways give MCP tools).
pub fn mcp_server(tool: &str) -> Option<&str> {
    let rest = tool.strip_prefix("mcp__")?;
    let (server, name) = rest.split_once("__")?;
    (!server.is_empty() && !name.is_empty()).then_some(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        agent: Option<&str>,
        caller: Option<&str>,
        kind: SpanKind,
        name: Option<&str>,
        n: i64,
        errors: i64,
        cost: i64,
    ) -> TopoRow {
        TopoRow {
            service: "svc".into(),
            agent: agent.map(str::to_string),
            caller: caller.map(str::to_string),
            kind,
            tool: (kind == SpanKind::Tool).then(|| name.unwrap().to_string()),
            model: (kind == SpanKind::Llm).then(|| name.unwrap().to_string()),
            agg: RollupAgg {
                count: n,
                errors,
                cost_nano_usd: cost,
                priced: (cost > 0) as i64 * n,
                ..RollupAgg::default()
            },
            first_ns: 0,
            last_ns: 60,
        }
    }

    #[test]
    fn frameworks_from_scopes_and_mcp_servers_from_tool_names() {
        use spyglass_model::Conventions;
        let none = Conventions::default();
        for (scope, want) in [
            ("openinference.instrumentation.langchain", Some("langchain")),
            ("opentelemetry.instrumentation.crewai", Some("crewai")),
            ("autogen-core", Some("autogen")),
            (
                "openinference.instrumentation.openai_agents",
                Some("openai-agents"),
            ),
            ("ai", Some("vercel-ai")),
            ("opentelemetry.instrumentation.openai_v2", None),
            ("my-service", None),
        ] {
            assert_eq!(framework(scope, none), want, "{scope}");
        }
        assert_eq!(mcp_server("mcp__github__create_issue"), Some("github"));
        assert_eq!(mcp_server("create_issue"), None);
        assert_eq!(mcp_server("mcp__github"), None);
    }

    #[test]
    fn edges_and_nodes_from_rollup_rows() {
        let rows = vec![
            row(Some("planner"), None, SpanKind::Agent, None, 2, 0, 0),
            row(
                Some("coder"),
                Some("planner"),
                SpanKind::Agent,
                None,
                3,
                1,
                0,
            ),
            row(Some("coder"), None, SpanKind::Tool, Some("shell"), 5, 2, 0),
            row(
                Some("coder"),
                None,
                SpanKind::Llm,
                Some("gpt-4o"),
                4,
                0,
                4_000_000,
            ),
            row(None, None, SpanKind::Llm, Some("gpt-4o"), 1, 0, 1_000_000),
        ];
        let t = build(0, 1, &rows, &|_| ToolCategory::CodeExecution);
        let e = |s: &str, d: &str| t.edge(s, d).unwrap_or_else(|| panic!("{s} → {d}: {t:#?}"));
        assert_eq!(
            e("service:svc", "agent:planner").relation,
            Relation::Invokes
        );
        let d = e("agent:planner", "agent:coder");
        assert_eq!(
            (d.relation, d.stats.calls, d.stats.errors),
            (Relation::Delegates, 3, 1)
        );
        assert_eq!(e("agent:coder", "tool:shell").stats.calls, 5);
        assert_eq!(e("agent:coder", "model:gpt-4o").stats.cost_usd, Some(0.004));
        assert_eq!(e("service:svc", "model:gpt-4o").stats.calls, 1);
        let coder = t.node("agent:coder").unwrap();
        assert_eq!((coder.stats.calls, coder.stats.errors), (3, 1));
        assert_eq!(coder.stats.cost_usd, Some(0.004), "what ran in the agent");
        let model = t.node("model:gpt-4o").unwrap();
        assert_eq!((model.stats.calls, model.stats.cost_usd), (5, Some(0.005)));
        assert_eq!(
            t.node("tool:shell").unwrap().category,
            Some(ToolCategory::CodeExecution)
        );
        let around = t.clone().around("agent:planner");
        assert_eq!(around.edges.len(), 2);
        assert_eq!(around.nodes.len(), 3);
    }
}
