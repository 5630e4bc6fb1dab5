/**
 * What is never saved. Directory defaults are also handed to the watcher (they cost no
 * inotify watches); finer rules (.gitignore with negations, nested ignore files,
 * .mirrorshadeignore) are applied here, in code. The git backend gives git the same
 * defaults, so both agree.
 */
import { closeSync, constants as C, fstatSync, openSync, readSync } from "node:fs";
import path from "node:path";
import ignore, { type Ignore } from "ignore";

/** Jupyter, editors and OS droppings. */
export const DEFAULT_IGNORES = [
  ".git/",
  ".ipynb_checkpoints/",
  ".virtual_documents/",
  ".Trash-*/",
  "__pycache__/",
  ".~*",
  "*.invalid",
  ".jupyter_ystore.db",
  "*.swp",
  "*.swo",
  "*.swx",
  "*~",
  ".#*",
  "#*#",
  "4913",
  ".DS_Store",
];

/** Directories the watcher itself skips (globs for @parcel/watcher). */
export const WATCHER_IGNORES = [
  ".git",
  "**/.git",
  "**/.ipynb_checkpoints",
  "**/.virtual_documents",
  "**/.Trash-*",
  "**/__pycache__",
];

export const IGNORE_FILE = ".mirrorshadeignore";

export class IgnoreRules {
  private readonly perDir = new Map<string, Ignore | null>();
  private readonly base: Ignore;

  constructor(
    private readonly root: string,
    extra: readonly string[] = [],
  ) {
    this.base = ignore()
      .add(DEFAULT_IGNORES)
      .add([...extra]);
  }

  /** The patterns git should exclude on top of .gitignore (for info/exclude). */
  static excludeFileFor(root: string, extra: readonly string[]): string {
    return [...DEFAULT_IGNORES, ...extra, ...readLines(path.join(root, IGNORE_FILE))].join("\n") + "\n";
  }

  /** Forget cached ignore files (one of them changed). */
  invalidate(rel?: string): void {
    if (rel === undefined) this.perDir.clear();
    else this.perDir.delete(path.posix.dirname(rel) === "." ? "" : path.posix.dirname(rel));
  }

  static isRuleFile(rel: string): boolean {
    const b = path.posix.basename(rel);
    return b === ".gitignore" || b === IGNORE_FILE;
  }

  /** Is this relative POSIX path (a file, or a dir when `isDir`) left unsaved? */
  ignores(rel: string, isDir = false): boolean {
    const parts = rel.split("/");
    // A path is ignored when it or any ancestor dir is; each level is checked against
    // the rules of every dir above it, like git.
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join("/");
      const dirLike = i < parts.length || isDir;
      const probe = dirLike ? sub + "/" : sub;
      if (this.base.ignores(probe)) return true;
      // The deepest ignore file with a matching rule decides, like git: a nested
      // `!keep.log` re-includes what a parent's `*.log` ignores.
      for (let j = i - 1; j >= 0; j--) {
        const dir = parts.slice(0, j).join("/");
        const rules = this.rulesFor(dir);
        if (!rules) continue;
        const relToDir = parts.slice(j, i).join("/") + (dirLike ? "/" : "");
        const verdict = rules.test(relToDir);
        if (verdict.ignored) return true;
        if (verdict.unignored) break;
      }
    }
    return false;
  }

  private rulesFor(dir: string): Ignore | null {
    let r = this.perDir.get(dir);
    if (r !== undefined) return r;
    const abs = path.join(this.root, dir);
    const lines = [
      ...readLines(path.join(abs, ".gitignore")),
      ...(dir === "" ? readLines(path.join(abs, IGNORE_FILE)) : []),
    ];
    r = lines.length ? ignore().add(lines) : null;
    this.perDir.set(dir, r);
    return r;
  }
}

/** Ignore files bigger than this are not rules but a trap (a link to /dev/zero is refused anyway). */
const MAX_RULE_FILE = 1 << 20;

/**
 * The lines of an ignore file the work dir's writer controls: never through a symlink, never
 * blocking on a FIFO, never an unbounded read. Anything else reads as no rules.
 */
function readLines(file: string): string[] {
  let fd: number | undefined;
  try {
    fd = openSync(file, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > MAX_RULE_FILE) return [];
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return buf.subarray(0, off).toString("utf8").split(/\r?\n/);
  } catch {
    return [];
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
