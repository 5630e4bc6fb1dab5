/**
 * Which cell of a side is which cell of the base. In order of confidence:
 * 1. the same `id` (nbformat ≥ 4.5; the first cell holding an id owns it);
 * 2. the same type and source, in order (longest common subsequence: an unchanged cell, or one
 *    whose outputs or metadata changed);
 * 3. the same type and source, out of order (a moved cell);
 * 4. an edited cell: the same type and a similar source, best pairs first, only between the
 *    same two already-matched neighbours, so a cell is never paired with a look-alike elsewhere.
 *    Similar: over character bigrams, a Dice coefficient ≥ 0.5 (a word or two changed), or
 *    ≥ 80 % of the shorter source's bigrams (at least 4) found in the other (lines added to or
 *    cut from a cell).
 * Steps 2–4 also pair cells whose ids differ (a cut and paste mints a new id). A cell left
 * unmatched is deleted (base) or added (side); an edit read as delete + add is still merged
 * right when the other side left the cell alone, and is a conflict when it edited it.
 */
import { sourceText, type Cell } from "./notebook";
import { lcs, lis } from "./seq";

const SIMILAR = 0.5;
const CONTAINED = 0.8;
const MIN_CONTAINED = 4;
/** Above this many candidate pairs in one gap, edits there are read as delete + add (time bound). */
const MAX_PAIRS_PER_GAP = 400;

/** For each base cell, the index of its cell on the side, or -1 when the side deleted it. */
export function matchCells(base: readonly Cell[], side: readonly Cell[]): number[] {
  const toSide = new Array<number>(base.length).fill(-1);
  const taken = new Array<boolean>(side.length).fill(false);
  const link = (i: number, j: number) => {
    toSide[i] = j;
    taken[j] = true;
  };
  const sideIds = firstById(side);
  for (const [id, i] of firstById(base)) {
    const j = sideIds.get(id);
    if (j !== undefined) link(i, j);
  }

  const key = (c: Cell) => `${c.cell_type}\0${sourceText(c)}`;
  const restB = () => base.flatMap((_, i) => (toSide[i] === -1 ? [i] : []));
  const restS = () => side.flatMap((_, j) => (taken[j] ? [] : [j]));
  let [rb, rs] = [restB(), restS()];
  for (const [x, y] of lcs(
    rb.map((i) => key(base[i] as Cell)),
    rs.map((j) => key(side[j] as Cell)),
  )) {
    link(rb[x] as number, rs[y] as number);
  }

  const pool = new Map<string, number[]>();
  for (const j of restS()) pool.set(key(side[j] as Cell), [...(pool.get(key(side[j] as Cell)) ?? []), j]);
  for (const i of restB()) {
    const j = pool.get(key(base[i] as Cell))?.shift();
    if (j !== undefined) link(i, j);
  }

  [rb, rs] = [restB(), restS()];
  if (rb.length && rs.length) matchSimilar(base, side, toSide, rb, rs, link);
  return toSide;
}

function firstById(cells: readonly Cell[]): Map<string, number> {
  const ids = new Map<string, number>();
  cells.forEach((c, i) => {
    if (typeof c.id === "string" && !ids.has(c.id)) ids.set(c.id, i);
  });
  return ids;
}

/** Step 4: pair similar cells within each gap between matched cells that kept their order. */
function matchSimilar(
  base: readonly Cell[],
  side: readonly Cell[],
  toSide: readonly number[],
  rb: number[],
  rs: number[],
  link: (i: number, j: number) => void,
) {
  const matched = toSide.flatMap((j, i) => (j === -1 ? [] : [i]));
  const inOrder = lis(matched.map((i) => toSide[i] as number));
  const fenceB = matched.filter((i) => inOrder.has(toSide[i] as number));
  const fenceS = fenceB.map((i) => toSide[i] as number);
  const gapOf = (fences: number[], x: number) => fences.filter((f) => f < x).length;
  const gaps = new Map<number, { b: number[]; s: number[] }>();
  const gap = (g: number) => gaps.get(g) ?? gaps.set(g, { b: [], s: [] }).get(g)!;
  for (const i of rb) gap(gapOf(fenceB, i)).b.push(i);
  for (const j of rs) gap(gapOf(fenceS, j)).s.push(j);

  for (const { b, s } of gaps.values()) {
    if (!b.length || !s.length || b.length * s.length > MAX_PAIRS_PER_GAP) continue;
    const grams = new Map<number, Map<string, number>>();
    const gramsOf = (cells: readonly Cell[], k: number, tag: number) =>
      grams.get(tag) ?? grams.set(tag, bigrams(sourceText(cells[k] as Cell))).get(tag)!;
    const pairs: { i: number; j: number; score: number }[] = [];
    for (const i of b) {
      for (const j of s) {
        if ((base[i] as Cell).cell_type !== (side[j] as Cell).cell_type) continue;
        const score = similarity(gramsOf(base, i, -1 - i), gramsOf(side, j, j));
        if (score > 0) pairs.push({ i, j, score });
      }
    }
    pairs.sort((p, q) => q.score - p.score || p.i - q.i || p.j - q.j);
    const used = new Set<number>();
    for (const { i, j } of pairs) {
      if (toSide[i] !== -1 || used.has(j)) continue;
      used.add(j);
      link(i, j);
    }
  }
}

function bigrams(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (let k = 0; k + 1 < text.length; k++) {
    const g = text.slice(k, k + 2);
    counts.set(g, (counts.get(g) ?? 0) + 1);
  }
  return counts;
}

/** Dice coefficient of two bigram multisets when the sources are similar (see above), else 0. */
function similarity(a: Map<string, number>, b: Map<string, number>): number {
  let [na, nb, common] = [0, 0, 0];
  for (const n of a.values()) na += n;
  for (const n of b.values()) nb += n;
  for (const [g, n] of a) common += Math.min(n, b.get(g) ?? 0);
  const dice = na + nb === 0 ? 0 : (2 * common) / (na + nb);
  const contained = Math.min(na, nb) >= MIN_CONTAINED && common >= CONTAINED * Math.min(na, nb);
  return dice >= SIMILAR || contained ? dice : 0;
}
