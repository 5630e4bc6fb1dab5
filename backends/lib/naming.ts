/** Names both backends give to what they create: conflict copies, host tags. */
import { createHash } from "node:crypto";
import path from "node:path";
import { compactUtc } from "../../src/time";

/** `dir/name.ext` → `dir/name.conflict-<first 8 of the other version's sha256>.ext` (stable: a second restore adds nothing). */
export function conflictName(rel: string, sha256: string): string {
  const base = path.posix.basename(rel);
  const ext = path.posix.extname(base);
  const stem = base.slice(0, base.length - ext.length);
  const dir = path.posix.dirname(rel);
  return (dir === "." ? "" : dir + "/") + `${stem}.conflict-${sha256.slice(0, 8)}${ext}`;
}

/**
 * The name of the other version of `rel` kept beside it (DESIGN.md, "Conflict copies"):
 * `<stem>.conflict-<UTC time of that version, YYYYMMDDTHHMMSSZ>-<sha8 of its bytes><ext>`.
 * The same bytes give the same sha8: identical content never makes a second copy.
 */
export function conflictCopyName(rel: string, when: Date, bytes: Buffer): string {
  return conflictCopyNameOf(rel, when, createHash("sha256").update(bytes).digest("hex"));
}

/** conflictCopyName from the sha256 (hex) of the bytes, for a caller that hashed them as they streamed. */
export function conflictCopyNameOf(rel: string, when: Date, sha256: string): string {
  const base = path.posix.basename(rel);
  const ext = path.posix.extname(base);
  const stem = base.slice(0, base.length - ext.length);
  const dir = path.posix.dirname(rel);
  return (dir === "." ? "" : dir + "/") + `${stem}.conflict-${compactUtc(when)}-${sha256.slice(0, 8)}${ext}`;
}

/** The pod's name ($HOSTNAME) or the host name, safe in a ref, a key or a file name. */
export function hostSafe(host: string): string {
  return (process.env.HOSTNAME || host || "host").replace(/[^A-Za-z0-9._-]/g, "-");
}
