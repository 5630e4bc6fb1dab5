/**
 * A save: plan (what changed, through `git status`), stage, commit, push; a rejected push
 * integrates the remote's commits and pushes again. Never force-pushes.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { TransientError } from "../../src/errors";
import { GitFailure, nulSplit } from "../../src/git";
import type { ChangeSet, PathFilter, PlanEntry, SaveMeta, SavePlan, SaveReport } from "../types";
import { integrate } from "./integrate";
import type { Remote } from "./remote";
import type { Repo } from "./repo";
import { lstatOrNull } from "./util";

/** Past this many paths (or bytes of them) a whole-tree status is cheaper than argv. */
const PATHSPEC_MAX = 2000;
const PATHSPEC_BYTES = 100_000;

export async function plan(repo: Repo, changes: ChangeSet | "all", filter: PathFilter): Promise<SavePlan> {
  await repo.ensureReady();
  const { git, ctx } = repo;
  const args = ["status", "--porcelain=v1", "-z", "--branch", "--untracked-files=all", "--no-renames"];
  const plan: SavePlan = { entries: [], skipped: [], deferred: [], total: 0, unacknowledged: 0 };
  if (changes !== "all") {
    const paths = [...changes.keys()];
    const bytes = paths.reduce((n, p) => n + p.length + 1, 0);
    if (paths.length === 0) {
      // Nothing new: only ask whether earlier commits still wait to be pushed.
      const tip = await repo.rev(repo.tracking, true);
      const r = await git.run(["rev-list", "--count", tip ? `${tip}..HEAD` : "HEAD"], { okCodes: [128] });
      plan.unacknowledged = r.code === 0 ? Number(r.stdout.trim()) : 0;
      return plan;
    }
    if (paths.length <= PATHSPEC_MAX && bytes <= PATHSPEC_BYTES) args.push("--", ...paths);
  }
  const out = nulSplit(await git.out(args));
  for (const rec of out) {
    if (rec.startsWith("## ")) {
      plan.unacknowledged = unpushed(rec);
      continue;
    }
    const xy = rec.slice(0, 2);
    const rel = rec.slice(3);
    if (xy === "!!") continue;
    const st = lstatOrNull(path.join(ctx.dir, rel));
    let entry: PlanEntry;
    if (!st) {
      if (xy === "??") continue;
      entry = { path: rel, op: "delete" };
    } else if (st.isDirectory()) {
      plan.skipped.push({ path: rel, reason: "a nested git repository (save it on its own)" });
      continue;
    } else {
      entry = { path: rel, op: xy === "??" || xy[0] === "A" ? "add" : "modify", size: st.size };
    }
    const verdict = await filter(entry);
    if (verdict === "save") plan.entries.push(entry);
    else if ("skip" in verdict) plan.skipped.push({ path: rel, reason: verdict.skip });
    else plan.deferred.push({ path: rel, reason: verdict.defer });
  }
  if (plan.entries.filter((e) => e.op === "delete").length >= 10) {
    plan.total = nulSplit(await git.out(["ls-files", "-z"])).length;
  }
  return plan;
}

export async function save(repo: Repo, remote: Remote, plan: SavePlan, meta: SaveMeta): Promise<SaveReport> {
  await repo.ensureReady();
  const { git } = repo;
  const report: SaveReport = { saved: [], incoming: [], conflicts: [] };
  if (plan.entries.length) {
    await stage(repo, plan);
    const args = ["commit", "--no-verify", "--no-edit", "--cleanup=verbatim", "-m", meta.message];
    if (meta.author) args.push(`--author=${meta.author}`);
    for (const t of meta.trailers) args.push(`--trailer=${t}`);
    const c = await git.run(args, { okCodes: [1] });
    if (c.code === 0) report.saved = plan.entries;
  }
  // A new commit is pushed at once (no look at refs first: each git process costs); work
  // left unpushed from before is checked against the remote-tracking ref.
  let fresh = report.saved.length > 0;
  for (let attempt = 0; ; attempt++) {
    if (!fresh) {
      const ours = await repo.head();
      if (!ours) return report;
      report.id = ours;
      if ((await repo.rev(repo.tracking, true)) === ours) return report;
    }
    const push = await remote.push("HEAD", `refs/heads/${repo.branch}`);
    if (push.rejected === false) {
      report.id = await repo.head();
      if (repo.laptop && repo.remote !== "origin") await git.run(["update-ref", repo.tracking, report.id!]);
      return report;
    }
    fresh = true;
    if (attempt >= 4) throw new TransientError("the remote keeps moving: push rejected 5 times in a row");
    repo.ctx.log.info("the remote has new commits: integrating them");
    await remote.fetch();
    const got = await integrate(repo, remote);
    report.incoming.push(...got.incoming);
    report.conflicts.push(...got.conflicts);
    report.conflictRef ??= got.conflictRef;
  }
}

/** `git add` the planned paths. A file we cannot read (another UID's 0600 file) is skipped, not fatal. */
async function stage(repo: Repo, plan: SavePlan): Promise<void> {
  const { git, ctx } = repo;
  // Checked bytes (notebooks) go in as they were checked: a re-read by `git add` could
  // catch a rewrite in progress (a truncated notebook), or die of SIGBUS on its mmap.
  for (const e of plan.entries.filter((e) => e.content)) {
    const sha = (await git.out(["hash-object", "-w", "--stdin"], { input: e.content })).trim();
    const exec = (lstatOrNull(path.join(ctx.dir, e.path))?.mode ?? 0) & 0o111 ? "100755" : "100644";
    await git.run(["update-index", "--add", "--verbose", "--cacheinfo", `${exec},${sha},${e.path}`]);
  }
  let rest = plan.entries.filter((e) => !e.content);
  if (!rest.length) return;
  const list = path.join(ctx.stateDir, "pathspec");
  for (;;) {
    writeFileSync(list, rest.map((e) => e.path).join("\0") + "\0");
    try {
      // --verbose: simple-git waits 50 ms after a git that prints nothing.
      await git.run(["add", "-A", "--verbose", `--pathspec-from-file=${list}`, "--pathspec-file-nul"]);
      return;
    } catch (err) {
      if (!(err instanceof GitFailure)) throw err;
      const bad = new Set(
        [...err.stderr.matchAll(/open\("(.+?)"\): Permission denied|unable to index file '(.+?)'/g)].map((m) =>
          path
            .relative(ctx.dir, path.resolve(ctx.dir, m[1] ?? m[2]!))
            .split(path.sep)
            .join("/"),
        ),
      );
      const before = rest.length;
      rest = rest.filter((e) => !bad.has(e.path));
      if (rest.length === before) throw err;
      plan.entries = plan.entries.filter((e) => !bad.has(e.path));
      for (const p of bad) plan.skipped.push({ path: p, reason: "cannot read it (permission denied)" });
      if (!rest.length) return;
    }
  }
}

/** How many commits wait to be pushed, from `status --branch`'s header. */
function unpushed(header: string): number {
  const ahead = /\[ahead (\d+)/.exec(header);
  if (ahead) return Number(ahead[1]);
  if (/^## No commits yet/.test(header)) return 0;
  // Commits but nothing at the remote yet ("[gone]", or no upstream part).
  return /\.\.\.\S+ \[gone\]|^## [^.\s]+$/.test(header) ? 1 : 0;
}
