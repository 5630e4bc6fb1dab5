import { AsyncLocalStorage } from "node:async_hooks";
import { MirrorshadeError, TransientError } from "./errors";
import { log } from "./log";
import { formatDuration } from "./units";

/** Exponential backoff with full jitter: attempt 1 → up to 1 s, doubling, capped at `max`. */
export function backoff(attempt: number, max = 60_000, base = 1000): number {
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One attempt inside `retry`: a remote that has not answered yet should not be waited for past `deadline`. */
export interface Attempt {
  readonly deadline: number;
}
const attempts = new AsyncLocalStorage<Attempt>();

/** The `retry` attempt this code runs in (one-shot commands), so a backend can bound its waits by what is left. */
export function currentAttempt(): Attempt | undefined {
  return attempts.getStore();
}

/**
 * Run `fn`, retrying TransientErrors with backoff until `forMs` has passed, then rethrow
 * the last one. Other errors are final. Each attempt runs as a `currentAttempt()` ending at
 * the same deadline.
 */
export async function retry<T>(what: string, forMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let attempt = 1; ; attempt++) {
    try {
      // `forMs` 0 means one try, not no time: such an attempt keeps the deadline around it, if any.
      return await (forMs > 0 ? attempts.run({ deadline }, fn) : fn());
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
