/**
 * Take the remote's commits in without rewriting anything: their paths come in, ours stay,
 * a notebook changed on both sides in ways that merge by cell is merged (merge.ts), any other
 * path changed on both sides keeps our whole file while theirs is written beside it as a
 * conflict copy (and stays in history), and our pre-integration commits also go to a
 * conflict branch so the exact local history is kept.
 */
import path from "node:path";
import { nulSplit } from "../../src/git";
import { stripOutputs } from "../../src/notebook/strip";
import { WorkDir } from "../../src/safefs";
import type { Conflict, PlanEntry, SavePlan } from "../types";
import { checkout, treeEntries, type TreeEntry } from "./checkout";
import { commitCopies, writeTheirCopies } from "./copies";
import { deleteUnchangedButOutputs, mergeByCell } from "./merge";
import { blobId } from "./objects";
import type { Remote } from "./remote";
import type { Repo } from "./repo";
import { guardRuleFiles } from "./rules";
import { mergeBase } from "./shallow";
import { stage } from "./stage";
import { EMPTY_TREE, ZERO, hostnameSafe, rmQuiet } from "./util";

export interface Integration {
  /** Paths written into the work dir or deleted from it (changed only at the remote). */
  incoming: string[];
  /** Of `incoming`, the deleted ones. */
  deleted: string[];
  conflicts: Conflict[];
  /** Notebooks changed on both sides and merged by cell (in the merge commit, or left to the next save). */
  merged: string[];
  conflictRef?: string;
}

