/**
 * Plan: what a save would upload or delete, from the manifest (size, mtime, sha256) and the
 * work dir, never a request per object. Reads only (the manifest learns touched-not-changed
 * files and, once, what the remote holds). Each candidate goes through the shared filter.
 */
import { readdir } from "node:fs/promises";
import path from "node:path";
import type { ChangeSet, PathFilter, PlanEntry, SavePlan } from "../types";
import { IgnoreRules } from "../../src/engine/ignore";
import { withWorkDir, type Entry as Stat } from "../../src/safefs";
import type { S3Ctx } from "./context";
import { list, plainEtag, unsaveableName } from "./keys";
import { hashLocal } from "./transfer";

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
  await withWorkDir(c.dir, async (wd) => {
    const files = new Set<string>();
    const gone = new Set<string>();
    const scan = async (rel: string) => {
      const st = rel === "" ? undefined : wd.stat(rel);
      if (rel !== "" && !st) {
        gone.add(rel);
        for (const k of c.manifest.entries.keys()) if (k.startsWith(rel + "/")) gone.add(k);
      } else if (rel === "" || st!.kind === "dir") {
        await walk(c, rel, rules, files, plan);
        for (const k of c.manifest.entries.keys()) if (rel === "" || k.startsWith(rel + "/")) gone.add(k);
      } else if (!rules.ignores(rel)) files.add(rel);
    };
    if (changes === "all") await scan("");
    else for (const rel of changes.keys()) await scan(rel === "." ? "" : rel);
    for (const rel of [...files].sort()) {
      gone.delete(rel);
      const st = wd.stat(rel);
      if (!st) continue;
      const why = unsaveable(c, rel, st);
      if (why) {
        plan.skipped.push({ path: rel, reason: why });
        continue;
      }
      const m = c.manifest.get(rel);
      if (m && m.size === st.size && m.mtime === st.mtimeMs) continue;
      const h = m && m.size === st.size ? await hashLocal(wd, rel) : undefined;
      if (m && h && (h.sha256 === m.sha256 || (m.sha256 === "" && plainEtag(m.etag) === h.md5))) {
        c.manifest.set(rel, { ...m, sha256: h.sha256, mtime: st.mtimeMs }); // touched, not changed
        continue;
      }
      await decide(plan, filter, { path: rel, op: m ? "modify" : "add", size: st.size });
    }
    for (const rel of [...gone].sort()) {
      // Only what we had here can be deleted here (not objects merely listed), and an ignored file is not deleted.
      if (!c.manifest.get(rel)?.sha256 || wd.stat(rel) || rules.ignores(rel)) continue;
      await decide(plan, filter, { path: rel, op: "delete" });
    }
  });
  plan.total = c.manifest.entries.size;
  return plan;
}

async function decide(plan: SavePlan, filter: PathFilter, entry: PlanEntry): Promise<void> {
  const verdict = await filter(entry);
  if (verdict === "save") plan.entries.push(entry);
  else if ("skip" in verdict) plan.skipped.push({ path: entry.path, reason: verdict.skip });
  else plan.deferred.push({ path: entry.path, reason: verdict.defer });
}

/** Walk a directory (never following links), collecting regular files and skipping ignored paths. */
async function walk(c: S3Ctx, rel: string, rules: IgnoreRules, files: Set<string>, plan: SavePlan): Promise<void> {
  let ents;
  try {
    ents = await readdir(path.join(c.dir, rel), { withFileTypes: true });
  } catch (err) {
    if (["ENOENT", "ENOTDIR"].includes((err as NodeJS.ErrnoException).code!)) return;
    plan.skipped.push({ path: rel, reason: `unreadable directory (${(err as NodeJS.ErrnoException).code})` });
    return;
  }
  for (const e of ents) {
    const sub = rel ? `${rel}/${e.name}` : e.name;
    if (rules.ignores(sub, e.isDirectory())) continue;
    if (e.isDirectory()) await walk(c, sub, rules, files, plan);
    else files.add(sub);
  }
}

function unsaveable(c: S3Ctx, rel: string, st: Stat): string | undefined {
  if (st.kind === "symlink") return "a symbolic link: never followed, its target is not saved";
  if (st.kind !== "file") return "not a regular file";
  return unsaveableName(c.prefix, rel);
}
