/**
 * `restore --at` for git: the tree of a past commit into the work dir, through WorkDir. A
 * path absent here is written; one that differs stays, with the old version beside it
 * named like a conflict copy (or replaced, when the caller saved it first and says so).
 * Nothing is deleted, and our index and HEAD do not move: what it wrote is a change the next
 * save commits.
 */
import { UnsafePathError, WorkDir } from "../../src/safefs";
import { conflictCopyName } from "../lib/naming";
import { Meter } from "../lib/progress";
import type { RestoreAtOptions, RestoreAtReport } from "../types";
import { treeEntries, type TreeEntry } from "./checkout";
import { resolvePoint } from "./history";
import { blobId, catBlobs } from "./objects";
import type { Remote } from "./remote";
import type { Repo } from "./repo";

/** A tree entry with its size (`ls-tree -l`). */
type Entry = Required<TreeEntry>;

type Action = "write" | "replace" | "copy";

export async function restoreAt(repo: Repo, remote: Remote, opts: RestoreAtOptions): Promise<RestoreAtReport> {
  const point = await resolvePoint(repo, remote, opts.at, opts.progress);
  const report: RestoreAtReport = {
    id: point.id,
    time: point.time.toISOString(),
    written: [],
    copies: [],
    replaced: [],
    unchanged: 0,
    missing: [],
  };
  const entries = await lsTree(repo, point.id, opts.paths);
  for (const p of opts.paths ?? []) {
    if (!entries.some((e) => e.path === p || e.path.startsWith(p + "/"))) {
      report.missing.push({ path: p, reason: `not in save ${point.id.slice(0, 12)}` });
    }
  }
  const wd = new WorkDir(repo.ctx.dir);
  try {
    const todo: { e: Entry; action: Action }[] = [];
    const differing: { e: Entry; local: string | undefined }[] = [];
    for (const e of entries) {
      if (e.mode === "160000") {
        report.missing.push({ path: e.path, reason: "a submodule link from an older save: it has no content here" });
        continue;
      }
      const here = await compare(wd, e, repo.ctx.settings.maxFileSize, !!opts.overwrite);
      if (here === "same") report.unchanged++;
      else if (here === "absent") todo.push({ e, action: "write" });
      else if ("reason" in here) report.missing.push({ path: e.path, reason: here.reason });
      else differing.push({ e, local: here.local });
    }
    // Replaced only when what is here is saved (our last commit holds it): else it goes beside.
    const saved = opts.overwrite
      ? await savedIds(
          repo,
          differing.map((d) => d.e.path),
        )
      : new Map<string, string>();
    for (const { e, local } of differing) {
      todo.push({ e, action: local !== undefined && saved.get(e.path) === local ? "replace" : "copy" });
    }
    const meter = new Meter(
      repo.ctx.log,
      "restoring",
      todo.map((t) => t.e.size),
      opts.progress,
    );
    let i = 0;
    await catBlobs(
      repo.git,
      todo.map((t) => t.e.id),
      (_id, bytes) => {
        const { e, action } = todo[i++]!;
        meter.add(e.size);
        if (!bytes) {
          report.missing.push({ path: e.path, reason: "its content is missing from the repository" });
          return;
        }
        try {
          place(wd, e, bytes, action, point.time, report);
        } catch (err) {
          report.missing.push({ path: e.path, reason: err instanceof UnsafePathError ? err.reason : String(err) });
        }
      },
    ).finally(() => meter.done());
  } finally {
    wd.close();
  }
  for (const l of [report.written, report.replaced]) l.sort();
  report.copies.sort((a, b) => a.path.localeCompare(b.path));
  return report;
}

/** Write one old version: at its path, over it, or beside it. */
function place(wd: WorkDir, e: Entry, bytes: Buffer, action: Action, time: Date, report: RestoreAtReport): void {
  const put = (rel: string, overwrite: boolean) =>
    e.mode === "120000"
      ? wd.symlink(rel, bytes.toString("utf8"), { overwrite })
      : wd.write(rel, bytes, { overwrite, executable: e.mode === "100755" });
  if (action === "replace") {
    put(e.path, true);
    report.replaced.push(e.path);
    return;
  }
  if (action === "write" && put(e.path, false)) {
    report.written.push(e.path);
    return;
  }
  // Differs here (or appeared meanwhile): the old version goes beside it, once.
  const copy = conflictCopyName(e.path, time, bytes);
  if (!wd.stat(copy)) put(copy, false);
  report.copies.push({ path: e.path, copy });
}

/**
 * What the work dir holds at `e.path` compared with `e`; for a difference, the blob id of
 * what is here when `needLocal` (undefined when unreadable or over the size cap: then it is
 * never replaced).
 */
async function compare(
  wd: WorkDir,
  e: Entry,
  maxBytes: number,
  needLocal: boolean,
): Promise<"same" | "absent" | { local: string | undefined } | { reason: string }> {
  const st = wd.find(e.path);
  if (!st) return "absent";
  if ("reason" in st) return st;
  if (st.kind === "dir") return { reason: "a directory is there" };
  if (st.kind === "other") return { reason: "a special file (FIFO, socket, device) is there" };
  const link = e.mode === "120000";
  if (!needLocal && ((st.kind === "symlink") !== link || (!link && st.size !== e.size))) return { local: undefined };
  const r = await wd.read(e.path, { maxBytes });
  if (r.kind === "gone") return "absent";
  if (r.kind === "skip") return { local: undefined };
  const local = r.kind === "symlink" ? `120000 ${blobId(Buffer.from(r.target))}` : `file ${blobId(r.bytes)}`;
  return local === `${link ? "120000" : "file"} ${e.id}` ? "same" : { local };
}

/** What our last commit holds at `paths`, in compare()'s terms. */
async function savedIds(repo: Repo, paths: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!paths.length || !(await repo.head())) return out;
  for (const e of await lsTree(repo, "HEAD", paths))
    out.set(e.path, `${e.mode === "120000" ? "120000" : "file"} ${e.id}`);
  return out;
}

/** The entries of `rev` (at and under `paths`: all when none), with blob sizes. */
async function lsTree(repo: Repo, rev: string, paths?: string[]): Promise<Entry[]> {
  return [...(await treeEntries(repo, rev, paths?.length ? paths : undefined, { sizes: true })).values()] as Entry[];
}
