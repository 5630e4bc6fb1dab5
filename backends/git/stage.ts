/**
 * Staging: the planned entries into an index. In sidecar mode git never reads the work dir
 * for us: mirrorshade reads each file through WorkDir (no link followed, no FIFO opened, a
 * size cap before reading), writes the blobs itself, and hands git one `update-index
 * --index-info` with every entry. A symlink is saved as a link (its target is the blob).
 * What cannot be read is skipped with its reason; everything else is staged.
 * In-place mode stages with `git add`: the repo's own attributes (filters such as LFS,
 * line endings) are the user's to apply there.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { GitFailure } from "../../src/git";
import { WorkDir } from "../../src/safefs";
import type { PlanEntry, SavePlan } from "../types";
import { FastImport, LooseObjects, type BlobSink } from "./objects";
import type { Repo } from "./repo";
import { ZERO, lstatOrNull } from "./util";

/** Files read at once (each is read whole, below --max-file-size). */
const PARALLEL = 8;
/** From this many files on, blobs go into one pack (fast-import) rather than one file each. */
const PACK_FROM = 64;

export interface StageOptions {
  /** Another index than ours (GIT_INDEX_FILE), e.g. for a snapshot on the side. */
  env?: Record<string, string>;
}

/** Stage `plan.entries`; what cannot be staged moves from `plan.entries` to `plan.skipped`. */
export async function stage(repo: Repo, plan: SavePlan, opts: StageOptions = {}): Promise<void> {
  if (repo.laptop) return stageWithGit(repo, plan, opts);
  const wd = new WorkDir(repo.ctx.dir);
  try {
    await stageBytes(repo, wd, plan, opts);
  } finally {
    wd.close();
  }
}

async function stageBytes(repo: Repo, wd: WorkDir, plan: SavePlan, opts: StageOptions): Promise<void> {
  const reads = plan.entries.filter((e) => e.op !== "delete").length;
  const objects: BlobSink = reads >= PACK_FROM ? new FastImport(repo.git) : new LooseObjects(repo.objectsDir);
  const maxBytes = repo.ctx.settings.maxFileSize;
  const deletions: string[] = [];
  const additions: string[] = [];
  const dropped = new Set<PlanEntry>();
  const one = async (e: PlanEntry): Promise<void> => {
    if (e.op === "delete") {
      deletions.push(e.path);
      return;
    }
    const st = wd.stat(e.path);
    if (e.content && st?.kind === "file") {
      // Checked bytes (notebooks) go in as they were checked, not as a second read finds them.
      additions.push(line(st.mode & 0o100 ? "100755" : "100644", await objects.write(e.content), e.path));
      return;
    }
    const r = await wd.read(e.path, { maxBytes });
    if (r.kind === "file") {
      additions.push(line(r.stat.mode & 0o100 ? "100755" : "100644", await objects.write(r.bytes), e.path));
    } else if (r.kind === "symlink") {
      additions.push(line("120000", await objects.write(Buffer.from(r.target)), e.path));
    } else if (r.kind === "skip") {
      plan.skipped.push({ path: e.path, reason: r.reason });
      dropped.add(e);
    } else if (e.op === "modify") {
      e.op = "delete"; // gone since the plan
      deletions.push(e.path);
    } else {
      dropped.add(e);
    }
  };
  const queue = [...plan.entries];
  try {
    await Promise.all(
      Array.from({ length: Math.min(PARALLEL, queue.length) }, async () => {
        for (let e = queue.shift(); e; e = queue.shift()) await one(e);
      }),
    );
  } finally {
    await objects.close();
  }
  if (dropped.size) plan.entries = plan.entries.filter((e) => !dropped.has(e));
  // Deletions first: a file that became a directory (or the reverse) is replaced, not doubled.
  const input = [...deletions.map((p) => line("0", ZERO, p)), ...additions].join("");
  if (!input) return;
  const r = await repo.git.exec(["update-index", "-z", "--index-info"], { input, env: opts.env });
  // Git refuses some names itself (`.git` components and the like): it says so and goes on.
  const refused = new Set([...r.stderr.matchAll(/^Ignoring path (.+)$/gm)].map((m) => m[1]!));
  if (refused.size) {
    plan.entries = plan.entries.filter((e) => !refused.has(e.path));
    for (const p of refused) plan.skipped.push({ path: p, reason: "git refuses this name" });
  }
}

function line(mode: string, id: string, rel: string): string {
  return `${mode} ${id}\t${rel}\0`;
}

/** In-place mode: `git add`. A file we cannot read (another UID's 0600 file) is skipped, not fatal. */
async function stageWithGit(repo: Repo, plan: SavePlan, opts: StageOptions): Promise<void> {
  const { git, ctx } = repo;
  const env = opts.env;
  // Checked bytes (notebooks) go in as they were checked: a re-read by `git add` could
  // catch a rewrite in progress (a truncated notebook), or die of SIGBUS on its mmap.
  for (const e of plan.entries.filter((e) => e.content)) {
    const sha = (await git.out(["hash-object", "-w", "--stdin"], { input: e.content, env })).trim();
    const exec = (lstatOrNull(path.join(ctx.dir, e.path))?.mode ?? 0) & 0o111 ? "100755" : "100644";
    await git.run(["update-index", "--add", "--cacheinfo", `${exec},${sha},${e.path}`], { env });
  }
  let rest = plan.entries.filter((e) => !e.content);
  if (!rest.length) return;
  const list = path.join(ctx.stateDir, "pathspec");
  for (;;) {
    writeFileSync(list, rest.map((e) => e.path).join("\0") + "\0");
    try {
      await git.run(["add", "-A", `--pathspec-from-file=${list}`, "--pathspec-file-nul"], { env });
      return;
    } catch (err) {
      if (!(err instanceof GitFailure)) throw err;
      const bad = new Set(
        [...err.stderr.matchAll(/open\("(.+?)"\): Permission denied|unable to index file '(.+?)'/g)].map((m) =>
          path
            .relative(ctx.dir, path.resolve(ctx.dir, m[1] ?? m[2]!))
            .split(path.sep)
            .join("/"),
        ),
      );
      const before = rest.length;
      rest = rest.filter((e) => !bad.has(e.path));
      if (rest.length === before) throw err;
      plan.entries = plan.entries.filter((e) => !bad.has(e.path));
      for (const p of bad) plan.skipped.push({ path: p, reason: "cannot read it (permission denied)" });
      if (!rest.length) return;
    }
  }
}
