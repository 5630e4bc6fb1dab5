// The fleet: N real `mirrorshade watch` processes, each with its own work dir, state dir
// and remote, saving into ONE git smart-HTTP server (the tests' `git http-backend` behind
// Basic auth, with a token as pods get it from a Secret) and then into ONE s3rver. A writer
// changes one small file per pod every --scale-interval, pods spread evenly over it, for
// --scale-window; then the fleet drains (every pod's last write at the server).
//
// One repo per pod (one prefix per pod on S3), not one branch per pod in a shared repo:
// it is how a fleet is laid out for real (a user's notebooks are theirs; a forge token is
// scoped to a repo), mirrorshade restores the remote's default branch, and a shared repo
// would make every pod's push contend on one repo's packed-refs, object dir and auto-gc.
//
// Everything is counted at the server: a save is a commit on a pod's branch (its tip seen
// through inotify on refs/heads) or a PUT of its file answered 200 (s3rver's request log,
// the ETag naming the write). Server CPU is /proc ticks of the http-backend processes (the
// reaped children of the server process) or of s3rver; client CPU is the ticks of each
// watch (with the git it ran). The reference is the same writes saved by N raw loops —
// `git add && commit && push` with the same token header, `curl --aws-sigv4 -T` — in
// the same run, the order of the two alternating per fleet size.
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import {
  PULSE,
  RawLoop,
  driveWrites,
  gitSaves,
  md5,
  pulseText,
  quantile,
  tipSeq,
  wall,
  watchRefs,
  writeLatencies,
} from "../lib/fleet.mjs";
import { RAW_SAVE_ONE, git, initBare, readRef } from "../lib/git.mjs";
import { gitTokenEnv, startGitHttp } from "../lib/githttp.mjs";
import { NODE, Proc, now, sleep } from "../lib/proc.mjs";
import { CLK_TCK, cpuTicks, rssMb } from "../lib/procfs.mjs";
import { msS3Env, startS3rver } from "../lib/s3rver.mjs";
import { stats } from "../lib/stats.mjs";
import { cli, msEnv, stopWatch } from "../subject.mjs";
import { makeTree } from "../workloads.mjs";

/** Files in each pod's work dir besides the pulse file: a small notebook folder. */
const TREE = 100;
/** Watches started at once while a fleet comes up (start-up is not measured; the machine is shared). */
const START_BATCH = 5;

export default {
  name: "scale",
  measures:
    "N `watch` processes, one repo (or prefix) each, saving a small change every few seconds into ONE git http-backend (token) and ONE s3rver: saves/s, p50/p99 latency, server CPU per save, failures, client CPU",
  reference:
    "N raw loops making the same saves: `git add && commit && push` over the same server; `curl --aws-sigv4 -T`",
  target: "keeps up with the writes (≥ 90 % of the offered saves/s), no failed save; the rest reported",

  async *run(ctx) {
    const { cfg, tmp } = ctx;
    const base = path.join(tmp, "scale");
    const token = randomBytes(20).toString("hex");
    const tokenFile = path.join(base, "token");
    mkdirSync(path.join(base, "git"), { recursive: true });
    writeFileSync(tokenFile, token + "\n", { mode: 0o600 });
    const srv = { base, token, tokenFile, gitRoot: path.join(base, "git") };
    srv.git = await startGitHttp(srv.gitRoot, token);
    try {
      srv.s3 = await startS3rver(path.join(base, "s3rver"), { log: true });
      for (const [round, n] of cfg.scalePods.entries()) {
        for (const backend of [GIT, S3]) {
          const res = {};
          for (const who of round % 2 ? ["raw", "ms"] : ["ms", "raw"]) {
            ctx.log(`  scale: ${n} pod(s), ${backend.name}, ${who === "ms" ? "mirrorshade watch" : "raw loops"}`);
            res[who] = await phase(ctx, srv, backend, who, n);
          }
          yield* rows(ctx, backend, n, res);
        }
      }
    } finally {
      await srv.s3?.stop();
      await srv.git.stop();
    }
  },
};

