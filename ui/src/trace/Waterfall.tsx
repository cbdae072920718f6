// The span tree beside its waterfall: one virtualized list, so only the rows on screen exist
// in the DOM whatever the trace's size.

import { useVirtualizer } from "@tanstack/react-virtual";
import { memo, useEffect, useRef } from "react";
import { duration } from "../format";
import { bar, ticks, type TimeScale } from "./timescale";
import { rowSpan, type Row } from "./tree";

const ROW_HEIGHT = 26;

function rowBar(row: Row, scale: TimeScale) {
  if (row.kind === "span") return bar(row.node.span, scale);
  // A folded loop covers its first start to its last end.
  const first = row.nodes[0]!.span;
  const last = row.nodes[row.nodes.length - 1]!.span;
  return bar({ start_ns: first.start_ns, end_ns: last.end_ns }, scale);
}

const RowView = memo(function RowView({
  row,
  scale,
  selected,
  findings,
  onSelect,
  onToggle,
}: {
  row: Row;
  scale: TimeScale;
  selected: boolean;
  findings: number;
  onSelect: () => void;
  onToggle: () => void;
}) {
  const span = rowSpan(row);
  const b = rowBar(row, scale);
  const hasChildren = row.kind === "loop" || row.node.children.length > 0;
  const running = span.end_ns == null;
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
        {findings > 0 && <span className="badge sev-high">{findings}</span>}
      </div>
      <div className="wf-track">
        <div className={`wf-bar status-${status} kind-${span.kind}`} style={{ left: `${b.left}%`, width: `${b.width}%` }} />
        <span className="wf-dur" style={{ left: `${Math.min(b.left + b.width, 88)}%` }}>
          {row.kind === "loop" ? `${row.nodes.length} runs` : duration(span.duration_ns)}
        </span>
      </div>
    </div>
  );
});

export function Waterfall({
  rows,
  scale,
  selected,
  findingsBySpan,
  onSelect,
  onToggle,
}: {
  rows: Row[];
  scale: TimeScale;
  selected: number;
  findingsBySpan: Map<string, number>;
  onSelect: (index: number) => void;
  onToggle: (row: Row) => void;
}) {
  const parent = useRef<HTMLDivElement>(null);
  const v = useVirtualizer({
    count: rows.length,
    getScrollElement: () => parent.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 15,
  });
  // Keep the keyboard selection on screen.
  useEffect(() => {
    if (selected >= 0) v.scrollToIndex(selected, { align: "auto" });
  }, [selected, v]);
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