export async function integrate(repo: Repo, remote: Remote): Promise<Integration> {
  const { git, ctx } = repo;
  const ours = (await repo.head())!;
  const theirs = await repo.rev(repo.tracking);
  // A shallow state (a first restore fetches the tip only) deepens until the histories meet.
  const base = (await mergeBase(repo, remote, ours, theirs)) ?? EMPTY_TREE;
  if (base === theirs) return { incoming: [], deleted: [], conflicts: [], merged: [] };
  const changed = async (from: string, to: string) =>
    new Set(nulSplit(await git.out(["diff", "--name-only", "-z", "--no-renames", from, to])));
  const theirChanged = await changed(base, theirs);
  const ourChanged = base === ours ? new Set<string>() : await changed(base, ours);
  // Paths edited here but not yet committed count as ours too.
  const dirty = new Set<string>();
  const candidates = [...theirChanged];
  const wd = new WorkDir(ctx.dir);
  try {
    guardRuleFiles(wd, candidates);
  } finally {
    wd.close();
  }
  for (let i = 0; i < candidates.length; i += 500) {
    const st = await git.out([
      "status",
      "--porcelain=v1",
      "-z",
      "--untracked-files=all",
      "--no-renames",
      "--",
      ...candidates.slice(i, i + 500),
    ]);
    for (const rec of nulSplit(st)) dirty.add(rec.slice(3));
  }
  const both = [...theirChanged].filter((p) => ourChanged.has(p) || dirty.has(p));
  const differ = both.length
    ? new Set(nulSplit(await git.out(["diff", "--name-only", "-z", "--no-renames", ours, theirs, "--", ...both])))
    : new Set<string>();
  // An uncommitted edit conflicts only if the work tree's file differs from theirs.
  const dirtyBoth = both.filter((p) => dirty.has(p));
  const dirtyDiffer = dirtyBoth.length
    ? new Set(nulSplit(await git.out(["diff", "--name-only", "-z", "--no-renames", theirs, "--", ...dirtyBoth])))
    : new Set<string>();
  const conflicts: Conflict[] = both
    .filter((p) => (dirty.has(p) ? dirtyDiffer.has(p) : differ.has(p)))
    .map((p) => ({ path: p, ours, theirs }));
  // Notebooks whose changes merge by cell are no conflict: the work dir gets the merged one now,
  // and the merge commit its blob (fast-forwarding over our uncommitted edit, the next save does).
  const merges = await mergeByCell(repo, base === EMPTY_TREE ? "store" : { rev: base }, theirs, conflicts);
  const goneHere = await deleteUnchangedButOutputs(repo, ours, theirs, conflicts, ourChanged);

  let merged = theirs;
  if (base !== ours) {
    const index = path.join(ctx.stateDir, "integrate.index");
    const env = { GIT_INDEX_FILE: index };
    await git.run(["read-tree", theirs], { env });
    const ourPaths = [...ourChanged];
    const present = ourPaths.length ? await treeEntries(repo, ours, ourPaths) : new Map<string, TreeEntry>();
    let info = ourPaths
      .map((p) => {
        const e = present.get(p);
        return `${e ? `${e.mode} ${e.id}` : `0 ${ZERO}`}\t${p}\0`;
      })
      .join("");
    for (const m of merges) info += `${m.mode} ${await writeBlob(repo, m.remote)}\t${m.path}\0`; // last line wins
    if (info) await git.run(["update-index", "-z", "--index-info"], { env, input: info });
    const tree = (await git.out(["write-tree"], { env })).trim();
    const msg =
      `mirrorshade: integrate ${theirs.slice(0, 12)} from the remote` +
      (merges.length ? ` (${merges.length} notebook(s) merged by cell)` : "") +
      (conflicts.length ? ` (${conflicts.length} conflict(s): ours kept)` : "");
    merged = (await git.out(["commit-tree", tree, "-p", ours, "-p", theirs, "-m", msg])).trim();
    rmQuiet(index);
  }
  // Our side of a conflict not committed yet (edited since the last save, e.g. a one-shot
  // push): snapshot those files on top of our commit, so the conflict branch holds it exactly.
  let ourSide = ours;
  const dirtyConflicts = conflicts.filter((c) => dirty.has(c.path)).map((c) => c.path);
  if (dirtyConflicts.length) {
    const env = { GIT_INDEX_FILE: path.join(ctx.stateDir, "conflict.index") };
    await git.run(["read-tree", ours], { env });
    const wd = new WorkDir(ctx.dir);
    const snapshot: SavePlan = { entries: [], skipped: [], deferred: [], total: 0, unacknowledged: 0 };
    try {
      for (const p of dirtyConflicts) {
        const entry = await snapshotEntry(wd, p, ctx.settings.maxFileSize, ctx.settings.stripOutputs);
        if (entry) snapshot.entries.push(entry);
      }
    } finally {
      wd.close();
    }
    await stage(repo, snapshot, { env });
    const tree = (await git.out(["write-tree"], { env })).trim();
    const msg = `mirrorshade: our side of ${dirtyConflicts.length} conflict(s), before integrating ${theirs.slice(0, 12)}`;
    ourSide = (await git.out(["commit-tree", tree, "-p", ours, "-m", msg])).trim();
    rmQuiet(env.GIT_INDEX_FILE);
    for (const c of conflicts) if (dirty.has(c.path)) c.ours = ourSide;
  }
  await git.run(["reset", "-q", merged]);
  const only = [...theirChanged].filter((p) => !ourChanged.has(p) && !dirty.has(p));
  const brought = only.length ? await bringIn(repo, only, ours, merged) : { written: [], deleted: [], kept: [] };
  // Changed here after git status looked (the notebook user kept writing): both sides changed it.
  for (const p of brought.kept) conflicts.push({ path: p, ours, theirs });
  await commitCopies(repo, await writeTheirCopies(repo, theirs, conflicts));

  let conflictRef: string | undefined;
  if (conflicts.length) {
    const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
    conflictRef = `mirrorshade/conflict/${hostnameSafe()}-${stamp}`;
    try {
      const r = await remote.push(ourSide, `refs/heads/${conflictRef}`);
      if (r.rejected) throw new Error("the remote rejected it");
    } catch (err) {
      ctx.log.warn(`could not push the conflict branch ${conflictRef} (our commits stay in the merge's history)`, {
        error: (err as Error).message,
      });
    }
  }
  return {
    incoming: [...brought.written, ...brought.deleted, ...goneHere],
    deleted: [...brought.deleted, ...goneHere],
    conflicts,
    merged: merges.map((m) => m.path),
    conflictRef,
  };
}

