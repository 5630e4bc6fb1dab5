import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { RAW_SAVE_ONE, readRef, waitRef } from "../lib/git.mjs";
import { Proc, now, run, sleep, which } from "../lib/proc.mjs";
import { waitQuiet } from "../lib/procfs.mjs";
import { fmtStats, stats } from "../lib/stats.mjs";
import { gitwatchQuiet, hasInotify, rawFixture, startGitwatch } from "../references.mjs";
import { fixture, startWatchQuiet, stopWatch } from "../subject.mjs";
import { smallContent, treePaths } from "../workloads.mjs";

export default {
  name: "write",
  measures: "one write in the small tree → its commit visible at the bare remote (and the initial save)",
  reference: "raw `git add <f> && commit && push`; the gitwatch loop (bench/gitwatch.sh)",
  target: "≤ 1.5 × raw git; < gitwatch loop",

  async *run(ctx) {
    const { cfg, genv } = ctx;
    const { small: SMALL, debounce: DEBOUNCE } = ctx.label;
    const fx = fixture(ctx, SMALL, cfg.small);
    const raw = rawFixture(ctx, `raw-${SMALL}`, cfg.small);
    yield {
      id: `initial-${SMALL}`,
      scenario: `initial save of ${SMALL} files (set-up, 1 sample)`,
      metric: "`mirrorshade push` to an empty bare remote",
      unit: "ms",
      value: stats([fx.initialMs]),
      ref: { name: "raw `git add -A && commit && push`", stats: stats([raw.initialMs]) },
      target: "— (informative)",
    };
    const gw = hasInotify ? rawFixture(ctx, `gitwatch-${SMALL}`, cfg.small) : undefined;
    const { w } = await startWatchQuiet(ctx, fx);
    const g = gw ? await startGitwatch(ctx, gw) : undefined;
    const paths = treePaths(cfg.small);
    const ms = [];
    const rawMs = [];
    const gwMs = [];
    const saveMs = [];
    try {
      for (let i = 0; i < cfg.runs; i++) {
        const rel = paths[(i * 7919 + 13) % paths.length];
        const content = smallContent(rel, ` run ${i} ${Date.now()}`);
        const order = ["raw", "ms", "gw"];
        if (i % 2) order.reverse();
        for (const who of order) {
          if (who === "raw") {
            const from = readRef(raw.bare);
            const t0 = now();
            writeFileSync(path.join(raw.work, rel), content);
            run("sh", ["-c", RAW_SAVE_ONE, "sh", rel], { cwd: raw.work, env: genv });
            const t1 = now();
            if (readRef(raw.bare) === from) throw new Error("raw git push did not move the remote");
            rawMs.push(t1 - t0);
          } else if (who === "ms") {
            const nLog = w.lines.length;
            ms.push(await writeToRemote(ctx, fx, rel, content));
            const saved = await w.waitLog(/^saved \d+ change/, { from: nLog, timeout: 30_000 });
            saveMs.push(saved.json.ms);
            await waitQuiet(w);
          } else if (g) {
            gwMs.push(await writeToRemote(ctx, gw, rel, content));
            await gitwatchQuiet(g);
          }
        }
      }
      ctx.diagnostics.gitPerSave = await gitProcessesPerSave(ctx, fx, w, raw, paths[1]);
    } finally {
      await stopWatch(ctx, w);
      if (g) await g.stop({ group: true });
    }
    const v = stats(ms);
    const rawS = stats(rawMs);
    // One measurement of mirrorshade, two references: the same value in two rows.
    const measured = {
      scenario: `write 1 file in a ${SMALL}-file tree → commit at the remote`,
      metric: `latency − debounce (${DEBOUNCE})`,
      unit: "ms",
      value: v,
    };
    yield {
      id: `write-${SMALL}-raw`,
      ...measured,
      ref: { name: "raw `git add <f> && commit && push`", stats: rawS },
      target: "≤ 1.5 × raw git",
      met: v.median <= 1.5 * rawS.median,
      note: `the save itself (its log's ms): ${fmtStats(stats(saveMs), "ms")}`,
    };
    if (!g) {
      ctx.skip(`write-${SMALL}-gitwatch`, "write 1 file vs the gitwatch loop", "inotifywait not installed");
      return;
    }
    const gs = stats(gwMs);
    yield {
      id: `write-${SMALL}-gitwatch`,
      ...measured,
      ref: { name: `gitwatch-style loop (bench/gitwatch.sh, ${DEBOUNCE})`, stats: gs },
      target: "< gitwatch loop",
      met: v.median < gs.median,
    };
  },
};

/** Write `content` to `rel` in a watched work dir; ms until its bare remote moves, less the debounce. */
async function writeToRemote(ctx, fx, rel, content) {
  const from = readRef(fx.bare);
  const t0 = now();
  writeFileSync(path.join(fx.work, rel), content);
  const { t } = await waitRef(fx.bare, { from, timeout: ctx.cfg.debounceMs + 120_000 });
  return t - t0 - ctx.cfg.debounceMs;
}

/**
 * The git processes one save runs: strace -f -e execve attached to the watch during one
 * write, next to raw git's `add && commit && push` under the same strace.
 */
async function gitProcessesPerSave(ctx, fx, w, raw, rel) {
  if (!which("strace")) return { skipped: "strace not installed" };
  const file = path.join(ctx.tmp, "strace-save.txt");
  const s = new Proc("strace", "strace", ["-f", "-qq", "-e", "trace=execve", "-o", file, "-p", String(w.pid)]);
  await sleep(500);
  await writeToRemote(ctx, fx, rel, smallContent(rel, ` strace ${Date.now()}`));
  await waitQuiet(w);
  await s.stop({ signal: "SIGINT", timeout: 10_000 });
  const ms = execSummary(readFileSync(file, "utf8"));
  const rawFile = path.join(ctx.tmp, "strace-raw.txt");
  writeFileSync(path.join(raw.work, rel), smallContent(rel, ` strace ${Date.now()}`));
  const strace = ["-f", "-qq", "-e", "trace=execve", "-o", rawFile];
  run("strace", [...strace, "sh", "-c", RAW_SAVE_ONE, "sh", rel], { cwd: raw.work, env: ctx.genv });
  return { mirrorshade: ms, raw: execSummary(readFileSync(rawFile, "utf8")) };
}

/** execve lines of an strace -f log: git commands the subject ran, and every program started. */
function execSummary(text) {
  const top = [];
  let all = 0;
  for (const line of text.split("\n")) {
    const m = /execve\("([^"]+)", \[(.*)\], .*\) = 0$/.exec(line);
    if (!m) continue;
    all++;
    const args = [...m[2].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]);
    if (path.basename(m[1]) === "git" && args[0] === "git") top.push(args.slice(1, 3).join(" "));
  }
  return { gitCommands: top.length, processes: all, commands: top };
}
