/**
 * Two writers on one prefix. S3 keeps no history, so the other writer's version is kept
 * before ours replaces it: written beside ours in the work dir as a conflict copy (the name
 * DESIGN.md fixes, backends/lib/naming) and copied at the remote to the same name, so both
 * are at the remote and the copy is then an ordinary file. Whether the store can tell us
 * about the other writer at all (conditional writes) is probed once.
 */
import { hostname } from "node:os";
import type { Conflict } from "../types";
import { TransientError } from "../../src/errors";
import { UnsafePathError, type WorkDir } from "../../src/safefs";
import { isNotebook } from "../lib/ancestors";
import { commitCopy } from "../lib/copies";
import { conflictCopyNameOf, hostSafe } from "../lib/naming";
import { mergeBothSides } from "../lib/notebooks";
import type { S3Ctx } from "./context";
import { call } from "./timeouts";
import { code, status, translate } from "./errors";
import { META } from "./keys";
import { copy, download } from "./transfer";

/** What keeping their version found: the ETag it had (undefined: deleted meanwhile), and the conflict. */
export interface Kept {
  etag?: string;
  conflict?: Conflict;
  /**
   * A notebook whose changes merged by cell with ours (backends/lib/notebooks.ts): the work dir
   * holds the merged one, and these bytes replace theirs at the remote (If-Match `etag`); no copy.
   */
  merged?: Buffer;
}

/**
 * Keep their version of `rel` (last seen with ETag `theirs`) before ours (sha256 `ours`)
 * replaces it: downloaded beside ours as the conflict copy, and server-side copied to that
 * name at the remote. Identical to ours: no conflict. A notebook whose changes merge by cell
 * with ours over `base` (what both last agreed on) is merged instead. When no copy can be made
 * in the work dir, theirs is kept at the remote only, under `<prefix>.mirrorshade/conflicts/`.
 */
export async function keepTheirs(
  c: S3Ctx,
  wd: WorkDir,
  rel: string,
  theirs: string,
  ours: string,
  base: Buffer | undefined,
): Promise<Kept> {
  let tmp;
  try {
    tmp = await wd.createTemp(rel);
  } catch (err) {
    const why = err instanceof UnsafePathError ? err.reason : (err as Error).message;
    throw new TransientError(`cannot keep the other writer's version of ${rel} beside ours: ${why}`, { cause: err });
  }
  let got;
  try {
    got = await download(c, { rel, ETag: theirs }, tmp.fh, { keep: isNotebook(rel) });
  } catch (err) {
    await tmp.discard();
    if (code(err) === "NoSuchKey" || status(err) === 404) return {}; // deleted meanwhile: nothing to keep
    throw translate(err, c.remote);
  }
  const { entry } = got!;
  if (entry.sha256 === ours) {
    await tmp.discard();
    return { etag: entry.etag }; // ours already (an upload whose acknowledgement was lost)
  }
  if (got!.bytes) {
    const r = await mergeBothSides(wd, rel, base, got!.bytes, {
      strip: c.s.stripOutputs,
      maxBytes: c.s.maxFileSize,
      log: c.log,
    });
    if (r.merged) {
      await tmp.discard();
      return { etag: entry.etag, merged: r.remote };
    }
  }
  const placed = await commitCopy(wd, tmp, rel, got!.lastModified, entry.sha256);
  const name = "path" in placed ? placed.path : conflictCopyNameOf(rel, got!.lastModified, entry.sha256);
  const at = "path" in placed ? name : `${META}/conflicts/${name}`;
  if ("refused" in placed) {
    c.log.warn(`no conflict copy of ${rel} in the work dir (${placed.refused}): theirs is kept at the remote as ${at}`);
  }
  if (c.manifest.get(at)?.sha256 !== entry.sha256) {
    const etag = await copy(c, c.prefix + rel, c.prefix + at, entry.etag).catch((err: unknown) => {
      // Changed again meanwhile: the copy in the work dir is saved by the next save.
      if (status(err) === 412 || code(err) === "NoSuchKey") return undefined;
      throw translate(err, c.remote);
    });
    const st = "path" in placed ? wd.find(at) : undefined;
    if (etag && st && "kind" in st && st.kind === "file") {
      c.manifest.set(at, { size: st.size, mtime: st.mtimeMs, sha256: entry.sha256, etag });
      if (got!.bytes) c.ancestors.set(at, got!.bytes);
    }
  }
  return {
    etag: entry.etag,
    conflict: { path: rel, ours: "", theirs: entry.etag, copy: "path" in placed ? name : undefined },
  };
}

/**
 * Whether the store honours If-Match / If-None-Match on PUT. `auto` asks once (cached in the
 * manifest): a second If-None-Match:* PUT of one probe key must be refused, and so must an
 * If-Match with a wrong ETag. s3rver ignores both: there the last writer wins.
 */
export async function conditionalWrites(c: S3Ctx): Promise<boolean> {
  const mode = c.s.s3ConditionalWrites;
  if (mode !== "auto") return (c.caps.conflicts = mode === "on");
  const store = `${c.endpoint ?? "aws"} ${c.bucket}`;
  let known = c.manifest.conditional[store];
  if (known === undefined) {
    const key = `${c.prefix}${META}/probe-${hostSafe(hostname())}-${process.pid}`;
    const put = (cond: { IfMatch?: string; IfNoneMatch?: string }) =>
      call((o) =>
        c.client.send(new c.sdk.PutObjectCommand({ Bucket: c.bucket, Key: key, Body: Buffer.alloc(0), ...cond }), o),
      ).then(
        () => true,
        (err: unknown) => {
          if (status(err) === 412) return false;
          if (status(err) === 501 || code(err) === "NotImplemented") return true;
          throw translate(err, c.remote);
        },
      );
    try {
      await put({});
      known = !(await put({ IfNoneMatch: "*" })) && !(await put({ IfMatch: `"${"0".repeat(32)}"` }));
    } finally {
      await call((o) => c.client.send(new c.sdk.DeleteObjectCommand({ Bucket: c.bucket, Key: key }), o)).catch(
        () => {},
      );
    }
    c.manifest.learnConditional(store, known);
    if (!known) {
      c.log.warn(
        "this S3 store ignores conditional writes: two writers on one prefix overwrite each other (last writer wins); turn on bucket versioning",
      );
    }
  }
  return (c.caps.conflicts = known);
}

/**
 * Whether the bucket keeps versions (then deleted objects stay there, not in our trash); asked
 * once. A refusal (a policy without s3:GetBucketVersioning, a store without versioning) counts
 * as no versions; no answer (a network failure, a busy store) is no answer: the operation
 * fails, and the next one asks again.
 */
export async function isVersioned(c: S3Ctx): Promise<boolean> {
  if (c.versioned === undefined) {
    const r = await call((o) => c.client.send(new c.sdk.GetBucketVersioningCommand({ Bucket: c.bucket }), o)).catch(
      (err: unknown) => {
        const st = status(err);
        const unanswered = st === undefined || (st >= 500 && st !== 501) || st === 408 || st === 429;
        if (unanswered) throw translate(err, c.remote); // 501: a store without versioning (s3rver)
        return undefined;
      },
    );
    c.versioned = r?.Status === "Enabled";
    c.caps.history = c.versioned;
    if (c.versioned) c.log.info("the bucket keeps versions: deleted objects stay there, not in the trash");
  }
  return c.versioned;
}
