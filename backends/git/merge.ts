/**
 * Notebooks changed on both sides, merged by cell before they become conflicts: the decision and
 * the write into the work dir are backends/lib/notebooks.ts's, shared with S3. With
 * --strip-outputs, one whose only local change is its outputs is no change (deleted there: here too). Git has the common
 * ancestor itself, the merge base's blob; where history lacks it (no common history, a blob a
 * shallow clone never fetched) the state dir's last synced bytes stand in.
 */
import { WorkDir } from "../../src/safefs";
import type { Conflict } from "../types";
import { ancestorsIn, isNotebook } from "../lib/ancestors";
import { mergeBothSides, readOurs, remoteForm, stillOurs } from "../lib/notebooks";
import { isFileEntry, treeEntries } from "./checkout";
import { blobId, catBlobs } from "./objects";
import type { Repo } from "./repo";

/** A notebook merged by cell: written in the work dir; `remote` is what to commit (stripped with --strip-outputs). */
export interface Merged {
  path: string;
  mode: string;
  remote: Buffer;
}

/** Where the common ancestor comes from: a commit (the merge base), the state dir's store, or nowhere (a first restore). */
export type AncestorSource = { rev: string } | "store" | "none";

/**
 * Try a cell-level merge for each notebook of `conflicts` whose version in `theirs` is a file.
 * Those merged are taken out of `conflicts` (no copy, no conflict) and returned.
 */
export async function mergeByCell(
  repo: Repo,
  ancestor: AncestorSource,
  theirs: string,
  conflicts: Conflict[],
): Promise<Merged[]> {
  const paths = conflicts.map((c) => c.path).filter(isNotebook);
  if (!paths.length) return [];
  const { ctx } = repo;
  const theirEntries = [...(await treeEntries(repo, theirs, paths)).values()].filter(isFileEntry);
  if (!theirEntries.length) return [];
  const baseEntries =
    typeof ancestor === "object"
      ? [...(await treeEntries(repo, ancestor.rev, paths)).values()].filter(isFileEntry)
      : [];
  const blobs = new Map<string, Buffer>();
  await catBlobs(repo.git, [...new Set([...theirEntries, ...baseEntries].map((e) => e.id))], (id, bytes) => {
    if (bytes && bytes.length <= ctx.settings.maxFileSize) blobs.set(id, bytes);
  });
  const inBase = new Map(baseEntries.map((e) => [e.path, e]));
  const store = ancestor === "none" ? undefined : ancestorsIn(ctx.stateDir, ctx.log);
  const baseOf = (rel: string): Buffer | undefined => {
    if (typeof ancestor !== "object") return store?.get(rel);
    const e = inBase.get(rel);
    if (!e) return undefined; // added on both sides since the merge base: no ancestor
    return blobs.get(e.id) ?? store?.get(rel); // a blob history does not hold here (shallow)
  };
  const merged: Merged[] = [];
  const wd = new WorkDir(ctx.dir);
  try {
    for (const e of theirEntries) {
      const bytes = blobs.get(e.id);
      if (!bytes) continue;
      const r = await mergeBothSides(wd, e.path, baseOf(e.path), bytes, {
        strip: ctx.settings.stripOutputs,
        maxBytes: ctx.settings.maxFileSize,
        log: ctx.log,
      });
      if (r.merged) merged.push({ path: e.path, mode: e.mode, remote: r.remote });
    }
  } finally {
    wd.close();
  }
  const done = new Set(merged.map((m) => m.path));
  for (let i = conflicts.length - 1; i >= 0; i--) if (done.has(conflicts[i]!.path)) conflicts.splice(i, 1);
  return merged;
}

/**
 * --strip-outputs: of `conflicts` (paths not committed by us since the merge base, `ourChanged`),
 * the notebooks `theirs` deleted while the work dir holds `ours`'s version but for its outputs:
 * unchanged here since the last save (outputs never leave this side), so deleted here too, as an
 * unchanged file is. Returns them, taken out of `conflicts`.
 */
export async function deleteUnchangedButOutputs(
  repo: Repo,
  ours: string,
  theirs: string,
  conflicts: Conflict[],
  ourChanged: ReadonlySet<string>,
): Promise<string[]> {
  const { ctx } = repo;
  if (!ctx.settings.stripOutputs) return [];
  const paths = conflicts.map((c) => c.path).filter((p) => isNotebook(p) && !ourChanged.has(p));
  if (!paths.length) return [];
  const there = await treeEntries(repo, theirs, paths);
  const gone = paths.filter((p) => !there.has(p));
  if (!gone.length) return [];
  const mine = await treeEntries(repo, ours, gone);
  const deleted: string[] = [];
  const wd = new WorkDir(ctx.dir);
  try {
    for (const p of gone) {
      const local = await readOurs(wd, p, ctx.settings.maxFileSize);
      const form = local && remoteForm(p, local.bytes);
      if (!local || !form || blobId(form) !== mine.get(p)?.id || !stillOurs(wd, p, local)) continue;
      wd.unlink(p);
      deleted.push(p);
    }
  } finally {
    wd.close();
  }
  const done = new Set(deleted);
  for (let i = conflicts.length - 1; i >= 0; i--) if (done.has(conflicts[i]!.path)) conflicts.splice(i, 1);
  return deleted;
}
