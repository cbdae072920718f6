// A line chart of one time series (the overview's four panels, the analytics page's panels),
// drawn by uPlot on a canvas: as wide as its panel (a ResizeObserver follows it), in the
// theme's colours (redrawn when the theme changes), with the hovered point's time and value in
// its legend. uPlot styles its elements through the DOM (element.style), which the dashboard's
// Content-Security-Policy allows; it adds no <style> elements.

import { useEffect, useMemo, useRef, useState } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { Series } from "../api";
import { shortTime } from "../format";
import { currentTheme, type Theme } from "../theme";

const HEIGHT = 110;

/** The current theme, following changes to `<html data-theme>`. */
function useTheme(): Theme {
  const [theme, set] = useState<Theme>(currentTheme);
  useEffect(() => {
    const watch = new MutationObserver(() => set(currentTheme()));
    watch.observe(document.documentElement, { attributes: true, attributeFilter: ["data-theme"] });
    return () => watch.disconnect();
  }, []);
  return theme;
}

/** `#rrggbb` at the given opacity (other colours as they are). */
function alpha(color: string, a: number): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  return m ? `rgba(${parseInt(m[1]!, 16)},${parseInt(m[2]!, 16)},${parseInt(m[3]!, 16)},${a})` : color;
}

/** The theme's colours, from the CSS variables in styles.css. */
function palette() {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return { line: v("--accent", "#2f6fed"), text: v("--muted", "#667085"), grid: v("--border", "#dfe3ea") };
}

export function LineChart({
  title,
  series,
  format,
  fromNs,
  toNs,
}: {
  title: string;
  series: Series | undefined;
  format: (v: number) => string;
  fromNs: number;
  toNs: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const theme = useTheme();
  // uPlot's callbacks read the latest props through refs, so new data need no new chart.
  const fmt = useRef(format);
  fmt.current = format;
  const span = useRef<[number, number]>([0, 1]);
  span.current = [fromNs / 1e9, Math.max(fromNs + 1, toNs) / 1e9];
  const data = useMemo<uPlot.AlignedData>(() => {
    const points = series?.points ?? [];
    return [points.map((p) => p.t_ns / 1e9), points.map((p) => p.value)];
  }, [series]);
  const latest = useRef(data);
  latest.current = data;

  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const c = palette();
    const axis = {
      stroke: c.text,
      font: "10px system-ui, sans-serif",
      grid: { stroke: c.grid, width: 1 },
      ticks: { stroke: c.grid, width: 1, size: 4 },
    };
    const opts: uPlot.Options = {
      width: Math.max(1, Math.floor(el.clientWidth)),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false, setScale: false }, points: { size: 6, fill: c.line } },
      legend: { show: true, live: true },
      scales: {
        x: { time: true, range: () => span.current },
        y: { range: (_u, _min, max) => [0, max != null && max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        { ...axis, size: 22, space: 60 },
        { ...axis, size: 52, space: 24, values: (_u, splits) => splits.map((v) => fmt.current(v)) },
      ],
      series: [
        { value: (_u, v) => (v == null ? "—" : shortTime(v * 1e9)) },
        {
          label: title,
          stroke: c.line,
          fill: alpha(c.line, 0.12),
          width: 1.5,
          points: { show: false },
          value: (_u, v) => (v == null ? "—" : fmt.current(v)),
        },
      ],
    };
    const u = new uPlot(opts, latest.current, el);
    plot.current = u;
    const resize = new ResizeObserver((entries) => {
      const w = Math.floor(entries[0]?.contentRect.width ?? 0);
      if (w > 0 && w !== u.width) u.setSize({ width: w, height: HEIGHT });
    });
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [title, theme]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data, fromNs, toNs]);

  const values = (series?.points ?? []).map((p) => p.value).filter((v): v is number => v != null);
  const peak = values.length ? Math.max(0, ...values) : null;
  return (
    <div className="chart" data-testid="chart">
      <div className="chart-head">
        <span>{title}</span>
        <b>{series?.total != null ? format(series.total) : "—"}</b>
      </div>
      <div className="chart-plot" ref={box} role="img" aria-label={title} />
      <div className="chart-foot muted">
        <span>peak {peak != null ? format(peak) : "—"}</span>
      </div>
    </div>
  );
}
