//! `/api/v1/topology`, `/api/v1/agents`, `/api/v1/tools`: which agents invoke which agents,
//! tools and models over a window, with the figures of every edge, and the inventory views of
//! the same graph.

use crate::access::{Read, Scope};
use crate::error::{ApiError, ApiQuery, ApiResult, ErrorBody};
use crate::routes::analytics::range;
use axum::Json;
use axum::extract::Path;
use serde::{Deserialize, Serialize};
use spyglass_model::topology::{
    AttackPath, BlastRadius, Guardrail, Node, NodeKind, ReachableSink, Relation, Stats,
    ToolCategory, Topology, node_id,
};
use spyglass_store::topology::{AgentIdentity, framework, mcp_server};
use std::collections::HashMap;
use utoipa::ToSchema;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WindowParams {
    /// Unix ns, RFC 3339 or a duration back; default 24 hours back.
    from: Option<String>,
    /// Default: now.
    to: Option<String>,
    /// Only this agent's edges and their ends (topology), paths (attack paths) or guardrails.
    agent: Option<String>,
}

/// The graph of the window, with tool descriptions (what the tools' spans said of them).
async fn graph_and_descriptions(
    st: &Scope,
    from: Option<&str>,
    to: Option<&str>,
) -> ApiResult<(Topology, HashMap<String, String>)> {
    let (from_ns, to_ns) = range(from, to)?;
    let (rows, descriptions) = tokio::try_join!(
        st.store.topology_rows(&st.project, from_ns, to_ns),
        st.store.tool_descriptions(&st.project, from_ns, to_ns),
    )?;
    let descriptions: HashMap<String, String> = descriptions.into_iter().collect();
    let tools = &st.engine.tools;
    let graph = spyglass_store::topology::build(from_ns, to_ns, &rows, &|name| {
        tools.classify(name, descriptions.get(name).map(String::as_str))
    });
    Ok((graph, descriptions))
}

async fn graph(st: &Scope, from: Option<&str>, to: Option<&str>) -> ApiResult<Topology> {
    Ok(graph_and_descriptions(st, from, to).await?.0)
}

#[utoipa::path(get, path = "/api/v1/topology", tag = "topology", params(WindowParams),
    responses((status = 200, body = Topology), (status = 400, body = ErrorBody)))]
pub async fn topology(
    Read(st): Read,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> ApiResult<Json<Topology>> {
    let g = graph(&st, p.from.as_deref(), p.to.as_deref()).await?;
    Ok(Json(match p.agent.filter(|a| !a.is_empty()) {
        Some(a) => g.around(&node_id(NodeKind::Agent, &a)),
        None => g,
    }))
}

/// An agent with what it used over the window.
#[derive(Serialize, ToSchema)]
pub struct AgentView {
    pub name: String,
    /// The agent framework its runs were recorded by (from the instrumentation scope, e.g.
    /// `langchain`, `crewai`, `autogen`, `openai-agents`), when one is recognized.
    pub framework: Option<String>,
    /// Agent ids its runs reported (`gen_ai.agent.id`, `graph.node.id`, …).
    pub agent_ids: Vec<String>,
    /// MCP servers of the tools it called.
    pub mcp_servers: Vec<String>,
    /// Runs (agent spans), their errors and latency; tokens and cost of everything that ran in
    /// the agent.
    #[serde(flatten)]
    pub stats: Stats,
    pub models: Vec<String>,
    pub tools: Vec<String>,
    /// Agents it delegated to.
    pub delegates_to: Vec<String>,
    /// Agents that delegated to it.
    pub called_by: Vec<String>,
    /// Sensitive tools it called (code execution, writes, messaging, payments).
    pub sensitive_tools: Vec<String>,
}

fn agent_view(g: &Topology, n: &Node, ids: &[AgentIdentity]) -> AgentView {
    let mine: Vec<&AgentIdentity> = ids.iter().filter(|i| i.agent == n.name).collect();
    let mut by_runs = mine.clone();
    by_runs.sort_by_key(|i| std::cmp::Reverse(i.runs));
    let mut agent_ids: Vec<String> = mine.iter().filter_map(|i| i.agent_id.clone()).collect();
    agent_ids.sort();
    agent_ids.dedup();
    let mut v = AgentView {
        name: n.name.clone(),
        framework: by_runs
            .iter()
            .find_map(|i| framework(&i.scope, i.conventions))
            .map(str::to_string),
        agent_ids,
        mcp_servers: Vec::new(),
        stats: n.stats.clone(),
        models: Vec::new(),
        tools: Vec::new(),
        delegates_to: Vec::new(),
        called_by: Vec::new(),
        sensitive_tools: Vec::new(),
    };
    for e in &g.edges {
        let other = |id: &str| g.node(id).map(|n| n.name.clone()).unwrap_or_default();
        if e.source == n.id {
            match e.relation {
                Relation::CallsModel => v.models.push(other(&e.target)),
                Relation::CallsTool => {
                    let tool = g.node(&e.target);
                    if tool
                        .and_then(|t| t.category)
                        .is_some_and(ToolCategory::is_sensitive)
                    {
                        v.sensitive_tools.push(other(&e.target));
                    }
                    let tool = other(&e.target);
                    if let Some(server) = mcp_server(&tool)
                        && !v.mcp_servers.iter().any(|s| s == server)
                    {
                        v.mcp_servers.push(server.to_string());
                    }
                    v.tools.push(tool);
                }
                Relation::Delegates => v.delegates_to.push(other(&e.target)),
                Relation::Invokes => {}
            }
        } else if e.target == n.id && e.relation == Relation::Delegates {
            v.called_by.push(other(&e.source));
        }
    }
    v
}

#[utoipa::path(get, path = "/api/v1/agents", tag = "topology", params(WindowParams),
    responses((status = 200, body = Vec<AgentView>), (status = 400, body = ErrorBody)))]