/** One git repo per pod on the one http-backend; mirrorshade and plain git both send the token as a header. */
const GIT = {
  name: "git",
  server: "one git http-backend",
  prepare(ctx, srv, pod, who) {
    pod.repo = `${pod.tag}.git`;
    pod.bare = initBare(ctx.genv, path.join(srv.gitRoot, pod.repo));
    pod.url = srv.git.url(pod.repo);
    if (who === "raw") {
      pod.env = gitTokenEnv(ctx.genv, srv.git.origin, srv.token);
      git(pod.env, ["init", "-q", "-b", "main"], { cwd: pod.work });
      git(pod.env, ["remote", "add", "origin", pod.url], { cwd: pod.work });
      git(pod.env, ["add", "-A"], { cwd: pod.work });
      git(pod.env, ["commit", "-q", "-m", "initial"], { cwd: pod.work });
      git(pod.env, ["push", "-q", "origin", "HEAD:main"], { cwd: pod.work });
    }
  },
  watchArgs: (srv, pod) => ["--remote", pod.url],
  watchEnv: (srv, pod) => msEnv(pod.state, { MIRRORSHADE_TOKEN_FILE: srv.tokenFile }),
  rawCmd: () => ["sh", "-c", RAW_SAVE_ONE, "sh", PULSE],
  /** http-backend and the git it runs (reaped children); the node HTTP front apart. */
  serverTicks(srv) {
    const t = cpuTicks(srv.git.pid);
    return { server: t.children, front: t.self };
  },
  requests: (srv, t0, t1) => srv.git.requests(t0, t1).map((r) => `${r.method} ${r.kind} ${r.status}`),
  observe(ctx, srv, pods) {
    for (const pod of pods) pod.from = readRef(pod.bare);
    const refs = watchRefs(pods.map((p) => p.bare));
    let seen = pods.map((p) => p.from);
    return {
      /** The seq at the tip of each pod whose ref moved since the last call (else its last answer). */
      async lastSeqs(prev) {
        const now = pods.map((p) => readRef(p.bare));
        const out = await Promise.all(
          pods.map((p, i) => (now[i] === seen[i] ? prev[i] : tipSeq(ctx.genv, p.bare).then((s) => s ?? prev[i]))),
        );
        seen = now;
        return out;
      },
      saves: (i) => gitSaves(ctx.genv, pods[i].bare, pods[i].from, refs.tips[i]),
      close: () => refs.close(),
    };
  },
};

