import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { gitLines, rawSaveAll, readRef } from "../lib/git.mjs";
import { now, run, sleep } from "../lib/proc.mjs";
import { waitQuiet } from "../lib/procfs.mjs";
import { stats } from "../lib/stats.mjs";
import { gitwatchQuiet, hasInotify, rawFixture, startGitwatch } from "../references.mjs";
import { msEnv, msFixture, msPush, startWatchQuiet, stopWatch } from "../subject.mjs";
import { notebook, rewriteInPlace } from "../workloads.mjs";

const NB = "analysis.ipynb";
/** What a save may take beyond --max-delay before the gap counts as missed. */
const SLACK_MS = 1000;

export default {
  name: "notebook",
  measures: "a notebook rewritten in place every 200 ms: saves keep coming (max-delay), never invalid JSON",
  reference: "the gitwatch loop on the same rewrites",
  target: "longest gap ≤ max-delay + 1 s; 0 invalid commits",

  async *run(ctx) {
    const { cfg, genv } = ctx;
    const fx = msFixture(ctx, "notebook", 0, { tree: false });
    const gwFx = hasInotify ? rawFixture(ctx, "gitwatch-notebook", 0, { tree: false }) : undefined;
    const seq = { n: 0 };
    for (const f of [fx, gwFx].filter(Boolean)) writeFileSync(path.join(f.work, NB), notebook(0));
    msPush(fx.work, fx.bare, msEnv(fx.state));
    if (gwFx) rawSaveAll(genv, gwFx.work, "notebook");
    const res = { ms: [], gw: [] };
    const watchArgs = ["--max-delay", `${cfg.maxDelayMs}ms`];
    let { w } = await startWatchQuiet(ctx, fx, watchArgs);
    const g = gwFx ? await startGitwatch(ctx, gwFx) : undefined;
    try {
      for (let i = 0; i < cfg.runs; i++) {
        const r = await rewriteRun(ctx, fx, w, seq);
        res.ms.push(r);
        if (r.stuck) {
          // As a pod restart would: a new watch (it removes a stale index.lock at start).
          await stopWatch(ctx, w);
          ({ w } = await startWatchQuiet(ctx, fx, watchArgs));
        }
        if (g) res.gw.push(await rewriteRun(ctx, gwFx, g, seq));
      }
    } finally {
      await stopWatch(ctx, w);
      if (g) await g.stop({ group: true });
    }
    const gap = stats(res.ms.map((r) => r.maxGap));
    const gwRef = (f, unit) =>
      g ? { name: `gitwatch loop (${ctx.label.debounce})`, stats: stats(res.gw.map(f)), unit } : undefined;
    const D = `${cfg.continuousS} s`;
    yield {
      id: "notebook-saves",
      scenario: `notebook (~200 KB) rewritten in place every 200 ms for ${D}`,
      metric: "saves that landed while it was being rewritten",
      unit: "",
      value: stats(res.ms.map((r) => r.savesDuring)),
      ref: gwRef((r) => r.savesDuring, ""),
      ratio: null,
      target: "—",
    };
    yield {
      id: "notebook-gap",
      scenario: `notebook rewritten every 200 ms for ${D}`,
      metric: `longest wait for a save (start → 1st save, between saves), --max-delay ${cfg.maxDelayMs / 1000} s`,
      unit: "ms",
      value: gap,
      ref: gwRef((r) => r.maxGap, "ms"),
      ratio: null,
      target: `≤ max-delay + ${SLACK_MS / 1000} s (a save's own time)`,
      met: gap.max <= cfg.maxDelayMs + SLACK_MS,
      note: stuckNote(res.ms),
    };
    const bad = stats(res.ms.map((r) => r.invalid));
    yield {
      id: "notebook-invalid",
      scenario: `notebook rewritten every 200 ms for ${D}`,
      metric: "commits whose notebook is not valid JSON (every commit checked)",
      unit: "",
      value: bad,
      ref: gwRef((r) => r.invalid, ""),
      ratio: null,
      target: "0",
      met: bad.max === 0,
      note: `commits checked: ${res.ms.map((r) => r.checked).join(", ")}${g ? `; gitwatch: ${res.gw.map((r) => r.checked).join(", ")}` : ""}`,
    };
  },
};

