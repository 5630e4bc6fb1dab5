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
  const report: RestoreReport = { written: [], kept: [], empty: false, resumed: false, incoming: [], conflicts: [] };
  const { ours, refs, branch } = await openBranch(repo, remote);
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
  await fetchTip(repo, remote);
  // First restore into this dir: the union, local first.
  const theirs = await repo.rev(repo.tracking);
  await repo.git.exec(["update-ref", "HEAD", theirs]);
  await repo.git.exec(["read-tree", theirs]);
  const wd = new WorkDir(repo.ctx.dir);
  let before: string[];
  try {
    guardRuleFiles(wd); // the diff below reads the whole tree
    const entries = [...(await treeEntries(repo, theirs)).values()];
    const here = standing(
      wd,
      entries.map((e) => e.path),
    );
    const absent = entries.filter((e) => !here.has(e.path));
    before = [...here];
    report.written = (await checkout(repo, wd, absent)).written;
  } finally {
    wd.close();
  }
  // Only files that were here before can differ: into an empty dir, nothing to compare.
  const diff = ["diff", "--name-only", "-z", "--no-renames", ...(before.length <= 500 ? ["--", ...before] : [])];
  const was = new Set(before);
  report.kept = was.size ? nulSplit(await repo.git.out(diff)).filter((p) => was.has(p)) : [];
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

/**
 * The paths something stands at. Each directory is looked up once, not once per file in it:
 * into an empty dir, a missing parent answers for all its files.
 */
function standing(wd: WorkDir, paths: string[]): Set<string> {
  const dirs = new Map<string, boolean>();
  const parent = (p: string) => (p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "");
  const isDir = (d: string): boolean => {
    if (d === "") return true;
    let known = dirs.get(d);
    if (known === undefined) {
      known = isDir(parent(d)) && wd.stat(d)?.kind === "dir";
      dirs.set(d, known);
    }
    return known;
  };
  return new Set(paths.filter((p) => isDir(parent(p)) && wd.stat(p) !== undefined));
}

/**
 * Our repo, on the branch we save: the state's, else --branch, else the remote's default.
 * Returns our last commit (none before the first restore) and the remote's refs.
 */
export async function openBranch(
  repo: Repo,
  remote: Remote,
): Promise<{ ours: string | undefined; refs: Map<string, string>; branch: string }> {
  await repo.ensureRepo();
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
  return { ours, refs, branch };
}

/**
 * Fetch the branch. The first time only its tip (`--depth 1`): a pod's start depends on the
 * tree, not on the history, and `log` or `restore --at` fetch older saves when asked. A
 * laptop checkout is the user's own repository: never made shallow.
 */
export async function fetchTip(repo: Repo, remote: Remote): Promise<void> {
  const known = await repo.git.exec(["rev-parse", "-q", "--verify", `${repo.tracking}^{commit}`], {
    okCodes: [1, 128],
  });
  await remote.fetch(repo.laptop || known.code === 0 ? {} : { depth: 1 });
}

/** The remote's default branch; on an empty remote the unborn branch its HEAD names, else main. */
function pickBranch(head: string | undefined, refs: Map<string, string>): string {
  if (head && (refs.has(`refs/heads/${head}`) || refs.size === 0)) return head;
  for (const b of ["main", "master"]) if (refs.has(`refs/heads/${b}`)) return b;
  if (refs.size === 0) return "main";
  throw new ConfigError("the remote's HEAD names no branch", { hint: "pass --branch" });
}
