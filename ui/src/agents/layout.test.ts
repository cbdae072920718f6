import { describe, expect, it } from "vitest";
import type { TopologyEdge, TopologyNode } from "../api";
import { attackEdgeKeys, edgeKey, layers, layout, ROW_H } from "./layout";

const node = (kind: string, name: string) => ({ id: `${kind}:${name}`, kind, name }) as TopologyNode;
const edge = (source: string, target: string, relation = "calls") => ({ source, target, relation, calls: 1 }) as TopologyEdge;

describe("topology layout", () => {
  it("puts services, agents, then tools and models in columns", () => {
    const nodes = [node("model", "gpt"), node("tool", "search"), node("agent", "a"), node("service", "svc")];
    const edges = [edge("service:svc", "agent:a", "invokes"), edge("agent:a", "tool:search"), edge("agent:a", "model:gpt")];
    const l = layers(nodes, edges);
    expect(Object.fromEntries(l)).toEqual({ "service:svc": 0, "agent:a": 1, "tool:search": 2, "model:gpt": 2 });
  });

  it("moves a delegated agent one column right of its caller, and sinks after it", () => {
    const nodes = [node("agent", "orch"), node("agent", "worker"), node("tool", "t"), node("model", "m")];
    const edges = [edge("agent:orch", "agent:worker", "delegates"), edge("agent:worker", "tool:t"), edge("agent:orch", "model:m")];
    const l = layers(nodes, edges);
    expect(l.get("agent:orch")).toBe(1);
    expect(l.get("agent:worker")).toBe(2);
    expect(l.get("tool:t")).toBe(3);
    expect(l.get("model:m")).toBe(3);
  });

  it("terminates on a delegation cycle", () => {
    const nodes = [node("agent", "a"), node("agent", "b")];
    const l = layers(nodes, [edge("agent:a", "agent:b"), edge("agent:b", "agent:a")]);
    expect(Math.max(...l.values())).toBeLessThanOrEqual(nodes.length);
  });

  it("ignores edges to unknown nodes and self-loops", () => {
    const nodes = [node("agent", "a")];
    expect(layers(nodes, [edge("agent:a", "agent:a"), edge("agent:ghost", "agent:a")]).get("agent:a")).toBe(1);
    expect(layout(nodes, [edge("agent:ghost", "agent:a")]).edges).toEqual([]);
  });

  it("orders a column by its callers and drops empty columns", () => {
    const nodes = [node("agent", "b"), node("agent", "a"), node("tool", "zz"), node("tool", "aa")];
    // b's tool is listed after a's by name, but b sorts second, so "aa" (b's) goes second.
    const edges = [edge("agent:a", "tool:zz"), edge("agent:b", "tool:aa")];
    const l = layout(nodes, edges);
    const at = (id: string) => l.nodes.find((p) => p.node.id === id)!;
    expect(at("agent:a").layer).toBe(0);
    expect(at("agent:a").y).toBe(0);
    expect(at("agent:b").y).toBe(ROW_H);
    expect(at("tool:zz").y).toBe(0);
    expect(at("tool:aa").y).toBe(ROW_H);
    expect(at("tool:aa").layer).toBe(1);
    expect(l.height).toBe(2 * ROW_H);
    expect(l.edges).toHaveLength(2);
  });

  it("marks the edges an attack path runs along", () => {
    const keys = attackEdgeKeys([{ agent: "coder", sink: "run_tests" }]);
    expect(keys.has(edgeKey(edge("agent:coder", "tool:run_tests")))).toBe(true);
    expect(keys.has(edgeKey(edge("agent:coder", "model:gpt")))).toBe(false);
  });
});
