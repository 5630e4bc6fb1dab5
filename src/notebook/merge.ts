/**
 * Cell-level three-way merge of Jupyter notebooks (nbformat 4). Pure: text in, text out.
 *
 * The rules (the docs quote them; keep both in step):
 * - cells are matched to the base by id, else by content (match.ts);
 * - a cell changed on one side takes that side's change; the same field of the same cell
 *   changed differently on both sides is a conflict; deleted on one side and edited on the
 *   other is a conflict (a re-run is no edit: outputs, execution count, run and view metadata);
 * - cells added, deleted or moved on one side are merged; cells added on both sides between
 *   the same two cells are all kept, ours first, identical ones once; a cell moved on both
 *   sides to different places goes where ours put it (a position is not content); a cell
 *   deleted on both sides while each side added cells of its own in its place is a conflict
 *   (an edit on both sides that the matcher read as delete + add, e.g. too many in one gap);
 * - metadata is merged key by key, recursively; outputs never conflict (cell.ts); notebook
 *   `language_info` is written by the kernel (ours on conflict); `widgets` is run state;
 * - a side without any output (stripped) never takes outputs away from the other side;
 * - `nbformat_minor` is the larger; with ≥ 5 every cell has a unique id (a new one only for a
 *   cell without one or with a duplicate);
 * - the result is written in ours's layout; when it equals one side, that side's bytes.
 */
import { createHash } from "node:crypto";
import {
  contentKey,
  contentEqual,
  FieldConflict,
  merge3,
  mergeCell,
  mergeDict,
  oursOnConflict,
  type Stripped,
} from "./cell";
import { jsonEqual, serialize, type Json, type JsonObject } from "./json";
import { matchCells } from "./match";
import { cellLabel, readNotebook, WIDGETS, type Cell, type Notebook } from "./notebook";
import { lcs, lis } from "./seq";
import { isStripped, sameIgnoringOutputs, stripDoc } from "./strip";

export type MergeResult =
  /** The merged notebook's text, valid nbformat 4. */
  | { kind: "merged"; text: string }
  /** Something changed differently on both sides: keep ours, write theirs beside it. */
  | { kind: "conflict"; reason: string; cells: string[] }
  /** An input is not an nbformat 4 notebook (not JSON, half-written, nbformat 3): merge as files. */
  | { kind: "not-notebook"; reason: string };

/**
 * Merge `ours` and `theirs` (file texts) given their common ancestor `base`. Without a base
 * (`undefined`) a deletion cannot be told from an addition, so the sides merge only when they
 * differ by outputs alone; otherwise it is a conflict. Never throws on any input.
 */
export function mergeNotebooks(base: string | undefined, ours: string, theirs: string): MergeResult {
  const sides: [string, string | undefined][] = [
    ["ours", ours],
    ["theirs", theirs],
    ["base", base],
  ];
  const read: (Notebook | undefined)[] = [];
  for (const [name, text] of sides) {
    const nb = text === undefined ? undefined : readNotebook(text);
    if (typeof nb === "string") return { kind: "not-notebook", reason: `${name}: ${nb}` };
    read.push(nb);
  }
  const [o, t] = read as [Notebook, Notebook];
  let b = read[2];
  if (ours === theirs || jsonEqual(o.doc, t.doc)) return { kind: "merged", text: ours };
  if (b === undefined) {
    if (!sameIgnoringOutputs(ours, theirs)) {
      return { kind: "conflict", reason: "no common ancestor and the notebooks differ", cells: [] };
    }
    // Equal but for outputs: a stripped base lets each cell keep the outputs one side has.
    const doc = stripDoc(o);
    b = { ...o, doc, cells: doc.cells as Cell[] };
  }
  // No shortcut for "one side is the base": a stripped side must not win over outputs.
  const stripped: Stripped = { ours: isStripped(o), theirs: isStripped(t) };
  const cells = mergeCells(b.cells, o.cells, t.cells, stripped);
  const reasons = cells.conflicts.map((c) => `cell ${c.label}: ${c.reason}`);
  const doc: JsonObject = {};
  for (const key of new Set([...Object.keys(o.doc), ...Object.keys(t.doc)])) {
    try {
      const v = mergeTop(key, [b, o, t], cells.cells, stripped);
      if (v !== undefined) doc[key] = v;
    } catch (err) {
      if (!(err instanceof FieldConflict)) throw err;
      reasons.push(err.message);
    }
  }
  if (reasons.length) {
    const more = reasons.length > 3 ? `; and ${reasons.length - 3} more` : "";
    return {
      kind: "conflict",
      reason: reasons.slice(0, 3).join("; ") + more,
      cells: cells.conflicts.map((c) => c.label),
    };
  }
  if (jsonEqual(doc, o.doc)) return { kind: "merged", text: ours };
  if (jsonEqual(doc, t.doc)) return { kind: "merged", text: theirs };
  return { kind: "merged", text: serialize(doc, o.style) };
}

