// Spans and findings as the server commits them, from the `/api/v1/live` WebSocket.

import { useEffect, useRef, useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { FilterBar, TextFilter, useParam } from "../components/Filters";
import { SeverityBadge, StatusBadge } from "../components/StatusBadge";
import { cost, duration } from "../format";
import { matches, prepend, rowsOf, type LiveRow } from "../live/buffer";
import { openLive, type SocketState } from "../live/socket";
import { Head } from "../components/Head";

/** Rows kept in memory; older ones are dropped. */
export const LIVE_MAX_ROWS = 500;

/** The socket for the server-side filters; reconnects (after a pause of 2 s) when closed. */
function useLive(filters: string, onRows: (rows: LiveRow[]) => void, onDropped: (n: number) => void): SocketState {
  const [state, setState] = useState<SocketState>("connecting");
  const handlers = useRef({ onRows, onDropped });
  handlers.current = { onRows, onDropped };
  useEffect(
    () =>
      openLive(
        filters,
        (msg) => {
          if (msg.type === "dropped") handlers.current.onDropped(msg.batches);
          else if (msg.type !== "subscribed") handlers.current.onRows(rowsOf(msg));
        },
        setState,
      ),
    [filters],
  );
  return state;
}

function SpanRowView({ row }: { row: Extract<LiveRow, { type: "span" }> }) {
  const s = row.span;
  return (
    <tr data-testid="live-row">
      <td className="mono">{new Date(s.received_ns / 1e6).toLocaleTimeString()}</td>
      <td>
        <span className="kind">{s.kind}</span>
      </td>
      <td>
        <Link to={`/traces/${s.trace_id}?span=${s.span_id}`}>{s.name}</Link>
        {(s.input_preview || s.output_preview) && <div className="muted preview">{s.output_preview ?? s.input_preview}</div>}
      </td>
      <td>{s.service_name}</td>
      <td className="muted">{[s.agent_name, s.model, s.tool_name].filter(Boolean).join(" · ")}</td>
      <td>
        <StatusBadge status={s.status} />
      </td>
      <td className="num">{duration(s.duration_ns)}</td>
      <td className="num">{cost(s.cost_usd)}</td>
    </tr>
  );
}

function FindingRowView({ row }: { row: Extract<LiveRow, { type: "finding" }> }) {
  const f = row.finding;
  return (
    <tr data-testid="live-row" className="live-finding">
      <td className="mono">{new Date(f.time_ns / 1e6).toLocaleTimeString()}</td>
      <td>
        <span className="kind">finding</span>
      </td>
      <td>
        <Link to={`/traces/${f.trace_id}?span=${f.span_id}`}>{f.category}</Link>
        <div className="muted preview">{f.evidence}</div>
      </td>
      <td>{f.service_name}</td>
      <td className="muted">{[f.agent_name, f.detector].filter(Boolean).join(" · ")}</td>
      <td>
        <SeverityBadge severity={f.severity} />
      </td>
      <td />
      <td />
    </tr>
  );
}

export function LivePage() {
  const [url] = useSearchParams();
  const [q] = useParam("q");
  const server = new URLSearchParams();
  for (const k of ["service", "session", "trace_id"]) {
    const v = url.get(k);
    if (v) server.set(k, v);
  }
  const filters = server.toString();
  const [rows, setRows] = useState<LiveRow[]>([]);
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState<LiveRow[]>([]);
  const [dropped, setDropped] = useState(0);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const state = useLive(
    filters,
    (incoming) => {
      // While paused, new rows wait (bounded too) and are shown on resume.
      if (pausedRef.current) setHeld((h) => prepend(h, incoming, LIVE_MAX_ROWS));
      else setRows((r) => prepend(r, incoming, LIVE_MAX_ROWS));
    },
    (n) => setDropped((d) => d + n),
  );
  // A new server-side filter starts a new stream.
  useEffect(() => {
    setRows([]);
    setHeld([]);
  }, [filters]);
  const resume = () => {
    setRows((r) => prepend(r, held, LIVE_MAX_ROWS));
    setHeld([]);
    setPaused(false);
  };
  const shown = rows.filter((r) => matches(r, q));
  return (
    <div className="page">
      <h1>
        Live <span className={`badge live-${state}`} data-testid="live-status">{state}</span>
      </h1>
      <FilterBar>
        <TextFilter name="q" label="Filter" placeholder="name, model, agent, text…" />
        <TextFilter name="service" label="Service" />
        <TextFilter name="session" label="Session" />
        <TextFilter name="trace_id" label="Trace id" />
        <button className="pause" data-testid="live-pause" onClick={() => (paused ? resume() : setPaused(true))}>
          {paused ? `Resume${held.length ? ` (${held.length} new)` : ""}` : "Pause"}
        </button>
        <button onClick={() => setRows([])} disabled={!rows.length}>
          Clear
        </button>
      </FilterBar>
      <p className="muted">
        Newest first; the last {LIVE_MAX_ROWS} spans and findings are kept.
        {dropped > 0 && <span className="error"> This view fell behind and skipped {dropped} batches.</span>}
      </p>
      {rows.length === 0 ? (
        <div className="empty" data-testid="live-empty">
          <h2>Waiting for spans</h2>
          <p>
            Spans and security findings appear here the moment the server stores them. Send a trace over OTLP to{" "}
            <code>http://{window.location.hostname || "127.0.0.1"}:4318/v1/traces</code> (or <code>:4317</code> for gRPC), or
            with the Python SDK (<code>pip install spyglass-sdk</code>), and keep this page open.
          </p>
        </div>
      ) : (
        <table className="table" data-testid="live-table">
          <Head cols={["Received", "Kind", "Name", "Service", "Agent · model · tool", "Status", { num: "Duration" }, { num: "Cost" }]} />
          <tbody>
            {shown.map((r) => (r.type === "span" ? <SpanRowView key={r.key} row={r} /> : <FindingRowView key={r.key} row={r} />))}
          </tbody>
        </table>
      )}
      {rows.length > 0 && shown.length === 0 && <p className="muted">No live rows match “{q}”.</p>}
    </div>
  );
}
