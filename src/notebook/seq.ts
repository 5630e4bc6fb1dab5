/** Sequence helpers for the cell merge: longest common subsequence and longest increasing subsequence. */

/** Above this many table entries (after trimming equal ends) `lcs` gives up on the middle (memory, time). */
const LCS_MAX_TABLE = 4_000_000;

/**
 * Pairs `[i, j]` with `a[i] === b[j]`, a longest order-preserving set of them. Equal ends are
 * paired directly; a middle too large for the table is left unpaired (the caller copes).
 */
export function lcs(a: readonly string[], b: readonly string[]): [number, number][] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) [endA, endB] = [endA - 1, endB - 1];
  const pairs: [number, number][] = [];
  for (let i = 0; i < start; i++) pairs.push([i, i]);
  const n = endA - start;
  const m = endB - start;
  if (n > 0 && m > 0 && (n + 1) * (m + 1) <= LCS_MAX_TABLE) {
    // len[x][y] = LCS length of a[start+x..endA) and b[start+y..endB), filled from the ends.
    const w = m + 1;
    const len = new Uint32Array((n + 1) * w);
    for (let x = n - 1; x >= 0; x--) {
      for (let y = m - 1; y >= 0; y--) {
        len[x * w + y] =
          a[start + x] === b[start + y]
            ? (len[(x + 1) * w + y + 1] as number) + 1
            : Math.max(len[(x + 1) * w + y] as number, len[x * w + y + 1] as number);
      }
    }
    let [x, y] = [0, 0];
    while (x < n && y < m) {
      if (a[start + x] === b[start + y]) pairs.push([start + x++, start + y++]);
      else if ((len[(x + 1) * w + y] as number) >= (len[x * w + y + 1] as number)) x++;
      else y++;
    }
  }
  for (let k = 0; k < a.length - endA; k++) pairs.push([endA + k, endB + k]);
  return pairs;
}

/** The members of a longest strictly increasing subsequence of `xs` (patience sorting, O(n log n)). */
export function lis(xs: readonly number[]): Set<number> {
  const tails: number[] = []; // tails[k]: index in xs of the smallest tail of an increasing run of length k+1
  const prev = new Array<number>(xs.length).fill(-1);
  for (let i = 0; i < xs.length; i++) {
    const v = xs[i] as number;
    let [lo, hi] = [0, tails.length];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((xs[tails[mid] as number] as number) < v) lo = mid + 1;
      else hi = mid;
    }
    if (lo > 0) prev[i] = tails[lo - 1] as number;
    tails[lo] = i;
  }
  const members = new Set<number>();
  for (let i = tails.length ? (tails[tails.length - 1] as number) : -1; i >= 0; i = prev[i] as number) {
    members.add(xs[i] as number);
  }
  return members;
}
