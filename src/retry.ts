import { MirrorshadeError, TransientError } from "./errors";
import { log } from "./log";
import { formatDuration } from "./units";

/** Exponential backoff with full jitter: attempt 1 → up to 1 s, doubling, capped at `max`. */
export function backoff(attempt: number, max = 60_000, base = 1000): number {
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Run `fn`, retrying TransientErrors with backoff until `forMs` has passed, then rethrow
 * the last one. Other errors are final.
 */
export async function retry<T>(what: string, forMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
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
