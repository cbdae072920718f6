import { Link } from "react-router-dom";
import type { Finding } from "../api";
import { time } from "../format";
import { SeverityBadge } from "./StatusBadge";

export function FindingsTable({ items }: { items: Finding[] }) {
  return (
    <table className="table" data-testid="findings-table">
      <thead>
        <tr>
          <th>Time</th>
          <th>Severity</th>
          <th>Category</th>
          <th>Detector</th>
          <th>Evidence</th>
          <th>Span</th>
        </tr>
      </thead>
      <tbody>
        {items.map((f) => (
          <tr key={f.id} data-testid="finding-row">
            <td className="mono">{time(f.time_ns)}</td>
            <td>
              <SeverityBadge severity={f.severity} />
            </td>
            <td>{f.category}</td>
            <td className="muted">{f.detector}</td>
            <td className="evidence">{f.evidence}</td>
            <td>
              <Link to={`/traces/${f.trace_id}?span=${f.span_id}`}>{f.span_name ?? f.span_id}</Link>
              {f.service_name && <div className="muted">{f.service_name}</div>}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