function mergeTop(
  key: string,
  [b, o, t]: [Notebook, Notebook, Notebook],
  cells: Cell[],
  stripped: Stripped,
): Json | undefined {
  switch (key) {
    case "cells":
      return withUniqueIds(cells, Math.max(o.minor, t.minor) >= 5);
    case "nbformat_minor":
      return o.minor >= t.minor ? o.doc.nbformat_minor : t.doc.nbformat_minor;
    case "metadata":
      return mergeDict(
        b.doc.metadata as JsonObject,
        o.doc.metadata as JsonObject,
        t.doc.metadata as JsonObject,
        "metadata",
        (k) => {
          if (k === "language_info") return oursOnConflict;
          // Widget state is run state: a stripped side's lack of it is no edit.
          if (k !== WIDGETS) return undefined;
          return (bv, ov, tv) => {
            if (stripped.ours && ov === undefined) return tv;
            return stripped.theirs && tv === undefined ? ov : oursOnConflict(bv, ov, tv);
          };
        },
      );
    default:
      return merge3(b.doc[key], o.doc[key], t.doc[key], key);
  }
}

interface CellConflict {
  label: string;
  reason: string;
}

/** One thing to place in a gap: a cell only one side has, or a base cell that side moved there. */
type Item = { added: Cell } | { base: number };

