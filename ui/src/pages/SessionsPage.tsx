import { useQuery } from "@tanstack/react-query";
import { Link, useSearchParams } from "react-router-dom";
import { api, facets } from "../api";
import { EmptyState } from "../components/EmptyState";
import { FilterBar, RANGES, Select } from "../components/Filters";
import { useCursorPages } from "../components/useCursorPages";
import { cost, count, duration, time } from "../format";
import { previewText } from "../sessions/turns";
import { Head } from "../components/Head";

export function SessionsPage() {
  const [url] = useSearchParams();
  const params = new URLSearchParams(url);
  params.delete("cursor");
  params.set("limit", "50");
  const range = new URLSearchParams({ from: url.get("from") ?? "30d" });
  const users = useQuery({ queryKey: ["facets", range.toString()], queryFn: () => facets.traces(range) });
  const { query, items } = useCursorPages("sessions", params, api.sessions);
  return (
    <div className="page">
      <h1>Sessions</h1>
      <FilterBar>
        <Select name="from" label="Since" options={RANGES} allLabel="all time" />
        <Select name="user" label="User" options={users.data?.users ?? []} />
      </FilterBar>
      {query.isError && <div className="error">Could not load sessions: {query.error.message}</div>}
      {query.isSuccess && items.length === 0 ? (
        [...url.keys()].length > 0 ? (
          <p className="muted">No sessions match these filters.</p>
        ) : (
          <>
            <p className="muted">
              A session groups the traces of one conversation: set <code>session.id</code> (or{" "}
              <code>gen_ai.conversation.id</code>) on your spans, or wrap calls in <code>with spyglass.session("…"):</code> in the Python SDK.
            </p>
            <EmptyState what="sessions" />
          </>
        )
      ) : (
        <table className="table" data-testid="sessions-table">
          <Head cols={["Started", "Session", "User", { num: "Turns" }, { num: "Spans" }, { num: "Errors" }, { num: "Length" }, { num: "Tokens" }, { num: "Cost" }, "First input"]} />
          <tbody>
            {items.map((s) => (
              <tr key={s.session_id} data-testid="session-row">
                <td className="mono">{time(s.start_ns)}</td>
                <td>
                  <Link to={`/sessions/${encodeURIComponent(s.session_id)}`}>{s.session_id}</Link>
                </td>
                <td>{s.user_id ?? "—"}</td>
                <td className="num">{s.trace_count}</td>
                <td className="num">{s.span_count}</td>
                <td className={`num ${s.error_count ? "status-error" : ""}`}>{s.error_count}</td>
                <td className="num">{s.end_ns != null ? duration(s.end_ns - s.start_ns) : "running"}</td>
                <td className="num">{count(s.tokens.total)}</td>
                <td className="num">{cost(s.cost_usd)}</td>
                <td className="evidence">{previewText(s.first_input_preview, "user") ?? ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {query.hasNextPage && (
        <button className="more" disabled={query.isFetchingNextPage} onClick={() => query.fetchNextPage()}>
          Load more
        </button>
      )}
    </div>
  );
}
