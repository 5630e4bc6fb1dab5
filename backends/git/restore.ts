/**
 * Restore: the first one writes the union of the remote and the work dir (local first);
 * later ones resume from our state and integrate what the remote gained meanwhile.
 */
import { ConfigError } from "../../src/errors";
import { nulSplit } from "../../src/git";
import type { Conflict, RestoreReport } from "../types";
import { integrate } from "./integrate";
import type { Remote } from "./remote";
import type { Repo } from "./repo";
import { WorkDir } from "../../src/safefs";
import { checkout, treeEntries } from "./checkout";
import { writeTheirCopies } from "./copies";
import { mergeByCell } from "./merge";
import { guardRuleFiles } from "./rules";

export async function restore(repo: Repo, remote: Remote): Promise<RestoreReport> {
  await repo.ensureRepo();
  const report: RestoreReport = { written: [], kept: [], empty: false, resumed: false, incoming: [], conflicts: [] };
  const ours = await repo.head();
  const { head, refs } = await remote.lsRemote();
  const current = ours ? (await repo.git.out(["symbolic-ref", "--short", "HEAD"])).trim() : undefined;
  if (current && repo.branch !== undefined && repo.branch !== current) {
    throw new ConfigError(`the state in ${repo.ctx.stateDir} saves branch ${current}, not ${repo.branch}`, {
      hint: "use the same --branch, or another --state-dir",
    });
  }
  const branch = repo.branch ?? current ?? pickBranch(head, refs);
  await repo.setBranch(branch);
  if (!refs.has(`refs/heads/${branch}`)) {
    report.empty = true;
    report.resumed = Boolean(ours);
    return report;
  }
  if (ours) {
    report.resumed = true;
    // The remote has not moved since we last synced, and we hold its tip: nothing to take in.
    const remoteTip = refs.get(`refs/heads/${branch}`);
    const tracked = await repo.rev(repo.tracking, true);
    if (remoteTip === tracked) {
      const mb = await repo.git.run(["merge-base", ours, tracked], { okCodes: [1] });
      if (mb.stdout.trim() === tracked) return report;
    }
    await remote.fetch();
    const { deleted: _deleted, ...got } = await integrate(repo, remote);
    Object.assign(report, got);
    return report;
  }
  await remote.fetch();
  // First restore into this dir: the union, local first.
  const theirs = await repo.rev(repo.tracking);
  await repo.git.run(["update-ref", "HEAD", theirs]);
  await repo.git.run(["read-tree", theirs]);
  const wd = new WorkDir(repo.ctx.dir);
  let missing: string[];
  try {
    guardRuleFiles(wd); // the diff below reads the whole tree
    const entries = [...(await treeEntries(repo, theirs)).values()];
    const absent = entries.filter((e) => !wd.stat(e.path));
    missing = absent.map((e) => e.path);
    report.written = (await checkout(repo, wd, absent)).written;
  } finally {
    wd.close();
  }
  const absent = new Set(missing);
  report.kept = nulSplit(await repo.git.out(["diff", "--name-only", "-z", "--no-renames"])).filter(
    (p) => !absent.has(p),
  );
  // A kept notebook that differs by outputs alone is merged (no ancestor yet: nothing else merges).
  // The remote's version of each other kept file goes beside it, where the user sees it (the next save saves both).
  const kept = report.kept.map((p): Conflict => ({ path: p, ours: "local", theirs }));
  const merged = await mergeByCell(repo, "none", theirs, kept);
  if (merged.length) {
    report.merged = merged.map((m) => m.path);
    report.kept = kept.map((k) => k.path);
  }
  await writeTheirCopies(repo, theirs, kept);
  for (const k of kept) {
    repo.ctx.log.warn(
      `kept the local ${k.path}: it differs from the remote` +
        (k.copy ? `, whose version is beside it as ${k.copy}` : "") +
        " (the next save commits it)",
    );
  }
  return report;
}

/** The remote's default branch; on an empty remote the unborn branch its HEAD names, else main. */
function pickBranch(head: string | undefined, refs: Map<string, string>): string {
  if (head && (refs.has(`refs/heads/${head}`) || refs.size === 0)) return head;
  for (const b of ["main", "master"]) if (refs.has(`refs/heads/${b}`)) return b;
  if (refs.size === 0) return "main";
  throw new ConfigError("the remote's HEAD names no branch", { hint: "pass --branch" });
}
