/** Names both backends give to what they create: conflict copies, host tags. */
import path from "node:path";

/** `dir/name.ext` → `dir/name.conflict-<first 8 of the other version's sha256>.ext` (stable: a second restore adds nothing). */
export function conflictName(rel: string, sha256: string): string {
  const base = path.posix.basename(rel);
  const ext = path.posix.extname(base);
  const stem = base.slice(0, base.length - ext.length);
  const dir = path.posix.dirname(rel);
  return (dir === "." ? "" : dir + "/") + `${stem}.conflict-${sha256.slice(0, 8)}${ext}`;
}

/** The pod's name ($HOSTNAME) or the host name, safe in a ref, a key or a file name. */
export function hostSafe(host: string): string {
  return (process.env.HOSTNAME || host || "host").replace(/[^A-Za-z0-9._-]/g, "-");
}
