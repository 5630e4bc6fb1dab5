// The two servers a fleet saves into, behind one shape: how a pod is prepared, the watch's
// and the raw loop's command, the server's CPU ticks and requests, and how saves are
// counted at the server (an observer per fleet).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { PULSE, gitSaves, md5, pulseText, tipSeq, wall, watchRefs } from "../../lib/fleet.mjs";
import { RAW_SAVE_ONE, git, initBare, readRef } from "../../lib/git.mjs";
import { gitTokenEnv } from "../../lib/githttp.mjs";
import { cpuTicks } from "../../lib/procfs.mjs";
import { msS3Env } from "../../lib/s3rver.mjs";
import { msEnv } from "../../subject.mjs";

/** One git repo per pod on the one http-backend; mirrorshade and plain git both send the token as a header. */
export const GIT = {
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
export const S3 = {
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
