import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { lastLine, run, which } from "../lib/proc.mjs";
import { msS3Env, rcloneS3Env, startS3rver } from "../lib/s3rver.mjs";
import { k, stats } from "../lib/stats.mjs";
import { msPush } from "../subject.mjs";
import { makeS3Tree } from "../workloads.mjs";

const RCLONE = "`rclone sync --fast-list --transfers 16`";
const TARGET = "— (ratio reported)";

export default {
  name: "s3",
  measures: "`push` to one s3rver on loopback: an initial push of small files, a no-change push, 10 changed files",
  // At mirrorshade's default --s3-concurrency of 16 transfers; --fast-list because of an
  // s3rver delimiter bug that makes rclone re-upload everything without it.
  reference: `${RCLONE} to the same s3rver`,
  target: TARGET,

  async *run(ctx) {
    const { cfg, tmp } = ctx;
    const server = await startS3rver(path.join(tmp, "s3rver"));
    try {
      const env = msS3Env(server.endpoint);
      const probe = path.join(tmp, "s3-probe");
      mkdirSync(probe, { recursive: true });
      writeFileSync(path.join(probe, "a.txt"), "a\n");
      const p = msPush(
        probe,
        "s3://bench/probe",
        { ...env, MIRRORSHADE_STATE_DIR: path.join(tmp, "s3-probe-state") },
        {
          allowFail: true,
        },
      );
      if (p.code !== 0) {
        ctx.skip("s3", "S3 rows", `mirrorshade push to s3rver failed (exit ${p.code}): ${lastLine(p.stderr)}`);
        return;
      }
      const haveRclone = which("rclone");
      if (!haveRclone) ctx.skip("s3-rclone", "S3 rclone reference", "rclone not installed (apt-get install rclone)");
      const work = path.join(tmp, "s3-work");
      const rels = makeS3Tree(work, cfg.s3Files);
      const t = { ms: { initial: [], noop: [], ten: [] }, rc: { initial: [], noop: [], ten: [] } };
      const rcEnv = rcloneS3Env(server.endpoint);
      for (let i = 0; i < cfg.runs; i++) {
        const state = path.join(tmp, `s3-state-${i}`);
        const ms = () => msPush(work, `s3://bench/ms-${i}`, { ...env, MIRRORSHADE_STATE_DIR: state }).ms;
        const rc = () =>
          run("rclone", ["sync", work, `bench:bench/rc-${i}`, "--fast-list", "--transfers", "16"], { env: rcEnv }).ms;
        const both = (key) => {
          const order = i % 2 ? ["rc", "ms"] : ["ms", "rc"];
          for (const who of order) {
            if (who === "ms") t.ms[key].push(ms());
            else if (haveRclone) t.rc[key].push(rc());
          }
        };
        both("initial");
        both("noop");
        for (let j = 0; j < 10; j++) {
          const f = path.join(work, rels[(i * 997 + j * 131) % rels.length]);
          writeFileSync(f, readFileSync(f, "utf8") + `changed ${i}.${j}\n`);
        }
        both("ten");
      }
      for (const [key, label] of [
        ["initial", `initial push of ${k(cfg.s3Files)} files (1–10 KB)`],
        ["noop", "push with nothing changed"],
        ["ten", "push of 10 changed files"],
      ]) {
        yield {
          id: `s3-${key}`,
          scenario: `S3 (s3rver): ${label}`,
          metric: "wall time of `mirrorshade push`",
          unit: "ms",
          value: stats(t.ms[key]),
          ref: haveRclone ? { name: RCLONE, stats: stats(t.rc[key]) } : undefined,
          target: TARGET,
        };
      }
    } finally {
      await server.stop();
    }
  },
};
