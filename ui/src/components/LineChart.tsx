// A small dependency-free SVG line chart for one time series (the overview's four panels).

import type { Series } from "../api";

const W = 320;
const H = 100;

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
  const points = (series?.points ?? []).filter((p) => p.value != null) as { t_ns: number; value: number }[];
  const max = Math.max(0, ...points.map((p) => p.value));
  const span = Math.max(1, toNs - fromNs);
  const x = (t: number) => ((t - fromNs) / span) * W;
  const y = (v: number) => H - (max > 0 ? (v / max) * (H - 8) : 0) - 2;
  const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.t_ns).toFixed(1)},${y(p.value).toFixed(1)}`).join(" ");
  return (
    <div className="chart" data-testid="chart">
      <div className="chart-head">
        <span>{title}</span>
        <b>{series?.total != null ? format(series.total) : "—"}</b>
      </div>
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={title}>
        <line x1="0" x2={W} y1={H - 2} y2={H - 2} className="axis" />
        {points.length > 0 && <path d={d} className="line" vectorEffect="non-scaling-stroke" />}
      </svg>
      <div className="chart-foot muted">
        <span>peak {points.length ? format(max) : "—"}</span>
      </div>
    </div>
  );
}
