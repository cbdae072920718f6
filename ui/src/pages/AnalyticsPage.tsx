// Cost, tokens, latency and errors over the selected range, broken down by model, agent,
// tool and user.

import { useQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router-dom";
import { api, type Timeseries } from "../api";
import { FilterBar, RANGES, Select } from "../components/Filters";
import { LineChart } from "../components/LineChart";
import { TopTable } from "../components/TopTable";
import { cost, count, ms } from "../format";
import { Head } from "../components/Head";

const GROUPS = ["agent", "user", "tool", "service"];

function useTimeseries(metric: string, from: string, groupBy?: string) {
  const p = new URLSearchParams({ metric, from });
  if (groupBy) {
    p.set("group_by", groupBy);
    p.set("limit", "6");
  }
  return useQuery({ queryKey: ["timeseries", p.toString()], queryFn: () => api.timeseries(p) });
}

function useTop(kind: string, from: string) {
  const p = new URLSearchParams({ kind, from, limit: "10" });
  return useQuery({ queryKey: ["top", p.toString()], queryFn: () => api.top(p) });
}

/** One small chart per group of a grouped series (the largest first). */
function SmallMultiples({ data, format, testId }: { data: Timeseries | undefined; format: (v: number) => string; testId: string }) {
  if (!data) return <p className="muted">Loading…</p>;
  if (!data.series.length) return <p className="muted">Nothing in this range.</p>;
  return (
    <div className="charts" data-testid={testId}>
      {data.series.map((s) => (
        <LineChart key={s.group ?? "none"} title={s.group ?? "(none)"} series={s} format={format} fromNs={data.from_ns} toNs={data.to_ns} />
      ))}
    </div>
  );
}

export function AnalyticsPage() {
  const [url] = useSearchParams();
  const from = url.get("from") || "24h";
  const by = url.get("by") || "model";
  const costSeries = useTimeseries("cost", from, by);
  const tokens = [useTimeseries("input_tokens", from), useTimeseries("output_tokens", from), useTimeseries("cache_read_tokens", from)];
  const p95 = useTimeseries("latency_p95", from, "model");
  const usageParams = new URLSearchParams({ by: "user", from, limit: "10" });
  const usage = useQuery({ queryKey: ["usage", usageParams.toString()], queryFn: () => api.usage(usageParams) });
  const tops = {
    models: useTop("costly_models", from),
    agents: useTop("costly_agents", from),
    users: useTop("users", from),
    tools: useTop("slow_tools", from),
    slowModels: useTop("slow_models", from),
  };
  const errors = [costSeries, p95, usage, ...tokens, ...Object.values(tops)].find((q) => q.isError)?.error;
  return (
    <div className="page">
      <h1>Analytics</h1>
      <FilterBar>
        <Select name="from" label="Range" options={RANGES.filter((r) => r !== "24h")} allLabel="24h" />
        <Select name="by" label="Cost by" options={GROUPS} allLabel="model" />
      </FilterBar>
      {errors && <p className="error">{errors.message}</p>}
      <h2>Cost by {by}</h2>
      <SmallMultiples data={costSeries.data} format={cost} testId="cost-charts" />
      <div className="three-col">
        <TopTable title="Cost by model" label="Model" rows={tops.models.data} testId="costly-models" />
        <TopTable title="Cost by agent" label="Agent" rows={tops.agents.data} />
        <TopTable title="Cost by user" label="User" rows={tops.users.data} />
      </div>
      <h2>Token usage</h2>
      <div className="charts">
        {["Input tokens", "Output tokens", "Cache read tokens"].map((title, i) => {
          const d = tokens[i]!.data;
          return <LineChart key={title} title={title} series={d?.series[0]} format={(v) => count(Math.round(v))} fromNs={d?.from_ns ?? 0} toNs={d?.to_ns ?? 1} />;
        })}
      </div>
      <section>
        <h2>Tokens by user</h2>
        {usage.data && usage.data.length === 0 ? (
          <p className="muted">Nothing in this range.</p>
        ) : (
          <table className="table" data-testid="usage-table">
            <Head cols={["User", { num: "Sessions" }, { num: "Traces" }, { num: "Input" }, { num: "Output" }, { num: "Cache read" }, { num: "Reasoning" }, { num: "Total" }, { num: "Cost" }]} />
            <tbody>
              {(usage.data ?? []).map((u) => (
                <tr key={u.key}>
                  <td>{u.key}</td>
                  <td className="num">{u.sessions ?? "—"}</td>
                  <td className="num">{count(u.traces)}</td>
                  <td className="num">{count(u.input_tokens)}</td>
                  <td className="num">{count(u.output_tokens)}</td>
                  <td className="num">{count(u.cache_read_tokens)}</td>
                  <td className="num">{count(u.reasoning_tokens)}</td>
                  <td className="num">{count(u.total_tokens)}</td>
                  <td className="num">{cost(u.cost_usd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <h2>Latency (p95) by model</h2>
      <SmallMultiples data={p95.data} format={ms} testId="latency-charts" />
      <div className="two-col">
        <TopTable title="Latency and errors by tool" label="Tool" rows={tops.tools.data} testId="tools-latency" />
        <TopTable title="Latency and errors by model" label="Model" rows={tops.slowModels.data} />
      </div>
    </div>
  );
}
