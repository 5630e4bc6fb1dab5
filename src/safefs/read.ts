/**
 * The read side of the work dir: what stands at a path, a directory's entries, a file's bytes.
 * Files are opened with O_NONBLOCK (a FIFO cannot hang us) and accepted after `fstat` of what
 * was opened only when they are regular files, below a size cap checked before any byte is
 * read; what cannot be read is a reason (`skip`), never an exception and never a hang.
 */
import { constants as C, lstatSync, readdirSync, readlinkSync, type Stats } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { Dirs } from "./dirs";
import { badName, gone, kindOf, reasonOf, specialReason, type Kind } from "./reasons";

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

/** What `find` says about a path: what stands there, nothing, or why it cannot be told. */
export type Found = Entry | undefined | { reason: string };

/** Reading through the descriptor cache; `WorkDir` adds the write side. */
export class WorkDirReader extends Dirs {
  /** What stands at `rel`, without following any symlink; undefined when nothing does (or a parent is not a dir). */
  stat(rel: string): Entry | undefined {
    try {
      return this.lstat(rel);
    } catch {
      return undefined;
    }
  }

  /**
   * What stands at `rel`, like `stat`, but telling "nothing there" (undefined: ENOENT, or a
   * parent that is a file or a symlink, so no such path inside the work dir) from "cannot
   * tell" (`{ reason }`: permission denied on a parent, EIO): a caller must not take an
   * unreadable path for a deleted one.
   */
  find(rel: string): Found {
    try {
      return this.lstat(rel);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "ENOTDIR" || code === "ELOOP") return undefined;
      return { reason: reasonOf(err) };
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
      return { name: safe, kind: kindOf(d) };
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
          : { kind: "skip", reason: specialReason(stat.mode) };
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

  /** What `lstat` sees at `rel`; throws what it throws. */
  private lstat(rel: string): Entry {
    const [dir, name] = this.split(rel);
    const st = lstatSync(this.at(dir, name));
    return { kind: kindOf(st), size: st.size, mtimeMs: st.mtimeMs, mode: st.mode, ino: st.ino, dev: st.dev };
  }
}

/** Read at most `size` bytes (the size seen at open); fewer when the file shrank meanwhile. */
export async function readUpTo(fh: FileHandle, size: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(size);
  let off = 0;
  while (off < size) {
    const { bytesRead } = await fh.read(buf, off, size - off, off);
    if (bytesRead === 0) break;
    off += bytesRead;
  }
  return off === size ? buf : buf.subarray(0, off);
}
