/**
 * A save: stage the plan (scan.ts made it), commit, push; a rejected push integrates the
 * remote's commits and pushes again. Never force-pushes.
 */
import { TransientError } from "../../src/errors";
import { step } from "../../src/profile";
import type { SaveMeta, SavePlan, SaveReport } from "../types";
import { integrate } from "./integrate";
import type { Remote } from "./remote";
import type { Repo } from "./repo";
import { stage } from "./stage";

export async function save(repo: Repo, remote: Remote, plan: SavePlan, meta: SaveMeta): Promise<SaveReport> {
  await repo.ensureReady();
  const { git } = repo;
  const report: SaveReport = { saved: [], incoming: [], conflicts: [] };
  if (plan.entries.length) {
    await step("stage", () => stage(repo, plan));
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
    if (got.merged.length) (report.merged ??= []).push(...got.merged);
    report.conflictRef ??= got.conflictRef;
  }
}
