// Filter controls bound to the URL query string, so the address bar is a shareable view.

import type { ReactNode } from "react";
import { useSearchParams } from "react-router-dom";
import type { Facet } from "../api";

/** Reads and writes one query parameter; setting "" removes it. Changing a filter drops the
 * paging cursor, since a cursor belongs to one filter set. */
export function useParam(name: string): [string, (v: string) => void] {
  const [params, setParams] = useSearchParams();
  const set = (v: string) =>
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev);
        if (v) next.set(name, v);
        else next.delete(name);
        next.delete("cursor");
        return next;
      },
      { replace: true },
    );
  return [params.get(name) ?? "", set];
}

export function Select({
  name,
  label,
  options,
  allLabel = "any",
}: {
  name: string;
  label: string;
  options: (string | Facet)[];
  allLabel?: string;
}) {
  const [value, set] = useParam(name);
  const opts = options.map((o) => (typeof o === "string" ? { value: o, count: null } : o));
  // Keep a value from a shared link selectable even when it is not among the facets.
  if (value && !opts.some((o) => o.value === value)) opts.unshift({ value, count: null });
  return (
    <label className="filter">
      <span>{label}</span>
      <select name={name} value={value} onChange={(e) => set(e.target.value)}>
        <option value="">{allLabel}</option>
        {opts.map((o) => (
          <option key={o.value} value={o.value}>
            {o.value}
            {o.count != null ? ` (${o.count})` : ""}
          </option>
        ))}
      </select>
    </label>
  );
}

export function TextFilter({ name, label, placeholder, type = "text" }: { name: string; label: string; placeholder?: string; type?: string }) {
  const [value, set] = useParam(name);
  return (
    <label className="filter">
      <span>{label}</span>
      {/* Applied on Enter or when leaving the field, not per keystroke, to keep queries few. */}
      <input
        key={value}
        name={name}
        type={type}
        defaultValue={value}
        placeholder={placeholder}
        onBlur={(e) => e.target.value !== value && set(e.target.value)}
        onKeyDown={(e) => e.key === "Enter" && set((e.target as HTMLInputElement).value)}
      />
    </label>
  );
}

export function FilterBar({ children }: { children: ReactNode }) {
  return <div className="filters">{children}</div>;
}

export const RANGES = ["15m", "1h", "6h", "24h", "7d", "30d"];
