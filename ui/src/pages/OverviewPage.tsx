import { useQueries, useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router-dom";
import { api } from "../api";
import { EmptyState } from "../components/EmptyState";
import { FilterBar, RANGES, Select } from "../components/Filters";
import { FindingsTable } from "../components/FindingsTable";
import { LineChart } from "../components/LineChart";
import { StatusBadge } from "../components/StatusBadge";
import { cost, count, duration, time } from "../format";

const METRICS: { metric: string; title: string; format: (v: number) => string }[] = [
  { metric: "count", title: "Spans", format: (v) => count(Math.round(v)) },
  { metric: "error_rate", title: "Error rate", format: (v) => `${(v * 100).toFixed(1)}%` },
  { metric: "latency_p95", title: "p95 latency", format: (v) => duration(v * 1e6) },
  { metric: "cost", title: "Cost", format: cost },
];

function RecentTraces({ from }: { from: string }) {
  const q = useQuery({
    queryKey: ["traces", "recent", from],
    queryFn: () => api.traces(new URLSearchParams({ from, limit: "10" })),
  });
  if (q.isError) return <p className="error">{q.error.message}</p>;
  if (!q.data) return <p className="muted">Loading…</p>;
  if (!q.data.items.length) return <EmptyState what="traces" />;
  return (
    <table className="table" data-testid="recent-traces">
      <tbody>
        {q.data.items.map((t) => (
          <tr key={t.trace_id}>
            <td className="mono">{time(t.start_ns)}</td>
            <td>
              <Link to={`/traces/${t.trace_id}`}>{t.name}</Link>
            </td>
            <td>
              <StatusBadge status={t.status} />
            </td>
            <td className="num">{duration(t.duration_ns)}</td>
            <td className="num">{cost(t.cost_usd)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function FiringAlerts() {
  const q = useQuery({ queryKey: ["alert-rules"], queryFn: api.alertRules, refetchInterval: 15_000 });
  if (!q.data) return null;
  const firing = q.data.filter((r) => r.rule.enabled && (r.state === "firing" || r.state === "pending"));
  return (
    <p data-testid="firing-alerts">
      {firing.length === 0 ? (
        <span className="muted">
          No alerts firing ({q.data.length} {q.data.length === 1 ? "rule" : "rules"}).{" "}
        </span>
      ) : (
        firing.map((r) => (
          <span key={r.rule.id} className="firing">
            <span className={`badge alert-${r.state}`}>{r.state}</span> {r.rule.name}{" "}
          </span>
        ))
      )}
      <Link to="/alerts">Alerts →</Link>
    </p>
  );
}

export function OverviewPage() {
  const [url] = useSearchParams();
  const from = url.get("from") || "24h";
  const charts = useQueries({
    queries: METRICS.map((m) => ({
      queryKey: ["timeseries", m.metric, from],
      queryFn: () => api.timeseries(new URLSearchParams({ metric: m.metric, from })),
    })),
  });
  const findings = useQuery({
    queryKey: ["findings", "recent", from],
    queryFn: () => api.findings(new URLSearchParams({ from, limit: "10" })),
  });
  return (
    <div className="page">
      <h1>Overview</h1>
      <FilterBar>
        <Select name="from" label="Range" options={RANGES.filter((r) => r !== "24h")} allLabel="24h" />
      </FilterBar>
      <FiringAlerts />
      <div className="charts">
        {METRICS.map((m, i) => {
          const q = charts[i]!;
          return q.isError ? (
            <div key={m.metric} className="chart error">
              {m.title}: {q.error.message}
            </div>
          ) : (
            <LineChart
              key={m.metric}
              title={m.title}
              series={q.data?.series[0]}
              format={m.format}
              fromNs={q.data?.from_ns ?? 0}
              toNs={q.data?.to_ns ?? 1}
            />
          );
        })}
      </div>
      <div className="two-col">
        <section>
          <h2>
            Recent traces <Link to={`/traces?from=${from}`}>all →</Link>
          </h2>
          <RecentTraces from={from} />
        </section>
        <section>
          <h2>
            Recent findings <Link to={`/security?from=${from}`}>all →</Link>
          </h2>
          {findings.isError && <p className="error">{findings.error.message}</p>}
          {findings.data &&
            (findings.data.items.length ? <FindingsTable items={findings.data.items} /> : <p className="muted">No findings in this range.</p>)}
        </section>
      </div>
    </div>
  );
}
