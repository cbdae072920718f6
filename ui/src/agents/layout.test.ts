import { describe, expect, it } from "vitest";
import type { TopologyEdge, TopologyNode } from "../api";
import { attackEdgeKeys, buildGraph, edgeKey, edgePath, layout, NODE_H, NODE_W, type Layout } from "./layout";

const node = (kind: string, name: string) => ({ id: `${kind}:${name}`, kind, name }) as TopologyNode;
const edge = (source: string, target: string, relation = "calls") => ({ source, target, relation, calls: 1 }) as TopologyEdge;

const at = (l: Layout, id: string) => l.nodes.find((p) => p.node.id === id)!;

function expectNoOverlap(l: Layout) {
  for (const a of l.nodes)
    for (const b of l.nodes)
      if (a !== b) {
        const apart = a.x + NODE_W <= b.x || b.x + NODE_W <= a.x || a.y + NODE_H <= b.y || b.y + NODE_H <= a.y;
        expect(apart, `${a.node.id} overlaps ${b.node.id}`).toBe(true);
      }
}

/** Whether a point is on (the border of) a node's box. */
function onBox(p: { x: number; y: number }, n: { x: number; y: number }) {
  const inside = p.x >= n.x - 0.5 && p.x <= n.x + NODE_W + 0.5 && p.y >= n.y - 0.5 && p.y <= n.y + NODE_H + 0.5;
  const border = Math.min(Math.abs(p.x - n.x), Math.abs(p.x - n.x - NODE_W), Math.abs(p.y - n.y), Math.abs(p.y - n.y - NODE_H)) < 0.5;
  return inside && border;
}

function expectInside(l: Layout) {
  for (const p of l.nodes) {
    expect(p.x).toBeGreaterThanOrEqual(0);
    expect(p.y).toBeGreaterThanOrEqual(0);
    expect(p.x + NODE_W).toBeLessThanOrEqual(l.width + 0.5);
    expect(p.y + NODE_H).toBeLessThanOrEqual(l.height + 0.5);
  }
}

