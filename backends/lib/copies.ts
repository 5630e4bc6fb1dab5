/**
 * Conflict copies in the work dir: the other side's version of a path changed on both sides,
 * written beside ours through WorkDir (a temp file, then a link: never over anything, never
 * through a symlink), once per content. The copy is then an ordinary file, saved like any other
 * until the user deletes it.
 */
import { createHash } from "node:crypto";
import { UnsafePathError, type TempFile, type WorkDir } from "../../src/safefs";
import { conflictCopyNameOf, isCopyOf } from "./naming";

/** Where their version is now: a copy (`written`: made just now), or why none could be made. */
export type Placed = { path: string; written: boolean } | { refused: string };

/** A conflict copy of `rel` in the work dir holding exactly the bytes with this sha256, whatever its time. */
export async function identicalCopy(wd: WorkDir, rel: string, sha256: string): Promise<string | undefined> {
  const slash = rel.lastIndexOf("/");
  const dir = slash < 0 ? "" : rel.slice(0, slash);
  let entries: ReturnType<WorkDir["list"]>;
  try {
    entries = wd.list(dir);
  } catch {
    return undefined; // the directory is gone or not one: nothing there yet
  }
  for (const e of entries) {
    if (e.kind !== "file" || !isCopyOf(rel, e.name, sha256)) continue;
    const p = dir ? `${dir}/${e.name}` : e.name;
    const r = await wd.read(p);
    if (r.kind === "file" && sha256Of(r.bytes) === sha256) return p;
  }
  return undefined;
}

/** Write `bytes`, their version of `rel` from `when`, as its conflict copy (unless an identical one is there). */
export async function writeCopy(
  wd: WorkDir,
  rel: string,
  when: Date,
  bytes: Buffer,
  opts: { executable?: boolean } = {},
): Promise<Placed> {
  const sha256 = sha256Of(bytes);
  const same = await identicalCopy(wd, rel, sha256);
  if (same) return { path: same, written: false };
  const name = conflictCopyNameOf(rel, when, sha256);
  try {
    if (wd.write(name, bytes, { executable: opts.executable })) return { path: name, written: true };
  } catch (err) {
    return { refused: err instanceof UnsafePathError ? err.reason : (err as Error).message };
  }
  return { refused: `${name} is there already, with other content` };
}

/** Put `tmp` (their version of `rel`, streamed to disk) as its conflict copy; discarded when an identical copy is there. */
export async function commitCopy(wd: WorkDir, tmp: TempFile, rel: string, when: Date, sha256: string): Promise<Placed> {
  const same = await identicalCopy(wd, rel, sha256);
  if (same) {
    await tmp.discard();
    return { path: same, written: false };
  }
  const name = conflictCopyNameOf(rel, when, sha256);
  try {
    if (await tmp.commitAs(name)) return { path: name, written: true };
  } catch (err) {
    await tmp.discard();
    return { refused: err instanceof UnsafePathError ? err.reason : (err as Error).message };
  }
  return { refused: `${name} is there already, with other content` };
}

function sha256Of(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}
