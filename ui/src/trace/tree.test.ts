import { describe, expect, it } from "vitest";
import type { SpanRow } from "../api";
import { buildTree, foldSiblings, visibleRows, type SpanNode } from "./tree";

function span(id: string, parent: string | null, start: number, name = id): SpanRow {
  return {
    trace_id: "t", span_id: id, parent_span_id: parent, name, service_name: null, kind: "other",
    start_ns: start, end_ns: start + 10, duration_ns: 10, status: "ok", status_message: null,
    agent_name: null, tool_name: null, provider: null, model: null,
    tokens: { input: null, output: null, cache_read: null, cache_write: null, reasoning: null, total: null },
    cost_usd: null, cost_source: null,
  };
}

const ids = (rows: ReturnType<typeof visibleRows>) =>
  rows.map((r) => (r.kind === "span" ? r.node.span.span_id : `${r.key}x${r.nodes.length}`));

/** Rows in tree order from [id, depth, start, name] (parents are implied by the depths). */
function tree(spec: [string, number, number, string?][]) {
  const stack: string[] = [];
  const rows = spec.map(([id, depth, start, name]) => {
    stack.length = depth;
    const parent = depth ? stack[depth - 1]! : null;
    stack.push(id);
    return span(id, parent, start, name ?? id);
  });
  return buildTree(rows, spec.map(([, depth]) => depth));
}

describe("buildTree", () => {
  it("nests each row under the nearest row above it one level up", () => {
    const roots = tree([["a", 0, 0], ["b", 1, 20], ["d", 2, 25], ["c", 1, 30], ["e", 0, 40]]);
    expect(roots.map((r) => r.span.span_id)).toEqual(["a", "e"]);
    expect(roots[0]!.children.map((c) => c.span.span_id)).toEqual(["b", "c"]);
    expect(ids(visibleRows(roots, new Set(), new Set()))).toEqual(["a", "b", "d", "c", "e"]);
    expect(roots[0]!.children[0]!.children[0]!.depth).toBe(2);
  });

  it("keeps a malformed depth from losing rows", () => {
    const rows = [span("a", null, 0), span("b", "a", 1), span("c", "b", 2)];
    const roots = buildTree(rows, [0, 3, -1]);
    expect(ids(visibleRows(roots, new Set(), new Set()))).toEqual(["a", "b", "c"]);
    expect(roots.map((r) => r.depth)).toEqual([0, 0]);
    expect(roots[0]!.children[0]!.depth).toBe(1);
  });

  it("handles a 100,000-deep chain without recursion", () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => span(`s${i}`, i ? `s${i - 1}` : null, i));
    const roots = buildTree(rows, rows.map((_, i) => i));
    expect(visibleRows(roots, new Set(), new Set())).toHaveLength(100_000);
  });
});

describe("loop folding", () => {
  const nodes = (names: string[]): SpanNode[] =>
    names.map((n, i) => ({ kind: "span", span: span(`s${i}`, "p", i, n), depth: 1, children: [], items: [] }));

  it("folds runs of three or more same-named siblings and keeps shorter runs", () => {
    const items = foldSiblings(nodes(["a", "b", "b", "b", "b", "c", "c", "b"]));
    expect(items.map((i) => (i.kind === "loop" ? `${i.name}x${i.nodes.length}` : i.span.name))).toEqual([
      "a", "bx4", "c", "c", "b",
    ]);
  });

  it("a folded loop is one row until opened", () => {
    const roots = tree([["root", 0, 0], ["t1", 1, 1, "tool"], ["t2", 1, 2, "tool"], ["t3", 1, 3, "tool"], ["end", 1, 9]]);
    expect(ids(visibleRows(roots, new Set(), new Set()))).toEqual(["root", "loop:t1x3", "end"]);
    expect(ids(visibleRows(roots, new Set(), new Set(["loop:t1"])))).toEqual(["root", "loop:t1x3", "t1", "t2", "t3", "end"]);
  });

  it("a collapsed span hides its subtree", () => {
    const roots = tree([["a", 0, 0], ["b", 1, 1], ["c", 2, 2]]);
    expect(ids(visibleRows(roots, new Set(["b"]), new Set()))).toEqual(["a", "b"]);
  });
});