/** One prefix per pod in one bucket of the one s3rver; the raw loop PUTs the file with curl. */
const S3 = {
  name: "s3",
  server: "one s3rver",
  prepare(ctx, srv, pod, who) {
    pod.prefix = pod.tag;
    pod.key = `/bench/${pod.prefix}/${PULSE}`;
    if (who === "raw") {
      // curl reads the (s3rver's fixed, public) keys from a file, not argv.
      pod.curlCfg = path.join(pod.base, "curl.cfg");
      writeFileSync(pod.curlCfg, 'user = "S3RVER:S3RVER"\n', { mode: 0o600 });
      pod.env = ctx.genv;
    }
  },
  watchArgs: (srv, pod) => ["--remote", `s3://bench/${pod.prefix}`],
  watchEnv: (srv, pod) => ({ ...msS3Env(srv.s3.endpoint), MIRRORSHADE_STATE_DIR: pod.state }),
  // curl 7.88 signs SigV4 without x-amz-content-sha256, which S3 requires; no 100-continue round trip.
  rawCmd: (srv, pod) => [
    "curl",
    "-sS",
    "-f",
    "-o",
    "/dev/null",
    "-K",
    pod.curlCfg,
    "--aws-sigv4",
    "aws:amz:us-east-1:s3",
    "-H",
    "x-amz-content-sha256: UNSIGNED-PAYLOAD",
    "-H",
    "Expect:",
    "-T",
    PULSE,
    `${srv.s3.endpoint}${pod.key}`,
  ],
  serverTicks(srv) {
    const t = cpuTicks(srv.s3.pid);
    return { server: t.self + t.children };
  },
  requests: (srv, t0, t1) =>
    srv.s3.requests(t0, t1).map((r) => {
      const u = new URL(r.url, "http://x");
      const what = u.search.includes("list-type") ? "list" : u.search.includes("delete") ? "batch delete" : "object";
      return `${r.method} ${what} ${r.status}`;
    }),
  observe(ctx, srv, pods) {
    // A PUT of a pod's pulse key answered 200 is a save; its ETag (the MD5) says which write.
    const most = Math.ceil(ctx.cfg.scaleWindowMs / ctx.cfg.scaleIntervalMs) + 1;
    const pod = new Map(pods.map((p, i) => [p.key, i]));
    const bySum = pods.map(
      (p, i) => new Map(Array.from({ length: most + 1 }, (_, seq) => [md5(pulseText(i, seq)), seq])),
    );
    const t0 = wall();
    /** Each pod's saves since the fleet's window began: [[{ seq, t }]]. */
    const saves = () => {
      const out = pods.map(() => []);
      for (const r of srv.s3.requests(t0)) {
        if (r.method !== "PUT" || r.status !== 200) continue;
        const i = pod.get(decodeURIComponent(new URL(r.url, "http://x").pathname));
        if (i !== undefined) out[i].push({ seq: bySum[i].get(String(r.etag).replace(/"/g, "")) ?? 0, t: r.t });
      }
      return out;
    };
    return {
      async lastSeqs() {
        return saves().map((s) => Math.max(0, ...s.map((x) => x.seq)));
      },
      saves: (i) => saves()[i],
      close() {},
    };
  },
};

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
async function phase(ctx, srv, backend, who, n) {
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

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** A fleet's figures from what the window recorded and what the server holds. */
async function summarize(ctx, srv, backend, who, pods, observer, m) {
  const { cfg } = ctx;
  const { writes, t0, t1 } = m;
  const windowS = cfg.scaleWindowMs / 1000;
  const saves = await Promise.all(pods.map((_, i) => observer.saves(i)));
  const minus = who === "ms" ? cfg.debounceMs : 0;
  const lat = { ms: [], unsaved: 0 };
  saves.forEach((s, i) => {
    const l = writeLatencies(writes[i], s, minus);
    lat.ms.push(...l.ms);
    lat.unsaved += l.unsaved;
  });
  const all = saves.flat().filter((s) => s.t !== undefined && s.t <= t1);
  // The window's saves: those landed in it, shifted by the debounce for watch (a steady
  // fleet that keeps up then counts one save per write made in the window).
  const inWindow = all.filter((s) => s.t >= t0 + minus && s.t <= t0 + minus + cfg.scaleWindowMs).length;
  const logs = (test) => pods.flatMap((p) => p.agent.lines.filter((l) => l.t >= m.n0 && test(l.json ?? {})));
  const failed =
    who === "ms" ? logs((j) => /^save failed/.test(j.msg ?? "")).length : sum(pods.map((p) => p.agent.failures));
  const warnings = who === "ms" ? logs((j) => /^(warn|error)$/.test(j.level ?? "")).map((l) => l.json.msg) : [];
  const requests = {};
  for (const r of backend.requests(srv, t0, t1)) requests[r] = (requests[r] ?? 0) + 1;
  const saved = Math.max(1, all.length);
  return {
    writes: writes.flat().length,
    offered: writes.flat().length / windowS,
    savesPerS: inWindow / windowS,
    saves: all.length,
    durS: (t1 - t0) / 1000,
    lat: lat.ms,
    unsaved: lat.unsaved,
    failed,
    warnings,
    serverMsPerSave: m.serverMs / saved,
    frontMsPerSave: m.frontMs / saved,
    clientPct: (sum(m.agentMs) / pods.length / (t1 - t0)) * 100,
    clientMsPerSave: sum(m.agentMs) / saved,
    rssMb: m.rss.length ? sum(m.rss) / m.rss.length : undefined,
    requests,
    requestsPerSave: sum(Object.values(requests)) / saved,
    lagP99Ms: m.lagP99Ms,
  };
}

const one = (x) => (x === undefined ? undefined : stats([x]));
const r1 = (x) => (x === undefined ? "—" : x.toFixed(1));

/** The rows of one fleet size and backend: mirrorshade's figures, the raw loops' as the reference. */
function* rows(ctx, backend, n, { ms, raw }) {
  const { cfg } = ctx;
  const every = `${cfg.scaleIntervalMs / 1000} s`;
  const id = `scale-${backend.name}-${n}`;
  const scenario = `scale: ${n} pod(s), a write every ${every} each → ${backend.server}`;
  const rawName = backend.name === "git" ? "raw `add/commit/push` loops" : "raw `curl -T` PUT loops";
  const reqs = (r) =>
    Object.entries(r.requests)
      .map(([k, v]) => `${k} ×${v}`)
      .join(", ");
  yield {
    id: `${id}-saves`,
    scenario,
    metric: `saves/s landed at the server in the ${cfg.scaleWindowMs / 1000} s window (+ the debounce for watch)`,
    unit: "saves/s",
    value: one(ms.savesPerS),
    ref: { name: rawName, stats: one(raw.savesPerS) },
    target: `≥ 90 % of the ${ms.offered.toFixed(2)} writes/s`,
    met: ms.savesPerS >= 0.9 * ms.offered,
    note:
      `${ms.writes} writes; saves by the end of the drain: mirrorshade ${ms.saves} in ${r1(ms.durS)} s, raw ${raw.saves} in ${r1(raw.durS)} s. ` +
      `Requests per save ${r1(ms.requestsPerSave)} (${reqs(ms)}) vs raw ${r1(raw.requestsPerSave)} (${reqs(raw)}). ` +
      `Bench event-loop delay p99 ${r1(ms.lagP99Ms)} / ${r1(raw.lagP99Ms)} ms.`,
  };
  const less = `less the ${cfg.debounceMs / 1000} s debounce`;
  yield {
    id: `${id}-p50`,
    scenario,
    metric: `p50 save latency: write → at the server (${less})`,
    unit: "ms",
    value: stats(ms.lat),
    ref: { name: rawName, stats: stats(raw.lat) },
    target: "— (informative)",
  };
  yield {
    id: `${id}-p99`,
    scenario,
    metric: `p99 save latency (${less})`,
    unit: "ms",
    value: one(quantile(ms.lat, 0.99)),
    ref: { name: rawName, stats: one(quantile(raw.lat, 0.99)) },
    target: "— (informative)",
  };
  yield {
    id: `${id}-server-cpu`,
    scenario,
    metric:
      backend.name === "git" ? "server CPU per save: http-backend and the git it runs" : "server CPU per save: s3rver",
    unit: "ms",
    value: one(ms.serverMsPerSave),
    ref: { name: rawName, stats: one(raw.serverMsPerSave) },
    target: "— (capacity)",
    note:
      backend.name === "git"
        ? `the node HTTP front (Basic auth, CGI plumbing) on top: ${r1(ms.frontMsPerSave)} vs ${r1(raw.frontMsPerSave)} ms per save`
        : undefined,
  };
  yield {
    id: `${id}-client-cpu`,
    scenario,
    metric: "client CPU per sidecar (the process and what it runs), % of one core",
    unit: "%",
    value: one(ms.clientPct),
    ref: { name: rawName, stats: one(raw.clientPct) },
    target: "— (informative)",
    note: `per save ${r1(ms.clientMsPerSave)} vs ${r1(raw.clientMsPerSave)} ms; mirrorshade RSS per watch ${r1(ms.rssMb)} MB`,
  };
  yield {
    id: `${id}-failed`,
    scenario,
    metric: "failed saves (each retried), writes never saved",
    unit: "",
    value: one(ms.failed + ms.unsaved),
    ref: { name: rawName, stats: one(raw.failed + raw.unsaved) },
    ratio: undefined,
    target: "0",
    met: ms.failed + ms.unsaved === 0,
    note: `failed ${ms.failed}, unsaved ${ms.unsaved} (raw: ${raw.failed}, ${raw.unsaved})${
      ms.warnings.length ? `; watch warnings: ${[...new Set(ms.warnings)].slice(0, 3).join(" | ")}` : ""
    }`,
  };
}
