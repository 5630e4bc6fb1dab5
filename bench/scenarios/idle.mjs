import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { Proc, now, sleep, which } from "../lib/proc.mjs";
import { CLK_TCK, cpuTicks, ctxtSwitches, groupMembers, rssByKind, rssMb } from "../lib/procfs.mjs";
import { fmtStats, stats } from "../lib/stats.mjs";
import { hasInotify, idleNode, rawFixture, startGitwatch } from "../references.mjs";
import { fixture, startWatchQuiet, stopWatch } from "../subject.mjs";

/** Wake-ups a minute an idle watch may have: the 10 s work-dir check, ×2. */
const WAKEUP_BUDGET = 12;
/** Idle RSS (MiB, as VmRSS) of one watch per notebook pod: the cluster-scale target. */
const RSS_BUDGET = 60;

export default {
  name: "idle",
  measures: "a watch idle on the small tree: RSS, CPU and wake-ups (and its syscalls, with strace)",
  reference: "an idle `node`; the gitwatch loop (bash + inotifywait) in the notes",
  target: `≤ ${RSS_BUDGET} MB, ≤ 0.2 % CPU, ≤ ${WAKEUP_BUDGET} wake-ups/min`,

  async *run(ctx) {
    const { cfg } = ctx;
    const SMALL = ctx.label.small;
    const fx = fixture(ctx, SMALL, cfg.small);
    const gw = hasInotify ? rawFixture(ctx, `gitwatch-idle-${SMALL}`, cfg.small) : undefined;
    const out = { ms: [], node: [], gw: [] };
    for (let i = 0; i < cfg.runs; i++) {
      const { w } = await startWatchQuiet(ctx, fx);
      const n = idleNode();
      const g = gw ? await startGitwatch(ctx, gw) : undefined;
      try {
        await sleep(500);
        const subjects = [
          ["ms", [w.pid]],
          ["node", [n.pid]],
          ...(g ? [["gw", groupMembers(g.pid).map((m) => m.pid)]] : []),
        ];
        const res = await idleWindow(subjects, cfg.idleS * 1000);
        for (const [key] of subjects) out[key].push(res[key]);
        if (i === 0) ctx.diagnostics.idleMemory = { watch: rssByKind(w.pid), node: rssByKind(n.pid) };
        if (i === 0 && which("strace"))
          ctx.diagnostics.idleStrace = await straceWindow(ctx, w.pid, cfg.smoke ? 2 : Math.min(cfg.idleS, 30));
      } finally {
        await stopWatch(ctx, w);
        await n.stop({ group: true });
        if (g) await g.stop({ group: true });
      }
    }
    const pick = (key, f) => stats(out[key].map(f));
    const ref = (f, unit) => ({ name: "idle `node` process", stats: pick("node", f), unit });
    const gwNote = (f, unit) =>
      gw ? `gitwatch loop (bash + inotifywait): ${fmtStats(pick("gw", f), unit)}` : undefined;
    const scenario = `idle ${cfg.idleS} s on a ${SMALL}-file tree`;
    const rss = pick("ms", (r) => r.rss);
    yield {
      id: `idle-rss-${SMALL}`,
      scenario,
      metric: "RSS (max VmRSS sampled each second)",
      unit: "MB",
      value: rss,
      ref: ref((r) => r.rss, "MB"),
      target: `≤ ${RSS_BUDGET} MB`,
      met: rss.median <= RSS_BUDGET,
      note: gwNote((r) => r.rss, "MB"),
    };
    const cpu = pick("ms", (r) => r.cpu);
    yield {
      id: `idle-cpu-${SMALL}`,
      scenario,
      metric: `CPU (utime+stime incl. reaped children, /proc, ${CLK_TCK} ticks/s)`,
      unit: "%",
      value: cpu,
      ref: ref((r) => r.cpu, "%"),
      ratio: null,
      target: "≤ 0.2 %",
      met: cpu.median <= 0.2,
      note: gwNote((r) => r.cpu, "%"),
    };
    const wake = pick("ms", (r) => r.wakeups);
    yield {
      id: `idle-wakeups-${SMALL}`,
      scenario,
      metric: "wake-ups: voluntary context switches, all threads",
      unit: "/min",
      value: wake,
      ref: ref((r) => r.wakeups, "/min"),
      ratio: null,
      target: `≤ ${WAKEUP_BUDGET}/min (the 10 s work-dir check, ×2)`,
      met: wake.median <= WAKEUP_BUDGET,
      note: [
        `main thread: ${fmtStats(
          pick("ms", (r) => r.mainWakeups),
          "/min",
        )}`,
        gwNote((r) => r.wakeups, "/min"),
      ]
        .filter(Boolean)
        .join("; "),
    };
  },
};

/** Sample CPU, RSS and context switches of each subject (a list of pids) over `ms`. */
async function idleWindow(subjects, ms) {
  const sample = (pids) => {
    let ticks = 0;
    let vol = 0;
    let main = 0;
    for (const pid of pids) {
      const t = cpuTicks(pid);
      ticks += t.self + t.children;
      const c = ctxtSwitches(pid);
      vol += c.voluntary;
      main += c.mainVoluntary;
    }
    return { ticks, vol, main };
  };
  const start = Object.fromEntries(subjects.map(([key, pids]) => [key, sample(pids)]));
  const rss = Object.fromEntries(subjects.map(([key]) => [key, 0]));
  const t0 = now();
  while (now() - t0 < ms) {
    for (const [key, pids] of subjects)
      rss[key] = Math.max(
        rss[key],
        pids.reduce((n, p) => n + rssMb(p), 0),
      );
    await sleep(Math.min(1000, Math.max(0, ms - (now() - t0))));
  }
  const secs = (now() - t0) / 1000;
  const out = {};
  for (const [key, pids] of subjects) {
    const end = sample(pids);
    out[key] = {
      rss: rss[key],
      cpu: ((end.ticks - start[key].ticks) / CLK_TCK / secs) * 100,
      wakeups: ((end.vol - start[key].vol) / secs) * 60,
      mainWakeups: ((end.main - start[key].main) / secs) * 60,
    };
  }
  return out;
}

/** strace -c -f attached to `pid` for `secs`: the syscalls an idle watch makes. */
async function straceWindow(ctx, pid, secs) {
  const file = path.join(ctx.tmp, `strace-idle-${pid}.txt`);
  const s = new Proc("strace", "strace", ["-c", "-f", "-o", file, "-p", String(pid)]);
  await sleep(secs * 1000);
  await s.stop({ signal: "SIGINT", timeout: 10_000 });
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const calls = {};
  for (const line of text.split("\n")) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
    if (m && m[2] !== "total") calls[m[2]] = Number(m[1]);
  }
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  return { seconds: secs, perMinute: Math.round((total / secs) * 60), calls, raw: text.trim() };
}
