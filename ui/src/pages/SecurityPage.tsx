import { useQuery } from "@tanstack/react-query";
import { useSearchParams } from "react-router-dom";
import { api, facets } from "../api";
import { EmptyState } from "../components/EmptyState";
import { useCursorPages } from "../components/useCursorPages";
import { FilterBar, RANGES, Select, TextFilter } from "../components/Filters";
import { FindingsTable } from "../components/FindingsTable";

const SEVERITIES = ["low", "medium", "high", "critical"];

export function SecurityPage() {
  const [url] = useSearchParams();
  const params = new URLSearchParams(url);
  params.delete("cursor");
  params.set("limit", "100");
  // The counts route defaults to the last 24 hours and the list to all time; ask both for
  // the same window so the numbers match the table.
  const range = new URLSearchParams({ from: url.get("from") ?? "3650d" });
  const counts = useQuery({ queryKey: ["finding-counts", range.toString()], queryFn: () => facets.findings(range) });
  const { query: findings, items } = useCursorPages("findings", params, api.findings);
  const c = counts.data;
  return (
    <div className="page">
      <h1>Security findings</h1>
      {c && (
        <div className="stat-row">
          <div className="stat">
            <div className="stat-value">{c.total}</div>
            <div className="muted">findings in {c.traces} traces</div>
          </div>
          {c.by_severity.map((s) => (
            <div key={s.value} className="stat">
              <div className={`stat-value sev-text-${s.value}`}>{s.count}</div>
              <div className="muted">{s.value}</div>
            </div>
          ))}
        </div>
      )}
      <FilterBar>
        <Select name="from" label="Since" options={RANGES} allLabel="all time" />
        <Select name="min_severity" label="At least" options={SEVERITIES} />
        <Select name="severity" label="Severity" options={SEVERITIES} />
        <Select name="category" label="Category" options={c?.by_category ?? []} />
        <TextFilter name="service" label="Service" />
        <TextFilter name="agent" label="Agent" />
        <TextFilter name="trace_id" label="Trace id" />
      </FilterBar>
      {findings.isError && <div className="error">Could not load findings: {findings.error.message}</div>}
      {findings.isSuccess && items.length === 0 ? (
        [...url.keys()].length > 0 ? <p className="muted">No findings match these filters.</p> : <EmptyState what="findings" />
      ) : (
        <FindingsTable items={items} />
      )}
      {findings.hasNextPage && (
        <button className="more" disabled={findings.isFetchingNextPage} onClick={() => findings.fetchNextPage()}>
          Load more
        </button>
      )}
    </div>
  );
}
