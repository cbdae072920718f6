import { describe, expect, it } from "vitest";
import type { SessionDetail, TraceSummary } from "../api";
import { buildTurns, previewText } from "./turns";

function trace(id: string, start: number, end: number | null, input: string | null, output: string | null): TraceSummary {
  return { trace_id: id, start_ns: start, end_ns: end, input_preview: input, output_preview: output } as TraceSummary;
}

const session = (traces: TraceSummary[]): SessionDetail => ({ session: {} as SessionDetail["session"], traces });

describe("session turns", () => {
  it("orders turns by start time and numbers them", () => {
    const turns = buildTurns(
      session([
        trace("b", 300, 400, '[{"role":"user","content":"second"}]', null),
        trace("a", 100, 200, '[{"role":"user","content":"first"}]', '[{"role":"assistant","content":"answer"}]'),
        trace("c", 500, null, null, null),
      ]),
    );
    expect(turns.map((t) => [t.n, t.trace.trace_id, t.input, t.output])).toEqual([
      [1, "a", "first", "answer"],
      [2, "b", "second", null],
      [3, "c", null, null],
    ]);
    expect(turns.map((t) => t.gap_ns)).toEqual([null, 100, 100]);
  });

  it("gives no gap after a running turn", () => {
    const turns = buildTurns(session([trace("a", 1, null, null, null), trace("b", 5, 6, null, null)]));
    expect(turns[1]!.gap_ns).toBeNull();
  });

  it("reads the wanted role from a conversation", () => {
    const chat = '[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]';
    expect(previewText(chat, "user")).toBe("hi");
    expect(previewText(chat, "assistant")).toBe("hello");
    expect(previewText('[{"role":"system","content":"only"}]', "user")).toBe("only");
  });

  it("reads function arguments, JSON strings, and previews cut short", () => {
    expect(previewText('{"args":["Ticket #771: printer jams"],"kwargs":{}}', "user")).toBe("Ticket #771: printer jams");
    expect(previewText('"plain answer"', "assistant")).toBe("plain answer");
    expect(previewText('[{"role":"user","content":"cut sh', "user")).toBe('[{"role":"user","content":"cut sh');
    expect(previewText('{"a":1}', "user")).toBe('{\n  "a": 1\n}');
    expect(previewText(null, "user")).toBeNull();
    expect(previewText("", "user")).toBeNull();
  });
});
