/**
 * Save: upload the planned files and apply the planned deletions. Nothing is overwritten
 * unseen: with conditional writes a PUT names the ETag we last saw (or none for a new key),
 * and a refusal first keeps the other writer's version as a conflict copy, beside ours in the
 * work dir and at the remote (conflicts.ts). Deletions go to the trash (or are kept, or
 * mirrored) per --s3-delete-policy, in batches.
 */
import type { Conflict, PlanEntry, SaveMeta, SavePlan, SaveReport } from "../types";
import { TransientError } from "../../src/errors";
import { readUpTo, withWorkDir, type WorkDir } from "../../src/safefs";
import { isNotebook } from "../lib/ancestors";
import { hostSafe } from "../lib/naming";
import { each } from "../lib/pool";
import { Meter } from "../lib/progress";
import { contentMd5 } from "./client";
import { conditionalWrites, isVersioned, keepTheirs } from "./conflicts";
import type { S3Ctx } from "./context";
import { call, sent } from "./timeouts";
import { code, status, translate } from "./errors";
import { META } from "./keys";
import { bytesSource, copy, put, source, type Source } from "./transfer";

/** Keys per DeleteObjects request (S3's limit). */
const DELETE_BATCH = 1000;
/** Conditional PUTs refused in a row before the path is left for a later save. */
const MAX_ATTEMPTS = 5;

export async function save(c: S3Ctx, plan: SavePlan, meta: SaveMeta): Promise<SaveReport> {
  const report: SaveReport = { saved: [], incoming: [], conflicts: [] };
  const stamp = meta.date.toISOString().replace(/[-:]/g, "").replace(/\..*/, "Z") + "-" + hostSafe(meta.host);
  const ups = plan.entries.filter((e) => e.op !== "delete");
  const dels = plan.entries.filter((e) => e.op === "delete");
  const conditional = ups.length ? await conditionalWrites(c) : false;
  const meter = new Meter(
    c.log,
    "saving",
    ups.map((e) => e.size ?? 0),
  );
  try {
    await withWorkDir(c.dir, (wd) =>
      each(ups, c.s.s3Concurrency, async (e) => {
        const src = await source(c, wd, e);
        if (src && "skip" in src) {
          // Unreadable since the plan (or swapped for a link): this path waits, the others go on.
          plan.skipped.push({ path: e.path, reason: src.skip });
          c.skipped.add(e.path);
        } else if (src && c.manifest.get(e.path)?.sha256 === src.sha256) {
          // The remote holds these very bytes (--strip-outputs: ours differs from them by outputs only).
          await src.fh?.close();
        } else if (src) {
          const up = await upload(c, wd, e.path, src, conditional);
          report.saved.push(e);
          if (up.conflict) report.conflicts.push(up.conflict);
          if (up.merged) (report.merged ??= []).push(e.path);
        }
        meter.add(e.size ?? 0);
      }),
    );
    if (dels.length) await remove(c, dels, stamp, report);
  } finally {
    meter.done(); // the manifest is compacted by the caller, once the save's record is written
  }
  return report;
}

/**
 * Upload one file unless another writer changed its object since we saw it; then theirs is
 * kept as a conflict copy first (ours wins the path, like git), or, for a notebook whose
 * changes merge by cell, merged with ours and the merged one uploaded. Deleted there
 * meanwhile, ours is saved again (a conflict without a copy). Returns the conflict (none when
 * plainly saved) and whether a merge was uploaded.
 */
