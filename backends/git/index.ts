/**
 * The git backend. Sidecar mode keeps the git dir in the state dir (the notebook user never
 * sees .git/config, and .git churn is not in the watched tree); a work dir that already is
 * a git repo (a laptop) is used in place. Never force-pushes; a rejected push integrates the
 * remote's commits with a merge whose tree takes *our whole file* for every path we changed.
 *
 * Modules: repo (git dir, branch, config), remote (ls-remote, fetch, push, credentials),
 * save (plan, stage, commit, push), integrate (their commits in), restore, checkout (index
 * entries into the work dir).
 */
import type {
  Backend,
  BackendContext,
  BackendFactory,
  ChangeSet,
  PathFilter,
  RestoreReport,
  SaveMeta,
  SavePlan,
  SaveReport,
} from "../types";
import { Remote } from "./remote";
import { Repo } from "./repo";
import { restore } from "./restore";
import { plan, save } from "./save";

export const createGitBackend: BackendFactory = async (ctx) => {
  const b = new GitBackend(ctx);
  await b.open();
  return b;
};

class GitBackend implements Backend {
  readonly name = "git";
  readonly capabilities = { history: true, atRestore: false, conflicts: true, integrates: true };
  private readonly repo: Repo;
  private readonly remote: Remote;

  constructor(ctx: BackendContext) {
    this.repo = new Repo(ctx);
    this.remote = new Remote(this.repo);
  }

  open(): Promise<void> {
    return this.repo.open();
  }

  async check(opts: { write?: boolean } = {}): Promise<void> {
    await this.remote.lsRemote();
    if (opts.write) await this.remote.probePush();
  }

  create(): Promise<void> {
    return this.remote.create();
  }

  restore(): Promise<RestoreReport> {
    return restore(this.repo, this.remote);
  }

  plan(changes: ChangeSet | "all", filter: PathFilter): Promise<SavePlan> {
    return plan(this.repo, changes, filter);
  }

  save(p: SavePlan, meta: SaveMeta): Promise<SaveReport> {
    return save(this.repo, this.remote, p, meta);
  }

  async close(): Promise<void> {}
}
