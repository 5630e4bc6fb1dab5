// mirrorshade push vs `rclone sync` against one s3rver on loopback, side by side:
// an initial push of N small files, a no-change re-push, and 10 changed files.
// Usage: node bench/s3-vs-rclone.mjs [files=2000] [runs=3]   (needs Debian's rclone; run `npm run build` first)
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");
const FILES = Number(process.argv[2] ?? 2000);
const RUNS = Number(process.argv[3] ?? 3);
const tmp = mkdtempSync(path.join(tmpdir(), "ms-bench-"));

const CHILD = `
const S3rver = require(process.argv[1]);
new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: process.argv[2],
  configureBuckets: [{ name: "bench" }] }).run().then((a) => process.stdout.write(JSON.stringify(a) + "\\n"));
`;
const server = spawn(process.execPath, ["-e", CHILD, path.join(ROOT, "node_modules/s3rver"), path.join(tmp, "s3")], {
  env: { ...process.env, NODE_OPTIONS: "--openssl-legacy-provider" },
  stdio: ["ignore", "pipe", "inherit"],
});
const port = await new Promise((resolve) => {
  let out = "";
  server.stdout.on("data", (d) => {
    out += d;
    if (out.includes("\n")) resolve(JSON.parse(out).port);
  });
});
const endpoint = `http://127.0.0.1:${port}`;
const creds = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER", AWS_REGION: "us-east-1" };

function tree(dir) {
  for (let i = 0; i < FILES; i++) {
    const d = path.join(dir, `d${i % 20}`);
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, `f${i}.txt`), "x".repeat(1024 + ((i * 7919) % 9216)));
  }
}
function touch10(dir, round) {
  for (let i = 0; i < 10; i++) writeFileSync(path.join(dir, `d${i % 20}`, `f${i}.txt`), `changed ${round} ${i}\n`);
}
function time(cmd, args, env) {
  const t = process.hrtime.bigint();
  const merged = Object.fromEntries(Object.entries({ ...process.env, ...env }).filter(([, v]) => v !== undefined));
  execFileSync(cmd, args, { env: merged, stdio: ["ignore", "ignore", "pipe"] });
  return Number(process.hrtime.bigint() - t) / 1e9;
}

const tools = {
  mirrorshade: (dir, prefix) => {
    const env = {
      ...creds,
      MIRRORSHADE_S3_ENDPOINT: endpoint,
      MIRRORSHADE_STATE_DIR: path.join(tmp, "state-" + prefix),
      MIRRORSHADE_LOG_FORMAT: "json",
    };
    return () =>
      time(
        process.execPath,
        [path.join(ROOT, "dist/mirrorshade.cjs"), "push", dir, "--remote", `s3://bench/${prefix}`],
        env,
      );
  },
  rclone: (dir, prefix) => {
    const env = {
      RCLONE_CONFIG_B_TYPE: "s3",
      RCLONE_CONFIG_B_PROVIDER: "Other",
      RCLONE_CONFIG_B_ENDPOINT: endpoint,
      RCLONE_CONFIG_B_FORCE_PATH_STYLE: "true",
      RCLONE_CONFIG_B_REGION: "us-east-1",
      RCLONE_CONFIG_B_ACCESS_KEY_ID: "S3RVER",
      RCLONE_CONFIG_B_SECRET_ACCESS_KEY: "S3RVER",
      AWS_CA_BUNDLE: undefined, // rclone refuses to start while it is set
    };
    return () => time("rclone", ["sync", "--fast-list", "--transfers", "16", dir, `b:bench/${prefix}`], env);
  },
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
try {
  for (const [name, make] of Object.entries(tools)) {
    const r = { initial: [], noChange: [], ten: [] };
    for (let run = 0; run < RUNS; run++) {
      const dir = path.join(tmp, `${name}-${run}`);
      tree(dir);
      const push = make(dir, `${name}-${run}`);
      r.initial.push(push());
      r.noChange.push(push());
      touch10(dir, run);
      r.ten.push(push());
    }
    results[name] = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, median(v)]));
  }
  const m = results.mirrorshade;
  const c = results.rclone;
  console.log(`${FILES} files of 1-10 KiB, s3rver on loopback, median of ${RUNS} (seconds):`);
  console.log("step         mirrorshade  rclone   ratio (rclone / mirrorshade)");
  for (const k of ["initial", "noChange", "ten"]) {
    console.log(
      `${k.padEnd(12)} ${m[k].toFixed(2).padStart(11)}  ${c[k].toFixed(2).padStart(6)}   ${(c[k] / m[k]).toFixed(2)}`,
    );
  }
} finally {
  server.kill("SIGKILL");
  rmSync(tmp, { recursive: true, force: true });
}
