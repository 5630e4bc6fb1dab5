import { gitLines, rawSaveAll, readRef, waitRef } from "../lib/git.mjs";
import { now, sleep } from "../lib/proc.mjs";
import { waitQuiet } from "../lib/procfs.mjs";
import { fmtStats, k, stats } from "../lib/stats.mjs";
import { rawFixture } from "../references.mjs";
import { msFixture, startWatchQuiet, stopWatch } from "../subject.mjs";
import { makeTree, treePaths, writeFiles } from "../workloads.mjs";

export default {
  name: "burst",
  measures: "a burst of new files written within about a second → all of them at the remote",
  reference: "raw `git add -A && commit && push` of the same files",
  target: "≤ 3 commits; ≤ 1.3 × raw git",

  async *run(ctx) {
    const { cfg, genv } = ctx;
    const fx = msFixture(ctx, "burst", 0, { tree: false });
    const raw = rawFixture(ctx, "raw-burst", 0, { tree: false });
    const { w } = await startWatchQuiet(ctx, fx);
    const lat = [];
    const commits = [];
    const rawMs = [];
    const spread = [];
    const count = (from, to) =>
      Number(gitLines(genv, ["--git-dir", fx.bare, "rev-list", "--count", `${from}..${to}`])[0]);
    try {
      for (let i = 0; i < cfg.runs; i++) {
        const prefix = `burst-${i}/`;
        const rels = treePaths(cfg.burst, { prefix });
        // raw git: the same files, then one add -A && commit && push
        makeTree(raw.work, cfg.burst, { prefix });
        const from0 = readRef(raw.bare);
        const r = rawSaveAll(genv, raw.work, "burst");
        if (readRef(raw.bare) === from0) throw new Error("raw burst push did not move the remote");
        rawMs.push(r.ms);
        // mirrorshade: the files in 10 slices, 100 ms apart
        const from = readRef(fx.bare);
        const tStart = now();
        const slices = 10;
        const per = Math.ceil(rels.length / slices);
        for (let s = 0; s < slices; s++) {
          const due = tStart + s * 100;
          if (now() < due) await sleep(due - now());
          writeFiles(fx.work, rels.slice(s * per, (s + 1) * per));
        }
        const tLast = now();
        spread.push(tLast - tStart);
        const dir = prefix.slice(0, -1);
        const { sha, t } = await waitRef(fx.bare, {
          from,
          timeout: cfg.debounceMs + 300_000,
          accept: (s) =>
            gitLines(genv, ["--git-dir", fx.bare, "ls-tree", "-r", "--name-only", s, "--", dir]).length >= rels.length,
        });
        lat.push(t - tLast - cfg.debounceMs);
        commits.push(count(from, sha));
        await sleep(cfg.debounceMs + 300);
        await waitQuiet(w);
        // Saves after all were in (a late event) would be extra commits: count them too.
        const end = readRef(fx.bare);
        if (end !== sha) commits[commits.length - 1] = count(from, end);
      }
    } finally {
      await stopWatch(ctx, w);
    }
    const c = stats(commits);
    yield {
      id: `burst-${k(cfg.burst)}-commits`,
      scenario: `burst of ${k(cfg.burst)} new files (written over ${fmtStats(stats(spread), "ms")})`,
      metric: "commits at the remote for the burst",
      unit: "",
      value: c,
      target: "≤ 3",
      met: c.max <= 3,
    };
    const v = stats(lat);
    const rawS = stats(rawMs);
    yield {
      id: `burst-${k(cfg.burst)}-latency`,
      scenario: `burst of ${k(cfg.burst)} new files`,
      metric: `last write → all at the remote, − debounce (${ctx.label.debounce})`,
      unit: "ms",
      value: v,
      ref: { name: "raw `git add -A && commit && push`", stats: rawS },
      target: "≤ 1.3 × raw git",
      met: v.median <= 1.3 * rawS.median,
    };
  },
};
