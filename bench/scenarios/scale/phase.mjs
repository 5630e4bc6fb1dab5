// One fleet's phase: its pods made and started, the writer's window, the drain, CPU ticks
// around both; everything it starts it stops.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { PULSE, RawLoop, driveWrites, pulseText, wall } from "../../lib/fleet.mjs";
import { NODE, Proc, now, sleep } from "../../lib/proc.mjs";
import { CLK_TCK, cpuTicks, rssMb } from "../../lib/procfs.mjs";
import { cli, stopWatch } from "../../subject.mjs";
import { makeTree } from "../../workloads.mjs";
import { summarize } from "./report.mjs";

/** Files in each pod's work dir besides the pulse file: a small notebook folder. */
const TREE = 100;
/** Watches started at once while a fleet comes up (start-up is not measured; the machine is shared). */
const START_BATCH = 5;

/** Work dirs of a fleet: each a small tree and the pulse file (write 0). */
function makePods(ctx, backend, who, n) {
  return Array.from({ length: n }, (_, i) => {
    const tag = `n${n}-${backend.name}-${who}-${i}`;
    const podBase = path.join(ctx.tmp, "scale", tag);
    const work = path.join(podBase, "work");
    makeTree(work, TREE);
    writeFileSync(path.join(work, PULSE), pulseText(i, 0));
    return { i, tag, base: podBase, work, state: path.join(podBase, "state") };
  });
}

/** Start the fleet's watches, a few at a time, each until its first save (the whole tree) is durable. */
async function startWatches(ctx, srv, backend, pods) {
  for (let i = 0; i < pods.length; i += START_BATCH) {
    await Promise.all(
      pods.slice(i, i + START_BATCH).map(async (pod) => {
        const args = ["watch", pod.work, ...backend.watchArgs(srv, pod), "--log-format", "json"];
        pod.agent = new Proc(`watch:${pod.tag}`, NODE, cli([...args, "--debounce", `${ctx.cfg.debounceMs}ms`]), {
          env: backend.watchEnv(srv, pod),
        });
        await pod.agent.waitLog(/^saved \d+ change/, { timeout: 180_000 });
      }),
    );
  }
}

const ticksOf = (pid) => {
  const t = cpuTicks(pid);
  return t.self + t.children;
};
const tickMs = (ticks) => (ticks * 1000) / CLK_TCK;

/**
 * One fleet of `n` pods (`who`: "ms" = mirrorshade watches, "raw" = raw loops) saving to
 * `backend` for the configured window, then until every pod's last write is at the server
 * (or a minute passed). Everything it starts it stops, on failure too.
 */
export async function phase(ctx, srv, backend, who, n) {
  const pods = makePods(ctx, backend, who, n);
  let observer;
  try {
    for (const pod of pods) backend.prepare(ctx, srv, pod, who);
    if (who === "ms") {
      await startWatches(ctx, srv, backend, pods);
      await sleep(ctx.cfg.debounceMs + 500); // nothing pending from the start-up
    } else {
      for (const pod of pods) {
        pod.agent = new RawLoop(`raw:${pod.tag}`, backend.rawCmd(srv, pod), { cwd: pod.work, env: pod.env });
      }
    }
    observer = backend.observe(ctx, srv, pods);
    const m = await measure(ctx, srv, backend, who, pods, observer);
    return await summarize(ctx, srv, backend, who, pods, observer, m);
  } finally {
    observer?.close();
    await Promise.all(pods.map((p) => p.agent && (who === "ms" ? stopWatch(ctx, p.agent) : p.agent.stop())));
  }
}

/**
 * The window: the writer drives every pod, then the drain waits for each pod's last write
 * at the server. CPU ticks of the server and of each pod's process around both.
 */
async function measure(ctx, srv, backend, who, pods, observer) {
  const { cfg } = ctx;
  const lag = monitorEventLoopDelay({ resolution: 10 });
  const agentTicks0 = pods.map((p) => ticksOf(p.agent.pid));
  const server0 = backend.serverTicks(srv);
  const n0 = now();
  const t0 = wall();
  lag.enable();
  const writes = await driveWrites(
    pods.map((p) => p.work),
    {
      intervalMs: cfg.scaleIntervalMs,
      windowMs: cfg.scaleWindowMs,
      onWrite: (i, seq) => who === "raw" && pods[i].agent.write(seq),
    },
  );
  const lastWrite = writes.map((w) => w.at(-1)?.seq ?? 0);
  let seqs = pods.map(() => 0);
  const drainEnd = now() + cfg.debounceMs + 60_000;
  while (now() < drainEnd) {
    seqs = await observer.lastSeqs(seqs);
    if (seqs.every((s, i) => s >= lastWrite[i])) break;
    await sleep(100);
  }
  lag.disable();
  const t1 = wall();
  const gone = pods.find((p) => p.agent.exited);
  if (gone) throw new Error(`${gone.agent.name} exited during the window\n${gone.agent.tail()}`);
  const server1 = backend.serverTicks(srv);
  const undrained = seqs.filter((s, i) => s < lastWrite[i]).length;
  if (undrained) ctx.log(`  note: ${undrained} pod(s) had not saved their last write a minute after the window`);
  return {
    writes,
    n0,
    t0,
    t1,
    agentMs: pods.map((p, i) => tickMs(ticksOf(p.agent.pid) - agentTicks0[i])),
    serverMs: tickMs(server1.server - server0.server),
    frontMs: tickMs((server1.front ?? 0) - (server0.front ?? 0)),
    rss: who === "ms" ? pods.map((p) => rssMb(p.agent.pid)) : [],
    lagP99Ms: lag.percentile(99) / 1e6,
  };
}
