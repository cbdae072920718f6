import { describe, expect, it } from "vitest";
import { bar, ticks, traceScale } from "./timescale";

describe("waterfall time scale", () => {
  it("spans the first start to the last end, counting running spans at their start", () => {
    expect(traceScale([{ start_ns: 100, end_ns: 200 }, { start_ns: 150, end_ns: 400 }, { start_ns: 500, end_ns: null }])).toEqual({
      start: 100,
      end: 500,
    });
  });

  it("places bars proportionally, running spans to the right edge", () => {
    const s = { start: 1000, end: 2000 };
    expect(bar({ start_ns: 1250, end_ns: 1750 }, s)).toEqual({ left: 25, width: 50 });
    expect(bar({ start_ns: 1500, end_ns: null }, s)).toEqual({ left: 50, width: 50 });
  });

  it("keeps instant spans visible and bars inside the window", () => {
    const s = { start: 0, end: 1000 };
    expect(bar({ start_ns: 1000, end_ns: 1000 }, s, 0.5)).toEqual({ left: 99.5, width: 0.5 });
    expect(bar({ start_ns: -50, end_ns: 2000 }, s)).toEqual({ left: 0, width: 100 });
  });

  it("keeps the full precision of real epoch nanoseconds relative to the trace start", () => {
    const start = 1_795_293_163_486_496_978;
    const s = traceScale([{ start_ns: start, end_ns: start + 61e9 }]);
    expect(bar({ start_ns: start + 30.5e9, end_ns: start + 61e9 }, s).left).toBeCloseTo(50, 5);
  });

  it("survives an empty or zero-length trace", () => {
    expect(traceScale([])).toEqual({ start: 0, end: 1 });
    expect(traceScale([{ start_ns: 5, end_ns: 5 }])).toEqual({ start: 5, end: 6 });
  });

  it("labels the axis at round steps", () => {
    expect(ticks({ start: 0, end: 1000 }, 5).map((t) => t.ns)).toEqual([0, 200, 400, 600, 800, 1000]);
  });
});
