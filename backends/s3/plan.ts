/**
 * Plan: what a save would upload or delete, from the manifest (size, mtime, sha256) and the
 * work dir, never a request per object. Reads only (the manifest learns touched-not-changed
 * files and, once, what the remote holds). The work dir is read through safe-fs: nothing
 * behind a symlink, anywhere in a path, is looked at. What cannot be saved (a symlink, a
 * FIFO, an unreadable file, a name that is not UTF-8, a key too long) is skipped with its
 * reason, and looked at again at the next save; the rest goes through the shared filter.
 */
import type { ChangeSet, PathFilter, PlanEntry, SavePlan } from "../types";
import { IgnoreRules } from "../../src/ignore";
import { badName, reasonOf, specialReason, withWorkDir, type Entry as Stat, type WorkDir } from "../../src/safefs";
import { hashHandle } from "../lib/hash";
import type { S3Ctx } from "./context";
import { list, plainEtag, unsaveableName } from "./keys";

export async function plan(c: S3Ctx, changes: ChangeSet | "all", filter: PathFilter): Promise<SavePlan> {
  const plan: SavePlan = { entries: [], skipped: [], deferred: [], total: 0, unacknowledged: 0 };
  if (!c.manifest.synced) {
    // Never synced (no restore yet): learn what the remote holds, so nothing there is overwritten unseen.
    for (const o of await list(c)) {
      if (!c.manifest.get(o.rel)) c.manifest.set(o.rel, { size: o.Size ?? 0, mtime: -1, sha256: "", etag: o.ETag! });
    }
    c.manifest.synced = true;
  }
  const rules = new IgnoreRules(c.dir, c.s.ignore);
  const skip = (path: string, reason: string): undefined => {
    plan.skipped.push({ path, reason });
  };
  await withWorkDir(c.dir, async (wd) => {
    const files = new Set<string>();
    const gone = new Set<string>();
    const below = keysBelow(c.manifest.entries);
    const scan = (rel: string) => {
      const found = rel === "" ? undefined : wd.find(rel);
      if (found && "reason" in found) return skip(rel, found.reason); // unknown, not deleted
      if (rel !== "" && !found) {
        gone.add(rel);
        below(rel, gone);
      } else if (rel === "" || found!.kind === "dir") {
        walk(wd, rel, rules, files, skip);
        below(rel, gone);
      } else if (!rules.ignores(rel)) files.add(rel);
    };
    if (changes === "all") scan("");
    else {
      // What was skipped last time is looked at again: it may be readable now.
      for (const rel of new Set([...changes.keys(), ...c.skipped])) scan(rel === "." ? "" : rel);
    }
    for (const rel of [...files].sort()) {
      gone.delete(rel);
      const entry = await candidate(c, wd, rel, skip);
      if (entry) await decide(plan, filter, entry);
    }
    for (const rel of [...gone].sort()) {
      // Only what we had here can be deleted here (not objects merely listed), and an ignored file is not deleted.
      if (!c.manifest.get(rel)?.sha256 || wd.find(rel) !== undefined || rules.ignores(rel)) continue;
      await decide(plan, filter, { path: rel, op: "delete" });
    }
  });
  c.skipped = new Set(plan.skipped.map((e) => e.path));
  plan.total = c.manifest.entries.size;
  return plan;
}

/** The plan entry for a file that may have changed, undefined when it did not (or cannot be saved: skipped). */
async function candidate(
  c: S3Ctx,
  wd: WorkDir,
  rel: string,
  skip: (path: string, reason: string) => undefined,
): Promise<PlanEntry | undefined> {
  const st = wd.find(rel);
  if (!st) return undefined;
  if ("reason" in st) return skip(rel, st.reason);
  const why = unsaveable(c, rel, st);
  if (why) return skip(rel, why);
  const m = c.manifest.get(rel);
  if (m && m.size === st.size && m.mtime === st.mtimeMs) return undefined;
  // Opened here (without following links, never blocking) so an unreadable file is a reason now, not a failed save.
  const o = await wd.open(rel);
  if (o.kind === "gone") return undefined;
  if (o.kind === "symlink") return skip(rel, SYMLINK);
  if (o.kind === "skip") return skip(rel, o.reason);
  try {
    if (m && m.size === o.stat.size) {
      const h = await hashHandle(o.fh);
      if (h.sha256 === m.sha256 || (m.sha256 === "" && plainEtag(m.etag) === h.md5)) {
        c.manifest.set(rel, { ...m, sha256: h.sha256, mtime: o.stat.mtimeMs }); // touched, not changed
        return undefined;
      }
    }
  } catch (err) {
    return skip(rel, reasonOf(err));
  } finally {
    await o.fh.close();
  }
  return { path: rel, op: m ? "modify" : "add", size: o.stat.size };
}

/**
 * `below(rel, out)` adds the keys under the directory `rel` ("": all) to `out`. The keys are
 * sorted once, when first asked, so a change set of many deleted paths is not a scan of the
 * whole manifest per path (keys sharing a prefix are adjacent in any lexicographic order).
 */
function keysBelow(entries: ReadonlyMap<string, unknown>): (rel: string, out: Set<string>) => void {
  let sorted: string[] | undefined;
  return (rel, out) => {
    if (rel === "") {
      for (const k of entries.keys()) out.add(k);
      return;
    }
    sorted ??= [...entries.keys()].sort();
    const p = rel + "/";
    let [lo, hi] = [0, sorted.length];
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid]! < p) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < sorted.length && sorted[i]!.startsWith(p); i++) out.add(sorted[i]!);
  };
}

async function decide(plan: SavePlan, filter: PathFilter, entry: PlanEntry): Promise<void> {
  const verdict = await filter(entry);
  if (verdict === "save") plan.entries.push(entry);
  else if ("skip" in verdict) plan.skipped.push({ path: entry.path, reason: verdict.skip });
  else plan.deferred.push({ path: entry.path, reason: verdict.defer });
}

/** Walk a directory through safe-fs (never following links), collecting what is not ignored. */
function walk(
  wd: WorkDir,
  rel: string,
  rules: IgnoreRules,
  files: Set<string>,
  skip: (path: string, reason: string) => undefined,
): void {
  let ents;
  try {
    ents = wd.list(rel);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP") return; // gone or swapped meanwhile
    return skip(rel, reasonOf(err));
  }
  for (const e of ents) {
    const sub = rel ? `${rel}/${e.name}` : e.name;
    const bad = badName(sub);
    if (bad) {
      // A name we cannot address (not UTF-8) is reported, not silently dropped.
      if (!rules.ignores(sub, e.kind === "dir")) skip(sub, bad);
      continue;
    }
    if (rules.ignores(sub, e.kind === "dir")) continue;
    if (e.kind === "dir") walk(wd, sub, rules, files, skip);
    else files.add(sub);
  }
}

const SYMLINK = "a symbolic link: never followed, its target is not saved";

function unsaveable(c: S3Ctx, rel: string, st: Stat): string | undefined {
  if (st.kind === "symlink") return SYMLINK;
  if (st.kind === "dir") return "a directory";
  if (st.kind !== "file") return specialReason(st.mode);
  return unsaveableName(c.prefix, rel);
}
