/**
 * The work dir's directories, reached without following a symlink: every path is opened
 * component by component from a descriptor of the work dir (ELOOP on a link, ENOTDIR on a
 * swapped dir). Node has no `openat`; on Linux `/proc/self/fd/<dirfd>/<name>` is the same
 * thing: the magic link names the opened directory itself, not its path, so a directory
 * swapped after we opened it cannot redirect us. Elsewhere (macOS) each component is lstat'ed
 * before the final O_NOFOLLOW open: a swap between the two steps is not caught there
 * (documented). Descriptors are cached for one batch (a save, a restore) and closed with it.
 */
import { closeSync, constants as C, fstatSync, lstatSync, openSync } from "node:fs";
import path from "node:path";

const PROC = process.platform === "linux";
/** Directory descriptors kept open per batch; beyond it the oldest are closed (wide trees). */
const MAX_DIR_FDS = 256;

/** The descriptor cache and the paths through it; the read and write sides build on it. */
export class Dirs {
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
   * Whether `dirRel` still names, from the root, the very directory this batch opened for it:
   * false when it (or a parent) was moved away, or swapped for a symlink, since. A writer that
   * streamed into a temp file there checks this before `commit`, so a swap during a long
   * download skips the path instead of landing the file in the moved directory.
   */
  unmoved(dirRel: string): boolean {
    if (!PROC || !dirRel) return true;
    const parts = dirRel.split("/");
    try {
      for (let i = 1; i <= parts.length; i++) {
        const sub = parts.slice(0, i).join("/");
        const fd = this.dirs.get(sub);
        if (fd === undefined) continue; // not opened by this batch: nothing to compare
        const [dir, name] = this.split(sub);
        const now = lstatSync(this.at(dir, name));
        const was = fstatSync(fd);
        if (!now.isDirectory() || now.ino !== was.ino || now.dev !== was.dev) return false;
      }
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A path naming `name` inside directory `dirRel` that resolves no symlink on the way
   * (`dirRel` "" is the root). Throws ELOOP/ENOTDIR/ENOENT when a component is not a directory.
   */
  protected at(dirRel: string, name: string): string {
    return path.join(this.dirPath(dirRel), name);
  }

  protected dirPath(dirRel: string): string {
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

  /** `rel` as its directory and its last name. */
  protected split(rel: string): [string, string] {
    const slash = rel.lastIndexOf("/");
    return slash < 0 ? ["", rel] : [rel.slice(0, slash), rel.slice(slash + 1)];
  }

  private dirFd(dirRel: string): number {
    const cached = this.dirs.get(dirRel);
    if (cached !== undefined) {
      // Most recently used last: eviction closes the oldest.
      this.dirs.delete(dirRel);
      this.dirs.set(dirRel, cached);
      return cached;
    }
    const [parent, name] = this.split(dirRel);
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
}

export function closeQuiet(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
