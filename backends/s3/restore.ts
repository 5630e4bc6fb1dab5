/**
 * Restore: bring the prefix into the work dir, the union, local first. Files only at the
 * remote are downloaded (parallel, temp file + link, never through a symlink); a local file
 * that differs is kept and the remote's version goes beside it as a conflict copy; nothing
 * local is ever deleted or overwritten unless it is unchanged since our last save (resume).
 */
import type { RestoreOptions, RestoreReport } from "../types";
import { TransientError } from "../../src/errors";
import { UnsafePathError, withWorkDir, type TempFile, type WorkDir } from "../../src/safefs";
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
      if (wd.find(rel)) c.log.info(`${rel} was deleted at the remote: the local file is kept`);
    }
    const work: Obj[] = [];
    for (const o of remote.values()) {
      const m = c.manifest.get(o.rel);
      const st = wd.find(o.rel);
      if (st && "reason" in st) {
        refuse(c, o.rel, st.reason);
        continue;
      }
      if (st && st.kind !== "file") {
        refuse(
          c,
          o.rel,
          `a ${st.kind === "symlink" ? "symbolic link" : st.kind === "dir" ? "directory" : "special file"} is there`,
        );
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
    await each(work, c.s.s3Concurrency, async (o) => {
      await restoreOne(c, wd, o, report);
      meter.add(o.Size ?? 0);
    }).finally(() => meter.done());
  });
  c.manifest.synced = true;
  c.manifest.compact();
  for (const l of [report.written, report.kept, report.incoming]) l.sort();
  return report;
}

async function restoreOne(c: S3Ctx, wd: WorkDir, o: Obj, report: RestoreReport): Promise<void> {
  const { rel } = o;
  const dir = rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "";
  const m = c.manifest.get(rel);
  const st = wd.find(rel);
  if (st && "reason" in st) return refuse(c, rel, st.reason);
  let local: Hashes | undefined;
  if (st) {
    local = await hashLocal(wd, rel);
    if (local && st.size === o.Size && plainEtag(o.ETag) === local.md5) {
      c.manifest.set(rel, { size: st.size, mtime: st.mtimeMs, sha256: local.sha256, etag: o.ETag! });
      return; // identical: nothing to download
    }
  }
  let tmp: TempFile;
  try {
    // Made in the parent's directory descriptor: whatever is swapped in meanwhile, the bytes stay in the work dir.
    tmp = await wd.createTemp(rel);
  } catch (err) {
    if (err instanceof UnsafePathError) return refuse(c, rel, blocker(wd, dir) ?? err.reason);
    throw diskError(err, rel);
  }
  let done = false;
  try {
    const got = await download(c, o, tmp.fh).catch((err: unknown) => {
      throw diskError(err, rel);
    });
    if (!wd.unmoved(dir)) return refuse(c, rel, `${dir} was moved or replaced by something else while it downloaded`);
    if (!st && !wd.find(rel)) {
      done = true;
      if (await tmp.commit()) {
        c.manifest.set(rel, got);
        report.written.push(rel);
        if (report.resumed) report.incoming.push(rel);
      } else {
        // Created here in the last instant: ours stays, theirs stays at the remote as an unseen version.
        c.manifest.set(rel, { ...got, mtime: -1, sha256: "" });
      }
      return;
    }
    if (!st) local = await hashLocal(wd, rel); // created meanwhile: compare with it
    if (local?.sha256 === got.sha256) {
      const now = wd.find(rel);
      if (now && !("reason" in now)) {
        c.manifest.set(rel, { size: now.size, mtime: now.mtimeMs, sha256: got.sha256, etag: got.etag });
      }
    } else if (report.resumed && m && local?.sha256 === m.sha256) {
      // Unchanged here since our last save, changed there: take theirs.
      done = true;
      await tmp.commit({ overwrite: true });
      c.manifest.set(rel, got);
      report.written.push(rel);
      report.incoming.push(rel);
    } else {
      // Differs, and the local file wins the path: theirs goes beside it, so neither is lost.
      const copy = conflictName(rel, got.sha256);
      done = true;
      await tmp.commitAs(copy);
      c.manifest.set(rel, { ...got, mtime: -1 });
      if (report.resumed) report.conflicts.push({ path: rel, ours: "local", theirs: copy });
      else report.kept.push(rel);
      c.log.warn(`kept the local ${rel}: it differs from the remote, whose version is beside it as ${copy}`);
    }
  } finally {
    if (!done) await tmp.discard();
  }
}

/** What stands in the way of `dir` being a directory: "x is a symbolic link here", or undefined. */
function blocker(wd: WorkDir, dir: string): string | undefined {
  const parts = dir.split("/");
  for (let i = 1; i <= parts.length; i++) {
    const sub = parts.slice(0, i).join("/");
    const st = wd.find(sub);
    if (st && "kind" in st && st.kind !== "dir") {
      return `${sub} is a ${st.kind === "symlink" ? "symbolic link" : st.kind === "file" ? "file" : "special file"} here`;
    }
  }
  return undefined;
}

function refuse(c: S3Ctx, rel: string, why: string): void {
  c.log.warn(`not restoring ${rel}: ${why}`);
}

/** A full disk is transient (it heals when space returns); other local errors pass through. */
function diskError(err: unknown, rel: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ENOSPC" || code === "EDQUOT") {
    return new TransientError(`no space left in the work dir to restore ${rel} (${code})`, {
      hint: "free some space: the restore is retried and resumes where it stopped",
      cause: err,
    });
  }
  return err;
}
