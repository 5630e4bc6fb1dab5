/**
 * Restore, and pull: bring the prefix into the work dir. A first restore writes the union,
 * local first: files only at the remote are downloaded (parallel, temp file + link, never
 * through a symlink), a local file that differs is kept and the remote's version goes beside
 * it as a conflict copy, and nothing local is deleted. With state (a resumed restore, or a
 * pull while watching), the listing is compared with the manifest: what changed only at the
 * remote replaces a file unchanged here since our last save, what changed on both sides gets
 * the conflict copy, and what was deleted there is deleted here only when unchanged here.
 * Paths a pending local change covers are left alone.
 */
import type { Conflict, RestoreOptions, RestoreReport } from "../types";
import { TransientError } from "../../src/errors";
import { UnsafePathError, withWorkDir, type Entry as Stat, type TempFile, type WorkDir } from "../../src/safefs";
import { isNotebook } from "../lib/ancestors";
import { commitCopy } from "../lib/copies";
import { mergeBothSides, remoteForm } from "../lib/notebooks";
import { hashBytes, type Hashes } from "../lib/hash";
import { each } from "../lib/pool";
import { isPending } from "../lib/pending";
import { Meter } from "../lib/progress";
import type { Obj, S3Ctx } from "./context";
import { list, plainEtag } from "./keys";
import type { Entry } from "./manifest";
import { download, hashLocal, type Downloaded } from "./transfer";

export interface Incoming extends RestoreReport {
  /** Deleted here: deleted at the remote, unchanged here since our last save. */
  deleted: string[];
  /** Changed at the remote, left alone because a local change to them is pending. */
  waiting: string[];
  merged: string[];
}

export async function restore(c: S3Ctx, opts: RestoreOptions = {}): Promise<RestoreReport> {
  const { deleted: _deleted, waiting: _waiting, ...report } = await bringIn(c, { ...opts, pending: new Set() });
  return report;
}

