/**
 * Names and reasons: what the work dir's writer can make unusable, said from a name, an errno
 * or a file mode alone, so that a bad path is a reason (`skip`) a person can act on, never an
 * exception that fails the save of the others.
 */
import { constants as C, type Stats } from "node:fs";

export type Kind = "file" | "dir" | "symlink" | "other";

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

/** The kind of what `lstat` or `readdir` saw (a `Stats` or a `Dirent`), never following a symlink. */
export function kindOf(st: Pick<Stats, "isFile" | "isDirectory" | "isSymbolicLink">): Kind {
  return st.isFile() ? "file" : st.isDirectory() ? "dir" : st.isSymbolicLink() ? "symlink" : "other";
}

/** Whether an error says nothing stands at the path (deleted meanwhile: not a reason to report). */
export function gone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT";
}