function mergeCells(B: Cell[], O: Cell[], T: Cell[], stripped: Stripped): { cells: Cell[]; conflicts: CellConflict[] } {
  const conflicts: CellConflict[] = [];
  const [mo, mt] = [matchCells(B, O), matchCells(B, T)];
  const kept = B.map((_, i) => mo[i] !== -1 && mt[i] !== -1);
  const label = (i: number) => {
    const j = mo[i] as number;
    return j !== -1 ? cellLabel(O[j] as Cell, j) : cellLabel(T[mt[i] as number] as Cell, mt[i] as number);
  };

  // A deletion drops the cell unless the other side edited it.
  B.forEach((cell, i) => {
    const j = mo[i] !== -1 ? mo[i] : mt[i];
    const other = mo[i] !== -1 ? O : T;
    if (!kept[i] && j !== -1 && !contentEqual(cell, other[j as number] as Cell)) {
      conflicts.push({ label: label(i), reason: "deleted on one side, edited on the other" });
    }
  });

  // Anchors: kept cells neither side moved. Everything else is placed by one side, in the gap
  // between two anchors where that side has it.
  const baseOf = (m: number[], n: number) => {
    const inv = new Array<number>(n).fill(-1);
    m.forEach((j, i) => j !== -1 && (inv[j] = i));
    return inv;
  };
  const [oBase, tBase] = [baseOf(mo, O.length), baseOf(mt, T.length)];
  const stable = (inv: number[]) => lis(inv.filter((i) => i !== -1 && kept[i]));
  const [stableO, stableT] = [stable(oBase), stable(tBase)];
  const anchors = B.flatMap((_, i) => (kept[i] && stableO.has(i) && stableT.has(i) ? [i] : []));
  const rank = new Map(anchors.map((i, k) => [i, k]));
  const gapsOf = (side: Cell[], inv: number[], places: (i: number) => boolean) => {
    const gaps: Item[][] = anchors.map(() => []).concat([[]]);
    let g = 0;
    side.forEach((cell, j) => {
      const i = inv[j] as number;
      if (i === -1) gaps[g]!.push({ added: cell });
      else if (rank.has(i)) g = rank.get(i)! + 1;
      else if (kept[i] && places(i)) gaps[g]!.push({ base: i });
    });
    return gaps;
  };
  const oGaps = gapsOf(O, oBase, (i) => !stableO.has(i));
  const tGaps = gapsOf(T, tBase, (i) => stableO.has(i) && !stableT.has(i));

  // A cell gone from both sides, where each side has cells of its own that the other lacks: an
  // edit the matcher could not pair (too many cells changed in one gap) reads just like this, and
  // keeping both sides' cells would double the notebook. One conflict per gap.
  const added = (items: Item[]) => items.flatMap((it) => ("added" in it ? [contentKey(it.added)] : []));
  const rewritten = new Set<number>();
  B.forEach((cell, i) => {
    if (mo[i] !== -1 || mt[i] !== -1) return;
    const g = anchors.filter((a) => a < i).length;
    if (rewritten.has(g)) return;
    const [ao, at] = [added(oGaps[g]!), added(tGaps[g]!)];
    const common = lcs(ao, at).length;
    if (ao.length > common && at.length > common) {
      rewritten.add(g);
      conflicts.push({
        label: cellLabel(cell, i),
        reason: "deleted on both sides, with other cells in its place on each",
      });
    }
  });

  const merged = (i: number): Cell => {
    const cell = mergeCell(B[i], O[mo[i] as number] as Cell, T[mt[i] as number] as Cell, stripped);
    if (typeof cell !== "string") return cell;
    conflicts.push({ label: label(i), reason: cell });
    return O[mo[i] as number] as Cell;
  };
  const out: Cell[] = [];
  anchors.forEach((i, k) => {
    out.push(...interleave(oGaps[k]!, tGaps[k]!, merged, stripped), merged(i));
  });
  out.push(...interleave(oGaps[anchors.length]!, tGaps[anchors.length]!, merged, stripped));
  return { cells: out, conflicts };
}

/**
 * One gap's cells: both sides' runs in their own order, ours before theirs between cells they
 * share; a cell both sides added alike is kept once.
 */
function interleave(os: Item[], ts: Item[], merged: (i: number) => Cell, stripped: Stripped): Cell[] {
  const key = (it: Item) => ("added" in it ? contentKey(it.added) : `\0base ${it.base}`);
  const cellOf = (it: Item) => ("added" in it ? it.added : merged(it.base));
  const out: Cell[] = [];
  let [x, y] = [0, 0];
  for (const [px, py] of [...lcs(os.map(key), ts.map(key)), [os.length, ts.length] as const]) {
    out.push(...os.slice(x, px).map(cellOf), ...ts.slice(y, py).map(cellOf));
    const [a, b] = [os[px], ts[py]];
    if (a && b && "added" in a && "added" in b) {
      const both = mergeCell(undefined, a.added, b.added, stripped);
      out.push(typeof both === "string" ? a.added : both);
    }
    [x, y] = [px + 1, py + 1];
  }
  return out;
}

/**
 * Cell ids unique, and present when `required` (nbformat ≥ 4.5). A new id is nbformat's shape
 * (8 hex digits) derived from the cell, so the merge stays deterministic.
 */
function withUniqueIds(cells: Cell[], required: boolean): Cell[] {
  const all = new Set(cells.flatMap((c) => (typeof c.id === "string" ? [c.id] : [])));
  const seen = new Set<string>();
  return cells.map((cell) => {
    if (typeof cell.id === "string" && !seen.has(cell.id)) {
      seen.add(cell.id);
      return cell;
    }
    if (cell.id === undefined && !required) return cell;
    let id = "";
    for (let n = 0; id === "" || all.has(id); n++) {
      id = createHash("sha256")
        .update(`${n}\0${contentKey(cell)}`)
        .digest("hex")
        .slice(0, 8);
    }
    all.add(id);
    seen.add(id);
    return { ...cell, id };
  });
}