export async function bringIn(c: S3Ctx, opts: RestoreOptions & { pending: ReadonlySet<string> }): Promise<Incoming> {
  const resumed = c.manifest.synced;
  const report: Incoming = {
    written: [],
    kept: [],
    empty: true,
    resumed,
    incoming: [],
    conflicts: [],
    deleted: [],
    waiting: [],
    merged: [],
  };
  const remote = new Map<string, Obj>();
  for (const o of await list(c)) remote.set(o.rel, o);
  report.empty = remote.size === 0;
  await withWorkDir(c.dir, async (wd) => {
    for (const [rel, m] of [...c.manifest.entries]) {
      if (remote.has(rel)) continue;
      if (isPending(opts.pending, rel)) report.waiting.push(rel);
      else await deletedThere(c, wd, rel, m, report);
    }
    const work: Obj[] = [];
    for (const o of remote.values()) {
      const m = c.manifest.get(o.rel);
      // Unchanged at the remote since we synced: whatever changed here is the next save's.
      if (resumed && m && m.etag === o.ETag && m.sha256 !== "") continue;
      if (isPending(opts.pending, o.rel)) {
        report.waiting.push(o.rel);
        continue;
      }
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
      // A first restore resumed after a crash: what it already wrote is not fetched again.
      if (!resumed && st && m && m.etag === o.ETag && m.sha256 !== "" && m.size === st.size && m.mtime === st.mtimeMs) {
        continue;
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
  for (const l of [report.written, report.kept, report.incoming, report.deleted, report.waiting, report.merged])
    l.sort();
  return report;
}

/**
 * `rel` is gone from the remote. A first restore never deletes (the local file is kept and
 * saved again). Resumed: the local file is deleted when it still holds what we last synced;
 * changed here, it is kept and saved again (a conflict without a copy: there is none).
 */
async function deletedThere(c: S3Ctx, wd: WorkDir, rel: string, m: Entry, report: Incoming): Promise<void> {
  const forget = () => c.manifest.set(rel, undefined);
  const st = wd.find(rel);
  if (!report.resumed || m.sha256 === "") {
    // Never synced here: nothing to compare the local file with.
    forget();
    if (st && !("reason" in st)) c.log.info(`${rel} was deleted at the remote: the local file is kept`);
    return;
  }
  if (!st) {
    forget(); // gone on both sides
    c.ancestors.delete(rel);
    return;
  }
  if ("reason" in st) return refuse(c, rel, st.reason); // cannot tell: looked at again next time
  const local = st.kind === "file" ? await hashLocal(wd, rel) : undefined;
  if ((local?.sha256 === m.sha256 || (await outputsOnly(c, wd, rel, m))) && unchanged(wd, rel, st)) {
    wd.unlink(rel);
    forget();
    c.ancestors.delete(rel);
    report.deleted.push(rel);
    report.incoming.push(rel);
    return;
  }
  forget(); // saved again as a new object by the next save
  report.conflicts.push({ path: rel, ours: "local", theirs: "deleted" });
  c.log.warn(`kept the local ${rel}: it was deleted at the remote but changed here (the next save saves it)`);
}

async function restoreOne(c: S3Ctx, wd: WorkDir, o: Obj, report: Incoming): Promise<void> {
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
      await keepLocal(c, wd, rel);
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
    // The version we hold is not fetched again (it changed back since the listing).
    const known = m && m.sha256 !== "" && m.etag !== o.ETag ? m.etag : undefined;
    const got = await download(c, o, tmp.fh, { ifNoneMatch: known, keep: isNotebook(rel) }).catch((err: unknown) => {
      throw diskError(err, rel);
    });
    if (!got) return;
    const { entry } = got;
    if (!wd.unmoved(dir)) return refuse(c, rel, `${dir} was moved or replaced by something else while it downloaded`);
    const synced = () => (got.bytes ? c.ancestors.set(rel, got.bytes) : undefined);
    if (!st && !wd.find(rel)) {
      done = true;
      if (await tmp.commit()) {
        c.manifest.set(rel, entry);
        synced();
        report.written.push(rel);
        if (report.resumed) report.incoming.push(rel);
      } else {
        // Created here in the last instant: ours stays, theirs stays at the remote as an unseen version.
        c.manifest.set(rel, { ...entry, mtime: -1, sha256: "" });
      }
      return;
    }
    if (!st) local = await hashLocal(wd, rel); // created meanwhile: compare with it
    if (local?.sha256 === entry.sha256) {
      const now = wd.find(rel);
      if (now && !("reason" in now)) {
        c.manifest.set(rel, { size: now.size, mtime: now.mtimeMs, sha256: entry.sha256, etag: entry.etag });
        synced();
      }
    } else if (report.resumed && m && st && local?.sha256 === m.sha256 && unchanged(wd, rel, st)) {
      // Unchanged here since our last save, changed there: take theirs (a rename: never half a file).
      done = true;
      await tmp.commit({ overwrite: true });
      c.manifest.set(rel, entry);
      synced();
      report.written.push(rel);
      report.incoming.push(rel);
    } else if (await mergedHere(c, wd, rel, got, report.resumed ? m : undefined)) {
      report.merged.push(rel);
    } else {
      // Changed on both sides (or never synced here), and the local file wins the path:
      // theirs goes beside it, so neither is lost. Its ancestor stays the last synced one.
      done = true;
      const placed = await commitCopy(wd, tmp, rel, got.lastModified, entry.sha256);
      const copy = "path" in placed ? placed.path : undefined;
      // Theirs is what the remote holds: the next save replaces it with ours, seen, with no second conflict.
      c.manifest.set(rel, { ...entry, mtime: -1 });
      const conflict: Conflict = { path: rel, ours: "local", theirs: entry.etag, copy };
      if (report.resumed) report.conflicts.push(conflict);
      else report.kept.push(rel);
      c.log.warn(
        `kept the local ${rel}: it differs from the remote` +
          (copy
            ? `, whose version is beside it as ${copy}`
            : ` (no conflict copy: ${(placed as { refused: string }).refused})`),
      );
    }
  } finally {
    if (!done) await tmp.discard();
  }
}

/**
 * Changed on both sides: a notebook whose changes merge by cell (over what both last agreed on,
 * when `synced` says this side saw a version) is merged in the work dir. The remote still holds
 * theirs, which the merged one descends from: theirs is recorded as seen and as the next merge's
 * ancestor, and the next save replaces it with the merged one (If-Match), as any change.
 */
async function mergedHere(
  c: S3Ctx,
  wd: WorkDir,
  rel: string,
  got: Downloaded,
  synced: Entry | undefined,
): Promise<boolean> {
  if (!got.bytes) return false;
  const base = synced?.sha256 ? c.ancestors.get(rel) : undefined;
  const r = await mergeBothSides(wd, rel, base, got.bytes, {
    strip: c.s.stripOutputs,
    maxBytes: c.s.maxFileSize,
    log: c.log,
  });
  if (!r.merged) return false;
  c.manifest.set(rel, { ...got.entry, mtime: -1 });
  c.ancestors.set(rel, got.bytes);
  return true;
}

/** --strip-outputs: whether the local notebook is what we last synced (`m`) but for its outputs. */
async function outputsOnly(c: S3Ctx, wd: WorkDir, rel: string, m: Entry): Promise<boolean> {
  if (!c.s.stripOutputs || !isNotebook(rel)) return false;
  const r = await wd.read(rel, { maxBytes: c.s.maxFileSize });
  const form = r.kind === "file" ? remoteForm(rel, r.bytes) : undefined;
  return form !== undefined && hashBytes(form).sha256 === m.sha256;
}

/** A local file found identical to the remote's: a notebook's bytes are the last synced ones. */
async function keepLocal(c: S3Ctx, wd: WorkDir, rel: string): Promise<void> {
  if (!isNotebook(rel)) return;
  const r = await wd.read(rel, { maxBytes: c.s.maxFileSize });
  if (r.kind === "file") c.ancestors.set(rel, r.bytes);
}

/** Whether `rel` is still the very file `was` described (checked just before replacing or deleting it). */
function unchanged(wd: WorkDir, rel: string, was: Stat): boolean {
  const now = wd.find(rel);
  return !!now && "kind" in now && now.ino === was.ino && now.size === was.size && now.mtimeMs === was.mtimeMs;
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
      hint: "free some space: the next attempt resumes where this one stopped",
      cause: err,
    });
  }
  return err;
}
