import { describe, expect, it } from "vitest";
import { decodeColumns, type SpanColumns } from "./columns";
import { buildTree, visibleRows } from "./tree";

// An outline as the server sends it: an agent with an LLM call (tokens, cost, an error) and a
// running tool call, then an orphan whose parent never arrived. All-null columns are absent.
const outline: SpanColumns = {
  count: 4,
  base_ns: 1_000_000,
  strings: [null, "invoke_agent planner", "svc", "agent", "ok", "chat gpt-4o", "llm", "error", "rate limited", "openai", "gpt-4o", "catalog", "search", "tool", "unset", "late"],
  span_id: ["00000000000000a1", "00000000000000a2", "00000000000000a3", "00000000000000a9"],
  parent: [-1, 0, 0, -1],
  depth: [0, 1, 1, 0],
  name: [1, 5, 12, 15],
  service_name: [2, 2, 2, 2],
  kind: [3, 6, 13, 13],
  status: [4, 7, 14, 4],
  status_message: [0, 8, 0, 0],
  provider: [0, 9, 0, 0],
  model: [0, 10, 0, 0],
  cost_source: [0, 11, 0, 0],
  start_ns: [0, 10, 20, 5],
  duration_ns: [100, 50, null, 1],
  input_tokens: [null, 120, null, null],
  total_tokens: [null, 150, null, null],
  cost_usd: [null, 0.25, null, null],
};

describe("decodeColumns", () => {
  const rows = decodeColumns(outline, "t1");

  it("turns columns back into rows with their strings, times and nulls", () => {
    expect(rows).toHaveLength(4);
    const llm = rows[1]!;
    expect(llm).toMatchObject({
      trace_id: "t1",
      span_id: "00000000000000a2",
      parent_span_id: "00000000000000a1",
      name: "chat gpt-4o",
      kind: "llm",
      status: "error",
      status_message: "rate limited",
      provider: "openai",
      model: "gpt-4o",
      cost_source: "catalog",
      start_ns: 1_000_010,
      end_ns: 1_000_060,
      duration_ns: 50,
      cost_usd: 0.25,
      agent_name: null,
      tool_name: null,
    });
    expect(llm.tokens).toEqual({ input: 120, output: null, cache_read: null, cache_write: null, reasoning: null, total: 150 });
  });

  it("keeps a running span open-ended and an orphan parentless", () => {
    expect(rows[2]).toMatchObject({ status: "unset", end_ns: null, duration_ns: null, model: null });
    expect(rows[3]!.parent_span_id).toBeNull();
    expect(rows[3]!.tokens).toEqual({ input: null, output: null, cache_read: null, cache_write: null, reasoning: null, total: null });
  });

  it("builds the tree the server ordered", () => {
    const roots = buildTree(rows, outline.depth);
    expect(roots.map((r) => r.span.name)).toEqual(["invoke_agent planner", "late"]);
    const shown = visibleRows(roots, new Set(), new Set()).map((r) => (r.kind === "span" ? `${r.depth}:${r.node.span.span_id.slice(-2)}` : r.key));
    expect(shown).toEqual(["0:a1", "1:a2", "1:a3", "0:a9"]);
  });
});
