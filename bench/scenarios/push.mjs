import path from "node:path";
import { git } from "../lib/git.mjs";
import { cleanEnv } from "../lib/proc.mjs";
import { fmtStats, stats } from "../lib/stats.mjs";
import { fixture, msEnv, msPush } from "../subject.mjs";

const TARGET = "≤ 1.2 × `git status --porcelain`";

export default {
  name: "push",
  measures: "`push` with nothing changed on the large tree",
  reference: "`git status --porcelain` on the same tree and git dir",
  target: TARGET,

  async *run(ctx) {
    const { cfg } = ctx;
    const LARGE = ctx.label.large;
    const fx = fixture(ctx, LARGE, cfg.large);
    const statusEnv = cleanEnv({
      GIT_DIR: path.join(fx.state, "git"),
      GIT_WORK_TREE: fx.work,
      GIT_CONFIG_GLOBAL: path.join(fx.state, "gitconfig"),
      GIT_CONFIG_NOSYSTEM: "1",
      LC_ALL: "C",
    });
    const push = [];
    const inner = [];
    const status = [];
    for (let i = 0; i <= cfg.runs; i++) {
      const order = i % 2 ? ["push", "status"] : ["status", "push"];
      for (const what of order) {
        if (what === "status") {
          const r = git(statusEnv, ["status", "--porcelain"], { cwd: fx.work });
          if (r.stdout.trim()) throw new Error(`the tree is not clean:\n${r.stdout.slice(0, 500)}`);
          if (i > 0) status.push(r.ms);
        } else {
          const r = msPush(fx.work, fx.bare, msEnv(fx.state), { json: true });
          const summary = JSON.parse(r.stdout);
          if (summary.saved.length) throw new Error(`push saved ${summary.saved.length} change(s) on a clean tree`);
          if (i > 0) {
            push.push(r.ms);
            inner.push(summary.ms);
          }
        }
      }
    }
    const v = stats(push);
    const ref = { name: "`git status --porcelain` (same tree, same git dir)", stats: stats(status) };
    yield {
      id: `push-noop-${LARGE}`,
      scenario: `\`push\`, nothing changed, ${LARGE} files`,
      metric: "wall time of `mirrorshade push`",
      unit: "ms",
      value: v,
      ref,
      target: TARGET,
      met: v.median <= 1.2 * ref.stats.median,
      note: `the save inside it (its --json ms): ${fmtStats(stats(inner), "ms")}`,
    };
  },
};
