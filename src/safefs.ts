/**
 * Safe access to the work dir, which a less trusted writer (the notebook user) controls.
 * Nothing outside it is ever read, written or deleted through it, whatever it holds:
 *  - every path is opened component by component from a descriptor of the work dir, never
 *    following a symlink (ELOOP on a link, ENOTDIR on a swapped dir). Node has no `openat`;
 *    on Linux `/proc/self/fd/<dirfd>/<name>` is the same thing: the magic link names the
 *    opened directory itself, not its path, so a directory swapped after we opened it
 *    cannot redirect us. Elsewhere (macOS) each component is lstat'ed before the final
 *    O_NOFOLLOW open: a swap between the two steps is not caught there (documented);
 *  - files are opened with O_NONBLOCK (a FIFO cannot hang us) and accepted after `fstat` of
 *    what was opened only when they are regular files, below a size cap checked before any
 *    byte is read;
 *  - what cannot be read is a reason (`skip`), never an exception and never a hang, so one
 *    bad path does not fail the save of the others.
 * One `WorkDir` serves one batch (a save, a restore): directory descriptors are cached for
 * its length and closed with it.
 */
import {
  closeSync,
  constants as C,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
} from "node:fs";
import { linkSync, renameSync, symlinkSync, unlinkSync, writeSync, fchmodSync, type Stats } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import path from "node:path";

/** Temp files match the default ignore `.~*`: the watcher never reports them. */
export const TEMP_PREFIX = ".~mirrorshade-";
const PROC = process.platform === "linux";
/** Directory descriptors kept open per batch; beyond it the oldest are closed (wide trees). */
const MAX_DIR_FDS = 256;

export type Kind = "file" | "dir" | "symlink" | "other";

export interface Entry {
  kind: Kind;
  size: number;
  mtimeMs: number;
  mode: number;
  ino: number;
  dev: number;
}

/** The outcome of opening one path for reading. */
export type Opened =
  | { kind: "file"; fh: FileHandle; stat: Stats }
  | { kind: "symlink"; target: string }
  | { kind: "skip"; reason: string }
  | { kind: "gone" };

export type Read =
  | { kind: "file"; bytes: Buffer; stat: Stats }
  | { kind: "symlink"; target: string }
  | { kind: "skip"; reason: string }
  | { kind: "gone" };

/** A path the work dir's writer made unusable (a symlink or file where a directory should be). */
export class UnsafePathError extends Error {
  constructor(
    readonly rel: string,
    readonly reason: string,
  ) {
    super(`${rel}: ${reason}`);
  }
}

/** Why a path cannot be used, from its name alone; undefined when it is fine. */
export function badName(rel: string): string | undefined {
  if (rel.includes("\uFFFD")) return "its name is not valid UTF-8 (rename it)";
  if (rel === "" || rel.startsWith("/") || rel.split("/").some((c) => c === "" || c === "." || c === ".."))
    return "not a plain relative path";
  if (rel.includes("\0")) return "its name holds a NUL byte";
  return undefined;
}

/** One errno as a reason a person can act on. */
export function reasonOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "EACCES":
    case "EPERM":
      return `cannot read it (permission denied for uid ${process.getuid?.() ?? "?"})`;
    case "ENAMETOOLONG":
      return "its path is longer than the system allows";
    case "ELOOP":
    case "ENOTDIR":
      return "a symlink or file stands where a directory should be";
    case "EIO":
      return "read error (EIO)";
    default:
      return `cannot read it (${code ?? (err as Error).message})`;
  }
}

function kindOf(st: Stats): Kind {
  return st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other";
}

function describeOther(st: Stats): string {
  return specialReason(st.mode);
}

/** Why what `stat` calls "other" (from its mode) is not saved; nothing needs to open it to say so. */
export function specialReason(mode: number): string {
  switch (mode & C.S_IFMT) {
    case C.S_IFIFO:
      return "a FIFO (named pipe) is not a file to save";
    case C.S_IFSOCK:
      return "a socket is not a file to save";
    case C.S_IFCHR:
    case C.S_IFBLK:
      return "a device is not a file to save";
    default:
      return "not a regular file";
  }
}

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
  discard(): Promise<void>;
}

export class WorkDir {
  private readonly dirs = new Map<string, number>();
  private closed = false;

