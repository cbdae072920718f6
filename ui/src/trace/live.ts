// Keeping an open trace up to date: when to listen to `/api/v1/live?trace_id=`, how far a
// running span's bar reaches, and a throttle for the refetches the stream triggers. No React
// here, so it is unit-tested on its own.

import type { LiveMessage, SpanRow } from "../api";
import type { TimeScale } from "./timescale";

/** A trace whose newest span started or ended less than this long ago may still grow. */
export const QUIET_MS = 2 * 60_000;

/** At most one refetch of the trace per this many milliseconds while spans stream in. */
export const REFETCH_MS = 500;

/** Until when (epoch ms) the view should listen for new spans: forever while a span is
 * running, else until the trace has been quiet for `QUIET_MS` (its newest start or end);
 * -Infinity for an empty trace. */
export function liveUntilMs(spans: readonly Pick<SpanRow, "start_ns" | "end_ns">[], quietMs = QUIET_MS): number {
  let newest = -Infinity;
  for (const s of spans) {
    if (s.end_ns == null) return Infinity;
    if (s.end_ns > newest) newest = s.end_ns;
    if (s.start_ns > newest) newest = s.start_ns;
  }
  return newest / 1e6 + quietMs;
}

/** Whether to be subscribed at `nowMs`. */
export function shouldSubscribe(spans: readonly Pick<SpanRow, "start_ns" | "end_ns">[], nowMs: number, quietMs = QUIET_MS): boolean {
  return nowMs < liveUntilMs(spans, quietMs);
}

export function hasRunning(spans: readonly Pick<SpanRow, "end_ns">[]): boolean {
  return spans.some((s) => s.end_ns == null);
}

/** Whether a live message means the trace changed: spans of it, or a gap ("dropped") that may
 * have hidden some. Findings come right after their spans, so they need no refetch of their own. */
export function touchesTrace(msg: LiveMessage, traceId: string): boolean {
  if (msg.type === "spans") return msg.spans.some((s) => s.trace_id === traceId);
  return msg.type === "dropped";
}

/** The waterfall's window while spans run: it reaches at least to `nowNs`, so a running bar
 * grows with the clock (finished traces keep their own window). */
export function liveScale(scale: TimeScale, running: boolean, nowNs: number): TimeScale {
  if (!running || nowNs <= scale.end) return scale;
  return { start: scale.start, end: nowNs };
}

/** Where a span's bar ends: its end, or for a running span "now" (never before its start, if
 * the sending machine's clock is ahead of the browser's). */
export function barEnd(span: Pick<SpanRow, "start_ns" | "end_ns">, nowNs: number): number {
  return span.end_ns ?? Math.max(span.start_ns, nowNs);
}

/** How long a running span has run at `nowNs` (0 when its clock is ahead of ours). */
export function elapsedNs(span: Pick<SpanRow, "start_ns">, nowNs: number): number {
  return Math.max(0, nowNs - span.start_ns);
}

type Timers = {
  set: (fn: () => void, ms: number) => unknown;
  clear: (handle: unknown) => void;
};

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/** Runs `task` at most once per `ms`, never two at a time, and once more after a run when it
 * was asked for during that run (so the last change is always fetched). */
export class Throttle {
  private timer: unknown = null;
  private running = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly task: () => Promise<unknown>,
    private readonly ms = REFETCH_MS,
    private readonly timers: Timers = realTimers,
  ) {}

  request(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer != null) return;
    this.timer = this.timers.set(() => void this.run(), this.ms);
  }

  private async run(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    this.running = true;
    try {
      await this.task();
    } catch {
      // a failed refetch shows on the query; the next message tries again
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      this.request();
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.timer != null) this.timers.clear(this.timer);
    this.timer = null;
  }
}
