// From what a fleet's window recorded to its figures, and from the figures of both fleets
// (mirrorshade's and the raw loops') to the report's rows.
import { quantile, writeLatencies } from "../../lib/fleet.mjs";
import { stats } from "../../lib/stats.mjs";

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** A fleet's figures from what the window recorded and what the server holds. */
export async function summarize(ctx, srv, backend, who, pods, observer, m) {
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
export function* rows(ctx, backend, n, { ms, raw }) {
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
