// The span tree beside its waterfall: one virtualized list, so only the rows on screen exist
// in the DOM whatever the trace's size.

import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useEffect, useMemo, useRef } from "react";
import { duration } from "../format";
import { barEnd, elapsedNs, liveScale } from "./live";
import { bar, ticks, type TimeScale } from "./timescale";
import { rowSpan, type Row } from "./tree";
import { useNowNs } from "./useNowNs";

const ROW_HEIGHT = 26;

/** The span whose end a row's bar ends at (a folded loop: its last run). */
function lastSpan(row: Row) {
  return row.kind === "span" ? row.node.span : row.nodes[row.nodes.length - 1]!.span;
}

/** A row's bar; a running one reaches to `nowNs`. */
function rowBar(row: Row, scale: TimeScale, nowNs: number) {
  // A folded loop covers its first start to its last end.
  const first = rowSpan(row);
  return bar({ start_ns: first.start_ns, end_ns: barEnd(lastSpan(row), nowNs) }, scale);
}

const RowView = memo(function RowView({
  row,
  scale,
  nowNs,
  selected,
  findings,
  onSelect,
  onToggle,
}: {
  row: Row;
  scale: TimeScale;
  /** The clock, for a running row only (0 for others, so the clock does not re-render them). */
  nowNs: number;
  selected: boolean;
  findings: number;
  onSelect: () => void;
  onToggle: () => void;
}) {
  const span = rowSpan(row);
  const running = lastSpan(row).end_ns == null;
  const b = rowBar(row, scale, nowNs);
  const hasChildren = row.kind === "loop" || row.node.children.length > 0;
  const status = running ? "running" : span.status;
  return (
    <div className={`wf-row ${selected ? "selected" : ""}`} onClick={onSelect} data-testid="span-row" data-span-id={span.span_id}>
      <div className="wf-label" style={{ paddingLeft: 6 + row.depth * 14 }}>
        <button
          className="twisty"
          style={{ visibility: hasChildren ? "visible" : "hidden" }}
          onClick={(e) => {
            e.stopPropagation();
            onToggle();
          }}
          aria-label={row.expanded ? "collapse" : "expand"}
        >
          {row.expanded ? "▾" : "▸"}
        </button>
        <span className={`kind kind-${span.kind}`}>{span.kind}</span>
        <span className="wf-name">{span.name}</span>
        {row.kind === "loop" && (
          <span className="loop-count" data-testid="loop-row">
            ×{row.nodes.length}
          </span>
        )}
        {running && (
          <span className="badge status-running" data-testid="running-badge">
            running
          </span>
        )}
        {findings > 0 && <span className="badge sev-high">{findings}</span>}
      </div>
      <div className="wf-track">
        <div
          className={`wf-bar status-${status} kind-${span.kind}${running ? " wf-running" : ""}`}
          style={{ left: `${b.left}%`, width: `${b.width}%` }}
        />
        <span className="wf-dur" style={{ left: `${Math.min(b.left + b.width, 88)}%` }} title={running ? "running for" : undefined}>
          {row.kind === "loop"
            ? `${row.nodes.length} runs`
            : running
              ? `${duration(elapsedNs(span, nowNs))}…`
              : duration(span.duration_ns)}
        </span>
      </div>
    </div>
  );
});

export function Waterfall({
  rows,
  scale: baseScale,
  running,
  selected,
  findingsBySpan,
  onSelect,
  onToggle,
}: {
  rows: Row[];
  scale: TimeScale;
  /** Whether any span of the trace is still running: then the clock ticks and the window
   * reaches to now. */
  running: boolean;
  selected: number;
  findingsBySpan: Map<string, number>;
  onSelect: (index: number) => void;
  onToggle: (row: Row) => void;
}) {
  const parent = useRef<HTMLDivElement>(null);
  const nowNs = useNowNs(running);
  const scale = useMemo(() => liveScale(baseScale, running, nowNs), [baseScale, running, nowNs]);
  const v = useVirtualizer({
    count: rows.length,
    getScrollElement: () => parent.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 15,
  });
  // Keep the keyboard selection on screen, when the selection changes (not when a live
  // refetch adds rows above it and only its index moves: that would undo the user's scrolling).
  const shownSelection = useRef<string | null>(null);
  useEffect(() => {
    const id = selected >= 0 && rows[selected] ? rowSpan(rows[selected]!).span_id : null;
    if (id === shownSelection.current) return;
    shownSelection.current = id;
    if (selected >= 0) v.scrollToIndex(selected, { align: "auto" });
  }, [selected, rows, v]);
  return (
    <div className="waterfall">
      <div className="wf-row wf-header">
        <div className="wf-label">Span ({rows.length.toLocaleString("en-US")} rows)</div>
        <div className="wf-track">
          {/* The last label would overflow the right edge. */}
          {ticks(scale)
            .filter((t) => t.pct < 95)
            .map((t) => (
            <span key={t.ns} className="tick" style={{ left: `${t.pct}%` }}>
              {duration(t.ns)}
            </span>
          ))}
        </div>
      </div>
      <div ref={parent} className="wf-scroll" data-testid="waterfall-scroll">
        <div style={{ height: v.getTotalSize(), position: "relative" }}>
          {v.getVirtualItems().map((item) => {
            const row = rows[item.index]!;
            return (
              <div key={item.key} style={{ position: "absolute", top: 0, left: 0, right: 0, height: ROW_HEIGHT, transform: `translateY(${item.start}px)` }}>
                <RowView
                  row={row}
                  scale={scale}
                  nowNs={running && lastSpan(row).end_ns == null ? nowNs : 0}
                  selected={item.index === selected}
                  findings={findingsBySpan.get(rowSpan(row).span_id) ?? 0}
                  onSelect={() => onSelect(item.index)}
                  onToggle={() => onToggle(row)}
                />
              </div>
            );
          })}
        </div>
      </div>
    </div>
  );
}
