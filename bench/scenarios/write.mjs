import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { RAW_SAVE_ONE, readRef, waitRef } from "../lib/git.mjs";
import { Proc, now, run, which } from "../lib/proc.mjs";
import { waitQuiet, waitTraced } from "../lib/procfs.mjs";
import { fmtStats, stats } from "../lib/stats.mjs";
import { gitwatchQuiet, hasInotify, rawFixture, startGitwatch } from "../references.mjs";
import { fixture, startWatchQuiet, stopWatch } from "../subject.mjs";
import { smallContent, treePaths } from "../workloads.mjs";

export default {
  name: "write",
  measures:
    "one write in the small tree → its commit visible at the bare remote, at the run's debounce and at a short one; where the time goes (and the initial save)",
  reference: "raw `git add <f> && commit && push`; the gitwatch loop (bench/gitwatch.sh)",
  target: "≤ 1.5 × raw git at both debounces; < gitwatch loop",

  async *run(ctx) {
    const { cfg } = ctx;
    const { small: SMALL } = ctx.label;
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
    const paths = treePaths(cfg.small);
    // The run's debounce keeps its row ids (comparable with older results); a short one is
    // where what happens around the save (event delivery, timers, processes) shows.
    const debounces = [...new Set([cfg.debounceMs, cfg.shortDebounceMs])];
    for (const [n, debounceMs] of debounces.entries()) {
      const tag = debounceMs === cfg.debounceMs ? "" : `-${debounceMs}ms`;
      yield* oneFileRows(ctx, { fx, raw, gw, paths, debounceMs, tag, salt: n * 1009 });
    }
    const { w } = await startWatchQuiet(ctx, fx, ["--log-level", "debug"], { debounceMs: cfg.shortDebounceMs });
    try {
      ctx.diagnostics.saveProfile = await profileSaves(ctx, fx, w, paths, cfg.shortDebounceMs);
      ctx.diagnostics.gitPerSave = await gitProcessesPerSave(ctx, fx, w, raw, paths[1], cfg.shortDebounceMs);
    } finally {
      await stopWatch(ctx, w);
    }
  },
};

/**
 * The one-file rows at one debounce: mirrorshade, raw git and the gitwatch loop take turns
 * (the order alternates) writing the same file of their own copy of the tree.
 */
async function* oneFileRows(ctx, { fx, raw, gw, paths, debounceMs, tag, salt }) {
  const { cfg } = ctx;
  const SMALL = ctx.label.small;
  const debounce = debounceMs >= 1000 ? `${debounceMs / 1000} s` : `${debounceMs} ms`;
  const { w } = await startWatchQuiet(ctx, fx, [], { debounceMs });
  const g = gw ? await startGitwatch(ctx, gw, { debounceMs }) : undefined;
  const ms = [];
  const rawMs = [];
  const gwMs = [];
  const saveMs = [];
  try {
    for (let i = 0; i < cfg.runs; i++) {
      const rel = paths[(i * 7919 + 13 + salt) % paths.length];
      const content = smallContent(rel, ` run ${i} ${Date.now()}`);
      const order = ["raw", "ms", "gw"];
      if (i % 2) order.reverse();
      for (const who of order) {
        if (who === "raw") {
          const from = readRef(raw.bare);
          const t0 = now();
          writeFileSync(path.join(raw.work, rel), content);
          run("sh", ["-c", RAW_SAVE_ONE, "sh", rel], { cwd: raw.work, env: ctx.genv });
          const t1 = now();
          if (readRef(raw.bare) === from) throw new Error("raw git push did not move the remote");
          rawMs.push(t1 - t0);
        } else if (who === "ms") {
          const nLog = w.lines.length;
          ms.push((await writeToRemote(fx, rel, content, debounceMs)).ms);
          const saved = await w.waitLog(/^saved \d+ change/, { from: nLog, timeout: 30_000 });
          saveMs.push(saved.json.ms);
          await waitQuiet(w);
        } else if (g) {
          gwMs.push((await writeToRemote(gw, rel, content, debounceMs)).ms);
          await gitwatchQuiet(g);
        }
      }
    }
  } finally {
    await stopWatch(ctx, w);
    if (g) await g.stop({ group: true });
  }
  const v = stats(ms);
  const rawS = stats(rawMs);
  // One measurement of mirrorshade, two references: the same value in two rows.
  const measured = {
    scenario: `write 1 file in a ${SMALL}-file tree → commit at the remote`,
    metric: `latency − debounce (${debounce})`,
    unit: "ms",
    value: v,
  };
  yield {
    id: `write-${SMALL}${tag}-raw`,
    ...measured,
    ref: { name: "raw `git add <f> && commit && push`", stats: rawS },
    target: "≤ 1.5 × raw git",
    met: v.median <= 1.5 * rawS.median,
    note: `the save itself (its log's ms): ${fmtStats(stats(saveMs), "ms")}`,
  };
  if (!g) {
    ctx.skip(
      `write-${SMALL}${tag}-gitwatch`,
      `write 1 file vs the gitwatch loop (${debounce})`,
      "inotifywait not installed",
    );
    return;
  }
  const gs = stats(gwMs);
  yield {
    id: `write-${SMALL}${tag}-gitwatch`,
    ...measured,
    ref: { name: `gitwatch-style loop (bench/gitwatch.sh, ${debounce})`, stats: gs },
    target: "< gitwatch loop",
    met: v.median < gs.median,
  };
}

