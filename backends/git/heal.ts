/**
 * Our state repairs itself: a corrupt index is rebuilt from our last commit, what a failed
 * write left behind is removed, and a full disk is a clear, retried failure.
 */
import { createHash } from "node:crypto";
import { readFileSync, unlinkSync } from "node:fs";
import path from "node:path";
import { TransientError } from "../../src/errors";
import { GitFailure } from "../../src/git";

/**
 * Whether the index file is one git can read: its signature, version and trailing
 * checksum (git writes it through a lock file and a rename, so a bad one was damaged
 * afterwards: a truncated copy, a full disk under a restore of the state, a stray write).
 */
export function indexIsSound(file: string): boolean {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT";
  }
  if (bytes.length < 32 || bytes.toString("latin1", 0, 4) !== "DIRC") return false;
  const version = bytes.readUInt32BE(4);
  if (version < 2 || version > 4) return false;
  const body = bytes.subarray(0, bytes.length - 20);
  const sum = bytes.subarray(bytes.length - 20);
  // index.skipHash writes zeros instead of the checksum.
  return sum.every((b) => b === 0) || createHash("sha1").update(body).digest().equals(sum);
}

/** Remove an unsound index; true when it was. The caller rebuilds it from HEAD. */
export function dropUnsoundIndex(gitDir: string): boolean {
  const file = path.join(gitDir, "index");
  if (indexIsSound(file)) return false;
  try {
    unlinkSync(file);
  } catch {
    // gone meanwhile
  }
  return true;
}

/** A failure caused by a full disk (ours, or git's), from an errno or git's message. */
export function isDiskFull(err: unknown): boolean {
  if ((err as NodeJS.ErrnoException)?.code === "ENOSPC" || (err as NodeJS.ErrnoException)?.code === "EDQUOT")
    return true;
  if (err instanceof GitFailure)
    return /No space left on device|Out of diskspace|Disk quota exceeded/i.test(err.stderr + err.stdout);
  return false;
}

export function diskFullError(stateDir: string, cause: unknown): TransientError {
  return new TransientError(`the disk of the state dir ${stateDir} is full: nothing can be saved until there is room`, {
    hint: "free space there (or give the volume more); saving resumes by itself",
    cause,
  });
}
