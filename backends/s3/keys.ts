/**
 * Keys and paths: `s3://bucket/prefix` parsed and checked, key = prefix + POSIX relative
 * path, which keys may be written into the work dir, and the one flat listing that applies it.
 */
import { ConfigError } from "../../src/errors";
import type { Obj, S3Ctx } from "./context";
import { sent } from "./timeouts";

/** Reserved top-level name under the prefix: trash, conflicts, probes. Never mirrored. */
export const META = ".mirrorshade";
export const MAX_KEY_BYTES = 1024;

/** Bucket and prefix ("" or ending in "/") of an s3:// remote; ConfigError when malformed. */
export function parseRemote(remote: string | undefined): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/@]+)(?:\/(.*))?$/i.exec(remote ?? "");
  if (!m) {
    throw new ConfigError(`bad S3 remote "${remote}"`, {
      hint: "use s3://bucket/prefix (credentials never go in the URL)",
    });
  }
  const bucket = m[1]!;
  const p = (m[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (!/^[a-z0-9][a-z0-9._-]{1,254}$/i.test(bucket)) {
    throw new ConfigError(`bad S3 bucket name "${bucket}"`, { hint: "3-63 lowercase letters, digits, . and -" });
  }
  if (p.split("/").some((seg) => seg === "" || seg === "." || seg === "..")) {
    throw new ConfigError(`bad S3 prefix "${p}"`, { hint: "no empty, . or .. segments" });
  }
  return { bucket, prefix: p ? p + "/" : "" };
}

/** Why a key's relative path must not be written into the work dir, or undefined when safe. */
export function unsafeKey(rel: string): string | undefined {
  if (rel === "") return "an empty name";
  if (rel.includes("\0")) return "a NUL character in the name";
  if (rel.startsWith("/")) return "an absolute path";
  const parts = rel.split("/");
  if (parts.some((p) => p === "..")) return "it climbs out of the work dir (..)";
  if (parts.some((p) => p === "" || p === ".")) return "an empty or . path segment";
  if (parts.some((p) => Buffer.byteLength(p) > 255)) return "a name longer than 255 bytes";
  if (parts.some((p) => p.toLowerCase() === ".git")) return "a .git directory is never restored";
  return undefined;
}

/** Why a local path cannot be saved under `prefix`, from its name alone; undefined when it can. */
export function unsaveableName(prefix: string, rel: string): string | undefined {
  if (rel === META || rel.startsWith(META + "/")) return `${META}/ is reserved at the remote (trash, conflicts)`;
  if (Buffer.byteLength(prefix + rel) > MAX_KEY_BYTES) return "the S3 key would be over 1024 bytes";
  return undefined;
}

/** The MD5 hex of a single-part ETag, undefined for multipart (`…-N`) or other forms. */
export function plainEtag(etag: string | undefined): string | undefined {
  const m = /^"?([0-9a-f]{32})"?$/i.exec(etag ?? "");
  return m ? m[1]!.toLowerCase() : undefined;
}

/**
 * The objects under the prefix (one flat, paginated listing), keys checked for safety. A page
 * that ends inside `<prefix>.mirrorshade/` (a record per save, the trash: never mirrored) is
 * followed by a listing that starts after it, so a long history does not lengthen every restore.
 */
export async function list(c: S3Ctx): Promise<Obj[]> {
  const out: Obj[] = [];
  const meta = c.prefix + META + "/";
  type Page = { ContinuationToken?: string; StartAfter?: string };
  let next: Page | undefined = {};
  let skipped = false;
  while (next) {
    const from: Page = next;
    const r = await sent(c.remote, (opts) =>
      c.client.send(new c.sdk.ListObjectsV2Command({ Bucket: c.bucket, Prefix: c.prefix, ...from }), opts),
    );
    for (const o of r.Contents ?? []) {
      const rel = o.Key!.slice(c.prefix.length);
      if (rel === META || rel.startsWith(META + "/") || (rel.endsWith("/") && !o.Size)) continue;
      const bad = unsafeKey(rel);
      if (bad) c.log.warn(`not restoring the key ${JSON.stringify(o.Key)}: ${bad}`);
      else out.push({ ...o, rel });
    }
    const last = r.Contents?.at(-1)?.Key ?? "";
    if (!r.IsTruncated) next = undefined;
    else if (!skipped && last.startsWith(meta)) {
      // Keys compare as UTF-8 bytes: every `.mirrorshade/<area>/…` key sorts before this one.
      skipped = true;
      next = { StartAfter: meta + "\uffff" };
    } else next = { ContinuationToken: r.NextContinuationToken };
  }
  return out;
}
