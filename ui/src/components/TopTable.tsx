// A ranked table of `/api/v1/analytics/top` rows (tools, models, agents, users).

import type { TopRow } from "../api";
import { cost, count, ms } from "../format";
import { Head } from "./Head";

const pct = (v: number | null) => (v == null ? "—" : `${(v * 100).toFixed(1)}%`);

export function TopTable({ title, label, rows, testId }: { title: string; label: string; rows: TopRow[] | undefined; testId?: string }) {
  return (
    <section className="top-table" data-testid={testId}>
      <h2>{title}</h2>
      {rows && rows.length === 0 ? (
        <p className="muted">Nothing in this range.</p>
      ) : (
        <table className="table">
          <Head cols={[label, { num: "Calls" }, { num: "Errors" }, { num: "Error rate" }, { num: "p50" }, { num: "p95" }, { num: "Tokens" }, { num: "Cost" }]} />
          <tbody>
            {(rows ?? []).map((r) => (
              <tr key={r.key} data-testid="top-row">
                <td>{r.key}</td>
                <td className="num">{count(r.count)}</td>
                <td className={`num ${r.errors ? "status-error" : ""}`}>{count(r.errors)}</td>
                <td className="num">{pct(r.error_rate)}</td>
                <td className="num">{ms(r.latency_p50_ms)}</td>
                <td className="num">{ms(r.latency_p95_ms)}</td>
                <td className="num">{count(r.tokens)}</td>
                <td className="num">{cost(r.cost_usd)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
