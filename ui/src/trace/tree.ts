// Turns the flat span rows of `GET /api/v1/traces/{id}` into a tree, folds loops, and
// flattens the tree into the rows the virtualized list draws. Everything here is iterative
// (no recursion) because a generated or runaway trace can be 100,000 spans deep.

import type { SpanRow } from "../api";

/** Consecutive siblings with the same name fold into one row from this many on: two in a
 * row is usually a retry worth seeing, three or more is a loop. */
export const FOLD_MIN = 3;

export interface SpanNode {
  span: SpanRow;
  depth: number;
  children: SpanNode[];
  /** The children with loops folded, in start order. */
  items: Item[];
}

export type Item =
  | { kind: "span"; node: SpanNode }
  | { kind: "loop"; key: string; name: string; nodes: SpanNode[] };

export type Row =
  | { kind: "span"; node: SpanNode; depth: number; expanded: boolean }
  | { kind: "loop"; key: string; name: string; nodes: SpanNode[]; depth: number; expanded: boolean };

function byStart(a: SpanNode, b: SpanNode): number {
  return a.span.start_ns - b.span.start_ns;
}

/** Groups runs of at least `min` consecutive same-named siblings. */
export function foldSiblings(children: SpanNode[], min = FOLD_MIN): Item[] {
  const out: Item[] = [];
  let i = 0;
  while (i < children.length) {
    const first = children[i]!;
    let j = i + 1;
    while (j < children.length && children[j]!.span.name === first.span.name) j++;
    if (j - i >= min) {
      out.push({ kind: "loop", key: `loop:${first.span.span_id}`, name: first.span.name, nodes: children.slice(i, j) });
    } else {
      for (let k = i; k < j; k++) out.push({ kind: "span", node: children[k]! });
    }
    i = j;
  }
  return out;
}

/** Builds the forest from parent links. A span whose parent is missing (not yet received,
 * or dropped) is shown as a root rather than hidden; a parent cycle is broken where found. */
export function buildTree(rows: SpanRow[]): SpanNode[] {
  const nodes = new Map<string, SpanNode>();
  for (const span of rows) {
    // A duplicate id keeps the later row, like the store's latest-version rule.
    nodes.set(span.span_id, { span, depth: 0, children: [], items: [] });
  }
  const roots: SpanNode[] = [];
  for (const node of nodes.values()) {
    const pid = node.span.parent_span_id;
    const parent = pid != null && pid !== node.span.span_id ? nodes.get(pid) : undefined;
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  const visited = new Set<SpanNode>();
  const walk = (start: SpanNode[]) => {
    const stack = start.map((n) => ({ n, depth: 0 }));
    while (stack.length) {
      const { n, depth } = stack.pop()!;
      if (visited.has(n)) continue;
      visited.add(n);
      n.depth = depth;
      n.children = n.children.filter((c) => !visited.has(c));
      n.children.sort(byStart);
      n.items = foldSiblings(n.children);
      for (const c of n.children) stack.push({ n: c, depth: depth + 1 });
    }
  };
  roots.sort(byStart);
  walk(roots);
  // Spans only reachable through a cycle: show each unvisited cycle from one of its members.
  for (const node of nodes.values()) {
    if (!visited.has(node)) {
      roots.push(node);
      walk([node]);
    }
  }
  return roots;
}

/** The rows on screen: spans are open unless in `collapsed`, loops are folded unless in
 * `openLoops`. */
export function visibleRows(roots: SpanNode[], collapsed: ReadonlySet<string>, openLoops: ReadonlySet<string>): Row[] {
  const rows: Row[] = [];
  const stack: { item: Item; depth: number }[] = [];
  for (let i = roots.length - 1; i >= 0; i--) stack.push({ item: { kind: "span", node: roots[i]! }, depth: 0 });
  while (stack.length) {
    const { item, depth } = stack.pop()!;
    if (item.kind === "span") {
      const expanded = !collapsed.has(item.node.span.span_id);
      rows.push({ kind: "span", node: item.node, depth, expanded });
      if (expanded) {
        const items = item.node.items;
        for (let i = items.length - 1; i >= 0; i--) stack.push({ item: items[i]!, depth: depth + 1 });
      }
    } else {
      const expanded = openLoops.has(item.key);
      rows.push({ kind: "loop", key: item.key, name: item.name, nodes: item.nodes, depth, expanded });
      if (expanded) {
        for (let i = item.nodes.length - 1; i >= 0; i--) {
          stack.push({ item: { kind: "span", node: item.nodes[i]! }, depth: depth + 1 });
        }
      }
    }
  }
  return rows;
}

/** The span a row stands for (a folded loop stands for its first span). */
export function rowSpan(row: Row): SpanRow {
  return row.kind === "span" ? row.node.span : row.nodes[0]!.span;
}
