import { describe, expect, it } from "vitest";
import type { AlertRule } from "../api";
import { condition, parameter } from "./rules";

const rule = (over: Partial<AlertRule>): AlertRule => ({
  id: "r", name: "r", description: null, enabled: true, metric: "error_rate", condition: "threshold", comparator: "gt",
  threshold: 0.02, window_s: 300, for_s: 300, severity: "critical", ...over,
});

describe("alert rules", () => {
  it("describes each kind of condition", () => {
    expect(condition(rule({}))).toBe("error_rate > 0.02 over 300s, for 300s");
    expect(condition(rule({ metric: "cost", condition: "baseline_ratio", comparator: "gte", threshold: 3 }))).toBe("cost ≥ 3× baseline over 300s, for 300s");
    expect(condition(rule({ metric: "count", condition: "no_data", window_s: 600 }))).toBe("no spans for 600s");
  });

  it("names each template's parameter and its default", () => {
    expect(parameter(rule({ metric: "latency_p95", threshold: 5000 }))).toEqual({ label: "Threshold (ms)", value: 5000 });
    expect(parameter(rule({}))).toEqual({ label: "Threshold (ratio)", value: 0.02 });
    expect(parameter(rule({ metric: "cost", condition: "baseline_ratio", threshold: 3 }))).toEqual({ label: "Threshold (× baseline)", value: 3 });
    expect(parameter(rule({ metric: "count", condition: "no_data", threshold: 0, window_s: 300 }))).toEqual({ label: "Seconds without spans", value: 300 });
    expect(parameter(rule({ metric: "findings", threshold: 0 }))).toBeNull();
    expect(parameter(undefined)).toBeNull();
  });
});
