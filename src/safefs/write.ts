/**
 * The write side of the work dir, on top of the read side: a file is written to a temp file
 * beside its path, then renamed into place (never writing through a symlink, never into a
 * file someone holds open); directories are made one component at a time and a symlink or
 * file where one should be is an `UnsafePathError`.
 */
import { closeSync, constants as C, fchmodSync, fstatSync, linkSync, lstatSync, mkdirSync, openSync } from "node:fs";
import { renameSync, symlinkSync, unlinkSync, writeSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { closeQuiet } from "./dirs";
import { WorkDirReader } from "./read";
import { UnsafePathError, badName, gone, reasonOf } from "./reasons";

/** Temp files match the default ignore `.~*`: the watcher never reports them. */
export const TEMP_PREFIX = ".~mirrorshade-";

export interface CommitOptions {
  /** Replace what stands at the path (a file or a symlink itself, never its target). */
  overwrite?: boolean;
  /** Give execute permission where read permission is (git's 100755). */
  executable?: boolean;
}

export interface TempFile {
  fh: FileHandle;
  /** Put the file in place; false when `overwrite` was not given and the path exists. */
  commit(opts?: CommitOptions): Promise<boolean>;
  /** Put the file at `rel` instead, a name in the same directory (a conflict copy); as `commit` otherwise. */
  commitAs(rel: string, opts?: CommitOptions): Promise<boolean>;
  discard(): Promise<void>;
}

/**
 * Safe access to the work dir, which a less trusted writer (the notebook user) controls:
 * nothing outside it is ever read, written or deleted through it, whatever it holds. One
 * `WorkDir` serves one batch (a save, a restore): directory descriptors are cached for its
 * length and closed with it.
 */
export class WorkDir extends WorkDirReader {
  /** Make `dirRel` and its parents as directories; throws UnsafePathError when something else stands there. */
  mkdirp(dirRel: string): void {
    if (!dirRel) return;
    const parts = dirRel.split("/");
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join("/");
      const [dir, name] = this.split(sub);
      const p = this.at(dir, name);
      try {
        mkdirSync(p, 0o777);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      const st = lstatSync(p);
      if (!st.isDirectory()) throw new UnsafePathError(sub, `${sub} is not a directory here`);
    }
  }

  /**
   * Write a file atomically: a temp file beside it, then a rename (never writing through a
   * symlink or into a file someone holds open). Without `overwrite`, an existing path is left
   * alone and false is returned.
   */
  write(rel: string, bytes: Buffer | string, opts: CommitOptions = {}): boolean {
    const { dir, tmp } = this.tempPath(rel);
    const fd = openSync(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o666);
    try {
      const buf = typeof bytes === "string" ? Buffer.from(bytes) : bytes;
      for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
      if (opts.executable) fchmodSync(fd, executableMode(fstatSync(fd).mode));
    } catch (err) {
      closeQuiet(fd);
      unlinkQuiet(tmp);
      throw err;
    }
    closeSync(fd);
    return this.commit(dir, tmp, rel, opts);
  }

  /**
   * A temp file beside `rel` to stream into (a download); `commit` puts it in place as
   * `write` does, `discard` removes it. Either must be called.
   */
  async createTemp(rel: string): Promise<TempFile> {
    const { dir, tmp } = this.tempPath(rel);
    const fh = await open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o666);
    return {
      fh,
      commit: async (opts = {}) => {
        if (opts.executable) await fh.chmod(executableMode((await fh.stat()).mode));
        await fh.close();
        return this.commit(dir, tmp, rel, opts);
      },
      commitAs: async (other, opts = {}) => {
        const bad = badName(other);
        if (bad || this.split(other)[0] !== dir) {
          await fh.close().catch(() => {});
          unlinkQuiet(tmp);
          throw new UnsafePathError(other, bad ?? `not in the directory of ${rel}`);
        }
        if (opts.executable) await fh.chmod(executableMode((await fh.stat()).mode));
        await fh.close();
        return this.commit(dir, tmp, other, opts);
      },
      discard: async () => {
        await fh.close().catch(() => {});
        unlinkQuiet(tmp);
      },
    };
  }

  private tempPath(rel: string): { dir: string; tmp: string } {
    const bad = badName(rel);
    if (bad) throw new UnsafePathError(rel, bad);
    const [dir] = this.split(rel);
    try {
      this.mkdirp(dir);
      return { dir, tmp: this.at(dir, tempName()) };
    } catch (err) {
      if (err instanceof UnsafePathError) throw err;
      throw new UnsafePathError(rel, reasonOf(err));
    }
  }

  /** Move a finished temp file to `rel`, in the same directory descriptor it was made in. */
  private commit(dir: string, tmp: string, rel: string, opts: CommitOptions): boolean {
    try {
      const target = this.at(dir, this.split(rel)[1]);
      if (opts.overwrite) {
        renameSync(tmp, target);
        return true;
      }
      try {
        linkSync(tmp, target); // fails with EEXIST instead of replacing
        return true;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EEXIST") return false;
        // Filesystems without hard links: check, then rename (a racing writer may win; theirs is then replaced).
        if (code !== "EPERM" && code !== "ENOTSUP" && code !== "EOPNOTSUPP") throw err;
        if (this.stat(rel)) return false;
        renameSync(tmp, target);
        return true;
      }
    } finally {
      unlinkQuiet(tmp);
    }
  }

  /** Make `rel` a symlink to `target` (git restores links as links); never replaces a path without `overwrite`. */
  symlink(rel: string, target: string, opts: { overwrite?: boolean } = {}): boolean {
    const [dir, name] = this.split(rel);
    this.mkdirp(dir);
    const tmp = this.at(dir, tempName());
    symlinkSync(target, tmp);
    try {
      if (!opts.overwrite && this.stat(rel)) return false;
      renameSync(tmp, this.at(dir, name));
      return true;
    } finally {
      unlinkQuiet(tmp);
    }
  }

  /** Remove a file or symlink (never what a symlink points to); true when something was removed. */
  unlink(rel: string): boolean {
    try {
      const [dir, name] = this.split(rel);
      unlinkSync(this.at(dir, name));
      return true;
    } catch (err) {
      if (gone(err)) return false;
      throw err;
    }
  }
}

/** A fresh name for a temp file (O_EXCL makes a clash an error, never a shared file). */
function tempName(): string {
  return `${TEMP_PREFIX}${randomBytes(6).toString("hex")}`;
}

function executableMode(mode: number): number {
  return mode | ((mode & 0o444) >> 2);
}

function unlinkQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // already gone
  }
}

/** Run `fn` with a WorkDir open on `root` for its length. */
export async function withWorkDir<T>(root: string, fn: (wd: WorkDir) => Promise<T>): Promise<T> {
  const wd = new WorkDir(root);
  try {
    return await fn(wd);
  } finally {
    wd.close();
  }
}
