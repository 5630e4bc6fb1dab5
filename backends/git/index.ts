/**
 * The git backend. Sidecar mode keeps the git dir in the state dir (the notebook user never
 * sees .git/config, and .git churn is not in the watched tree); with --in-place the work
 * dir's own repo is used (a laptop checkout). Never force-pushes; a rejected push integrates
 * the remote's commits with a merge whose tree takes *our whole file* for every path we changed.
 *
 * Modules: repo (git dir, branch, our config), remote (ls-remote, fetch, push, credentials,
 * deadlines), scan (the plan), stage (bytes into the index), objects (blobs in and out),
 * save (commit, push), integrate (their commits in), restore, checkout (blobs into the work
 * dir), heal (a damaged index, a full disk), shallow (older history on demand), history (the
 * saves as commits: log, a past point), at (a past tree into the work dir).
 */
import type {
  Backend,
  BackendContext,
  BackendFactory,
  ChangeSet,
  LogOptions,
  PathFilter,
  RestoreAtOptions,
  RestoreAtReport,
  RestoreReport,
  SaveMeta,
  SavePlan,
  SaveRecord,
  SaveReport,
} from "../types";
import { restoreAt } from "./at";
import { sweepFailedWrites } from "./objects";
import { diskFullError, isDiskFull } from "./heal";
import { log } from "./history";
import { Remote } from "./remote";
import { Repo } from "./repo";
import { restore } from "./restore";
import { plan } from "./scan";
import { save } from "./save";

export const createGitBackend: BackendFactory = async (ctx) => {
  const b = new GitBackend(ctx);
  await b.open();
  return b;
};

class GitBackend implements Backend {
  readonly name = "git";
  readonly capabilities = { history: true, atRestore: true, conflicts: true, integrates: true };
  private readonly repo: Repo;
  private readonly remote: Remote;

  constructor(ctx: BackendContext) {
    this.repo = new Repo(ctx);
    this.remote = new Remote(this.repo);
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
    return this.guard(() => restore(this.repo, this.remote));
  }

  plan(changes: ChangeSet | "all", filter: PathFilter): Promise<SavePlan> {
    return this.guard(() => plan(this.repo, changes, filter));
  }

  save(p: SavePlan, meta: SaveMeta): Promise<SaveReport> {
    return this.guard(() => save(this.repo, this.remote, p, meta));
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
