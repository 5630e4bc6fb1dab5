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
import { closeSync, constants, fstatSync, linkSync, openSync, readFileSync, readdirSync } from "node:fs";
import { rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { ConfigError, TransientError } from "./errors";

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
    sweepAsides(file);
    return true;
  } catch (err) {
    if (code(err) === "EEXIST") return false;
    if (!NO_LINKS.has(code(err)!)) throw unusable(file, err);
    // Without links: created, then written; a reader in between sees it empty (see `read`'s age).
    let fd;
    try {
      fd = openSync(file, "wx", 0o600);
    } catch (e) {
      if (code(e) === "EEXIST") return false;
      throw unusable(file, e);
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

/** Files written aside by a process killed before it linked them go once a minute old. */
function sweepAsides(file: string): void {
  const dir = path.dirname(file);
  const mine = new RegExp(`^${path.basename(file)}\\.[0-9a-f]{12}$`);
  try {
    for (const name of readdirSync(dir)) {
      if (mine.test(name) && Date.now() - statSync(path.join(dir, name)).mtimeMs > 60_000) {
        rmSync(path.join(dir, name), { force: true });
      }
    }
  } catch {
    // tidying only
  }
}

export interface Found {
  raw: string;
  /** ms since it was last written: an unreadable lock is stale only once it is not being written. */
  age: number;
}

/** The lock as it stands, undefined when there is none. A symlink or a dir there is an error. */
export function read(file: string): Found | undefined {
  let fd;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if (code(err) === "ENOENT") return undefined;
    throw unusable(file, err);
  }
  try {
    return { raw: readFileSync(fd, "utf8"), age: Date.now() - fstatSync(fd).mtimeMs };
  } catch (err) {
    throw unusable(file, err);
  } finally {
    closeSync(fd);
  }
}

/** Old, or written in the future (the clock was set back): not being written now. */
export const settled = (age: number, ms: number) => age > ms || age < 0;

/**
 * Remove the lock if it is still the stale one the caller saw (`raw`, and `stale` of what
 * stands now), under the break file. False when another process is breaking it now: wait,
 * then look again.
 */
export function breakStale(file: string, raw: string, stale: (now: Found) => boolean): boolean {
  const guard = `${file}.break`;
  if (!takeGuard(guard)) {
    try {
      // Left by a process that died in the few instructions below: dropped, and taken again.
      if (!settled(Date.now() - statSync(guard).mtimeMs, BREAK_STALE_MS)) return false;
      rmSync(guard, { force: true });
    } catch {
      // gone meanwhile
    }
    if (!takeGuard(guard)) return false;
  }
  try {
    // Only breakers remove a stale lock, and they take turns: if it still holds those bytes and
    // is still stale (an empty lock may be one being written, with no hard links), it is the
    // one seen, whatever its inode.
    const now = read(file);
    if (now && now.raw === raw && stale(now)) rmSync(file, { force: true });
    return true;
  } finally {
    rmSync(guard, { force: true });
  }
}

function takeGuard(guard: string): boolean {
  try {
    closeSync(openSync(guard, "wx", 0o600));
    return true;
  } catch (err) {
    if (code(err) !== "EEXIST") throw unusable(guard, err);
    return false;
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

function unusable(file: string, err: unknown): ConfigError | TransientError {
  const what = `cannot use the lock ${file}: ${code(err) ?? (err as Error).message}`;
  if (code(err) === "ENOSPC" || code(err) === "EDQUOT") {
    return new TransientError(what, { hint: "the state dir's disk is full: free some space, then run it again" });
  }
  return new ConfigError(what, {
    hint: "the state dir must be this user's alone, with a plain file there: fix it, or pass a different --state-dir",
  });
}
