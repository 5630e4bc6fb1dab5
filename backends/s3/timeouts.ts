/**
 * Every request to the store has a deadline, so a store that accepts connections and never
 * answers (or stalls mid-transfer) is a TransientError, not a hang:
 *  - per HTTP request (the SDK's own retries and lib-storage's parts included): connecting
 *    within CONNECT_MS, no socket idle longer than IDLE_MS (bodies both ways), and the
 *    answer's headers within ANSWER_MS plus the request body's time at MIN_RATE;
 *  - per SDK call (its retries included): CALL_MS, cleared once it answered, so streaming a
 *    large body is bounded by the idle timeout only;
 *  - inside a one-shot command's attempt (src/deadline.ts), while the store has not answered
 *    anything in this backend operation yet: no longer than what is left of --retry-for.
 *    Once it answered, the fixed bounds alone apply: a long restore or upload that makes
 *    progress is not cut short.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type * as S3 from "@aws-sdk/client-s3";
import { timeLeft } from "../../src/deadline";
import { translate } from "./errors";

export const CONNECT_MS = 10_000;
export const IDLE_MS = 30_000;
const ANSWER_MS = 60_000;
/** Bytes per second a request body is allowed to take on top of ANSWER_MS. */
const MIN_RATE = 64 * 1024;
const CALL_MS = 5 * 60_000;

/** One backend operation (a check, restore, plan or save): whether the store answered in it yet. */
const operation = new AsyncLocalStorage<{ answered: boolean }>();

/** Run one backend operation: the store counts as silent until it answers within it. */
export function operate<T>(fn: () => Promise<T>): Promise<T> {
  return operation.run({ answered: false }, fn);
}

/** `fixed`, or less: what is left of the attempt while the store has been silent in this operation. */
function within(fixed: number): number {
  const left = timeLeft();
  return left === undefined || operation.getStore()?.answered ? fixed : Math.min(fixed, left);
}

function deadlineError(ms: number): Error {
  return Object.assign(new Error(`no answer within ${Math.max(0, Math.round(ms / 1000))} s`), {
    name: "TimeoutError",
  });
}

type Handler = { handle(req: unknown, opts?: Record<string, unknown>): Promise<unknown> };

/**
 * Give each request of `client` its answer deadline. The SDK takes `requestTimeout` per
 * request in the handler options, but only its own callers pass them: the handler is
 * wrapped so lib-storage's part uploads and the SDK's retries get one too.
 */
export function withDeadlines(client: S3.S3Client): void {
  const handler = client.config.requestHandler as unknown as Handler;
  const handle = handler.handle.bind(handler);
  handler.handle = async (req, opts = {}) => {
    const length = Number((req as { headers?: Record<string, string> }).headers?.["content-length"] ?? 0) || 0;
    const ms = within(ANSWER_MS + (length / MIN_RATE) * 1000);
    if (ms <= 0) throw deadlineError(ms);
    const r = await handle(req, { ...opts, requestTimeout: Math.ceil(ms) });
    const op = operation.getStore();
    if (op) op.answered = true;
    return r;
  };
}

/** The options an SDK call takes: the abort signal of its deadline. */
export type CallOptions = { abortSignal: AbortSignal };

/** Run one SDK call under its deadline; errors are the SDK's (see `sent` for translated ones). */
export async function call<T>(fn: (opts: CallOptions) => Promise<T>): Promise<T> {
  const ms = Math.max(0, within(CALL_MS));
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(deadlineError(ms)), ms);
  try {
    return await fn({ abortSignal: ac.signal });
  } finally {
    clearTimeout(timer);
  }
}

/** Run one SDK call under its deadline, translating its failure into our typed errors. */
export async function sent<T>(where: string, fn: (opts: CallOptions) => Promise<T>): Promise<T> {
  try {
    return await call(fn);
  } catch (err) {
    throw translate(err, where);
  }
}
