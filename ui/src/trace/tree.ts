// Turns the span rows of a trace (in tree order, with depths) into a tree, folds loops, and
// flattens the tree into the rows the virtualized list draws. Everything here is iterative
// (no recursion) because a generated or runaway trace can be 100,000 spans deep.

import type { SpanRow } from "../api";

/** Consecutive siblings with the same name fold into one row from this many on: two in a
 * row is usually a retry worth seeing, three or more is a loop. */
export const FOLD_MIN = 3;

export interface SpanNode {
  /** A node is its own item when not folded into a loop (no wrapper per span). */
  kind: "span";
  span: SpanRow;
  depth: number;
  children: SpanNode[];
  /** The children with loops folded, in start order. */
  items: Item[];
}

export interface Loop {
  kind: "loop";
  key: string;
  name: string;
  nodes: SpanNode[];
}

export type Item = SpanNode | Loop;

export type Row =
  | { kind: "span"; node: SpanNode; depth: number; expanded: boolean }
  | { kind: "loop"; key: string; name: string; nodes: SpanNode[]; depth: number; expanded: boolean };

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
      for (let k = i; k < j; k++) out.push(children[k]!);
    }
    i = j;
  }
  return out;
}

/** Builds the forest from rows in tree order (depth first, children by start time) and each
 * row's depth, as `GET /api/v1/traces/{id}/outline` sends them: the server has already put
 * orphans at the root and broken parent cycles, so this is one linear pass. A depth more than
 * one below the previous row's (malformed input) is treated as one below. */
export function buildTree(rows: readonly SpanRow[], depths: readonly number[]): SpanNode[] {
  const roots: SpanNode[] = [];
  const all: SpanNode[] = new Array(rows.length);
  // path[d] is the latest node at depth d: the parent of a row at depth d + 1.
  const path: SpanNode[] = [];
  for (let i = 0; i < rows.length; i++) {
    const depth = Math.min(Math.max(0, depths[i] ?? 0), path.length);
    const node: SpanNode = { kind: "span", span: rows[i]!, depth, children: [], items: [] };
    all[i] = node;
    path.length = depth;
    path.push(node);
    if (depth === 0) roots.push(node);
    else path[depth - 1]!.children.push(node);
  }
  for (const node of all) if (node.children.length) node.items = foldSiblings(node.children);
  return roots;
}

/** The rows on screen: spans are open unless in `collapsed`, loops are folded unless in
 * `openLoops`. */
export function visibleRows(roots: SpanNode[], collapsed: ReadonlySet<string>, openLoops: ReadonlySet<string>): Row[] {
  const rows: Row[] = [];
  // Two parallel stacks rather than one of {item, depth} objects: a 100,000-span trace
  // would allocate that many more objects on every expand and collapse.
  const items: Item[] = [];
  const depths: number[] = [];
  for (let i = roots.length - 1; i >= 0; i--) {
    items.push(roots[i]!);
    depths.push(0);
  }
  while (items.length) {
    const item = items.pop()!;
    const depth = depths.pop()!;
    if (item.kind === "span") {
      const expanded = !collapsed.has(item.span.span_id);
      rows.push({ kind: "span", node: item, depth, expanded });
      if (expanded) {
        const children = item.items;
        for (let i = children.length - 1; i >= 0; i--) {
          items.push(children[i]!);
          depths.push(depth + 1);
        }
      }
    } else {
      const expanded = openLoops.has(item.key);
      rows.push({ kind: "loop", key: item.key, name: item.name, nodes: item.nodes, depth, expanded });
      if (expanded) {
        for (let i = item.nodes.length - 1; i >= 0; i--) {
          items.push(item.nodes[i]!);
          depths.push(depth + 1);
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
