// The agent inventory (with versions), the tools they call, the agent → tool/model graph
// with call counts on its edges, and the attack paths found, highlighted on the graph.

import { useQueries, useQuery } from "@tanstack/react-query";
import { Fragment, useMemo, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { api, type AgentVersion, type AttackPath, type Topology } from "../api";
import { attackEdgeKeys, edgeKey, edgePath, layout, NODE_H, NODE_W } from "../agents/layout";
import { EmptyState } from "../components/EmptyState";
import { FilterBar, RANGES, Select } from "../components/Filters";
import { SeverityBadge } from "../components/StatusBadge";
import { cost, count, ms, time } from "../format";
import { Head } from "../components/Head";

const PAD = 12;

function Graph({ topology, paths }: { topology: Topology; paths: AttackPath[] }) {
  const l = useMemo(() => layout(topology.nodes, topology.edges), [topology]);
  const attacked = attackEdgeKeys(paths);
  const width = l.width + 2 * PAD;
  const height = l.height + 2 * PAD;
  return (
    <div className="graph-scroll">
      <svg className="graph" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label="Agent topology" data-testid="topology">
        <g transform={`translate(${PAD},${PAD})`}>
          {l.edges.map(({ edge, points }) => {
            // Dagre routes the edge; its call count goes just before the callee's box.
            const end = points[points.length - 1] ?? { x: 0, y: 0 };
            const x2 = end.x;
            const y2 = end.y;
            const hot = attacked.has(edgeKey(edge));
            return (
              <g key={edgeKey(edge)} className={`edge rel-${edge.relation}${hot ? " attack" : ""}${edge.errors ? " has-errors" : ""}`} data-testid={hot ? "attack-edge" : undefined}>
                <path d={edgePath(points)} />
                <text x={x2 - 6} y={y2 - 4} textAnchor="end">
                  {count(edge.calls)}
                  {edge.errors ? ` (${edge.errors} err)` : ""}
                </text>
                <title>
                  {`${edge.source} → ${edge.target} (${edge.relation}): ${edge.calls} calls, ${edge.errors} errors, p95 ${ms(edge.latency_p95_ms)}, ${cost(edge.cost_usd)}`}
                </title>
              </g>
            );
          })}
          {l.nodes.map(({ node, x, y }) => (
            <g key={node.id} className={`node kind-${node.kind}`} transform={`translate(${x},${y})`}>
              <rect width={NODE_W} height={NODE_H} rx="5" />
              <text x="8" y={NODE_H / 2 + 4}>
                <tspan className="node-kind">{node.kind}</tspan> {node.name.length > 26 ? `${node.name.slice(0, 25)}…` : node.name}
              </text>
              <title>{`${node.name} (${node.kind}): ${node.calls} calls, ${node.errors} errors, p95 ${ms(node.latency_p95_ms)}, ${cost(node.cost_usd)}`}</title>
            </g>
          ))}
        </g>
      </svg>
    </div>
  );
}

function Versions({ versions }: { versions: AgentVersion[] }) {
  return (
    <table className="table versions">
      <Head cols={["Version", "First seen", "Last seen", { num: "Runs" }, "Models", "Tools", "System prompt"]} />
      <tbody>
        {versions.map((v) => (
          <tr key={v.fingerprint}>
            <td className="mono">{v.fingerprint}</td>
            <td className="mono">{time(v.first_seen_ns)}</td>
            <td className="mono">{time(v.last_seen_ns)}</td>
            <td className="num">{v.runs}</td>
            <td>{v.models.join(", ")}</td>
            <td>{v.tools.join(", ")}</td>
            <td className="mono">{v.system_prompt_hash ?? "—"}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function AgentsPage() {
  const [url] = useSearchParams();
  const range = new URLSearchParams({ from: url.get("from") || "24h" });
  const key = range.toString();
  const agents = useQuery({ queryKey: ["agents", key], queryFn: () => api.agents(range) });
  const tools = useQuery({ queryKey: ["tools", key], queryFn: () => api.tools(range) });
  const topology = useQuery({ queryKey: ["topology", key], queryFn: () => api.topology(range) });
  const paths = useQuery({ queryKey: ["attack-paths", key], queryFn: () => api.attackPaths(range) });
  const details = useQueries({
    queries: (agents.data ?? []).map((a) => ({ queryKey: ["agent", a.name, key], queryFn: () => api.agent(a.name, range) })),
  });
  const [open, setOpen] = useState<string | null>(null);
  const error = [agents, tools, topology, paths].find((q) => q.isError)?.error;
  const empty = agents.data?.length === 0 && tools.data?.length === 0;
  return (
    <div className="page">
      <h1>Agents &amp; topology</h1>
      <FilterBar>
        <Select name="from" label="Range" options={RANGES.filter((r) => r !== "24h")} allLabel="24h" />
      </FilterBar>
      {error && <p className="error">{error.message}</p>}
      {empty ? (
        <>
          <p className="muted">
            Agents are found from <code>gen_ai.agent.name</code> on agent spans (<code>@spyglass.observe(kind="agent")</code> in
            the Python SDK), tools from <code>gen_ai.tool.name</code>, and models from <code>gen_ai.request.model</code>.
          </p>
          <EmptyState what="agents" />
        </>
      ) : (
        <>
          <h2>Inventory</h2>
          <table className="table" data-testid="agents-table">
            <Head cols={["Agent", "Framework", { num: "Versions" }, { num: "Runs" }, { num: "Errors" }, { num: "p95" }, { num: "Tokens" }, { num: "Cost" }, "Models", "Tools", "Last seen"]} />
            <tbody>
              {(agents.data ?? []).map((a, i) => {
                const versions = details[i]?.data?.versions;
                return (
                  <Fragment key={a.name}>
                    <tr data-testid="agent-row">
                      <td>
                        <Link to={`/traces?agent=${encodeURIComponent(a.name)}`}>{a.name}</Link>
                      </td>
                      <td className="muted">{a.framework ?? "—"}</td>
                      <td className="num">
                        {versions ? (
                          <button className="link" onClick={() => setOpen(open === a.name ? null : a.name)} aria-expanded={open === a.name}>
                            {versions.length} {open === a.name ? "▾" : "▸"}
                          </button>
                        ) : (
                          "…"
                        )}
                      </td>
                      <td className="num">{count(a.calls)}</td>
                      <td className={`num ${a.errors ? "status-error" : ""}`}>{count(a.errors)}</td>
                      <td className="num">{ms(a.latency_p95_ms)}</td>
                      <td className="num">{count(a.tokens)}</td>
                      <td className="num">{cost(a.cost_usd)}</td>
                      <td>{a.models.join(", ")}</td>
                      <td>
                        {a.tools.map((t) => (
                          <span key={t} className={`chip${a.sensitive_tools.includes(t) ? " sensitive" : ""}`} title={a.sensitive_tools.includes(t) ? "sensitive tool" : undefined}>
                            {t}
                          </span>
                        ))}
                      </td>
                      <td className="mono">{a.last_ns != null ? time(a.last_ns) : "—"}</td>
                    </tr>
                    {open === a.name && versions && (
                      <tr>
                        <td colSpan={11}>
                          <Versions versions={versions} />
                        </td>
                      </tr>
                    )}
                  </Fragment>
                );
              })}
            </tbody>
          </table>
          <h2>Graph</h2>
          <p className="muted">
            Services → agents → tools and models; edge labels are call counts
            {paths.data?.paths.length ? "; red edges are attack paths (an untrusted input reaching a sensitive tool)" : ""}.
          </p>
          {topology.data && (topology.data.nodes.length ? <Graph topology={topology.data} paths={paths.data?.paths ?? []} /> : <p className="muted">No calls in this range.</p>)}
          <h2>Attack paths</h2>
          {paths.data &&
            (paths.data.paths.length === 0 ? (
              <p className="muted">No path from untrusted input to a sensitive tool in {paths.data.traces_examined} traces examined.</p>
            ) : (
              <table className="table" data-testid="attack-paths">
                <Head cols={["Severity", "Ingress", "Agent", "Sink", { num: "Exercised" }, { num: "Attacked" }, "Evidence"]} />
                <tbody>
                  {paths.data.paths.map((p) => (
                    <tr key={`${p.ingress}-${p.agent}-${p.sink}`} data-testid="attack-path-row">
                      <td>
                        <SeverityBadge severity={p.severity} />
                      </td>
                      <td>
                        {p.ingress}
                        {p.ingress_category && <div className="muted">{p.ingress_category}</div>}
                      </td>
                      <td>{p.agent}</td>
                      <td>
                        {p.sink}
                        {p.sink_category && <div className="muted">{p.sink_category}</div>}
                      </td>
                      <td className="num">{p.exercised}</td>
                      <td className={`num ${p.attacked ? "status-error" : ""}`}>{p.attacked}</td>
                      <td>
                        {p.evidence.slice(0, 3).map((e) => (
                          <div key={e.sink_span_id}>
                            <Link to={`/traces/${e.trace_id}?span=${e.sink_span_id}`}>{time(e.time_ns)}</Link>
                          </div>
                        ))}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ))}
          <h2>Tools</h2>
          <table className="table" data-testid="tools-table">
            <Head cols={["Tool", "Category", "Called by", { num: "Calls" }, { num: "Errors" }, { num: "p50" }, { num: "p95" }, "MCP server"]} />
            <tbody>
              {(tools.data ?? []).map((t) => (
                <tr key={t.name}>
                  <td>
                    {t.name}
                    {t.description && <div className="muted">{t.description}</div>}
                  </td>
                  <td>{t.category}</td>
                  <td>{t.callers.join(", ")}</td>
                  <td className="num">{count(t.calls)}</td>
                  <td className={`num ${t.errors ? "status-error" : ""}`}>{count(t.errors)}</td>
                  <td className="num">{ms(t.latency_p50_ms)}</td>
                  <td className="num">{ms(t.latency_p95_ms)}</td>
                  <td>{t.mcp_server ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </div>
  );
}
