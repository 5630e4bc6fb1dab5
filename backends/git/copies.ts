/**
 * Their version of a path changed on both sides, made visible where the user works: the blob
 * of their commit is written beside ours as a conflict copy (backends/lib/copies: a new file,
 * never over anything, once per content), named by the time of their last commit touching
 * the path, and committed on top so it reaches the remote with our side.
 */
import type { Conflict, PlanEntry, SavePlan } from "../types";
import { WorkDir } from "../../src/safefs";
import { writeCopy } from "../lib/copies";
import { isFileEntry, treeEntries } from "./checkout";
import { catBlobs } from "./objects";
import type { Repo } from "./repo";
import { stage } from "./stage";

/**
 * For each of `conflicts` whose version in `theirs` is a file, write it beside ours and set
 * `copy`; a deletion there has nothing to copy. Returns the copies written or found.
 */
export async function writeTheirCopies(repo: Repo, theirs: string, conflicts: Conflict[]): Promise<string[]> {
  if (!conflicts.length) return [];
  const { ctx } = repo;
  const entries = await treeEntries(
    repo,
    theirs,
    conflicts.map((c) => c.path),
  );
  const files = conflicts.filter((c) => isFileEntry(entries.get(c.path)));
  const bytes = new Map<string, Buffer>();
  let i = 0;
  await catBlobs(
    repo.git,
    files.map((c) => entries.get(c.path)!.id),
    (_id, b) => {
      const c = files[i++]!;
      if (b && b.length <= ctx.settings.maxFileSize) bytes.set(c.path, b);
      else ctx.log.warn(`no conflict copy of ${c.path}: their version is ${b ? "over --max-file-size" : "missing"}`);
    },
  );
  const made: string[] = [];
  const wd = new WorkDir(ctx.dir);
  try {
    for (const c of files) {
      const b = bytes.get(c.path);
      if (!b) continue;
      const here = await wd.read(c.path, { maxBytes: ctx.settings.maxFileSize });
      if (here.kind === "file" && here.bytes.equals(b)) continue; // the same bytes here already: nothing to show
      const when = await committedAt(repo, theirs, c.path);
      const placed = await writeCopy(wd, c.path, when, b, { executable: entries.get(c.path)!.mode === "100755" });
      if ("refused" in placed) {
        ctx.log.warn(`no conflict copy of ${c.path} in the work dir (${placed.refused}): theirs stays in history`);
        continue;
      }
      c.copy = placed.path;
      made.push(placed.path);
    }
  } finally {
    wd.close();
  }
  return made;
}

/** Commit the copies on top of HEAD (the index holds HEAD's tree), so they are saved with our side. */
export async function commitCopies(repo: Repo, copies: string[]): Promise<void> {
  if (!copies.length) return;
  const plan: SavePlan = {
    entries: copies.map((p): PlanEntry => ({ path: p, op: "add" })),
    skipped: [],
    deferred: [],
    total: 0,
    unacknowledged: 0,
  };
  await stage(repo, plan);
  if (!plan.entries.length) return;
  const shown = copies.slice(0, 3).join(", ") + (copies.length > 3 ? ` and ${copies.length - 3} more` : "");
  await repo.git.run(
    ["commit", "--no-verify", "--no-edit", "--cleanup=verbatim", "-m", `mirrorshade: conflict copy ${shown}`],
    { okCodes: [1] }, // already committed (a copy met again): nothing to commit
  );
}

/** When `rel` last changed in `rev`'s history: the committer time of that commit. */
async function committedAt(repo: Repo, rev: string, rel: string): Promise<Date> {
  const out = await repo.git.out(["log", "-1", "--format=%ct", rev, "--", rel]);
  const secs = Number(out.trim());
  return new Date((Number.isFinite(secs) && secs > 0 ? secs : Date.now() / 1000) * 1000);
}
