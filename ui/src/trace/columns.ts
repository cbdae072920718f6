// `GET /api/v1/traces/{id}/outline` sends a trace's spans as columns with each string once
// (a 100,000-span trace is ~6 MB instead of ~58 MB of rows); this turns them back into the
// rows the trace view works on.

import type { SpanRow, Status, Tokens } from "../api";

/** The `spans` of an outline response (see `SpanColumns` in /api/openapi.json). Columns that
 * are null for every span are left out. */
export interface SpanColumns {
  count: number;
  base_ns: number;
  /** Index 0 is null. */
  strings: (string | null)[];
  span_id: string[];
  parent: number[];
  depth: number[];
  name: number[];
  service_name: number[];
  kind: number[];
  status: number[];
  status_message?: number[];
  agent_name?: number[];
  tool_name?: number[];
  provider?: number[];
  model?: number[];
  cost_source?: number[];
  start_ns: number[];
  duration_ns: (number | null)[];
  input_tokens?: (number | null)[];
  output_tokens?: (number | null)[];
  cache_read_tokens?: (number | null)[];
  cache_write_tokens?: (number | null)[];
  reasoning_tokens?: (number | null)[];
  total_tokens?: (number | null)[];
  cost_usd?: (number | null)[];
}

/** The tokens of the many spans that report none: one shared object, not one per span. */
const NO_TOKENS: Tokens = Object.freeze({ input: null, output: null, cache_read: null, cache_write: null, reasoning: null, total: null });

/** The rows of the columns, in their (tree) order. */
export function decodeColumns(c: SpanColumns, traceId: string): SpanRow[] {
  const str = c.strings;
  const text = (col: number[] | undefined, i: number) => (col ? str[col[i]!] ?? null : null);
  const num = (col: (number | null)[] | undefined, i: number) => (col ? col[i] ?? null : null);
  const rows = new Array<SpanRow>(c.count);
  const tokenColumns = [c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens, c.total_tokens];
  const anyTokens = tokenColumns.some((col) => col !== undefined);
  for (let i = 0; i < c.count; i++) {
    const start = c.base_ns + c.start_ns[i]!;
    const duration = c.duration_ns[i] ?? null;
    const parent = c.parent[i]!;
    rows[i] = {
      trace_id: traceId,
      span_id: c.span_id[i]!,
      parent_span_id: parent >= 0 ? c.span_id[parent]! : null,
      name: str[c.name[i]!] ?? "",
      service_name: str[c.service_name[i]!] ?? null,
      kind: str[c.kind[i]!] ?? "unknown",
      start_ns: start,
      end_ns: duration == null ? null : start + duration,
      duration_ns: duration,
      status: (str[c.status[i]!] ?? "unset") as Status,
      status_message: text(c.status_message, i),
      agent_name: text(c.agent_name, i),
      tool_name: text(c.tool_name, i),
      provider: text(c.provider, i),
      model: text(c.model, i),
      tokens: anyTokens && tokenColumns.some((col) => col?.[i] != null)
        ? {
            input: num(c.input_tokens, i),
            output: num(c.output_tokens, i),
            cache_read: num(c.cache_read_tokens, i),
            cache_write: num(c.cache_write_tokens, i),
            reasoning: num(c.reasoning_tokens, i),
            total: num(c.total_tokens, i),
          }
        : NO_TOKENS,
      cost_usd: num(c.cost_usd, i),
      cost_source: text(c.cost_source, i),
    };
  }
  return rows;
}
