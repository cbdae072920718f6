//! The agent topology over a time window (which agents invoke which agents, tools and models,
//! with call counts, errors, latency and cost on every edge) and the inventory views built on
//! it. Derived from the per-minute rollups, where each span is counted in the agent it runs in.

use serde::{Deserialize, Serialize};

string_enum!(
    NodeKind {
        /// Spans that run in no agent are attributed to their service.
        Service => "service",
        Agent => "agent",
        Tool => "tool",
        Model => "model",
    }
);

string_enum!(
    Relation {
        /// A service starts an agent run.
        Invokes => "invokes",
        /// An agent hands work to another agent (sub-agent, delegation, handoff).
        Delegates => "delegates",
        CallsTool => "calls_tool",
        CallsModel => "calls_model",
    }
);

string_enum!(
    /// What a tool can do, for attack paths and blast radius.
    ToolCategory {
        ReadOnly => "read_only",
        Write => "write",
        CodeExecution => "code_execution",
        NetworkFetch => "network_fetch",
        DataStore => "data_store",
        Messaging => "messaging",
        Payments => "payments",
        McpServer => "mcp_server",
        Unknown => "unknown",
    }
);

impl ToolCategory {
    /// Categories whose calls act on the world: the sinks of an attack path.
    pub fn is_sensitive(self) -> bool {
        matches!(
            self,
            ToolCategory::Write
                | ToolCategory::CodeExecution
                | ToolCategory::Messaging
                | ToolCategory::Payments
        )
    }

    /// Categories that bring outside content into an agent: the ingress of an attack path.
    pub fn is_untrusted_source(self) -> bool {
        matches!(self, ToolCategory::NetworkFetch | ToolCategory::McpServer)
    }
}

/// Figures of a node or an edge over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    /// Spans: agent runs, tool calls, model calls.
    pub calls: i64,
    pub errors: i64,
    pub error_rate: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub tokens: i64,
    /// `null` when nothing in it was priced.
    pub cost_usd: Option<f64>,
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Node {
    /// `<kind>:<name>`, unique in the graph.
    pub id: String,
    pub kind: NodeKind,
    pub name: String,
    /// For tools.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<ToolCategory>,
    /// For an agent: its runs; for a tool or model: the calls made to it; for a service: the
    /// spans that ran in no agent. For an agent, `cost_usd` and `tokens` are everything that
    /// ran in it.
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Edge {
    pub source: String,
    pub target: String,
    pub relation: Relation,
    #[serde(flatten)]
    pub stats: Stats,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Topology {
    pub from_ns: i64,
    pub to_ns: i64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Topology {
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.id == id)
    }

    pub fn edge(&self, source: &str, target: &str) -> Option<&Edge> {
        self.edges
            .iter()
            .find(|e| e.source == source && e.target == target)
    }

    /// Only what touches `id`: its edges and the nodes at their ends.
    pub fn around(self, id: &str) -> Topology {
        let edges: Vec<Edge> = self
            .edges
            .into_iter()
            .filter(|e| e.source == id || e.target == id)
            .collect();
        let nodes = self
            .nodes
            .into_iter()
            .filter(|n| n.id == id || edges.iter().any(|e| e.source == n.id || e.target == n.id))
            .collect();
        Topology {
            from_ns: self.from_ns,
            to_ns: self.to_ns,
            nodes,
            edges,
        }
    }
}

pub fn node_id(kind: NodeKind, name: &str) -> String {
    format!("{}:{name}", kind.as_str())
}

/// One step of an attack path's evidence: a trace where untrusted content came in and a
/// sensitive tool was called after it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PathEvidence {
    pub trace_id: String,
    /// The span that brought the content in (`null` for user input: the trace's root).
    pub ingress_span_id: Option<String>,
    pub sink_span_id: String,
    /// The injection finding that makes this an attack, and the span it is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finding_span_id: Option<String>,
    pub time_ns: i64,
}

/// Untrusted content → agent → sensitive sink, as traces exercised it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AttackPath {
    /// `user_input`, or the tool (or retriever) that brought content in.
    pub ingress: String,
    pub ingress_category: Option<ToolCategory>,
    /// The agent that made the sensitive call (`null`: no agent, the service itself).
    pub agent: Option<String>,
    pub sink: String,
    pub sink_category: ToolCategory,
    /// Traces where content from the ingress came before the sink call.
    pub exercised: i64,
    /// Of those, traces with a prompt-injection finding before the sink call.
    pub attacked: i64,
    /// `attacked` paths: the injection's severity, raised one step for code execution and
    /// payments; exercised-only paths are `low`.
    pub severity: crate::finding::Severity,
    /// The most recent traces (attacked ones first), at most 10.
    pub evidence: Vec<PathEvidence>,
}

/// What an agent can reach: sensitive tools it calls, and those of agents it delegates to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlastRadius {
    pub agent: String,
    /// (tool, category, through which agent)
    pub sinks: Vec<ReachableSink>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReachableSink {
    pub tool: String,
    pub category: ToolCategory,
    /// The agent that calls it: this one or one it delegates to (directly or not).
    pub via: String,
}

/// A guardrail as the registry shows it: one per guardrail name and the agent it guards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Guardrail {
    /// `tracectrl.guardrail.name`, else the span's name (`guard.check_input` for the SDK's).
    pub name: String,
    /// The agent it ran for (its agent name, the SDK's `spyglass.guard.agent`, else its
    /// parent's agent).
    pub agent: Option<String>,
    pub checks: i64,
    /// Checks that blocked, flagged or failed what they checked.
    pub violations: i64,
    pub violation_rate: Option<f64>,
    /// Checks that themselves failed (error status): a guardrail that cannot run.
    pub errors: i64,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    /// Checks by decision (`allow`, `flag`, `block`, `pass`, `fail`, …; `unknown` without one).
    pub decisions: std::collections::BTreeMap<String, i64>,
    pub first_ns: i64,
    pub last_ns: i64,
    pub last_violation_ns: Option<i64>,
    /// Violations per bucket of `interval_s` over the window.
    pub violations_over_time: Vec<crate::analytics::Point>,
    pub interval_s: i64,
}

/// Decisions that count as a violation.
pub fn is_violation(decision: &str) -> bool {
    matches!(
        decision,
        "block"
            | "blocked"
            | "flag"
            | "flagged"
            | "fail"
            | "failed"
            | "deny"
            | "denied"
            | "violation"
            | "reject"
            | "rejected"
    )
}

/// A version of an agent: what its runs used. A run (an agent span) belongs to the version of
/// the tools called in it, the models of its LLM calls and its system prompt; a change of any
/// of them is a new version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentVersion {
    /// 16 hex digits, a hash of the tools, models and system prompt.
    pub fingerprint: String,
    /// Tools its runs called, sorted.
    pub tools: Vec<String>,
    /// Models of its runs' LLM calls, sorted.
    pub models: Vec<String>,
    /// 16 hex digits, a hash of the system prompt (`null`: none recorded).
    pub system_prompt_hash: Option<String>,
    /// Start of the first and the last run seen with this version.
    pub first_seen_ns: i64,
    pub last_seen_ns: i64,
    pub runs: i64,
    /// What changed from the version first seen before this one (`added tool x`,
    /// `removed tool x`, `model a → b`, `system prompt changed`); empty for the first.
    pub changes: Vec<String>,
}
