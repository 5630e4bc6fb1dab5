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

/**
 * Start recording; `end` stops and returns what was recorded, in start order. Spans are kept
 * unrounded until then: a step and the process it starts first often begin within the same
 * 0.1 ms, and the step is recorded last (when it ends), so rounded starts would sort it after.
 */
export function beginProfile(): { end(): Span[] } {
  const mine = { t0: now(), spans: [] as Span[] };
  open = mine;
  const round = (x: number) => Math.round(x * 10) / 10;
  return {
    end() {
      if (open === mine) open = undefined;
      // Same start: the enclosing (longer) span first.
      mine.spans.sort((a, b) => a.at - b.at || b.ms - a.ms);
      return mine.spans.map((s) => ({ name: s.name, at: round(s.at), ms: round(s.ms) }));
    },
  };
}

/** Record a step that started at `t0` (now()) and ends now. */
export function recordSpan(name: string, t0: number): void {
  if (!open) return;
  open.spans.push({ name, at: t0 - open.t0, ms: now() - t0 });
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
