/**
 * Restore: bring the prefix into the work dir, the union, local first. Files only at the
 * remote are downloaded (parallel, temp file + link, never through a symlink); a local file
 * that differs is kept and the remote's version goes beside it as a conflict copy; nothing
 * local is ever deleted or overwritten unless it is unchanged since our last save (resume).
 */
import { randomBytes } from "node:crypto";
import { constants as fsc } from "node:fs";
import { link, mkdir, open, rename, unlink } from "node:fs/promises";
import path from "node:path";
import type { RestoreOptions, RestoreReport } from "../types";
import { TEMP_PREFIX, WorkDir, withWorkDir } from "../../src/safefs";
import type { Hashes } from "../lib/hash";
import { conflictName } from "../lib/naming";
import { each } from "../lib/pool";
import { Meter } from "../lib/progress";
import type { Obj, S3Ctx } from "./context";
import { list, plainEtag } from "./keys";
import { download, hashLocal } from "./transfer";

export async function restore(c: S3Ctx, opts: RestoreOptions = {}): Promise<RestoreReport> {
  const resumed = c.manifest.synced;
  const report: RestoreReport = { written: [], kept: [], empty: true, resumed, incoming: [], conflicts: [] };
  const remote = new Map<string, Obj>();
  for (const o of await list(c)) remote.set(o.rel, o);
  report.empty = remote.size === 0;
  await withWorkDir(c.dir, async (wd) => {
    for (const [rel] of c.manifest.entries) {
      if (remote.has(rel)) continue;
      // Deleted at the remote: the local file (if any) is kept and saved again; never deleted here.
      c.manifest.set(rel, undefined);
      if (wd.stat(rel)) c.log.info(`${rel} was deleted at the remote: the local file is kept`);
    }
    const work: Obj[] = [];
    for (const o of remote.values()) {
      const m = c.manifest.get(o.rel);
      const st = wd.stat(o.rel);
      if (st && st.kind !== "file") {
        c.log.warn(`not restoring ${o.rel}: a ${st.kind === "symlink" ? "symbolic link" : "directory"} is there`);
        continue;
      }
      if (m && m.etag === o.ETag && m.sha256 !== "") {
        if (!st && resumed) continue; // deleted here while we were down: the next save deletes it there
        if (st && (resumed || (m.size === st.size && m.mtime === st.mtimeMs))) continue; // in sync, or changed here only
      }
      work.push(o);
    }
    const meter = new Meter(
      c.log,
      "restoring",
      work.map((o) => o.Size ?? 0),
      opts.progress,
    );
    const dirs = new Set<string>();
    await each(work, c.s.s3Concurrency, async (o) => {
      await restoreOne(c, wd, o, report, dirs);
      meter.add(o.Size ?? 0);
    }).finally(() => meter.done());
  });
  c.manifest.synced = true;
  c.manifest.compact();
  for (const l of [report.written, report.kept, report.incoming]) l.sort();
  return report;
}

async function restoreOne(c: S3Ctx, wd: WorkDir, o: Obj, report: RestoreReport, dirs: Set<string>): Promise<void> {
  const { rel } = o;
  const target = path.join(c.dir, rel);
  if (!(await ensureParents(c, wd, rel, dirs))) return;
  const m = c.manifest.get(rel);
  const st = wd.stat(rel);
  let local: Hashes | undefined;
  if (st) {
    local = await hashLocal(wd, rel);
    if (local && st.size === o.Size && plainEtag(o.ETag) === local.md5) {
      c.manifest.set(rel, { size: st.size, mtime: st.mtimeMs, sha256: local.sha256, etag: o.ETag! });
      return; // identical: nothing to download
    }
  }
  const tmp = path.join(path.dirname(target), `${TEMP_PREFIX}${randomBytes(6).toString("hex")}`);
  const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o666);
  let got;
  try {
    got = await download(c, o, fh);
  } finally {
    await fh.close();
  }
  try {
    if (!st) {
      if (await linkNew(tmp, target)) {
        c.manifest.set(rel, got);
        report.written.push(rel);
        if (report.resumed) report.incoming.push(rel);
        return;
      }
      local = await hashLocal(wd, rel); // created meanwhile: compare with it
    }
    if (local?.sha256 === got.sha256) {
      const now = wd.stat(rel)!;
      c.manifest.set(rel, { size: now.size, mtime: now.mtimeMs, sha256: got.sha256, etag: got.etag });
    } else if (report.resumed && m && local?.sha256 === m.sha256) {
      // Unchanged here since our last save, changed there: take theirs.
      await rename(tmp, target);
      c.manifest.set(rel, got);
      report.written.push(rel);
      report.incoming.push(rel);
    } else {
      // Differs, and the local file wins the path: theirs goes beside it, so neither is lost.
      const copy = conflictName(rel, got.sha256);
      await linkNew(tmp, path.join(c.dir, copy));
      c.manifest.set(rel, { ...got, mtime: -1 });
      if (report.resumed) report.conflicts.push({ path: rel, ours: "local", theirs: copy });
      else report.kept.push(rel);
      c.log.warn(`kept the local ${rel}: it differs from the remote, whose version is beside it as ${copy}`);
    }
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** Create the parent dirs of `rel`, refusing to go through anything that is not a real directory. */
async function ensureParents(c: S3Ctx, wd: WorkDir, rel: string, made: Set<string>): Promise<boolean> {
  const parts = rel.split("/").slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    const sub = parts.slice(0, i).join("/");
    if (made.has(sub)) continue;
    const st = wd.stat(sub);
    if (!st) {
      await mkdir(path.join(c.dir, sub)).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== "EEXIST") throw err;
      });
      if (wd.stat(sub)?.kind !== "dir") return refuse(c, rel, `${sub} is not a directory here`);
    } else if (st.kind !== "dir") {
      return refuse(c, rel, `${sub} is a ${st.kind === "symlink" ? "symbolic link" : "file"} here`);
    }
    made.add(sub);
  }
  return true;
}

function refuse(c: S3Ctx, rel: string, why: string): false {
  c.log.warn(`not restoring ${rel}: ${why}`);
  return false;
}

/** Hard-link `tmp` to `target` unless something is there: never overwrites, never follows a link. */
async function linkNew(tmp: string, target: string): Promise<boolean> {
  try {
    await link(tmp, target);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}
