// One session as a conversation: each turn's input and answer, linked to its trace.

import { useQuery } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import { api } from "../api";
import { StatusBadge } from "../components/StatusBadge";
import { cost, count, duration, time } from "../format";
import { buildTurns } from "../sessions/turns";

export function SessionPage() {
  const { sessionId = "" } = useParams();
  const q = useQuery({ queryKey: ["session", sessionId], queryFn: () => api.session(sessionId) });
  if (q.isError)
    return (
      <div className="page">
        <h1>Session {sessionId}</h1>
        <p className="error">{q.error.message}</p>
        <Link to="/sessions">All sessions</Link>
      </div>
    );
  if (!q.data) return <div className="page muted">Loading…</div>;
  const s = q.data.session;
  const turns = buildTurns(q.data);
  return (
    <div className="page session">
      <p>
        <Link to="/sessions">← Sessions</Link>
      </p>
      <h1>Session {s.session_id}</h1>
      <div className="stat-row">
        <div className="stat">
          <div className="stat-value">{s.trace_count}</div>
          <div className="muted">turns</div>
        </div>
        <div className="stat">
          <div className="stat-value">{s.user_id ?? "—"}</div>
          <div className="muted">user</div>
        </div>
        <div className="stat">
          <div className="stat-value">{count(s.tokens.total)}</div>
          <div className="muted">tokens</div>
        </div>
        <div className="stat">
          <div className="stat-value">{cost(s.cost_usd)}</div>
          <div className="muted">cost</div>
        </div>
        <div className="stat">
          <div className={`stat-value ${s.error_count ? "status-error" : ""}`}>{s.error_count}</div>
          <div className="muted">error spans</div>
        </div>
      </div>
      <p className="muted">Started {time(s.start_ns)}</p>
      <ol className="turns" data-testid="turns">
        {turns.map((t) => (
          <li key={t.trace.trace_id} className="turn" data-testid="turn">
            <div className="turn-head">
              <b>Turn {t.n}</b>
              <Link to={`/traces/${t.trace.trace_id}`}>{t.trace.name}</Link>
              <StatusBadge status={t.trace.status} />
              <span className="muted">
                {time(t.trace.start_ns)} · {duration(t.trace.duration_ns)} · {t.trace.span_count} spans · {cost(t.trace.cost_usd)}
                {t.gap_ns != null && ` · ${duration(t.gap_ns)} after the previous turn`}
              </span>
            </div>
            <div className="msg role-user">
              <div className="role">input</div>
              <div className="content">{t.input ?? <span className="muted">no input recorded</span>}</div>
            </div>
            <div className="msg role-assistant">
              <div className="role">output</div>
              <div className="content">{t.output ?? <span className="muted">no output recorded</span>}</div>
            </div>
          </li>
        ))}
      </ol>
    </div>
  );
}
