/**
 * Writing blobs into the work dir, through WorkDir: never through a symlink or a file
 * standing where a directory should be, never over a local file unless the caller says this
 * path may be replaced. Blobs come from one `git cat-file --batch` stream, not from
 * `git checkout-index` (which writes in place and cannot be told what not to follow).
 */
import { UnsafePathError, WorkDir } from "../../src/safefs";
import { catBlobs } from "./objects";
import type { Repo } from "./repo";

/** One tree entry to write: git's mode (100644, 100755, 120000) and blob id; its size when asked for. */
export interface TreeEntry {
  path: string;
  mode: string;
  id: string;
  size?: number;
}

/** A regular file in a tree (plain or executable): what has bytes to compare, merge or copy. */
export function isFileEntry(e: TreeEntry | undefined): boolean {
  return e?.mode === "100644" || e?.mode === "100755";
}

export interface CheckoutResult {
  written: string[];
  /** Something stood at the path (the local file wins), or the path could not be written. */
  notWritten: string[];
}

/**
 * Write `entries`. `replace(path)` says whether what stands at a path may be replaced;
 * without it nothing existing is.
 */
export async function checkout(
  repo: Repo,
  wd: WorkDir,
  entries: TreeEntry[],
  replace: (rel: string) => boolean = () => false,
): Promise<CheckoutResult> {
  const result: CheckoutResult = { written: [], notWritten: [] };
  const files = entries.filter((e) => {
    if (isFileEntry(e) || e.mode === "120000") return true;
    result.notWritten.push(e.path); // a gitlink (submodule) from an old save: no content here
    return false;
  });
  let i = 0;
  await catBlobs(
    repo.git,
    files.map((e) => e.id),
    (_id, bytes) => {
      const e = files[i++]!;
      if (!bytes) {
        repo.ctx.log.warn(`not restoring ${e.path}: its content is missing from the repository`);
        result.notWritten.push(e.path);
        return;
      }
      const overwrite = replace(e.path);
      try {
        const ok =
          e.mode === "120000"
            ? wd.symlink(e.path, bytes.toString("utf8"), { overwrite })
            : wd.write(e.path, bytes, { overwrite, executable: e.mode === "100755" });
        (ok ? result.written : result.notWritten).push(e.path);
      } catch (err) {
        const why = err instanceof UnsafePathError ? err.reason : (err as Error).message;
        repo.ctx.log.warn(`not restoring ${e.path}: ${why}`);
        result.notWritten.push(e.path);
      }
    },
  );
  return result;
}

/**
 * Tree entries of `rev` (all, or those at and under `paths`), keyed by path, in git's order;
 * `sizes`: with each blob's size (`ls-tree -l`).
 */
export async function treeEntries(
  repo: Repo,
  rev: string,
  paths?: string[],
  opts: { sizes?: boolean } = {},
): Promise<Map<string, TreeEntry>> {
  const out = new Map<string, TreeEntry>();
  const parse = (text: string) => {
    for (const rec of text.split("\0")) {
      if (!rec) continue;
      const tab = rec.indexOf("\t");
      const [mode, , id, size] = rec.slice(0, tab).split(/\s+/);
      const e: TreeEntry = { path: rec.slice(tab + 1), mode: mode!, id: id! };
      if (opts.sizes) e.size = Number(size) || 0;
      out.set(e.path, e);
    }
  };
  const args = ["ls-tree", "-r", "-z", ...(opts.sizes ? ["-l"] : []), "--full-tree", rev];
  if (!paths) {
    parse(await repo.git.out(args));
    return out;
  }
  for (let i = 0; i < paths.length; i += 500) parse(await repo.git.out([...args, "--", ...paths.slice(i, i + 500)]));
  return out;
}