describe("topology graph", () => {
  it("builds a dagre graph of the known nodes and the edges between them", () => {
    const nodes = [node("tool", "t"), node("agent", "a"), node("service", "svc")];
    const edges = [edge("service:svc", "agent:a", "invokes"), edge("agent:a", "tool:t"), edge("agent:ghost", "tool:t"), edge("agent:a", "model:nope")];
    const g = buildGraph(nodes, edges);
    // Services first, then agents, tools and models, so the same data gives the same layout.
    expect(g.nodes()).toEqual(["service:svc", "agent:a", "tool:t"]);
    expect(g.edgeCount()).toBe(2);
    expect(g.node("agent:a")).toMatchObject({ width: NODE_W, height: NODE_H });
    expect(g.graph().rankdir).toBe("LR");
  });

  it("places services, agents, then tools and models left to right", () => {
    const nodes = [node("model", "gpt"), node("tool", "search"), node("agent", "a"), node("service", "svc")];
    const edges = [edge("service:svc", "agent:a", "invokes"), edge("agent:a", "tool:search"), edge("agent:a", "model:gpt")];
    const l = layout(nodes, edges);
    expect(l.nodes).toHaveLength(4);
    expect(at(l, "service:svc").layer).toBe(0);
    expect(at(l, "agent:a").layer).toBe(1);
    expect(at(l, "tool:search").layer).toBe(2);
    expect(at(l, "model:gpt").layer).toBe(2);
    expect(at(l, "tool:search").x).toBe(at(l, "model:gpt").x);
    expectNoOverlap(l);
    expectInside(l);
  });

  it("puts a delegated agent right of its caller, and its tools right of it", () => {
    const nodes = [node("agent", "orch"), node("agent", "worker"), node("tool", "t"), node("model", "m")];
    const edges = [edge("agent:orch", "agent:worker", "delegates"), edge("agent:worker", "tool:t"), edge("agent:orch", "model:m")];
    const l = layout(nodes, edges);
    expect(at(l, "agent:worker").x).toBeGreaterThan(at(l, "agent:orch").x);
    expect(at(l, "tool:t").x).toBeGreaterThan(at(l, "agent:worker").x);
    expect(at(l, "model:m").x).toBeGreaterThan(at(l, "agent:orch").x);
  });

  it("routes every edge left to right from its caller's box to its callee's", () => {
    const nodes = [node("service", "s"), ...["a", "b", "c"].map((n) => node("agent", n)), ...["t1", "t2", "t3", "t4"].map((n) => node("tool", n)), node("model", "m")];
    const edges = [
      edge("service:s", "agent:a", "invokes"),
      edge("service:s", "agent:b", "invokes"),
      edge("agent:a", "agent:c", "delegates"),
      edge("agent:a", "tool:t1"),
      edge("agent:b", "tool:t2"),
      edge("agent:c", "tool:t3"),
      edge("agent:c", "tool:t4"),
      edge("agent:b", "model:m"),
      edge("agent:c", "model:m"),
    ];
    const l = layout(nodes, edges);
    expect(l.nodes).toHaveLength(nodes.length);
    expect(l.edges).toHaveLength(edges.length);
    for (const e of l.edges) {
      expect(e.to.layer, edgeKey(e.edge)).toBeGreaterThan(e.from.layer);
      expect(e.points.length).toBeGreaterThanOrEqual(2);
      // From the caller's box (its right half) to the callee's (its left side).
      const first = e.points[0]!;
      const last = e.points[e.points.length - 1]!;
      expect(onBox(first, e.from) && first.x > e.from.x + NODE_W / 2, `${edgeKey(e.edge)} starts at ${JSON.stringify(first)}`).toBe(true);
      expect(onBox(last, e.to) && last.x < e.to.x + NODE_W / 2, `${edgeKey(e.edge)} ends at ${JSON.stringify(last)}`).toBe(true);
      for (let i = 1; i < e.points.length; i++) expect(e.points[i]!.x).toBeGreaterThanOrEqual(e.points[i - 1]!.x);
    }
    expectNoOverlap(l);
    expectInside(l);
  });

  it("lays out a delegation cycle and ignores edges to unknown nodes", () => {
    const nodes = [node("agent", "a"), node("agent", "b")];
    const l = layout(nodes, [edge("agent:a", "agent:b"), edge("agent:b", "agent:a"), edge("agent:ghost", "agent:a")]);
    expect(l.nodes).toHaveLength(2);
    expect(l.edges.map((e) => edgeKey(e.edge))).toEqual(["agent:a→agent:b", "agent:b→agent:a"]);
    for (const e of l.edges) expect(e.points.length).toBeGreaterThanOrEqual(2);
    expectNoOverlap(l);
  });

  it("draws a self-loop as a small loop on the node's right side", () => {
    const l = layout([node("agent", "a")], [edge("agent:a", "agent:a", "delegates")]);
    expect(buildGraph([node("agent", "a")], [edge("agent:a", "agent:a")]).edgeCount()).toBe(0);
    const [loop] = l.edges;
    const a = at(l, "agent:a");
    expect(loop!.points[0]).toEqual({ x: a.x + NODE_W, y: a.y + 6 });
    expect(loop!.points[2]).toEqual({ x: a.x + NODE_W, y: a.y + NODE_H - 6 });
  });

  it("lays out nothing as nothing", () => {
    expect(layout([], [])).toMatchObject({ nodes: [], edges: [], width: 0, height: 0 });
  });

  it("draws an edge's path through its points", () => {
    expect(edgePath([])).toBe("");
    expect(edgePath([{ x: 0, y: 0 }, { x: 10, y: 5 }])).toBe("M0,0 L10,5");
    expect(edgePath([{ x: 0, y: 0 }, { x: 10, y: 10 }, { x: 20, y: 10 }])).toBe("M0,0 Q10,10 15,10 L20,10");
  });

  it("marks the edges an attack path runs along", () => {
    const keys = attackEdgeKeys([{ agent: "coder", sink: "run_tests" }]);
    expect(keys.has(edgeKey(edge("agent:coder", "tool:run_tests")))).toBe(true);
    expect(keys.has(edgeKey(edge("agent:coder", "model:gpt")))).toBe(false);
  });
});
