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

describe("buildTree", () => {
  it("nests children under parents in start order whatever the row order", () => {
    const roots = buildTree([span("c", "a", 30), span("b", "a", 20), span("a", null, 0), span("d", "b", 25)]);
    expect(roots.map((r) => r.span.span_id)).toEqual(["a"]);
    expect(ids(visibleRows(roots, new Set(), new Set()))).toEqual(["a", "b", "d", "c"]);
    const d = roots[0]!.children[0]!.children[0]!;
    expect(d.depth).toBe(2);
  });

  it("shows spans whose parent is missing as roots", () => {
    const roots = buildTree([span("a", null, 0), span("orphan", "gone", 5)]);
    expect(roots.map((r) => r.span.span_id)).toEqual(["a", "orphan"]);
  });

  it("breaks self-parents and parent cycles instead of losing or looping on them", () => {
    const roots = buildTree([span("self", "self", 0), span("x", "y", 1), span("y", "x", 2)]);
    const all = visibleRows(roots, new Set(), new Set());
    expect(ids(all).sort()).toEqual(["self", "x", "y"]);
  });

  it("handles a 100,000-deep chain without recursion", () => {
    const rows = Array.from({ length: 100_000 }, (_, i) => span(`s${i}`, i ? `s${i - 1}` : null, i));
    const roots = buildTree(rows);
    expect(visibleRows(roots, new Set(), new Set())).toHaveLength(100_000);
  });
});

describe("loop folding", () => {
  const nodes = (names: string[]): SpanNode[] =>
    names.map((n, i) => ({ span: span(`s${i}`, "p", i, n), depth: 1, children: [], items: [] }));

  it("folds runs of three or more same-named siblings and keeps shorter runs", () => {
    const items = foldSiblings(nodes(["a", "b", "b", "b", "b", "c", "c", "b"]));
    expect(items.map((i) => (i.kind === "loop" ? `${i.name}x${i.nodes.length}` : i.node.span.name))).toEqual([
      "a", "bx4", "c", "c", "b",
    ]);
  });

  it("a folded loop is one row until opened", () => {
    const rows = [span("root", null, 0), ...[1, 2, 3].map((i) => span(`t${i}`, "root", i, "tool")), span("end", "root", 9)];
    const roots = buildTree(rows);
    expect(ids(visibleRows(roots, new Set(), new Set()))).toEqual(["root", "loop:t1x3", "end"]);
    expect(ids(visibleRows(roots, new Set(), new Set(["loop:t1"])))).toEqual(["root", "loop:t1x3", "t1", "t2", "t3", "end"]);
  });

  it("a collapsed span hides its subtree", () => {
    const roots = buildTree([span("a", null, 0), span("b", "a", 1), span("c", "b", 2)]);
    expect(ids(visibleRows(roots, new Set(["b"]), new Set()))).toEqual(["a", "b"]);
  });
});
