// What mirrorshade is measured against, started the same way in every scenario: raw git on
// a copy of the workload, the gitwatch-style loop (bench/gitwatch.sh) and an idle `node`.
import path from "node:path";
import { rawRepo } from "./lib/git.mjs";
import { NODE, Proc, now, sleep, which } from "./lib/proc.mjs";
import { groupMembers, rssMb } from "./lib/procfs.mjs";
import { stats } from "./lib/stats.mjs";
import { newWork } from "./workloads.mjs";

export const hasInotify = which("inotifywait");
const GITWATCH = path.join(import.meta.dirname, "gitwatch.sh");

/** A copy of the same workload with its own .git and bare remote (raw git, gitwatch). */
export function rawFixture(ctx, name, count, opts) {
  const fx = { name, ...newWork(path.join(ctx.tmp, name), count, opts) };
  fx.initialMs = rawRepo(ctx.genv, fx.work, fx.bare);
  return fx;
}

/** The gitwatch loop on `fx` with the run's debounce (or `debounceMs`), once inotifywait watches. */
export async function startGitwatch(ctx, fx, { debounceMs = ctx.cfg.debounceMs } = {}) {
  const p = new Proc(`gitwatch:${fx.name}`, "bash", [GITWATCH, fx.work, String(debounceMs / 1000)], {
    env: ctx.genv,
  });
  await p.waitLine((l) => /Watches established/.test(l.text), { timeout: 120_000 });
  return p;
}

/** Wait until nothing of the gitwatch loop but bash and inotifywait runs (its save ended). */
export async function gitwatchQuiet(p, timeout = 120_000) {
  const end = now() + timeout;
  while (now() < end) {
    if (!groupMembers(p.pid).some((m) => !/^(bash|inotifywait)$/.test(m.comm))) return;
    await sleep(50);
  }
  throw new Error("gitwatch did not go quiet");
}

/** A `node` that does nothing: the runtime's own floor of memory and wake-ups. */
export function idleNode() {
  return new Proc("node-floor", NODE, ["-e", "setInterval(() => {}, 1 << 30)"]);
}

/** RSS of an idle `node`, measured once per run (`cfg.runs` samples). */
export async function nodeFloorRss(ctx) {
  if (!ctx.shared.nodeFloor) {
    const samples = [];
    for (let i = 0; i < ctx.cfg.runs; i++) {
      const n = idleNode();
      await sleep(1000);
      samples.push(rssMb(n.pid));
      await n.stop({ group: true });
    }
    ctx.shared.nodeFloor = stats(samples);
  }
  return ctx.shared.nodeFloor;
}
