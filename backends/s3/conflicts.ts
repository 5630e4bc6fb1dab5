/**
 * Two writers on one prefix. S3 keeps no history, so the other writer's version is kept
 * before ours replaces it: at the remote under `<prefix>.mirrorshade/conflicts/<stamp>/`
 * (a save), or beside the local file as a conflict copy (a restore, see lib/naming). Whether
 * the store can tell us about the other writer at all (conditional writes) is probed once.
 */
import { hostname } from "node:os";
import { hostSafe } from "../lib/naming";
import type { S3Ctx } from "./context";
import { call } from "./timeouts";
import { code, status, translate } from "./errors";
import { META } from "./keys";
import { copy } from "./transfer";

/** The key under which the other writer's version of `rel` is kept, for one save. */
export function conflictKey(c: S3Ctx, stamp: string, attempt: number, rel: string): string {
  return `${c.prefix}${META}/conflicts/${stamp}${attempt ? `-${attempt}` : ""}/${rel}`;
}

/** Where a save's conflicts are kept, as a URL for the report. */
export function conflictRef(c: S3Ctx, stamp: string): string {
  return `s3://${c.bucket}/${c.prefix}${META}/conflicts/${stamp}/`;
}

/** Copy the object at `key` (still at ETag `theirs`) to the conflict area; returns its URL. */
export async function keepTheirs(c: S3Ctx, key: string, theirs: string, copyKey: string): Promise<string> {
  await copy(c, key, copyKey, theirs);
  return `s3://${c.bucket}/${copyKey}`;
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
    c.manifest.conditional[store] = known;
    if (!known) {
      c.log.warn(
        "this S3 store ignores conditional writes: two writers on one prefix overwrite each other (last writer wins); turn on bucket versioning",
      );
    }
  }
  return (c.caps.conflicts = known);
}

/** Whether the bucket keeps versions (then deleted objects stay there, not in our trash); asked once. */
export async function isVersioned(c: S3Ctx): Promise<boolean> {
  if (c.versioned === undefined) {
    const r = await call((o) => c.client.send(new c.sdk.GetBucketVersioningCommand({ Bucket: c.bucket }), o)).catch(
      () => undefined,
    );
    c.versioned = r?.Status === "Enabled";
    c.caps.history = c.versioned;
    if (c.versioned) c.log.info("the bucket keeps versions: deleted objects stay there, not in the trash");
  }
  return c.versioned;
}
