// A layered layout of the topology graph (services → agents → tools and models), drawn by
// the agents page as plain SVG: each node goes one column right of everything that calls it,
// tools and models share the last column, and each column is ordered to follow its callers.

import type { TopologyEdge, TopologyNode } from "../api";

export interface PlacedNode {
  node: TopologyNode;
  layer: number;
  x: number;
  y: number;
}

export interface PlacedEdge {
  edge: TopologyEdge;
  from: PlacedNode;
  to: PlacedNode;
}

export interface Layout {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  width: number;
  height: number;
}

export const COL_W = 300;
export const ROW_H = 44;
export const NODE_W = 220;
export const NODE_H = 30;

const SINKS = new Set(["tool", "model"]);
const BASE: Record<string, number> = { service: 0, agent: 1 };

/** The column of each node: at least its kind's base column and one right of every caller.
 * A cycle (agents delegating to each other) stops growing after as many rounds as there are
 * nodes, so it cannot loop forever. Tools and models all go to the last column. */
export function layers(nodes: TopologyNode[], edges: TopologyEdge[]): Map<string, number> {
  const layer = new Map(nodes.map((n) => [n.id, BASE[n.kind] ?? 0]));
  const kind = new Map(nodes.map((n) => [n.id, n.kind]));
  const inner = edges.filter((e) => layer.has(e.source) && layer.has(e.target) && e.source !== e.target && !SINKS.has(kind.get(e.target)!));
  for (let round = 0; round < nodes.length; round++) {
    let changed = false;
    for (const e of inner) {
      const want = layer.get(e.source)! + 1;
      if (want > layer.get(e.target)! && want <= nodes.length) {
        layer.set(e.target, want);
        changed = true;
      }
    }
    if (!changed) break;
  }
  let last = 0;
  for (const n of nodes) if (!SINKS.has(n.kind)) last = Math.max(last, layer.get(n.id)!);
  for (const n of nodes) if (SINKS.has(n.kind)) layer.set(n.id, last + 1);
  return layer;
}

export function layout(nodes: TopologyNode[], edges: TopologyEdge[]): Layout {
  const layer = layers(nodes, edges);
  const columns: TopologyNode[][] = [];
  for (const n of nodes) (columns[layer.get(n.id)!] ??= []).push(n);
  const dense = columns.filter((c) => c && c.length);
  // Order each column by the mean row of its callers in the column before (barycenter),
  // then by kind and name, so edges cross less and the order is stable.
  const row = new Map<string, number>();
  const callers = new Map<string, string[]>();
  for (const e of edges) (callers.get(e.target) ?? callers.set(e.target, []).get(e.target)!).push(e.source);
  const placed: PlacedNode[] = [];
  dense.forEach((col, i) => {
    const center = (n: TopologyNode) => {
      const rows = (callers.get(n.id) ?? []).map((c) => row.get(c)).filter((r): r is number => r != null);
      return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : Infinity;
    };
    const sorted = [...col].sort((a, b) => center(a) - center(b) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name));
    sorted.forEach((n, j) => {
      row.set(n.id, j);
      placed.push({ node: n, layer: i, x: i * COL_W, y: j * ROW_H });
    });
  });
  const byId = new Map(placed.map((p) => [p.node.id, p]));
  const placedEdges = edges
    .filter((e) => byId.has(e.source) && byId.has(e.target))
    .map((edge) => ({ edge, from: byId.get(edge.source)!, to: byId.get(edge.target)! }));
  const tallest = Math.max(0, ...dense.map((c) => c.length));
  return { nodes: placed, edges: placedEdges, width: Math.max(0, dense.length - 1) * COL_W + NODE_W, height: tallest * ROW_H };
}

/** The `source→target` keys of the topology edges an attack path runs along (its agent
 * calling its sink tool). */
export function attackEdgeKeys(paths: { agent: string; sink: string }[]): Set<string> {
  return new Set(paths.map((p) => `agent:${p.agent}→tool:${p.sink}`));
}

export const edgeKey = (e: { source: string; target: string }) => `${e.source}→${e.target}`;
