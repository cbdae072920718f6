// The live page's rows: spans and findings from the WebSocket, newest first, bounded so a
// busy server cannot grow the page's memory without limit.

import type { Finding, LiveMessage, LiveSpan } from "../api";

export type LiveRow =
  | { type: "span"; key: string; at_ns: number; span: LiveSpan }
  | { type: "finding"; key: string; at_ns: number; finding: Finding };

/** The rows a message adds, newest first (a batch arrives oldest first). */
export function rowsOf(msg: LiveMessage): LiveRow[] {
  if (msg.type === "spans") {
    return msg.spans
      .map((span): LiveRow => ({ type: "span", key: `s:${span.trace_id}:${span.span_id}`, at_ns: span.received_ns, span }))
      .reverse();
  }
  if (msg.type === "findings") {
    return msg.findings
      .map((finding): LiveRow => ({ type: "finding", key: `f:${finding.id}`, at_ns: finding.time_ns, finding }))
      .reverse();
  }
  return [];
}

/** `incoming` (newest first) ahead of `rows`, keeping at most `max` rows. A span sent again
 * (a running span that has now ended) replaces its older row. */
export function prepend(rows: LiveRow[], incoming: LiveRow[], max: number): LiveRow[] {
  if (!incoming.length) return rows;
  const seen = new Set<string>();
  const out: LiveRow[] = [];
  for (const r of [...incoming, ...rows]) {
    if (seen.has(r.key)) continue;
    seen.add(r.key);
    out.push(r);
    if (out.length === max) break;
  }
  return out;
}

/** Whether a row matches the free-text filter (names, service, agent, model, tool, ids,
 * previews; case-insensitive). */
export function matches(row: LiveRow, q: string): boolean {
  const needle = q.trim().toLowerCase();
  if (!needle) return true;
  const fields =
    row.type === "span"
      ? [row.span.name, row.span.service_name, row.span.agent_name, row.span.model, row.span.tool_name, row.span.kind, row.span.status,
         row.span.trace_id, row.span.session_id, row.span.user_id, row.span.input_preview, row.span.output_preview]
      : [row.finding.category, row.finding.detector, row.finding.severity, row.finding.evidence, row.finding.span_name,
         row.finding.service_name, row.finding.agent_name, row.finding.trace_id];
  return fields.some((f) => f != null && f.toLowerCase().includes(needle));
}
