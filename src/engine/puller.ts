/**
 * watch --pull: every interval, other writers' saves come into the work dir (Backend.pull).
 * A pull runs under the scheduler's exclusive lock, like a save, so the two never interleave,
 * and it is handed the scheduler's pending paths, which it leaves alone. A failed pull is
 * logged and tried again later (with backoff); it never stops the watch nor its saves.
 */
import type { Backend, PullReport } from "../../backends/types";
import type { Health } from "../health";
import { log } from "../log";
import { backoff, describe } from "../retry";
import { formatDuration } from "../units";
import { reportConflicts } from "./save";
import type { Scheduler } from "./scheduler";

export interface PullerOptions {
  every: number;
  backend: Backend & { pull: NonNullable<Backend["pull"]> };
  scheduler: Scheduler;
  health: Health;
}

/** Longest wait between failed pulls. */
const MAX_BACKOFF_MS = 5 * 60_000;

export class Puller {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private stopped = false;
  private failures = 0;

  constructor(private readonly opts: PullerOptions) {}

  start(): void {
    this.opts.health.pullEvery = this.opts.every;
    this.schedule(this.opts.every);
  }

  /** Stop pulling; resolves once a pull in progress ended (the final save runs after it). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** One pull now, under the scheduler's lock; its report, or undefined when it failed (logged). */
  async once(): Promise<PullReport | undefined> {
    const { backend, scheduler, health } = this.opts;
    try {
      const report = await scheduler.exclusive(() =>
        backend.pull({ pending: new Set(scheduler.pending.paths.keys()) }),
      );
      this.failures = 0;
      health.recordPull(report.incoming.length);
      health.noteConflicts(report.conflicts);
      health.merges += report.merged?.length ?? 0;
      if (report.incoming.length) {
        log.info(`took ${report.incoming.length} change(s) from the remote`, {
          paths: report.incoming.slice(0, 20),
          ...(report.deleted.length ? { deleted: report.deleted.slice(0, 20) } : {}),
        });
      }
      if (report.waiting.length) {
        log.debug(`${report.waiting.length} change(s) at the remote wait for a local change to be saved first`, {
          paths: report.waiting.slice(0, 20),
        });
      }
      reportConflicts(report);
      // Ours is saved (a conflict's path was not written), and so is each copy, as any new file;
      // a notebook merged by cell is saved too where the pull itself did not (S3).
      for (const c of report.conflicts) {
        scheduler.notify(c.path, "update");
        if (c.copy) scheduler.notify(c.copy, "create");
      }
      for (const p of report.merged ?? []) scheduler.notify(p, "update");
      return report;
    } catch (err) {
      this.failures++;
      health.recordPullFailure(describe(err));
      const known = err instanceof Error && "exitCode" in err;
      log.warn(`pull failed (attempt ${this.failures}), trying again later: ${describe(err)}`, {
        ...(known ? {} : { stack: (err as Error)?.stack }),
      });
      return undefined;
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.once().finally(() => {
        this.running = undefined;
        const wait = this.failures
          ? Math.max(this.opts.every, backoff(this.failures, MAX_BACKOFF_MS, this.opts.every))
          : this.opts.every;
        if (this.failures) log.debug(`next pull in ${formatDuration(wait)}`);
        this.schedule(wait);
      });
    }, ms);
  }
}

/** Start pulling every `every` ms when the backend can; undefined (with a warning) when it cannot. */
export function startPuller(every: number, backend: Backend, scheduler: Scheduler, health: Health): Puller | undefined {
  if (!backend.pull || !backend.capabilities.pulls) {
    log.warn(`--pull: the ${backend.name} backend cannot take other writers' saves while watching (only at start)`);
    return undefined;
  }
  const puller = new Puller({ every, backend: backend as PullerOptions["backend"], scheduler, health });
  puller.start();
  log.info(`taking other writers' saves in every ${formatDuration(every)}`);
  return puller;
}
