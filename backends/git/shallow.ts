/**
 * History on demand. A first restore fetches the branch's tip only (`--depth 1`): a pod's
 * start depends on the tree, not on how long the history is. What needs older commits
 * fetches them here, deeper and deeper (`--deepen`, doubling), until it has what it needs or
 * the whole history: where two histories meet (integrating another writer), the saves `log`
 * lists, the one `restore --at` names.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Remote } from "./remote";
import type { Repo } from "./repo";

/** The first deepening; each next one doubles, up to a point past which the rest is fetched at once. */
const FIRST = 100;
const ALL_AFTER = 12_800;

/** The shallow file: commits whose parents are not here (none when the history is complete). */
async function shallowFile(repo: Repo): Promise<string> {
  if (!repo.laptop) return path.join(repo.gitDir, "shallow");
  // A linked worktree keeps it in the common dir.
  return path.resolve(repo.ctx.dir, (await repo.git.out(["rev-parse", "--git-path", "shallow"])).trim());
}

/** The boundary commits of a shallow state: present, but their parents are not. Empty when complete. */
export async function boundaries(repo: Repo): Promise<Set<string>> {
  try {
    return new Set(
      readFileSync(await shallowFile(repo), "utf8")
        .split("\n")
        .filter(Boolean),
    );
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return new Set();
    throw err;
  }
}

/** Fetches older history, a step at a time; `step` says false once there is nothing more to fetch. */
export class Deepener {
  private next: number;
  /** Commits fetched below the first boundary so far. */
  fetched = 0;

  constructor(
    private readonly repo: Repo,
    private readonly remote: Remote,
    private readonly progress?: (msg: string) => void,
    first = FIRST,
  ) {
    this.next = Math.max(first, FIRST);
  }

  async step(): Promise<boolean> {
    if (!(await boundaries(this.repo)).size) return false;
    const all = this.next > ALL_AFTER;
    const say = `fetching older saves from the remote (${all ? "the rest of the history" : `${this.next} more`})`;
    if (this.progress) this.progress(say);
    else this.repo.ctx.log.info(say);
    await this.remote.fetch(all ? { unshallow: true } : { deepen: this.next });
    this.fetched += all ? Infinity : this.next;
    this.next *= 2;
    return true;
  }
}

/**
 * The best common ancestor of `a` and `b`, deepening a shallow state until the two histories
 * meet in it; undefined when they never do (unrelated histories).
 */
export async function mergeBase(repo: Repo, remote: Remote, a: string, b: string): Promise<string | undefined> {
  let deepener: Deepener | undefined;
  for (;;) {
    const mb = await repo.git.run(["merge-base", a, b], { okCodes: [1] });
    if (mb.code === 0) return mb.stdout.trim();
    deepener ??= new Deepener(repo, remote);
    if (!(await deepener.step())) return undefined;
  }
}