pub async fn list_agents(
    Read(st): Read,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> ApiResult<Json<Vec<AgentView>>> {
    let g = graph(&st, p.from.as_deref(), p.to.as_deref()).await?;
    let ids = st
        .store
        .agent_identities(&st.project, g.from_ns, g.to_ns)
        .await?;
    Ok(Json(
        g.nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Agent)
            .map(|n| agent_view(&g, n, &ids))
            .collect(),
    ))
}

/// One agent, with the edges around it.
#[derive(Serialize, ToSchema)]
pub struct AgentDetail {
    #[serde(flatten)]
    pub agent: AgentView,
    pub topology: Topology,
    /// Every version of the agent (not only the window's), newest first, each with what
    /// changed from the one before.
    pub versions: Vec<spyglass_model::topology::AgentVersion>,
}

#[utoipa::path(get, path = "/api/v1/agents/{name}", tag = "topology",
    params(("name" = String, Path), WindowParams),
    responses((status = 200, body = AgentDetail), (status = 404, body = ErrorBody)))]
pub async fn get_agent(
    Read(st): Read,
    Path(name): Path<String>,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> ApiResult<Json<AgentDetail>> {
    let g = graph(&st, p.from.as_deref(), p.to.as_deref()).await?;
    let id = node_id(NodeKind::Agent, &name);
    let node = g
        .node(&id)
        .ok_or_else(|| ApiError::NotFound(format!("agent {name:?} in the window")))?;
    let ids = st
        .store
        .agent_identities(&st.project, g.from_ns, g.to_ns)
        .await?;
    let agent = agent_view(&g, node, &ids);
    let versions = st.store.agent_versions(&st.project, &name).await?;
    Ok(Json(AgentDetail {
        agent,
        topology: g.around(&id),
        versions,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ToolView {
    pub name: String,
    pub category: ToolCategory,
    #[serde(flatten)]
    pub stats: Stats,
    /// Agents (or services) that called it.
    pub callers: Vec<String>,
    /// The MCP server that serves it, when its name says so (`mcp__<server>__<tool>`).
    pub mcp_server: Option<String>,
    /// What its latest call in the window said of it (`gen_ai.tool.description`,
    /// `tool.description`); the classifier reads it when the name says nothing.
    pub description: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/tools", tag = "topology", params(WindowParams),
    responses((status = 200, body = Vec<ToolView>), (status = 400, body = ErrorBody)))]
pub async fn list_tools(
    Read(st): Read,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> ApiResult<Json<Vec<ToolView>>> {
    let (g, descriptions) = graph_and_descriptions(&st, p.from.as_deref(), p.to.as_deref()).await?;
    Ok(Json(
        g.nodes
            .iter()
            .filter(|n| n.kind == NodeKind::Tool)
            .map(|n| ToolView {
                description: descriptions.get(&n.name).cloned(),
                mcp_server: mcp_server(&n.name).map(str::to_string),
                name: n.name.clone(),
                category: n.category.unwrap_or(ToolCategory::Unknown),
                stats: n.stats.clone(),
                callers: g
                    .edges
                    .iter()
                    .filter(|e| e.target == n.id)
                    .filter_map(|e| g.node(&e.source).map(|s| s.name.clone()))
                    .collect(),
            })
            .collect(),
    ))
}

/// Attack paths over the window and the blast radius of every agent.
#[derive(Serialize, ToSchema)]
pub struct AttackPaths {
    pub from_ns: i64,
    pub to_ns: i64,
    /// Attacked paths first, then by severity and how often they were exercised.
    pub paths: Vec<AttackPath>,
    pub blast_radius: Vec<BlastRadius>,
    /// Traces examined (the most recent that called a sensitive tool, at most 2,000).
    pub traces_examined: usize,
}

/// Traces examined for attack paths at most, newest first.
const MAX_ATTACK_TRACES: usize = 2_000;

fn blast_radius(g: &Topology) -> Vec<BlastRadius> {
    let sensitive = |id: &str| {
        g.node(id)
            .and_then(|n| n.category)
            .filter(|c| c.is_sensitive())
    };
    g.nodes
        .iter()
        .filter(|n| n.kind == NodeKind::Agent)
        .map(|n| {
            let mut sinks: Vec<ReachableSink> = Vec::new();
            let mut seen = std::collections::HashSet::from([n.id.as_str()]);
            let mut queue = std::collections::VecDeque::from([n.id.as_str()]);
            while let Some(agent) = queue.pop_front() {
                for e in g.edges.iter().filter(|e| e.source == agent) {
                    match e.relation {
                        Relation::Delegates if seen.insert(e.target.as_str()) => {
                            queue.push_back(e.target.as_str());
                        }
                        Relation::CallsTool => {
                            if let (Some(category), Some(tool), Some(via)) =
                                (sensitive(&e.target), g.node(&e.target), g.node(agent))
                            {
                                sinks.push(ReachableSink {
                                    tool: tool.name.clone(),
                                    category,
                                    via: via.name.clone(),
                                });
                            }
                        }
                        _ => {}
                    }
                }
            }
            BlastRadius {
                agent: n.name.clone(),
                sinks,
            }
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/attack-paths", tag = "security", params(WindowParams),
    responses((status = 200, body = AttackPaths), (status = 400, body = ErrorBody)))]
pub async fn attack_paths(
    Read(st): Read,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> ApiResult<Json<AttackPaths>> {
    let g = graph(&st, p.from.as_deref(), p.to.as_deref()).await?;
    let sinks: Vec<String> = g
        .nodes
        .iter()
        .filter(|n| n.category.is_some_and(ToolCategory::is_sensitive))
        .map(|n| n.name.clone())
        .collect();
    let traces = st
        .store
        .attack_evidence(&st.project, g.from_ns, g.to_ns, &sinks, MAX_ATTACK_TRACES)
        .await?;
    let tools = &st.engine.tools;
    let mut paths = spyglass_store::attack::paths(&traces, &|name| tools.classify(name, None));
    if let Some(agent) = p.agent.filter(|a| !a.is_empty()) {
        paths.retain(|x| x.agent.as_deref() == Some(agent.as_str()));
    }
    Ok(Json(AttackPaths {
        from_ns: g.from_ns,
        to_ns: g.to_ns,
        paths,
        blast_radius: blast_radius(&g),
        traces_examined: traces.len(),
    }))
}

/// The guardrail registry: which guardrails each agent runs, how they do, and what they caught.
#[utoipa::path(get, path = "/api/v1/guardrails", tag = "security", params(WindowParams),
    responses((status = 200, body = Vec<Guardrail>), (status = 400, body = ErrorBody)))]
pub async fn list_guardrails(
    Read(st): Read,
    ApiQuery(p): ApiQuery<WindowParams>,
) -> ApiResult<Json<Vec<Guardrail>>> {
    let (from_ns, to_ns) = range(p.from.as_deref(), p.to.as_deref())?;
    let mut g = st.store.guardrails(&st.project, from_ns, to_ns).await?;
    if let Some(agent) = p.agent.filter(|a| !a.is_empty()) {
        g.retain(|x| x.agent.as_deref() == Some(agent.as_str()));
    }
    Ok(Json(g))
}
