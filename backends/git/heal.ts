/**
 * Our state repairs itself: a corrupt index is rebuilt from our last commit, what a failed
 * write left behind is removed, and a full disk is a clear, retried failure.
 */
import { createHash } from "node:crypto";
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import path from "node:path";
import { TransientError } from "../../src/errors";
import { GitFailure } from "../../src/git";

/**
 * Whether the index file is one git can read: its signature, version and trailing
 * checksum (git writes it through a lock file and a rename, so a bad one was damaged
 * afterwards: a truncated copy, a full disk under a restore of the state, a stray write),
 * and, for a split index, the same of the shared index it names. A missing index is sound.
 */
export function indexIsSound(file: string): boolean {
  return inspectIndex(file).sound;
}

export interface IndexState {
  sound: boolean;
  /** The index file exists. */
  exists: boolean;
  /** A split index (git update-index --split-index): the id of its shared part, sharedindex.<id>. */
  shared?: string;
}

/** The index file's state: sound or not, split or not. */
export function inspectIndex(file: string): IndexState {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    return { sound: (err as NodeJS.ErrnoException).code === "ENOENT", exists: false };
  }
  if (!checksumOk(bytes)) return { sound: false, exists: true };
  const shared = sharedIndexOf(bytes);
  if (shared === undefined) return { sound: true, exists: true };
  return { sound: sharedIndexSound(path.join(path.dirname(file), `sharedindex.${shared}`)), exists: true, shared };
}

function checksumOk(bytes: Buffer): boolean {
  if (bytes.length < 32 || bytes.toString("latin1", 0, 4) !== "DIRC") return false;
  const version = bytes.readUInt32BE(4);
  if (version < 2 || version > 4) return false;
  const body = bytes.subarray(0, bytes.length - 20);
  const sum = bytes.subarray(bytes.length - 20);
  // index.skipHash writes zeros instead of the checksum.
  return sum.every((b) => b === 0) || createHash("sha1").update(body).digest().equals(sum);
}

/**
 * The shared index a split index names (its "link" extension; git's index-format.txt).
 * Undefined for a plain index, and for one this does not follow (its checksum is sound:
 * git reads it, and the caller only asks for the split again).
 */
function sharedIndexOf(bytes: Buffer): string | undefined {
  const version = bytes.readUInt32BE(4);
  const count = bytes.readUInt32BE(8);
  const end = bytes.length - 20;
  let off = 12;
  for (let i = 0; i < count; i++) {
    // 40 bytes of stat data, the object id, 2 bytes of flags (+2 extended flags in v3+).
    let name = off + 62 + (version >= 3 && bytes.readUInt16BE(off + 60) & 0x4000 ? 2 : 0);
    if (name >= end) return undefined;
    if (version === 4) while (name < end && bytes[name++]! & 0x80); // the prefix length, a varint
    const nul = bytes.indexOf(0, name);
    if (nul < 0 || nul >= end) return undefined;
    // v4: no padding; v2/3: 1 to 8 NULs pad the entry to a multiple of 8 bytes.
    off = version === 4 ? nul + 1 : off + ((nul - off + 8) & ~7);
  }
  while (off + 8 <= end) {
    const size = bytes.readUInt32BE(off + 4);
    if (bytes.toString("latin1", off, off + 4) === "link") {
      const id = bytes.toString("hex", off + 8, off + 28);
      return /^0+$/.test(id) ? undefined : id;
    }
    off += 8 + size;
  }
  return undefined;
}

/** Shared indexes found sound (they are named by their content: one look per name, size and time). */
const soundShared = new Map<string, string>();

function sharedIndexSound(file: string): boolean {
  let st;
  try {
    st = statSync(file);
  } catch {
    return false; // named but gone: git cannot read the index
  }
  const key = `${st.size}:${st.mtimeMs}:${st.ino}`;
  if (soundShared.get(file) === key) return true;
  if (!streamedChecksumOk(file, st.size)) return false;
  soundShared.set(file, key);
  return true;
}

/** checksumOk for a file read in small pieces: the shared part holds every entry (~80 bytes each). */
function streamedChecksumOk(file: string, size: number): boolean {
  if (size < 32) return false;
  let fd: number | undefined;
  try {
    fd = openSync(file, "r");
    const buf = Buffer.alloc(Math.min(size, 1 << 16));
    const hash = createHash("sha1");
    const sum = Buffer.alloc(20);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - off), off);
      if (n <= 0) return false;
      if (off === 0) {
        const version = buf.readUInt32BE(4);
        if (buf.toString("latin1", 0, 4) !== "DIRC" || version < 2 || version > 4) return false;
      }
      const body = Math.max(0, Math.min(n, size - 20 - off)); // bytes of this piece before the checksum
      hash.update(buf.subarray(0, body));
      if (body < n) buf.copy(sum, off + body - (size - 20), body, n);
      off += n;
    }
    return sum.every((b) => b === 0) || hash.digest().equals(sum);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
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
