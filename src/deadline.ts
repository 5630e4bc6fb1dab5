/**
 * How long the current attempt may still take. A one-shot command retries for --retry-for;
 * a network call made inside that attempt must not outlive what is left of it, however deep
 * in a backend it is made. The deadline travels with the async context, not through every
 * signature in between. A leaf module.
 */
import { AsyncLocalStorage } from "node:async_hooks";

const store = new AsyncLocalStorage<number>();

/** Run `fn` with a deadline (epoch ms); a deadline already in force is only ever shortened. */
export function withDeadline<T>(at: number, fn: () => T): T {
  const outer = store.getStore();
  return store.run(outer === undefined ? at : Math.min(outer, at), fn);
}

/** Milliseconds left before the deadline in force (0 when past it); undefined without one. */
export function timeLeft(): number | undefined {
  const at = store.getStore();
  return at === undefined ? undefined : Math.max(0, at - Date.now());
}
