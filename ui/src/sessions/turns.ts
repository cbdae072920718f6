// A session as a conversation: its traces in time order, one turn each, with the user's
// input and the agent's answer read from the traces' input and output previews.

import type { SessionDetail, TraceSummary } from "../api";
import { parsePayload } from "../trace/messages";

export interface Turn {
  n: number;
  trace: TraceSummary;
  input: string | null;
  output: string | null;
  /** Time since the previous turn ended (null for the first, or when it is still running). */
  gap_ns: number | null;
}

/** The readable text of a preview: the last message of the wanted role (else the last
 * message) of a chat list, the string arguments of a function call (`{"args": [...]}`),
 * a JSON string's value, or the text as it is (a preview cut short is not valid JSON). */
export function previewText(raw: string | null, role: "user" | "assistant"): string | null {
  if (raw == null || raw === "") return null;
  const p = parsePayload(raw);
  if (p.kind === "text") return p.text;
  if (p.kind === "chat") {
    const wanted = p.messages.filter((m) => m.role === role);
    return (wanted.length ? wanted : p.messages).at(-1)!.content;
  }
  const value: unknown = JSON.parse(raw);
  if (value && typeof value === "object" && !Array.isArray(value) && "args" in value) {
    const args = (value as { args: unknown }).args;
    if (Array.isArray(args) && args.length && args.every((a) => typeof a === "string")) return args.join("\n");
  }
  return p.pretty;
}

export function buildTurns(detail: SessionDetail): Turn[] {
  const traces = [...detail.traces].sort((a, b) => a.start_ns - b.start_ns || a.trace_id.localeCompare(b.trace_id));
  return traces.map((trace, i) => {
    const prev = traces[i - 1];
    return {
      n: i + 1,
      trace,
      input: previewText(trace.input_preview, "user"),
      output: previewText(trace.output_preview, "assistant"),
      gap_ns: prev?.end_ns != null ? Math.max(0, trace.start_ns - prev.end_ns) : null,
    };
  });
}
