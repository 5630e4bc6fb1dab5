/**
 * Where a save's time goes: its steps and every process it starts, each with its start (ms
 * after the save began) and its duration, logged at debug level ("save profile"). Saves run
 * one at a time, so one profile is open at a time; with none open, recording costs nothing.
 */
export interface Span {
  name: string;
  /** ms after the profile began */
  at: number;
  ms: number;
}

let open: { t0: number; spans: Span[] } | undefined;

/**
 * Monotonic milliseconds. Not `performance.now()`: the first use of that global loads
 * perf_hooks and ten modules more (~1 MB of an idle watch's RSS, measured).
 */
export function now(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Start recording; `end` stops and returns what was recorded, in start order. */
export function beginProfile(): { end(): Span[] } {
  const mine = { t0: now(), spans: [] as Span[] };
  open = mine;
  return {
    end() {
      if (open === mine) open = undefined;
      return mine.spans.sort((a, b) => a.at - b.at);
    },
  };
}

/** Record a step that started at `t0` (now()) and ends now. */
export function recordSpan(name: string, t0: number): void {
  if (!open) return;
  const round = (x: number) => Math.round(x * 10) / 10;
  open.spans.push({ name, at: round(t0 - open.t0), ms: round(now() - t0) });
}

/** Time `fn` as a step of the open profile (if any). */
export async function step<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const t0 = now();
  try {
    return await fn();
  } finally {
    recordSpan(name, t0);
  }
}
