// Maps span times onto the waterfall's horizontal axis.

import type { SpanRow } from "../api";

export interface TimeScale {
  start: number;
  end: number;
}

/** The window every bar is drawn in: first start to last end. A running span (no end yet)
 * counts up to its start, and it is drawn to the right edge. */
export function traceScale(spans: readonly Pick<SpanRow, "start_ns" | "end_ns">[]): TimeScale {
  let start = Infinity;
  let end = -Infinity;
  for (const s of spans) {
    if (s.start_ns < start) start = s.start_ns;
    const e = s.end_ns ?? s.start_ns;
    if (e > end) end = e;
  }
  if (!Number.isFinite(start)) return { start: 0, end: 1 };
  // A zero-length window would divide by zero; give it one nanosecond.
  return { start, end: Math.max(end, start + 1) };
}

/** Left offset and width as percentages of the window; a bar is never narrower than
 * `minPct` so an instant span stays visible. */
export function bar(
  span: Pick<SpanRow, "start_ns" | "end_ns">,
  scale: TimeScale,
  minPct = 0.2,
): { left: number; width: number } {
  const total = scale.end - scale.start;
  const clamp = (v: number) => Math.min(100, Math.max(0, v));
  const left = clamp(((span.start_ns - scale.start) / total) * 100);
  const end = span.end_ns == null ? 100 : clamp(((span.end_ns - scale.start) / total) * 100);
  return { left: Math.min(left, 100 - minPct), width: Math.max(end - left, minPct) };
}

/** Evenly spaced axis labels at a round step (1, 2 or 5 × 10^k ns), at most `max` of them. */
export function ticks(scale: TimeScale, max = 6): { pct: number; ns: number }[] {
  const total = scale.end - scale.start;
  const raw = total / max;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
  const out: { pct: number; ns: number }[] = [];
  for (let ns = 0; ns <= total; ns += step) out.push({ pct: (ns / total) * 100, ns });
  return out;
}
