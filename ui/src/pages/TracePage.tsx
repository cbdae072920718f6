import { useQuery } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useState } from "react";
import { Link, useParams, useSearchParams } from "react-router-dom";
import { api, session, type Finding } from "../api";
import { StatusBadge } from "../components/StatusBadge";
import { cost, count, duration, time } from "../format";
import { elapsedNs, hasRunning } from "../trace/live";
import { traceKey } from "../trace/prefetch";
import { SpanPanel } from "../trace/SpanPanel";
import { traceScale } from "../trace/timescale";
import { buildTree, rowSpan, visibleRows, type Row } from "../trace/tree";
import { useNowNs } from "../trace/useNowNs";
import { useTraceLive } from "../trace/useTraceLive";
import { Waterfall } from "../trace/Waterfall";

function toggled(set: ReadonlySet<string>, key: string): Set<string> {
  const next = new Set(set);
  if (!next.delete(key)) next.add(key);
  return next;
}

export function TracePage() {
  const { traceId = "" } = useParams();
  const [url, setUrl] = useSearchParams();
  const q = useQuery({ queryKey: traceKey(session.project, traceId), queryFn: () => api.trace(traceId) });
  const [collapsed, setCollapsed] = useState<ReadonlySet<string>>(new Set());
  const [openLoops, setOpenLoops] = useState<ReadonlySet<string>>(new Set());

  const spans = q.data?.spans;
  const roots = useMemo(() => {
    if (!q.data) return [];
    const r = buildTree(q.data.spans, q.data.depth);
    performance.mark("trace:tree");
    return r;
  }, [q.data]);
  const scale = useMemo(() => traceScale(spans ?? []), [spans]);
  const running = useMemo(() => hasRunning(spans ?? []), [spans]);
  // While spans run (or the trace is recent), new and finished spans arrive over the live
  // socket and the trace is refetched; folding, selection and scroll stay as they are.
  const live = useTraceLive(traceId, spans, q.refetch);
  const rows = useMemo(() => visibleRows(roots, collapsed, openLoops), [roots, collapsed, openLoops]);
  const findingsBySpan = useMemo(() => {
    const m = new Map<string, Finding[]>();
    for (const f of q.data?.findings ?? []) m.set(f.span_id, [...(m.get(f.span_id) ?? []), f]);
    return m;
  }, [q.data]);
  const findingCounts = useMemo(() => new Map([...findingsBySpan].map(([k, v]) => [k, v.length])), [findingsBySpan]);

  // The selected span lives in the URL (?span=) so a link can point at one span.
  const spanId = url.get("span") ?? "";
  const selected = useMemo(() => rows.findIndex((r) => rowSpan(r).span_id === spanId), [rows, spanId]);
  const select = useCallback(
    (index: number) => {
      const row = rows[index];
      if (!row) return;
      setUrl(
        (prev) => {
          const next = new URLSearchParams(prev);
          next.set("span", rowSpan(row).span_id);
          return next;
        },
        { replace: true },
      );
    },
    [rows, setUrl],
  );
  const toggle = useCallback((row: Row) => {
    if (row.kind === "loop") setOpenLoops((s) => toggled(s, row.key));
    else setCollapsed((s) => toggled(s, row.node.span.span_id));
  }, []);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
      if (e.key === "ArrowDown" || e.key === "j") select(Math.min(rows.length - 1, selected + 1));
      else if (e.key === "ArrowUp" || e.key === "k") select(Math.max(0, selected - 1));
      else if ((e.key === "ArrowRight" || e.key === "ArrowLeft") && rows[selected]) {
        const row = rows[selected]!;
        if (row.expanded === (e.key === "ArrowLeft")) toggle(row);
      } else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [rows, selected, select, toggle]);

  if (q.isError) {
    return (
      <div className="page">
        <p className="error">Could not load trace {traceId}: {q.error.message}</p>
        <Link to="/traces">Back to traces</Link>
      </div>
    );
  }
  if (!q.data) return <div className="page muted">Loading trace…</div>;
  const t = q.data.trace;
  // The panel follows the URL even when the span's row is hidden in a folded loop or a
  // collapsed subtree (a link from a finding can point there).
  const selectedSpan = spans?.some((s) => s.span_id === spanId) ? spanId : null;
  return (
    <div className="trace-page">
      <header className="trace-head">
        <Link to="/traces">← Traces</Link>
        <h1>{t.name}</h1>
        <StatusBadge status={t.running_count > 0 && t.status !== "error" ? "running" : t.status} />
        <span className="muted">{time(t.start_ns)}</span>
        <TraceDuration startNs={t.start_ns} durationNs={t.duration_ns} running={t.running_count > 0} />
        <span>{count(t.span_count)} spans</span>
        {t.error_count > 0 && <span className="error">{t.error_count} errors</span>}
        <span>{count(t.tokens.total)} tokens</span>
        <span>{cost(t.cost_usd)}</span>
        {q.data.findings.length > 0 && (
          <Link to={`/security?trace_id=${t.trace_id}`}>{q.data.findings.length} findings</Link>
        )}
        <span className="muted mono">{t.trace_id}</span>
        {live !== "off" && (
          <span
            className={`badge live-${live}`}
            data-testid="trace-live"
            title="Listening for new and finished spans of this trace (/api/v1/live)"
          >
            {live === "live" ? "● live" : live}
          </span>
        )}
      </header>
      <div className="trace-body">
        <Waterfall rows={rows} scale={scale} running={running} selected={selected} findingsBySpan={findingCounts} onSelect={select} onToggle={toggle} />
        {selectedSpan ? (
          <SpanPanel traceId={traceId} spanId={selectedSpan} findings={findingsBySpan.get(selectedSpan) ?? []} />
        ) : (
          <aside className="panel muted">Select a span (click, or ↑/↓) to see its input, output and attributes.</aside>
        )}
      </div>
    </div>
  );
}

/** The trace's duration, or while spans run how long it has run so far, ticking. */
function TraceDuration({ startNs, durationNs, running }: { startNs: number; durationNs: number | null; running: boolean }) {
  const nowNs = useNowNs(running);
  if (!running) return <span data-testid="trace-duration">{duration(durationNs)}</span>;
  return (
    <span data-testid="trace-duration" title="Spans are still running: the time since the trace started">
      {duration(elapsedNs({ start_ns: startNs }, nowNs))} so far
    </span>
  );
}