/**
 * Our side of a conflict, as the work dir holds it now, for the conflict branch: a notebook
 * that does not parse (a rewrite in progress) is left out, so no half file reaches the remote;
 * with --strip-outputs, it goes without its outputs, as every save sends it.
 */
async function snapshotEntry(
  wd: WorkDir,
  rel: string,
  maxBytes: number,
  strip: boolean,
): Promise<PlanEntry | undefined> {
  if (!wd.stat(rel)) return { path: rel, op: "delete" };
  if (!rel.endsWith(".ipynb")) return { path: rel, op: "modify" };
  const r = await wd.read(rel, { maxBytes });
  if (r.kind !== "file") return strip ? undefined : { path: rel, op: "modify" };
  const text = r.bytes.toString("utf8");
  if (strip) {
    const stripped = stripOutputs(text);
    return stripped === undefined ? undefined : { path: rel, op: "modify", content: Buffer.from(stripped) };
  }
  try {
    JSON.parse(text);
  } catch {
    return undefined;
  }
  return { path: rel, op: "modify", content: r.bytes };
}

/** Store `bytes` as a blob (no filter: they are the bytes to commit); its id. */
async function writeBlob(repo: Repo, bytes: Buffer): Promise<string> {
  return (await repo.git.out(["hash-object", "-w", "--stdin"], { input: bytes })).trim();
}

/**
 * Write the remote's version of `paths` (changed only on their side) into the work dir,
 * deleting those it deleted. A path is replaced or deleted only while it still holds what
 * we last saved (`ours`), checked again just before: a file edited meanwhile stays (`kept`),
 * and the next save commits it.
 */
async function bringIn(
  repo: Repo,
  paths: string[],
  ours: string,
  merged: string,
): Promise<{ written: string[]; deleted: string[]; kept: string[] }> {
  const mine = await treeEntries(repo, ours, paths);
  const next = await treeEntries(repo, merged, paths);
  const wd = new WorkDir(repo.ctx.dir);
  const out = { written: [] as string[], deleted: [] as string[], kept: [] as string[] };
  try {
    // What each unchanged path looked like when its content was checked: replaced only if still so.
    const seen = new Map<string, string>();
    for (const p of paths) {
      if (await holds(wd, p, mine.get(p), repo.ctx.settings.maxFileSize)) seen.set(p, identity(wd, p));
    }
    const still = (p: string) => seen.has(p) && identity(wd, p) === seen.get(p);
    const res = await checkout(repo, wd, [...next.values()], still);
    out.written = res.written;
    // Not replaced because something of ours stands there (what cannot be written at all was warned about).
    const ours = (p: string) => ["file", "symlink"].includes(wd.stat(p)?.kind ?? "");
    for (const p of res.notWritten) if (ours(p)) out.kept.push(p);
    for (const p of paths) {
      if (next.has(p)) continue;
      if (still(p)) {
        wd.unlink(p);
        out.deleted.push(p);
      } else if (ours(p)) out.kept.push(p); // gone here too: nothing to do
    }
  } finally {
    wd.close();
  }
  for (const p of out.kept) {
    repo.ctx.log.warn(
      `kept the local ${p}: it changed here while the remote's version came in (the next save saves it)`,
    );
  }
  return out;
}

/** What stands at `rel` now (inode, size, mtime), to tell whether it changed since it was read. */
function identity(wd: WorkDir, rel: string): string {
  const st = wd.stat(rel);
  return st ? `${st.kind}:${st.ino}:${st.size}:${st.mtimeMs}` : "gone";
}

/** Whether the work dir holds exactly `entry` at `rel` (or nothing, when `entry` is undefined). */
async function holds(wd: WorkDir, rel: string, entry: TreeEntry | undefined, maxBytes: number): Promise<boolean> {
  const r = await wd.read(rel, { maxBytes });
  if (r.kind === "gone") return entry === undefined;
  if (!entry) return false;
  if (r.kind === "file") return entry.mode !== "120000" && blobId(r.bytes) === entry.id;
  if (r.kind === "symlink") return entry.mode === "120000" && blobId(Buffer.from(r.target)) === entry.id;
  return false;
}
