// The topology graph (services → agents → tools and models) laid out by dagre
// (`@dagrejs/dagre`, a layered Sugiyama layout: ranks left to right, crossing reduction,
// coordinates) and drawn by the agents page as plain SVG. What is ours here is turning the
// API's topology into a dagre graph and dagre's answer into positions and edge polylines.

import { graphlib, layout as dagreLayout, type EdgeLabel, type GraphLabel, type NodeLabel } from "@dagrejs/dagre";
import type { TopologyEdge, TopologyNode } from "../api";

export interface Point {
  x: number;
  y: number;
}

export interface PlacedNode {
  node: TopologyNode;
  /** The rank (column) the node is in, 0 leftmost. */
  layer: number;
  /** The top-left corner of the node's box. */
  x: number;
  y: number;
}

export interface PlacedEdge {
  edge: TopologyEdge;
  from: PlacedNode;
  to: PlacedNode;
  /** Dagre's route for the edge, from the caller's box to the callee's. */
  points: Point[];
}

export interface Layout {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  width: number;
  height: number;
}

export const NODE_W = 220;
export const NODE_H = 30;
/** The gap between columns (room for the call counts drawn near each edge's end). */
export const RANK_SEP = 90;
/** The gap between nodes in a column. */
export const NODE_SEP = 14;

const KIND_ORDER: Record<string, number> = { service: 0, agent: 1, tool: 2, model: 3 };

export type Graph = graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>;

/** The dagre graph of a topology: one node per topology node (kinds in order, then names, so
 * the layout is the same for the same data), one edge per topology edge between known nodes. */
export function buildGraph(nodes: TopologyNode[], edges: TopologyEdge[]): Graph {
  const g: Graph = new graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>({ multigraph: true });
  g.setGraph({ rankdir: "LR", ranksep: RANK_SEP, nodesep: NODE_SEP, edgesep: 10, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  const sorted = [...nodes].sort((a, b) => (KIND_ORDER[a.kind] ?? 9) - (KIND_ORDER[b.kind] ?? 9) || a.name.localeCompare(b.name));
  for (const n of sorted) g.setNode(n.id, { width: NODE_W, height: NODE_H });
  // A self-loop (an agent calling itself) is left out: dagre would route it around the
  // node's column; `layout` draws it as a small loop on the node's right side instead.
  for (const e of edges) if (e.source !== e.target && g.hasNode(e.source) && g.hasNode(e.target)) g.setEdge(e.source, e.target, {}, e.relation);
  return g;
}

export function layout(nodes: TopologyNode[], edges: TopologyEdge[]): Layout {
  const g = buildGraph(nodes, edges);
  dagreLayout(g);
  // Dagre gives each node's centre; columns are the distinct centre x's (one per rank).
  const columns = [...new Set(nodes.map((n) => g.node(n.id)?.x).filter((x): x is number => x != null))].sort((a, b) => a - b);
  const placed: PlacedNode[] = [];
  for (const n of nodes) {
    const at = g.node(n.id);
    if (at?.x == null || at.y == null) continue;
    placed.push({ node: n, layer: columns.indexOf(at.x), x: at.x - NODE_W / 2, y: at.y - NODE_H / 2 });
  }
  const byId = new Map(placed.map((p) => [p.node.id, p]));
  const placedEdges: PlacedEdge[] = [];
  for (const edge of edges) {
    const from = byId.get(edge.source);
    const to = byId.get(edge.target);
    if (!from || !to) continue;
    if (from === to) {
      const right = from.x + NODE_W;
      placedEdges.push({ edge, from, to, points: [{ x: right, y: from.y + 6 }, { x: right + 24, y: from.y + NODE_H / 2 }, { x: right, y: from.y + NODE_H - 6 }] });
      continue;
    }
    const label = g.edge({ v: edge.source, w: edge.target, name: edge.relation });
    if (!label) continue;
    placedEdges.push({ edge, from, to, points: (label.points ?? []).map((p: Point) => ({ x: p.x, y: p.y })) });
  }
  const size = g.graph();
  const finite = (n: number | undefined) => (n != null && Number.isFinite(n) && placed.length ? Math.max(0, n) : 0);
  return { nodes: placed, edges: placedEdges, width: finite(size.width), height: finite(size.height) };
}

/** An SVG path through an edge's points: straight at its ends, rounded at its bends (each
 * inner point is a quadratic control point between the midpoints around it). */
export function edgePath(points: Point[]): string {
  const f = (n: number) => Math.round(n * 10) / 10;
  if (points.length === 0) return "";
  const [first, ...rest] = points;
  let d = `M${f(first!.x)},${f(first!.y)}`;
  if (rest.length === 0) return d;
  for (let i = 0; i < rest.length - 1; i++) {
    const p = rest[i]!;
    const q = rest[i + 1]!;
    d += ` Q${f(p.x)},${f(p.y)} ${f((p.x + q.x) / 2)},${f((p.y + q.y) / 2)}`;
  }
  const last = rest[rest.length - 1]!;
  return `${d} L${f(last.x)},${f(last.y)}`;
}

/** The `source→target` keys of the topology edges an attack path runs along (its agent
 * calling its sink tool). */
export function attackEdgeKeys(paths: { agent: string; sink: string }[]): Set<string> {
  return new Set(paths.map((p) => `agent:${p.agent}→tool:${p.sink}`));
}

export const edgeKey = (e: { source: string; target: string }) => `${e.source}→${e.target}`;
