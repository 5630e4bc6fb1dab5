/**
 * The state dir's lock file, as a file: made whole, read, broken when stale, released. Who
 * holds it and whether that process lives is StateLock's business (src/state.ts); here only
 * the file operations, so that two processes never both hold it:
 * - a lock appears whole (written aside, hard-linked into place), never empty or half written;
 * - its bytes name it (a random nonce in each), so a lock is never mistaken for another one
 *   that took the same name or inode since;
 * - a stale lock is removed only under `<lock>.break`, by one process at a time, and only if it
 *   still holds the bytes judged stale: two processes that found the same stale lock never
 *   remove the fresh one the first of them made.
 */
import { closeSync, fstatSync, linkSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { ConfigError } from "./errors";

/** A random nonce for a lock's contents. */
export const nonce = (): string => randomBytes(8).toString("hex");

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** Hard links are missing on some file systems (FAT, some FUSE): an exclusive create serves there. */
const NO_LINKS = new Set(["EPERM", "ENOTSUP", "EOPNOTSUPP", "ENOSYS"]);

/** A break file left by a process that died inside its few instructions is dropped after this. */
const BREAK_STALE_MS = 10_000;

/** Create `file` holding `raw`, whole; false when it exists (someone holds the lock). */
export function create(file: string, raw: string): boolean {
  const aside = `${file}.${randomBytes(6).toString("hex")}`;
  try {
    writeFileSync(aside, raw, { mode: 0o600, flag: "wx" });
    linkSync(aside, file); // fails with EEXIST instead of replacing
    return true;
  } catch (err) {
    if (code(err) === "EEXIST") return false;
    if (!NO_LINKS.has(code(err)!)) throw err;
    // Without links: created, then written; a reader in between sees it empty (see `read`'s age).
    let fd;
    try {
      fd = openSync(file, "wx", 0o600);
    } catch (e) {
      if (code(e) === "EEXIST") return false;
      throw e;
    }
    try {
      writeFileSync(fd, raw);
    } finally {
      closeSync(fd);
    }
    return true;
  } finally {
    rmSync(aside, { force: true });
  }
}

export interface Found {
  raw: string;
  /** ms since it was last written: an unreadable lock is stale only once it is not being written. */
  age: number;
}

/** The lock as it stands, undefined when there is none. */
export function read(file: string): Found | undefined {
  let fd;
  try {
    fd = openSync(file, "r");
  } catch (err) {
    if (code(err) === "ENOENT") return undefined;
    throw unreadable(file, err);
  }
  try {
    return { raw: readFileSync(fd, "utf8"), age: Date.now() - fstatSync(fd).mtimeMs };
  } finally {
    closeSync(fd);
  }
}

/**
 * Remove the lock if it still holds `raw` (judged stale by the caller), under the break file.
 * False when another process is breaking it now: wait, then look again.
 */
export function breakStale(file: string, raw: string): boolean {
  const guard = `${file}.break`;
  try {
    closeSync(openSync(guard, "wx", 0o600));
  } catch (err) {
    if (code(err) !== "EEXIST") throw unreadable(guard, err);
    try {
      if (Date.now() - statSync(guard).mtimeMs > BREAK_STALE_MS) rmSync(guard, { force: true });
    } catch {
      // gone meanwhile
    }
    return false;
  }
  try {
    // Only breakers remove a stale lock, and they take turns: if it still holds those bytes it
    // is that same stale lock, whatever its inode.
    if (read(file)?.raw === raw) rmSync(file, { force: true });
    return true;
  } finally {
    rmSync(guard, { force: true });
  }
}

/** Release: remove the lock only if it is still ours (`raw`). */
export function removeOwn(file: string, raw: string): void {
  try {
    if (read(file)?.raw === raw) rmSync(file, { force: true });
  } catch {
    // unreadable now: not ours to remove
  }
}

function unreadable(file: string, err: unknown): ConfigError {
  return new ConfigError(`cannot use the lock ${file}: ${code(err) ?? (err as Error).message}`, {
    hint: "the state dir must be this user's alone: fix its owner, or pass a different --state-dir",
  });
}
