// A table header row; `{ num: "…" }` marks a right-aligned numeric column.

export type Column = string | { num: string };

export function Head({ cols }: { cols: Column[] }) {
  return (
    <thead>
      <tr>
        {cols.map((c, i) =>
          typeof c === "string" ? (
            <th key={i}>{c}</th>
          ) : (
            <th key={i} className="num">
              {c.num}
            </th>
          ),
        )}
      </tr>
    </thead>
  );
}
