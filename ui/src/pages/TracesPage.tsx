import { useQuery } from "@tanstack/react-query";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { api, facets, type TraceSummary } from "../api";
import { FilterBar, RANGES, Select, TextFilter, useParam } from "../components/Filters";
import { EmptyState } from "../components/EmptyState";
import { useCursorPages } from "../components/useCursorPages";
import { StatusBadge } from "../components/StatusBadge";
import { cost, count, duration, time } from "../format";

const PAGE = 50;
const KINDS = ["agent", "chain", "llm", "tool", "retriever", "embedding", "reranker", "guardrail", "event", "other"];

/** The URL's filters as API parameters: the URL holds exactly what the API takes. */
function apiParams(url: URLSearchParams): URLSearchParams {
  const p = new URLSearchParams(url);
  p.delete("cursor");
  p.set("limit", String(PAGE));
  return p;
}

function SortHeader({ field, label }: { field: string; label: string }) {
  const [sort, setSort] = useParam("sort");
  const [order, setOrder] = useParam("order");
  const active = (sort || "start_time") === field;
  const desc = (order || "desc") === "desc";
  return (
    <th
      className={`sortable num ${active ? "active" : ""}`}
      onClick={() => {
        if (active) setOrder(desc ? "asc" : "desc");
        else setSort(field === "start_time" ? "" : field);
      }}
    >
      {label} {active ? (desc ? "▼" : "▲") : ""}
    </th>
  );
}

function TraceRow({ t }: { t: TraceSummary }) {
  const navigate = useNavigate();
  return (
    <tr className="clickable" onClick={() => navigate(`/traces/${t.trace_id}`)} data-testid="trace-row">
      <td className="mono">{time(t.start_ns)}</td>
      <td>
        <Link to={`/traces/${t.trace_id}`} onClick={(e) => e.stopPropagation()}>
          {t.name || t.trace_id}
        </Link>
        {t.input_preview && <div className="preview">{t.input_preview}</div>}
      </td>
      <td>{t.services.join(", ")}</td>
      <td>{t.agents.join(", ")}</td>
      <td>{t.models.join(", ")}</td>
      <td>
        <StatusBadge status={t.running_count > 0 && t.status !== "error" ? "running" : t.status} />
      </td>
      <td className="num">{count(t.span_count)}</td>
      <td className="num">{duration(t.duration_ns)}</td>
      <td className="num">{count(t.tokens.total)}</td>
      <td className="num">{cost(t.cost_usd)}</td>
    </tr>
  );
}

export function TracesPage() {
  const [url] = useSearchParams();
  const params = apiParams(url);
  const range = new URLSearchParams();
  if (url.get("from")) range.set("from", url.get("from")!);
  const facetQuery = useQuery({ queryKey: ["facets", range.toString()], queryFn: () => facets.traces(range) });
  const { query: traces, items: rows } = useCursorPages("traces", params, api.traces);
  const f = facetQuery.data;
  const filtered = [...url.keys()].length > 0;

  return (
    <div className="page">
      <h1>Traces</h1>
      <FilterBar>
        <TextFilter name="q" label="Search" placeholder="text in names, input, output" />
        <Select name="from" label="Since" options={RANGES} allLabel="all time" />
        <Select name="service" label="Service" options={f?.services ?? []} />
        <Select name="agent" label="Agent" options={f?.agents ?? []} />
        <Select name="model" label="Model" options={f?.models ?? []} />
        <Select name="environment" label="Environment" options={f?.environments ?? []} />
        <Select name="status" label="Status" options={["ok", "error", "unset", "running"]} />
        <Select name="kind" label="Has kind" options={KINDS} />
        <TextFilter name="user" label="User" />
        <TextFilter name="session" label="Session" />
        <TextFilter name="min_duration_ms" label="Min ms" type="number" />
        <TextFilter name="min_cost" label="Min $" type="number" />
      </FilterBar>
      {traces.isError && <div className="error">Could not load traces: {traces.error.message}</div>}
      {traces.isSuccess && rows.length === 0 ? (
        filtered ? <p className="muted">No traces match these filters.</p> : <EmptyState what="traces" />
      ) : (
        <table className="table" data-testid="traces-table">
          <thead>
            <tr>
              <SortHeader field="start_time" label="Start" />
              <th>Name</th>
              <th>Services</th>
              <th>Agents</th>
              <th>Models</th>
              <th>Status</th>
              <th className="num">Spans</th>
              <SortHeader field="duration" label="Duration" />
              <th className="num">Tokens</th>
              <SortHeader field="cost" label="Cost" />
            </tr>
          </thead>
          <tbody>
            {rows.map((t) => (
              <TraceRow key={t.trace_id} t={t} />
            ))}
          </tbody>
        </table>
      )}
      {traces.isLoading && <p className="muted">Loading…</p>}
      {traces.hasNextPage && (
        <button className="more" disabled={traces.isFetchingNextPage} onClick={() => traces.fetchNextPage()}>
          {traces.isFetchingNextPage ? "Loading…" : "Load more"}
        </button>
      )}
    </div>
  );
}