/**
 * Where a one-file save's time goes, from a watch logging at debug level: the write → the
 * watcher's event (its "save due" line), the timer past the debounce, each step and git
 * process of the save ("save profile"), and the remote's ref moving. Medians over cfg.runs writes.
 */
async function profileSaves(ctx, fx, w, paths, debounceMs) {
  const samples = [];
  for (let i = 0; i < ctx.cfg.runs; i++) {
    const rel = paths[(i * 104_729 + 71) % paths.length];
    const nLog = w.lines.length;
    const { ms, wall } = await writeToRemote(fx, rel, smallContent(rel, ` profile ${i} ${Date.now()}`), debounceMs);
    const prof = (await w.waitLog(/^save profile$/, { from: nLog, timeout: 30_000 })).json;
    await w.waitLog(/^saved \d+ change/, { from: nLog, timeout: 30_000 });
    const due = w.logs(/^save due$/).findLast((l) => w.lines.indexOf(l) >= nLog)?.json;
    await waitQuiet(w);
    if (!due) continue;
    const sample = {
      "write → event delivered (watcher)": due.lastEventAt - wall,
      [`event → save starts, past the ${debounceMs} ms debounce (timer)`]: due.sinceLastEventMs - debounceMs,
      "save starts → remote ref moved": ms + debounceMs - (due.lastEventAt - wall) - due.sinceLastEventMs,
      "save, as it logs itself": prof.ms,
    };
    let inGit = 0;
    for (const s of prof.spans) {
      sample[s.name] = (sample[s.name] ?? 0) + s.ms;
      if (s.name.startsWith("git ")) inGit += s.ms;
    }
    sample["git processes, as the watch waits for them"] = inGit;
    sample["the save less its git processes (in-process work)"] = prof.ms - inGit;
    sample["git processes started"] = prof.spans.filter((s) => s.name.startsWith("git ")).length;
    samples.push(sample);
  }
  const keys = [...new Set(samples.flatMap((s) => Object.keys(s)))];
  return {
    debounceMs,
    runs: samples.length,
    rows: keys.map((k) => ({ what: k, stats: stats(samples.map((s) => s[k] ?? 0)) })),
  };
}

/**
 * Write `content` to `rel` in a watched work dir: `ms` until its bare remote moves, less the
 * debounce; `wall` when it was written (Date.now(), to compare with the watch's log).
 */
async function writeToRemote(fx, rel, content, debounceMs) {
  const from = readRef(fx.bare);
  const wall = Date.now();
  const t0 = now();
  writeFileSync(path.join(fx.work, rel), content);
  const { t } = await waitRef(fx.bare, { from, timeout: debounceMs + 120_000 });
  return { ms: t - t0 - debounceMs, wall };
}

/**
 * The git processes one save runs: strace -f -e execve attached to the watch during one
 * write, next to raw git's `add && commit && push` under the same strace.
 */
async function gitProcessesPerSave(ctx, fx, w, raw, rel, debounceMs) {
  if (!which("strace")) return { skipped: "strace not installed" };
  const file = path.join(ctx.tmp, "strace-save.txt");
  const s = new Proc("strace", "strace", ["-f", "-qq", "-e", "trace=execve", "-o", file, "-p", String(w.pid)]);
  await waitTraced(w.pid, s.pid);
  await writeToRemote(fx, rel, smallContent(rel, ` strace ${Date.now()}`), debounceMs);
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