  /** Opens the root itself (following links in `root`: that path is the user's own choice). */
  constructor(readonly root: string) {
    if (PROC) this.dirs.set("", openSync(root, C.O_RDONLY | C.O_DIRECTORY));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fd of this.dirs.values()) closeQuiet(fd);
    this.dirs.clear();
  }

  /**
   * A path naming `name` inside directory `dirRel` that resolves no symlink on the way
   * (`dirRel` "" is the root). Throws ELOOP/ENOTDIR/ENOENT when a component is not a directory.
   */
  private at(dirRel: string, name: string): string {
    return path.join(this.dirPath(dirRel), name);
  }

  private dirPath(dirRel: string): string {
    if (!PROC) {
      // Without /proc: check each component with lstat (a swap in between is not caught).
      let p = this.root;
      for (const c of dirRel ? dirRel.split("/") : []) {
        p = path.join(p, c);
        const st = lstatSync(p);
        if (!st.isDirectory()) throw Object.assign(new Error(`not a directory: ${p}`), { code: "ENOTDIR" });
      }
      return p;
    }
    return `/proc/self/fd/${this.dirFd(dirRel)}`;
  }

  private dirFd(dirRel: string): number {
    const cached = this.dirs.get(dirRel);
    if (cached !== undefined) {
      // Most recently used last: eviction closes the oldest.
      this.dirs.delete(dirRel);
      this.dirs.set(dirRel, cached);
      return cached;
    }
    const slash = dirRel.lastIndexOf("/");
    const parent = slash < 0 ? "" : dirRel.slice(0, slash);
    const name = dirRel.slice(slash + 1);
    const fd = openSync(`/proc/self/fd/${this.dirFd(parent)}/${name}`, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
    this.dirs.set(dirRel, fd);
    if (this.dirs.size > MAX_DIR_FDS) {
      for (const [rel, old] of this.dirs) {
        if (rel === "" || rel === dirRel) continue;
        closeQuiet(old);
        this.dirs.delete(rel);
        break;
      }
    }
    return fd;
  }

  private split(rel: string): [string, string] {
    const slash = rel.lastIndexOf("/");
    return slash < 0 ? ["", rel] : [rel.slice(0, slash), rel.slice(slash + 1)];
  }

  /** What stands at `rel`, without following any symlink; undefined when nothing does (or a parent is not a dir). */
  stat(rel: string): Entry | undefined {
    try {
      const [dir, name] = this.split(rel);
      const st = lstatSync(this.at(dir, name));
      return { kind: kindOf(st), size: st.size, mtimeMs: st.mtimeMs, mode: st.mode, ino: st.ino, dev: st.dev };
    } catch {
      return undefined;
    }
  }

  /** The entries of a directory, names as raw bytes decoded (a name that is not UTF-8 shows U+FFFD). */
  list(dirRel: string): { name: string; kind: Kind }[] {
    const ents = readdirSync(this.dirPath(dirRel), { withFileTypes: true, encoding: "buffer" });
    return ents.map((d) => {
      const raw = d.name;
      const name = raw.toString("utf8");
      // A name that does not round-trip is not valid UTF-8: it cannot be named through a string.
      const safe = Buffer.from(name, "utf8").equals(raw) ? name : name.includes("\uFFFD") ? name : name + "\uFFFD";
      const kind: Kind = d.isFile() ? "file" : d.isDirectory() ? "dir" : d.isSymbolicLink() ? "symlink" : "other";
      return { name: safe, kind };
    });
  }

  /**
   * Open a file for reading. A symlink is reported with its target (never followed); what
   * is not a regular file, too large, or unreadable is a `skip` with the reason.
   */
  async open(rel: string, opts: { maxBytes?: number } = {}): Promise<Opened> {
    const bad = badName(rel);
    if (bad) return { kind: "skip", reason: bad };
    const [dir, name] = this.split(rel);
    let p: string;
    try {
      p = this.at(dir, name);
    } catch (err) {
      return gone(err) ? { kind: "gone" } : { kind: "skip", reason: reasonOf(err) };
    }
    let fh: FileHandle;
    try {
      fh = await open(p, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ELOOP" || code === "EMLINK") {
        // The last component is a symlink (Linux says ELOOP, FreeBSD EMLINK): report it, never follow it.
        try {
          return { kind: "symlink", target: readlinkSync(p) };
        } catch (e2) {
          return gone(e2) ? { kind: "gone" } : { kind: "skip", reason: reasonOf(e2) };
        }
      }
      if (code === "ENXIO") return { kind: "skip", reason: "a socket is not a file to save" };
      return gone(err) ? { kind: "gone" } : { kind: "skip", reason: reasonOf(err) };
    }
    try {
      const stat = await fh.stat();
      if (!stat.isFile()) {
        await fh.close();
        return stat.isDirectory()
          ? { kind: "skip", reason: "a directory" }
          : { kind: "skip", reason: describeOther(stat) };
      }
      if (opts.maxBytes !== undefined && stat.size > opts.maxBytes) {
        await fh.close();
        return { kind: "skip", reason: `larger than ${opts.maxBytes} bytes` };
      }
      return { kind: "file", fh, stat };
    } catch (err) {
      await fh.close().catch(() => {});
      return { kind: "skip", reason: reasonOf(err) };
    }
  }

  /** Read a whole file (at most the size `fstat` saw when it was opened: a growing file is read again later). */
  async read(rel: string, opts: { maxBytes?: number } = {}): Promise<Read> {
    const o = await this.open(rel, opts);
    if (o.kind !== "file") return o;
    try {
      const bytes = await readUpTo(o.fh, o.stat.size);
      return { kind: "file", bytes, stat: o.stat };
    } catch (err) {
      return { kind: "skip", reason: reasonOf(err) };
    } finally {
      await o.fh.close().catch(() => {});
    }
  }

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
      return { dir, tmp: this.at(dir, `${TEMP_PREFIX}${randomBytes(6).toString("hex")}`) };
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
    const tmp = this.at(dir, `${TEMP_PREFIX}${randomBytes(6).toString("hex")}`);
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

/** Read at most `size` bytes (the size seen at open); fewer when the file shrank meanwhile. */
async function readUpTo(fh: FileHandle, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const { bytesRead } = await fh.read(buf, off, size - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return off === size ? buf : buf.subarray(0, off);
}

function gone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT";
}

function executableMode(mode: number): number {
  return mode | ((mode & 0o444) >> 2);
}

function closeQuiet(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
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
