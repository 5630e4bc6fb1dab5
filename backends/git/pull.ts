/**
 * Pull while watching: other writers' commits come into the work dir by the same path as a
 * rejected push (fetch, integrate), and nothing is pushed unless integrating made a commit of
 * ours (a merge with our unpushed commits, conflict copies). One `ls-remote` when the remote
 * has not moved. Git cannot take half of the remote's commits: while a local change to any
 * path they touch is pending, the whole pull waits (that save integrates them, or a later pull).
 */
import { nulSplit } from "../../src/git";
import { isPending } from "../lib/pending";
import type { PullOptions, PullReport, SavePlan } from "../types";
import { integrate } from "./integrate";
import type { Remote } from "./remote";
import type { Repo } from "./repo";
import { save } from "./save";

export async function pull(repo: Repo, remote: Remote, opts: PullOptions): Promise<PullReport> {
  const report: PullReport & { merged: string[] } = {
    incoming: [],
    deleted: [],
    conflicts: [],
    merged: [],
    waiting: [],
  };
  await repo.ensureReady();
  const ours = await repo.head();
  // Nothing synced yet (watch --no-restore on fresh state): the first save integrates.
  if (!ours || repo.branch === undefined) return report;
  const { refs } = await remote.lsRemote({ fresh: true });
  const tip = refs.get(`refs/heads/${repo.branch}`);
  if (!tip) return report;
  const known = await repo.rev(repo.tracking, true);
  if (tip === known && (await contains(repo, ours, tip))) return report;
  await remote.fetch();
  const theirs = await repo.rev(repo.tracking);
  const mb = await repo.git.run(["merge-base", ours, theirs], { okCodes: [1] });
  const base = mb.code === 0 ? mb.stdout.trim() : undefined;
  if (base === theirs) return report;
  if (base !== undefined) {
    const touched = nulSplit(await repo.git.out(["diff", "--name-only", "-z", "--no-renames", base, theirs]));
    report.waiting = touched.filter((p) => isPending(opts.pending, p));
    if (report.waiting.length) return report;
  } else if (opts.pending.size) {
    // No common history: every path may be touched. Wait until nothing is pending.
    report.waiting = [...opts.pending];
    return report;
  }
  const got = await integrate(repo, remote);
  Object.assign(report, got); // merged ones are in the merge commit pushed below, or left to the next save
  if ((await repo.head()) !== theirs) {
    // A merge with our unpushed commits, or conflict copies: ours to push now, as a save would.
    const empty: SavePlan = { entries: [], skipped: [], deferred: [], total: 0, unacknowledged: 0 };
    const pushed = await save(repo, remote, empty, { message: "", trailers: [], host: "", date: new Date() });
    report.incoming.push(...pushed.incoming);
    report.conflicts.push(...pushed.conflicts);
    if (pushed.merged?.length) report.merged.push(...pushed.merged);
    report.conflictRef ??= pushed.conflictRef;
  }
  return report;
}

async function contains(repo: Repo, ours: string, rev: string): Promise<boolean> {
  const r = await repo.git.run(["merge-base", "--is-ancestor", rev, ours], { okCodes: [1] });
  return r.code === 0;
}
