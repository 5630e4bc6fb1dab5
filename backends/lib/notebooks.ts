/**
 * Both sides changed a notebook since they last agreed on it: merge it by cell, or fall back to
 * the conflict copy. One decision for both backends and every path that meets it (git's
 * integration of a rejected push, a pull or a resumed restore; S3's refused conditional write,
 * its pull and restore; a first restore over a local notebook that differs).
 *
 * - merged: the work dir gets the merged notebook (ours replaced atomically, only while it is
 *   still the file that was merged), and the caller saves `remote` like any change;
 * - anything else (the same cell changed differently, a side that is not an nbformat 4
 *   notebook, a file that changed here meanwhile): a conflict, handled as before the merge
 *   existed: ours in place, theirs as the conflict copy.
 *
 * With --strip-outputs the remote holds notebooks without outputs: `remote` is the merged
 * notebook stripped, while the work dir keeps every output either side had here (a stripped
 * side never takes outputs away, src/notebook/merge.ts).
 */
import type { Stats } from "node:fs";
import { mergeNotebooks } from "../../src/notebook/merge";
import { stripOutputs } from "../../src/notebook/strip";
import type { Logger } from "../../src/log";
import { UnsafePathError, type WorkDir } from "../../src/safefs";
import { isNotebook } from "./ancestors";

export type Decision =
  /** `local`: the work dir's notebook from now on (outputs kept); `remote`: the bytes to save. */
  { kind: "merged"; local: Buffer; remote: Buffer } | { kind: "conflict"; reason: string };

export interface MergeOptions {
  /** --strip-outputs: `remote` is stripped. */
  strip: boolean;
}

/**
 * The decision for one path, pure. `base`: what both sides last agreed on (the state dir's last
 * synced bytes, or git's merge base); undefined when not known, then only sides that differ by
 * outputs alone merge. Bytes that are not UTF-8 text are not merged (a round trip would change them).
 */
export function decide(
  rel: string,
  base: Buffer | undefined,
  ours: Buffer,
  theirs: Buffer,
  opts: MergeOptions,
): Decision {
  if (!isNotebook(rel)) return { kind: "conflict", reason: "not a notebook" };
  const [b, o, t] = [base, ours, theirs].map((x) => (x === undefined ? undefined : utf8(x)));
  if (o === undefined || t === undefined || (base !== undefined && b === undefined)) {
    return { kind: "conflict", reason: "not UTF-8 text" };
  }
  const r = mergeNotebooks(b, o, t);
  if (r.kind !== "merged") return { kind: "conflict", reason: r.reason };
  const local = r.text === o ? ours : r.text === t ? theirs : Buffer.from(r.text);
  if (!opts.strip) return { kind: "merged", local, remote: local };
  const stripped = stripOutputs(r.text);
  // A merge of notebooks is a notebook; if ever not, no bytes with outputs go out.
  if (stripped === undefined) return { kind: "conflict", reason: "the merged notebook cannot be stripped" };
  return { kind: "merged", local, remote: stripped === r.text ? local : Buffer.from(stripped) };
}

function utf8(bytes: Buffer): string | undefined {
  const text = bytes.toString("utf8");
  return Buffer.from(text).equals(bytes) ? text : undefined;
}

/**
 * --strip-outputs: a local notebook in the form the remote holds it (without outputs); undefined
 * when it is not a notebook that strips. A notebook whose remote form is what was last synced is
 * unchanged here since then, whatever its outputs say: a deletion at the remote may delete it.
 */
export function remoteForm(rel: string, local: Buffer): Buffer | undefined {
  if (!isNotebook(rel)) return undefined;
  const text = utf8(local);
  const stripped = text === undefined ? undefined : stripOutputs(text);
  return stripped === undefined ? undefined : stripped === text ? local : Buffer.from(stripped);
}

/** Ours as the work dir holds it, and what stood there when it was read (to re-check before replacing it). */
export interface Ours {
  bytes: Buffer;
  stat: Pick<Stats, "ino" | "size" | "mtimeMs" | "mode">;
}

/** Read ours through WorkDir (never through a link); undefined when it is not a regular file we can read. */
export async function readOurs(wd: WorkDir, rel: string, maxBytes: number): Promise<Ours | undefined> {
  const r = await wd.read(rel, { maxBytes });
  return r.kind === "file" ? { bytes: r.bytes, stat: r.stat } : undefined;
}

/** Whether what stands at `rel` is still the file read as `ours` (nothing written there since). */
export function stillOurs(wd: WorkDir, rel: string, ours: Ours): boolean {
  const now = wd.stat(rel);
  const was = ours.stat;
  return !!now && now.kind === "file" && now.ino === was.ino && now.size === was.size && now.mtimeMs === was.mtimeMs;
}

/**
 * Put `local` where ours was, atomically (a temp file, then a rename: a reader never sees half a
 * notebook), only while the file is still the one read as `ours`. Returns why not, or undefined.
 */
export function writeMerged(wd: WorkDir, rel: string, ours: Ours, local: Buffer): string | undefined {
  if (local.equals(ours.bytes)) return undefined;
  if (!stillOurs(wd, rel, ours)) return "it changed here while it was merged";
  try {
    wd.write(rel, local, { overwrite: true, executable: (ours.stat.mode & 0o100) !== 0 });
    return undefined;
  } catch (err) {
    return err instanceof UnsafePathError ? err.reason : (err as Error).message;
  }
}

export type Outcome =
  /** Merged and written here; `remote` is what to save. */
  | { merged: true; remote: Buffer }
  /** Not merged: the caller keeps ours and writes theirs as the conflict copy. */
  | { merged: false; reason: string };

export interface BothChanged extends MergeOptions {
  maxBytes: number;
  log: Logger;
}

/**
 * Both sides changed `rel`: read ours from the work dir, merge it with `theirs` over `base`, and
 * on success write the result in place and say so in the log.
 */
export async function mergeBothSides(
  wd: WorkDir,
  rel: string,
  base: Buffer | undefined,
  theirs: Buffer,
  opts: BothChanged,
): Promise<Outcome> {
  const ours = await readOurs(wd, rel, opts.maxBytes);
  if (!ours) return { merged: false, reason: "ours is not a file here" };
  const d = decide(rel, base, ours.bytes, theirs, opts);
  if (d.kind === "conflict") {
    opts.log.debug(`${rel}: not merged by cell (${d.reason})`);
    return { merged: false, reason: d.reason };
  }
  const refused = writeMerged(wd, rel, ours, d.local);
  if (refused) {
    opts.log.warn(`${rel}: not merged by cell: ${refused}`);
    return { merged: false, reason: refused };
  }
  if (d.local.equals(ours.bytes)) {
    opts.log.debug(`${rel}: theirs adds nothing to ours but outputs or edits ours has: kept ours`);
  } else {
    opts.log.info(`merged ${rel} (cells from both sides)`);
  }
  return { merged: true, remote: d.remote };
}
