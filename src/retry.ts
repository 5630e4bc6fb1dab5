import { withDeadline } from "./deadline";
import { MirrorshadeError, TransientError } from "./errors";
import { log } from "./log";
import { formatDuration } from "./units";

/** Exponential backoff with full jitter: attempt 1 → up to 1 s, doubling, capped at `max`. */
export function backoff(attempt: number, max = 60_000, base = 1000): number {
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** An attempt gets at least this long, even when less of --retry-for is left. */
const MIN_ATTEMPT_MS = 1000;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Run `fn`, retrying TransientErrors with backoff until `forMs` has passed, then rethrow
 * the last one. Other errors are final. Each attempt runs under the deadline `forMs` sets
 * (src/deadline.ts), so a network call inside it is stopped rather than outliving it.
 */
export async function retry<T>(what: string, forMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return forMs > 0 ? await withDeadline(Math.max(deadline, Date.now() + MIN_ATTEMPT_MS), fn) : await fn();
    } catch (err) {
      if (!(err instanceof TransientError)) throw err;
      const wait = backoff(attempt, 10_000);
      if (Date.now() + wait > deadline) throw err;
      log.warn(`${what} failed, retrying in ${formatDuration(wait)}: ${err.message}`);
      await sleep(wait);
    }
  }
}

export function describe(err: unknown): string {
  return err instanceof MirrorshadeError ? err.message : err instanceof Error ? err.message : String(err);
}