/** What the runs whose saves stopped logged. */
function stuckNote(results) {
  const stuck = results.map((r, i) => ({ i, ...r.stuck })).filter((r) => r.error);
  if (!stuck.length) return undefined;
  return (
    `saves STOPPED in ${stuck.length} of ${results.length} run(s) (the watch was restarted for the next run): ` +
    stuck
      .map(
        (r) =>
          `run ${r.i + 1}: ${r.failedSaves} failed save(s), last "${r.error.slice(0, 200)}"` +
          (r.staleIndexLock ? ", a stale index.lock in the state dir's git dir" : ""),
      )
      .join("; ")
  );
}

/** One run of in-place rewrites against a watcher (mirrorshade or gitwatch) on `fx`. */
async function rewriteRun(ctx, fx, proc, seq) {
  const { cfg, genv } = ctx;
  const file = path.join(fx.work, NB);
  const from = readRef(fx.bare);
  const seen = [];
  let polling = true;
  const poller = (async () => {
    let last = from;
    while (polling) {
      const sha = readRef(fx.bare);
      if (sha !== last) {
        seen.push({ sha, t: now() });
        last = sha;
      }
      await sleep(5);
    }
  })();
  const tStart = now();
  const tEnd = tStart + cfg.continuousS * 1000;
  let text = "";
  for (let tick = 0; ; tick++) {
    const due = tStart + tick * 200;
    if (due >= tEnd) break;
    if (now() < due) await sleep(due - now());
    seq.n++;
    text = notebook(seq.n);
    await rewriteInPlace(file, text);
  }
  const tStop = now();
  // The save after the rewrites stop: the remote holds the last version.
  const blob = createHash("sha1")
    .update(`blob ${Buffer.byteLength(text)}\0`)
    .update(text)
    .digest("hex");
  // A watcher whose saves stopped (they fail over and over) is a result, not a harness failure.
  const deadline = now() + cfg.debounceMs + cfg.maxDelayMs + 30_000;
  let stuck;
  for (;;) {
    const sha = readRef(fx.bare);
    if (sha !== from && gitLines(genv, ["--git-dir", fx.bare, "rev-parse", `${sha}:${NB}`])[0] === blob) break;
    if (now() > deadline) {
      const failed = proc.logs(/^save failed/);
      const lock = fx.state && existsSync(path.join(fx.state, "git", "index.lock"));
      stuck = {
        failedSaves: failed.length,
        error: failed.at(-1)?.json.msg ?? "no save and no error logged",
        staleIndexLock: Boolean(lock),
      };
      ctx.log(`  ${proc.name}: the last version never reached the remote: ${stuck.error}`);
      break;
    }
    await sleep(20);
  }
  polling = false;
  await poller;
  if (stuck)
    seen.push({ sha: undefined, t: now() }); // the wait so far counts as a gap
  else if (proc.name.startsWith("watch")) await waitQuiet(proc);
  else await gitwatchQuiet(proc);
  const final = readRef(fx.bare);
  const shas = gitLines(genv, ["--git-dir", fx.bare, "rev-list", `${from}..${final}`]);
  let invalid = 0;
  for (const c of shas) {
    const r = run("git", ["--git-dir", fx.bare, "show", `${c}:${NB}`], { env: genv, allowFail: true });
    try {
      if (r.code !== 0) throw new Error("missing");
      JSON.parse(r.stdout);
    } catch {
      invalid++;
    }
  }
  let prev = tStart;
  let maxGap = 0;
  for (const s of seen) {
    maxGap = Math.max(maxGap, s.t - prev);
    prev = s.t;
  }
  return {
    stuck,
    savesDuring: seen.filter((s) => s.sha && s.t <= tStop).length,
    maxGap,
    invalid,
    checked: shas.length,
    rewrites: seq.n,
  };
}