async function upload(
  c: S3Ctx,
  wd: WorkDir,
  rel: string,
  src: Source,
  conditional: boolean,
): Promise<{ conflict?: Conflict; merged?: boolean }> {
  const key = c.prefix + rel;
  let m = c.manifest.get(rel);
  let theirs = m?.sha256 === "" ? m.etag : undefined; // listed, never seen: preserve it before replacing
  // What both sides last agreed on, for a merge: only for a version this side saw (saved or restored).
  const base = m?.sha256 ? c.ancestors.get(rel) : undefined;
  let conflict: Conflict | undefined;
  let merged = false;
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        if (theirs) {
          const kept = await keepTheirs(c, wd, rel, theirs, src.sha256, base);
          conflict = kept.conflict ?? conflict;
          if (kept.merged) {
            await src.fh?.close();
            src = bytesSource(kept.merged);
            merged = true;
          }
          m = kept.etag ? { size: 0, mtime: -1, sha256: "", etag: kept.etag } : undefined;
          theirs = undefined;
        }
        const cond = !conditional ? {} : m ? { IfMatch: m.etag } : { IfNoneMatch: "*" };
        const etag = await put(c, key, src, cond);
        c.manifest.set(rel, { size: src.size, mtime: src.mtime, sha256: src.sha256, etag });
        await keepSynced(c, rel, src);
        if (conflict) conflict.ours = etag;
        return { conflict, merged };
      } catch (err) {
        if (!(status(err) === 412 || (m && code(err) === "NoSuchKey"))) throw translate(err, c.remote);
      }
      // Someone else wrote (or deleted) it since we saw it; one HEAD, for this path only.
      const head = await call((o) =>
        c.client.send(new c.sdk.HeadObjectCommand({ Bucket: c.bucket, Key: key }), o),
      ).catch((err: unknown) => {
        if (status(err) === 404) return undefined;
        throw translate(err, c.remote);
      });
      if (head?.Metadata?.sha256 === src.sha256) {
        // Ours already: an upload whose acknowledgement a crash lost.
        c.manifest.set(rel, { size: src.size, mtime: src.mtime, sha256: src.sha256, etag: head.ETag! });
        await keepSynced(c, rel, src);
        return { conflict, merged };
      }
      if (!head && m?.sha256) conflict ??= { path: rel, ours: "", theirs: "deleted" }; // deleted there, changed here
      m = head ? { size: head.ContentLength ?? 0, mtime: -1, sha256: "", etag: head.ETag! } : undefined;
      theirs = head?.ETag;
    }
    throw new TransientError(`${rel} keeps changing at the remote: retrying later`);
  } finally {
    await src.fh?.close();
  }
}

/** A notebook just saved is what both sides hold now: its bytes are the next merge's ancestor. */
async function keepSynced(c: S3Ctx, rel: string, src: Source): Promise<void> {
  if (!isNotebook(rel)) return;
  const bytes = src.body ?? (src.fh ? await readUpTo(src.fh, src.size).catch(() => undefined) : undefined);
  if (bytes && bytes.length === src.size) c.ancestors.set(rel, bytes);
  else c.ancestors.delete(rel);
}

/** Deletes per --s3-delete-policy; the manifest forgets each path once the store acknowledged it. */
async function remove(c: S3Ctx, dels: PlanEntry[], stamp: string, report: SaveReport): Promise<void> {
  const policy = c.s.s3DeletePolicy;
  const forget = (e: PlanEntry) => {
    c.manifest.set(e.path, undefined);
    c.ancestors.delete(e.path);
    report.saved.push(e);
  };
  if (policy === "keep") return dels.forEach(forget);
  let doomed = dels;
  if (policy === "trash" && !(await isVersioned(c))) {
    doomed = [];
    await each(dels, c.s.s3Concurrency, async (e) => {
      const etag = c.manifest.get(e.path)?.etag;
      try {
        await copy(c, c.prefix + e.path, `${c.prefix}${META}/trash/${stamp}/${e.path}`, etag);
        doomed.push(e);
      } catch (err) {
        if (status(err) === 412) {
          // Changed there since we saw it: their version stays, and the next restore brings it back.
          report.conflicts.push({ path: e.path, ours: "deleted", theirs: "changed at the remote" });
        } else if (code(err) !== "NoSuchKey") throw translate(err, c.remote);
        forget(e);
      }
    });
  }
  const failed: string[] = [];
  for (let i = 0; i < doomed.length; i += DELETE_BATCH) {
    const batch = doomed.slice(i, i + DELETE_BATCH);
    const cmd = new c.sdk.DeleteObjectsCommand({
      Bucket: c.bucket,
      Delete: { Objects: batch.map((e) => ({ Key: c.prefix + e.path })), Quiet: true },
    });
    cmd.middlewareStack.add(contentMd5 as never, { step: "build", name: "mirrorshadeContentMd5" });
    const r = await sent(c.remote, (o) => c.client.send(cmd, o));
    const errors = new Set((r.Errors ?? []).map((x) => x.Key!));
    for (const e of batch) {
      if (errors.has(c.prefix + e.path)) failed.push(e.path);
      else forget(e);
    }
  }
  if (failed.length) throw new TransientError(`the store refused to delete ${failed.length} object(s): ${failed[0]}`);
}
