import { describe, expect, it, vi } from "vitest";
import type { LiveMessage, LiveSpan } from "../api";
import { barEnd, elapsedNs, hasRunning, liveScale, liveUntilMs, QUIET_MS, shouldSubscribe, Throttle, touchesTrace } from "./live";
import { bar } from "./timescale";

const MS = 1_000_000;
const now = 1_700_000_000_000; // epoch ms

describe("when the trace view listens for new spans", () => {
  it("listens while any span runs, however old", () => {
    const spans = [
      { start_ns: (now - 3_600_000) * MS, end_ns: null },
      { start_ns: (now - 3_500_000) * MS, end_ns: (now - 3_400_000) * MS },
    ];
    expect(liveUntilMs(spans)).toBe(Infinity);
    expect(shouldSubscribe(spans, now)).toBe(true);
    expect(hasRunning(spans)).toBe(true);
  });

  it("listens to a finished trace until it has been quiet for two minutes", () => {
    const spans = [
      { start_ns: (now - 100_000) * MS, end_ns: (now - 90_000) * MS },
      { start_ns: (now - 95_000) * MS, end_ns: (now - 60_000) * MS },
    ];
    expect(hasRunning(spans)).toBe(false);
    expect(liveUntilMs(spans)).toBe(now - 60_000 + QUIET_MS);
    expect(shouldSubscribe(spans, now)).toBe(true);
    expect(shouldSubscribe(spans, now + 59_999)).toBe(true);
    expect(shouldSubscribe(spans, now + 60_000)).toBe(false);
  });

  it("does not listen to an old trace or an empty one", () => {
    expect(shouldSubscribe([{ start_ns: (now - 3 * 60_000) * MS, end_ns: (now - 2.5 * 60_000) * MS }], now)).toBe(false);
    expect(shouldSubscribe([], now)).toBe(false);
  });

  it("counts a span's start when it is newer than every end", () => {
    // A span with a start in the future of its end cannot be stored, but clocks of two
    // senders can disagree: the newest timestamp of any kind counts.
    expect(liveUntilMs([{ start_ns: now * MS, end_ns: (now - 10) * MS }], 1000)).toBe(now + 1000);
  });
});

describe("which live messages change the trace", () => {
  const span = (trace_id: string) => ({ trace_id, span_id: "a" }) as LiveSpan;
  it("spans of this trace and gaps do; other traces and findings do not", () => {
    expect(touchesTrace({ type: "spans", spans: [span("t1")] }, "t1")).toBe(true);
    expect(touchesTrace({ type: "spans", spans: [span("t2")] }, "t1")).toBe(false);
    expect(touchesTrace({ type: "dropped", batches: 2, message: "" }, "t1")).toBe(true);
    expect(touchesTrace({ type: "findings", findings: [] }, "t1")).toBe(false);
    expect(touchesTrace({ type: "subscribed" } as LiveMessage, "t1")).toBe(false);
  });
});

describe("a running span's bar", () => {
  it("reaches to now, and the window grows with the clock", () => {
    const scale = { start: 1000, end: 2000 };
    // Finished traces keep their window.
    expect(liveScale(scale, false, 4000)).toBe(scale);
    // Running: the window reaches to now, never shrinks.
    expect(liveScale(scale, true, 4000)).toEqual({ start: 1000, end: 4000 });
    expect(liveScale(scale, true, 1500)).toBe(scale);
    const running = { start_ns: 2000, end_ns: null };
    const s = liveScale(scale, true, 3000);
    expect(bar({ start_ns: running.start_ns, end_ns: barEnd(running, 3000) }, s)).toEqual({ left: 50, width: 50 });
    // A second later the bar is longer and finished bars are relatively shorter.
    const later = liveScale(scale, true, 5000);
    expect(bar({ start_ns: 2000, end_ns: barEnd(running, 5000) }, later)).toEqual({ left: 25, width: 75 });
    expect(bar({ start_ns: 1000, end_ns: 2000 }, later)).toEqual({ left: 0, width: 25 });
  });

  it("finished spans end at their end; a clock behind the sender's does not go backwards", () => {
    expect(barEnd({ start_ns: 10, end_ns: 20 }, 99)).toBe(20);
    expect(barEnd({ start_ns: 10, end_ns: null }, 5)).toBe(10);
    expect(elapsedNs({ start_ns: 10 }, 5)).toBe(0);
    expect(elapsedNs({ start_ns: 10 }, 35)).toBe(25);
  });
});

describe("refetch throttle", () => {
  it("runs at most once per interval, once more for requests made during a run", async () => {
    vi.useFakeTimers();
    try {
      let resolve: () => void = () => {};
      const task = vi.fn(() => new Promise<void>((r) => (resolve = r)));
      const t = new Throttle(task, 500);
      t.request();
      t.request();
      t.request();
      expect(task).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(499);
      expect(task).not.toHaveBeenCalled();
      await vi.advanceTimersByTimeAsync(1);
      expect(task).toHaveBeenCalledTimes(1);
      // Asked again while the fetch is in flight: one more run after it, not a parallel one.
      t.request();
      t.request();
      await vi.advanceTimersByTimeAsync(2000);
      expect(task).toHaveBeenCalledTimes(1);
      resolve();
      await vi.advanceTimersByTimeAsync(500);
      expect(task).toHaveBeenCalledTimes(2);
      resolve();
      await vi.advanceTimersByTimeAsync(2000);
      expect(task).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("does nothing after stop, and survives a failing task", async () => {
    vi.useFakeTimers();
    try {
      const task = vi.fn(() => Promise.reject(new Error("network")));
      const t = new Throttle(task, 500);
      t.request();
      await vi.advanceTimersByTimeAsync(500);
      expect(task).toHaveBeenCalledTimes(1);
      t.request();
      await vi.advanceTimersByTimeAsync(500);
      expect(task).toHaveBeenCalledTimes(2);
      t.request();
      t.stop();
      t.request();
      await vi.advanceTimersByTimeAsync(5000);
      expect(task).toHaveBeenCalledTimes(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
