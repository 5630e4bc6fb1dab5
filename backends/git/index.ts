/**
 * The git backend. Sidecar mode keeps the git dir in the state dir (the notebook user never
 * sees .git/config, and .git churn is not in the watched tree); with --in-place the work
 * dir's own repo is used (a laptop checkout). Never force-pushes; a rejected push integrates
 * the remote's commits with a merge whose tree takes *our whole file* for every path we changed
 * (a notebook changed on both sides in different cells: the two merged by cell).
 *
 * Modules: repo (git dir, branch, our config), remote (ls-remote, fetch, push, credentials,
 * deadlines), scan (the plan), stage (bytes into the index), objects (blobs in and out),
 * save (commit, push), integrate (their commits in), pull (integrate while watching), copies
 * (their side of a conflict beside ours), restore, checkout (blobs into the work dir),
 * ancestors (the last synced notebooks), heal (a damaged index, a full disk), shallow (older
 * history on demand), history (the saves as commits: log, a past point), at (a past tree into
 * the work dir).
 */
import type {
  Backend,
  BackendContext,
  BackendFactory,
  ChangeSet,
  LogOptions,
  PathFilter,
  PullOptions,
  PullReport,
  RestoreAtOptions,
  RestoreAtReport,
  RestoreReport,
  SaveMeta,
  SavePlan,
  SaveRecord,
  SaveReport,
} from "../types";
import { ancestorsIn } from "../lib/ancestors";
import { SyncedNotebooks } from "./ancestors";
import { restoreAt } from "./at";
import { sweepFailedWrites } from "./objects";
import { diskFullError, isDiskFull } from "./heal";
import { log } from "./history";
import { Remote } from "./remote";
import { Repo } from "./repo";
import { restore } from "./restore";
import { pull } from "./pull";
import { plan } from "./scan";
import { save } from "./save";

export const createGitBackend: BackendFactory = async (ctx) => {
  const b = new GitBackend(ctx);
  await b.open();
  return b;
};

class GitBackend implements Backend {
  readonly name = "git";
  readonly capabilities = { history: true, atRestore: true, conflicts: true, integrates: true, pulls: true };
  private readonly repo: Repo;
  private readonly remote: Remote;
  private readonly notebooks: SyncedNotebooks;

  constructor(ctx: BackendContext) {
    this.repo = new Repo(ctx);
    this.remote = new Remote(this.repo);
    this.notebooks = new SyncedNotebooks(this.repo, ancestorsIn(ctx.stateDir, ctx.log));
  }

  open(): Promise<void> {
    return this.repo.open();
  }

  check(opts: { write?: boolean } = {}): Promise<void> {
    return this.guard(async () => {
      await this.remote.lsRemote();
      if (opts.write) await this.remote.probePush();
    });
  }

  create(): Promise<void> {
    return this.remote.create();
  }

  restore(): Promise<RestoreReport> {
    return this.guard(async () => {
      const r = await restore(this.repo, this.remote);
      await this.keepNotebooks(() =>
        this.notebooks.integrated(true, [...r.conflicts, ...r.kept.map((p) => ({ path: p }))]),
      );
      return r;
    });
  }

  plan(changes: ChangeSet | "all", filter: PathFilter): Promise<SavePlan> {
    return this.guard(() => plan(this.repo, changes, filter));
  }

  save(p: SavePlan, meta: SaveMeta): Promise<SaveReport> {
    return this.guard(async () => {
      let r: SaveReport;
      try {
        r = await save(this.repo, this.remote, p, meta);
      } catch (err) {
        this.notebooks.forget();
        throw err;
      }
      await this.keepNotebooks(() => this.notebooks.saved(r));
      return r;
    });
  }

  pull(opts: PullOptions): Promise<PullReport> {
    return this.guard(async () => {
      const r = await pull(this.repo, this.remote, opts);
      await this.keepNotebooks(() =>
        this.notebooks.integrated(r.incoming.length > 0 || r.conflicts.length > 0 || !!r.merged?.length, r.conflicts),
      );
      return r;
    });
  }

  /** The notebooks as last synced are recorded after each sync; a failure there is said, never a failed save. */
  private async keepNotebooks(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.notebooks.forget();
      this.repo.ctx.log.warn(`could not record the last synced notebooks: ${(err as Error).message}`);
    }
  }

  log(opts?: LogOptions): Promise<SaveRecord[]> {
    return this.guard(() => log(this.repo, this.remote, opts));
  }

  restoreAt(opts: RestoreAtOptions): Promise<RestoreAtReport> {
    return this.guard(() => restoreAt(this.repo, this.remote, opts));
  }

  /**
   * A full disk under the state dir is a TransientError (retried; saving resumes when there
   * is room), and what the failed write left in the object store is removed at once.
   */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      if (!this.repo.laptop) sweepFailedWrites(this.repo.gitDir);
      throw diskFullError(this.repo.ctx.stateDir, err);
    }
  }

  async close(): Promise<void> {}
}
