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
//
// The parts: scale/servers.mjs (the git and S3 sides: a pod's set-up, its watch and raw
// loop, how saves are counted), scale/phase.mjs (one fleet's window and drain),
// scale/report.mjs (a fleet's figures and its rows).
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startGitHttp } from "../lib/githttp.mjs";
import { startS3rver } from "../lib/s3rver.mjs";
import { phase } from "./scale/phase.mjs";
import { rows } from "./scale/report.mjs";
import { GIT, S3 } from "./scale/servers.mjs";

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
