// How the alerts page describes a rule and a template's parameter.

import type { AlertRule } from "../api";

/** A rule's condition in one line: "error_rate > 0.02 over 300s, for 300s". */
export function condition(r: AlertRule): string {
  if (r.condition === "no_data") return `no spans for ${r.window_s}s`;
  const op = { gt: ">", gte: "≥", lt: "<", lte: "≤" }[r.comparator] ?? r.comparator;
  const rhs = r.condition === "baseline_ratio" ? `${r.threshold}× baseline` : String(r.threshold);
  return `${r.metric} ${op} ${rhs} over ${r.window_s}s, for ${r.for_s}s`;
}

/** The template's parameter (see crates/alerts/src/templates.rs): the threshold (ms for p95
 * latency, a ratio for the error rate, a multiple for a cost spike), the window in seconds
 * for "no data", and none for high-severity findings. */
export function parameter(t: AlertRule | undefined): { label: string; value: number } | null {
  if (!t || t.metric === "findings") return null;
  if (t.condition === "no_data") return { label: "Seconds without spans", value: t.window_s };
  const unit = { latency_p95: " (ms)", error_rate: " (ratio)" }[t.metric] ?? (t.condition === "baseline_ratio" ? " (× baseline)" : "");
  return { label: `Threshold${unit}`, value: t.threshold };
}
