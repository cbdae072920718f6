// Display formatting shared by every page.

export function duration(ns: number | null | undefined): string {
  if (ns == null) return "running";
  const ms = ns / 1e6;
  if (ms < 1) return `${(ns / 1e3).toFixed(0)} µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  return `${Math.floor(s / 60)}m ${Math.round(s % 60)}s`;
}

export function cost(usd: number | null | undefined): string {
  if (usd == null) return "—";
  if (usd === 0) return "$0";
  return usd < 0.01 ? `$${usd.toPrecision(2)}` : `$${usd.toFixed(2)}`;
}

export function count(n: number | null | undefined): string {
  if (n == null) return "—";
  return n.toLocaleString("en-US");
}

export function time(ns: number): string {
  return new Date(ns / 1e6).toLocaleString();
}

/** A point in time in few characters (month, day, hours and minutes), for a chart's read-out. */
export function shortTime(ns: number): string {
  return new Date(ns / 1e6).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** A duration given in milliseconds (the analytics and topology routes' unit). */
export function ms(v: number | null | undefined): string {
  return v == null ? "—" : duration(v * 1e6);
}
