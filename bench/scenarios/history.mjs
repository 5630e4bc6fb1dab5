// Pod start that depends on the tree, not the history (issue 12): `restore` of repos with a
// long autosave history (bench/history.mjs) next to git's own clones of them, the same
// restore as history grows, `log` of the saves next to `git log --name-status`, and a
// restore from S3 next to `rclone copy`. Every reference runs in the same run, interleaved.
import { rmSync } from "node:fs";
import path from "node:path";
import { buildHistory } from "../history.mjs";
import { git } from "../lib/git.mjs";
import { NODE, now, run, which } from "../lib/proc.mjs";
import { msS3Env, rcloneS3Env, startS3rver } from "../lib/s3rver.mjs";
import { fmtStats, k, stats } from "../lib/stats.mjs";
import { cli, msEnv, msPush } from "../subject.mjs";
import { makeS3Tree } from "../workloads.mjs";

const TARGET = "≤ 1.3 × `git clone --depth 1`";
const FLAT = "≤ 1.2 × the shortest history's";
const RCLONE = "`rclone copy --transfers 16 --fast-list`";

export default {
  name: "history",
  measures:
    "`restore` of repos with a long autosave history (150, 1,500, 15,000 commits), `log` of 1,500 saves, `restore` from S3",
  reference:
    "`git clone --depth 1` and full `git clone` (`file://`, `--no-local`); `git log --name-status`; `rclone copy` for S3",
  target: `restore ${TARGET}, flat as history grows; S3 restore ≤ 1.0 × rclone copy`,

  async *run(ctx) {
    const { cfg, tmp, genv } = ctx;
    const base = path.join(tmp, "history");
    /** Run `fns` (name → () => ms) cfg.runs times, rotating which goes first. */
    const interleave = (fns) => {
      const names = Object.keys(fns);
      const t = Object.fromEntries(names.map((n) => [n, []]));
      for (let i = 0; i < cfg.runs; i++) {
        for (let j = 0; j < names.length; j++) {
          const n = names[(i + j) % names.length];
          t[n].push(fns[n](i));
        }
      }
      return Object.fromEntries(names.map((n) => [n, stats(t[n])]));
    };
    const msRestore = (url, dest, extra = []) =>
      run(NODE, cli(["restore", dest, "--remote", url, "--log-format", "json", ...extra]), {
        env: msEnv(`${dest}.state`),
      }).ms;
    const clean = (...dirs) => dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));

    const repos = new Map();
    const restored = new Map();
    for (const n of cfg.historyCommits) {
      const bare = path.join(base, `r${n}.git`);
      ctx.log(`  building a ${n}-commit repo (git fast-import)`);
      const t0 = now();
      await buildHistory(genv, bare, { commits: n, files: cfg.historyFiles, bigKb: cfg.historyNotebookKb });
      const packMb =
        Number(/size-pack: (\d+)/.exec(git(genv, ["count-objects", "-v"], { cwd: bare }).stdout)[1]) / 1024;
      ctx.log(`  built in ${Math.round(now() - t0)} ms, ${packMb.toFixed(1)} MB packed`);
      const url = `file://${bare}`;
      repos.set(n, url);
      const dest = (i, who) => path.join(base, `d${n}-${i}-${who}`);
      const s = interleave({
        ms: (i) => {
          const ms = msRestore(url, dest(i, "ms"));
          clean(dest(i, "ms"), `${dest(i, "ms")}.state`);
          return ms;
        },
        shallow: (i) => {
          const ms = git(genv, ["clone", "-q", "--depth", "1", "--no-local", url, dest(i, "sh")]).ms;
          clean(dest(i, "sh"));
          return ms;
        },
        full: (i) => {
          const ms = git(genv, ["clone", "-q", "--no-local", url, dest(i, "full")]).ms;
          clean(dest(i, "full"));
          return ms;
        },
      });
      restored.set(n, s.ms);
      const scenario = `restore, ${k(cfg.historyFiles)} files + ${cfg.historyNotebookKb} KB notebook, ${k(n)} commits (${packMb.toFixed(0)} MB packed)`;
      const metric = "wall time of `mirrorshade restore` into an empty dir";
      yield {
        id: `history-restore-${n}`,
        scenario,
        metric,
        unit: "ms",
        value: s.ms,
        ref: { name: "`git clone --depth 1`", stats: s.shallow },
        target: TARGET,
        met: s.ms.median <= 1.3 * s.shallow.median,
      };
      yield {
        id: `history-restore-${n}-full`,
        scenario,
        metric,
        unit: "ms",
        value: s.ms,
        ref: { name: "full `git clone`", stats: s.full },
        target: "— (what restore cost before: a full fetch)",
      };
    }
    const sizes = [...restored.keys()];
    if (sizes.length > 1) {
      const lo = Math.min(...sizes);
      const hi = Math.max(...sizes);
      yield {
        id: "history-restore-flat",
        scenario: `restore as history grows: ${k(hi)} vs ${k(lo)} commits`,
        metric: "wall time of `mirrorshade restore`",
        unit: "ms",
        value: restored.get(hi),
        ref: { name: `the same at ${k(lo)} commits`, stats: restored.get(lo) },
        target: FLAT,
        met: restored.get(hi).median <= 1.2 * restored.get(lo).median,
        note: sizes.map((n) => `${k(n)}: ${fmtStats(restored.get(n), "ms")}`).join("; "),
      };
    }

    // log: the sizes' one nearest 1,500 saves; first after a shallow restore (history fetched), then again.
    const n = sizes.reduce((a, b) => (Math.abs(b - 1500) < Math.abs(a - 1500) ? b : a));
    const url = repos.get(n);
    const msLog = (dest) =>
      run(NODE, cli(["log", dest, "--remote", url, "--log-format", "json"]), { env: msEnv(`${dest}.state`) });
    const first = { ms: [], git: [] };
    const again = { ms: [], git: [] };
    for (let i = 0; i < cfg.runs; i++) {
      const d = path.join(base, `log-${i}`);
      msRestore(url, d);
      const lines = msLog(d);
      first.ms.push(lines.ms);
      again.ms.push(msLog(d).ms);
      const saves = lines.stdout.split("\n").filter((l) => /^[0-9a-f]{12} {2}/.test(l)).length;
      if (saves !== n) throw new Error(`mirrorshade log listed ${saves} saves, not ${n}`);
      const g = path.join(base, `log-git-${i}`);
      git(genv, ["clone", "-q", "--depth", "1", "--no-local", url, g]);
      const t0 = now();
      git(genv, ["fetch", "-q", "--unshallow"], { cwd: g });
      git(genv, ["log", "--name-status"], { cwd: g });
      first.git.push(now() - t0);
      again.git.push(git(genv, ["log", "--name-status"], { cwd: g }).ms);
      clean(d, `${d}.state`, g);
    }
    yield {
      id: `history-log-${n}-first`,
      scenario: `\`log\` of ${k(n)} saves, first after a shallow restore (fetches the history)`,
      metric: "wall time of `mirrorshade log`",
      unit: "ms",
      value: stats(first.ms),
      ref: { name: "`git fetch --unshallow && git log --name-status`", stats: stats(first.git) },
      target: "— (ratio reported)",
    };
    yield {
      id: `history-log-${n}`,
      scenario: `\`log\` of ${k(n)} saves, history already here`,
      metric: "wall time of `mirrorshade log`",
      unit: "ms",
      value: stats(again.ms),
      ref: { name: "`git log --name-status` in a full clone", stats: stats(again.git) },
      target: "— (ratio reported)",
    };

    // S3: restore of what one push saved, into an empty dir.
    const server = await startS3rver(path.join(base, "s3rver"));
    try {
      const env = msS3Env(server.endpoint);
      const work = path.join(base, "s3-work");
      makeS3Tree(work, cfg.s3Files);
      msPush(work, "s3://bench/history", { ...env, MIRRORSHADE_STATE_DIR: path.join(base, "s3-push-state") });
      const haveRclone = which("rclone");
      if (!haveRclone)
        ctx.skip("history-s3-rclone", "S3 restore reference", "rclone not installed (apt-get install rclone)");
      const rcEnv = rcloneS3Env(server.endpoint);
      const fns = {
        ms: (i) => {
          const d = path.join(base, `s3-ms-${i}`);
          const ms = run(NODE, cli(["restore", d, "--remote", "s3://bench/history", "--log-format", "json"]), {
            env: { ...env, MIRRORSHADE_STATE_DIR: `${d}.state` },
          }).ms;
          clean(d, `${d}.state`);
          return ms;
        },
      };
      if (haveRclone) {
        fns.rclone = (i) => {
          const d = path.join(base, `s3-rc-${i}`);
          const args = [
            "copy",
            "bench:bench/history",
            d,
            "-q", // rclone notes, per file, that our x-amz-meta-mtime is not its own mtime format
            "--transfers",
            "16",
            "--fast-list",
            "--exclude",
            "/.mirrorshade/**",
          ];
          const ms = run("rclone", args, { env: rcEnv }).ms;
          clean(d);
          return ms;
        };
      }
      const s = interleave(fns);
      yield {
        id: "history-s3-restore",
        scenario: `S3 (s3rver): restore of ${k(cfg.s3Files)} files (1–10 KB) into an empty dir`,
        metric: "wall time of `mirrorshade restore`",
        unit: "ms",
        value: s.ms,
        ref: haveRclone ? { name: RCLONE, stats: s.rclone } : undefined,
        target: "≤ 1.0 × rclone copy",
        met: haveRclone ? s.ms.median <= s.rclone.median : undefined,
      };
    } finally {
      await server.stop();
    }
  },
};
