import type { Status } from "../api";

export function StatusBadge({ status }: { status: Status | string }) {
  return <span className={`badge status-${status}`}>{status}</span>;
}

export function SeverityBadge({ severity }: { severity: string }) {
  return <span className={`badge sev-${severity}`}>{severity}</span>;
}
