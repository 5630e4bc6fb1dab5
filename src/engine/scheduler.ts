/**
 * When to save: after `debounce` without events, but never later than `maxDelay` after the
 * first unsaved one. One save at a time; events during a save go to the next. A failed
 * save keeps its changes and retries with backoff and jitter, forever.
 */
import type { ChangeKind } from "../../backends/types";
import { log } from "../log";
import { backoff, describe } from "../retry";
import { formatDuration } from "../units";
import { ChangeSet } from "./changeset";

export interface SaveResult {
  /** Paths to try again later (half-written notebooks), with why. */
  deferred: { path: string; reason: string }[];
}

export interface SchedulerOptions {
  debounce: number;
  maxDelay: number;
  save: (changes: ReadonlyMap<string, ChangeKind>, force: (rel: string) => boolean) => Promise<SaveResult>;
  /** Called after each attempt: for metrics and health. */
  onResult?: (ok: boolean, error?: unknown) => void;
  /** Ceiling for the retry backoff. */
  maxBackoff?: number;
}

/** A notebook that stays invalid this many max-delays is saved anyway, with a warning. */
const INVALID_PATIENCE = 3;

export class Scheduler {
  readonly pending = new ChangeSet();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Paths of the save in progress (reported as unsaved if shutdown cannot wait for it). */
  private inFlight: string[] = [];
  private lastEventAt = 0;
  private failures = 0;
  private retryAt = 0;
  private stopped = false;
  private readonly invalidSince = new Map<string, number>();
  private waiters: (() => void)[] = [];

  constructor(private readonly opts: SchedulerOptions) {}

  notify(rel: string, kind: ChangeKind): void {
    const now = Date.now();
    this.pending.add(rel, kind, now);
    this.lastEventAt = now;
    this.schedule();
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  get failing(): number {
    return this.failures;
  }

  private schedule(): void {
    if (this.stopped || this.running || this.pending.size === 0) return;
    const now = Date.now();
    let due = Math.min(this.lastEventAt + this.opts.debounce, (this.pending.firstAt ?? now) + this.opts.maxDelay);
    if (this.failures) due = Math.max(due, this.retryAt);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.run(false), Math.max(0, due - now));
  }

  /** Save what is pending now. Resolves when that attempt ended (saved or failed). */
  private run(forceAll: boolean): Promise<void> {
    if (this.running) return this.running;
    clearTimeout(this.timer);
    this.timer = undefined;
    const taken = this.pending.take();
    const now = Date.now();
    // The save's wait, for its profile: the debounce (or max-delay) counted from these.
    log.debug("save due", {
      paths: taken.paths.size,
      lastEventAt: this.lastEventAt,
      sinceLastEventMs: now - this.lastEventAt,
      sinceFirstEventMs: taken.firstAt === undefined ? undefined : now - taken.firstAt,
    });
    const force = (rel: string) => {
      if (forceAll) return true;
      const since = this.invalidSince.get(rel);
      return since !== undefined && now - since >= INVALID_PATIENCE * this.opts.maxDelay;
    };
    this.inFlight = [...taken.paths.keys()];
    this.running = (async () => {
      try {
        const result = await this.opts.save(taken.paths, force);
        this.failures = 0;
        const deferredNow = new Set<string>();
        for (const d of result.deferred) {
          if (d.reason === "mass deletion") continue; // reported; kept out until a restart or new events
          deferredNow.add(d.path);
          if (!this.invalidSince.has(d.path)) this.invalidSince.set(d.path, now);
          // Counted from now: retried after the next quiet period, not at once (a busy loop).
          this.pending.merge(new Map([[d.path, "update" as ChangeKind]]), Date.now());
        }
        if (deferredNow.size) this.lastEventAt = Math.max(this.lastEventAt, Date.now());
        for (const p of this.invalidSince.keys()) if (!deferredNow.has(p)) this.invalidSince.delete(p);
        this.opts.onResult?.(true);
      } catch (err) {
        this.pending.merge(taken.paths, taken.firstAt ?? now);
        this.failures++;
        const wait = backoff(this.failures, this.opts.maxBackoff ?? 300_000);
        this.retryAt = Date.now() + wait;
        const known = err instanceof Error && "exitCode" in err;
        log.error(`save failed (attempt ${this.failures}), retrying in ${formatDuration(wait)}: ${describe(err)}`, {
          pending: this.pending.size,
          ...(known ? {} : { stack: (err as Error)?.stack }),
        });
        this.opts.onResult?.(false, err);
      } finally {
        this.running = undefined;
        this.inFlight = [];
        for (const w of this.waiters.splice(0)) w();
        this.schedule();
      }
    })();
    return this.running;
  }

  /** Run `fn` while no save runs and none starts (a dry-run plan for `push --dry-run`). */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.running) await this.running;
    clearTimeout(this.timer);
    const p = fn();
    this.running = p.then(
      () => {},
      () => {},
    );
    try {
      return await p;
    } finally {
      this.running = undefined;
      this.schedule();
    }
  }

  /** Save now (for `push` while watching); waits for a save in progress first. */
  async saveNow(): Promise<boolean> {
    if (this.running) await this.running;
    // A whole-tree look: events for a write just before the request may still be in flight.
    this.pending.add(".", "update");
    this.failures = 0;
    await this.run(false);
    return this.failures === 0;
  }

  /**
   * Shutdown: stop scheduling and save everything pending within `deadlineMs`, notebooks
   * included whatever their state. Returns what could not be saved.
   */
  async flush(deadlineMs: number): Promise<string[]> {
    this.stopped = true;
    clearTimeout(this.timer);
    const deadline = Date.now() + deadlineMs;
    const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), deadlineMs).unref());
    if (this.running) await Promise.race([this.running, timeout]);
    while (Date.now() < deadline) {
      if (this.running) {
        if ((await Promise.race([this.running, timeout])) === "timeout") break;
        continue;
      }
      if (this.pending.size === 0 && this.failures === 0) return [];
      if (this.pending.size === 0) this.pending.add(".", "update");
      this.failures = 0;
      if ((await Promise.race([this.run(true), timeout])) === "timeout") break;
      if (this.failures === 0 && this.pending.size === 0) return [];
      if (this.failures) {
        const wait = Math.min(backoff(this.failures, 5000, 250), deadline - Date.now());
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
    return [...new Set([...this.pending.paths.keys(), ...this.inFlight])];
  }

  /** Resolves after the next save attempt ends (tests, status). */
  nextAttempt(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
}
