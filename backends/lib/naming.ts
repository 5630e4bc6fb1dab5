/** Names both backends give to what they create: conflict copies, host tags. */
import { createHash } from "node:crypto";
import path from "node:path";
import { compactUtc } from "../../src/time";

/**
 * The conflict copy of `rel` holding the other side's version (DESIGN.md "Conflict copies"):
 * `dir/stem.conflict-<UTC time of their version, YYYYMMDDTHHMMSSZ>-<first 8 hex of the
 * sha256 of its bytes>.ext`. The same version always gets the same name, so meeting one
 * conflict twice names one copy.
 */
export function conflictCopyName(rel: string, when: Date, bytes: Buffer): string {
  return conflictCopyNameOf(rel, when, createHash("sha256").update(bytes).digest("hex"));
}

/** The same, from the sha256 (hex) of the bytes: for a version streamed to disk, never held whole. */
export function conflictCopyNameOf(rel: string, when: Date, sha256: string): string {
  const { dir, stem, ext } = parts(rel);
  return `${dir}${stem}.conflict-${compactUtc(when)}-${sha256.slice(0, 8)}${ext}`;
}

/**
 * Whether `name` (a file name, no directory) is a conflict copy of `rel` holding bytes whose
 * sha256 starts like `sha256`, whatever its time: identical content never makes a second copy.
 */
export function isCopyOf(rel: string, name: string, sha256: string): boolean {
  const { stem, ext } = parts(rel);
  const tail = `-${sha256.slice(0, 8)}${ext}`;
  const head = `${stem}.conflict-`;
  if (!name.startsWith(head) || !name.endsWith(tail)) return false;
  return /^\d{8}T\d{6}Z$/.test(name.slice(head.length, name.length - tail.length));
}

/** `a/b/report.tar.gz` → dir `a/b/`, stem `report.tar`, ext `.gz`; `.bashrc` has no ext. */
function parts(rel: string): { dir: string; stem: string; ext: string } {
  const base = path.posix.basename(rel);
  const ext = path.posix.extname(base);
  const dir = path.posix.dirname(rel);
  return { dir: dir === "." ? "" : dir + "/", stem: base.slice(0, base.length - ext.length), ext };
}

/** The pod's name ($HOSTNAME) or the host name, safe in a ref, a key or a file name. */
export function hostSafe(host: string): string {
  return (process.env.HOSTNAME || host || "host").replace(/[^A-Za-z0-9._-]/g, "-");
}
