// The S3 test server (s3rver, started as test/helpers/s3.ts starts it) and the environments
// that point mirrorshade and rclone at it.
import { mkdirSync } from "node:fs";
import path from "node:path";
import { NODE, Proc, ROOT, cleanEnv } from "./proc.mjs";

/**
 * An s3rver on loopback with one bucket `bench`, its data under `dir`. With `log`, it prints
 * one JSON line per finished request (`requests(from, to)` reads them back):
 *   {"t": epoch ms (sub-ms), "method", "url", "status", "etag"}
 * (the hook wraps the Koa callback s3rver's run() hands to its HTTP server).
 */
export async function startS3rver(dir, { log = false } = {}) {
  mkdirSync(dir, { recursive: true });
  const child = `
const S3rver = require(process.argv[1]);
const s = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: process.argv[2],
  configureBuckets: [{ name: "bench" }] });
if (process.argv[3] === "log") {
  const callback = s.callback.bind(s);
  s.callback = () => {
    const handle = callback();
    return (req, res) => {
      res.on("finish", () => process.stdout.write(JSON.stringify({ t: performance.timeOrigin + performance.now(),
        method: req.method, url: req.url, status: res.statusCode, etag: res.getHeader("etag") }) + "\\n"));
      return handle(req, res);
    };
  };
}
s.run().then((a) => process.stdout.write(JSON.stringify(a) + "\\n"), (e) => { console.error(e); process.exit(1); });`;
  const args = ["-e", child, path.join(ROOT, "node_modules", "s3rver"), dir, ...(log ? ["log"] : [])];
  const p = new Proc("s3rver", NODE, args, { env: cleanEnv({ NODE_OPTIONS: "--openssl-legacy-provider" }) });
  const line = await p.waitLine((l) => l.stream === "out" && typeof l.json?.port === "number", { timeout: 30_000 });
  const { port } = line.json;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid: p.pid,
    requests: (from = -Infinity, to = Infinity) =>
      p.lines
        .filter((l) => l.stream === "out" && l.json?.method && l.json.t >= from && l.json.t <= to)
        .map((l) => l.json),
    stop: () => p.stop({ group: true, timeout: 5000 }),
  };
}

/** mirrorshade's environment for s3rver at `endpoint`: its fixed keys, nothing from the host's AWS config. */
export function msS3Env(endpoint) {
  return cleanEnv({
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    AWS_REGION: "us-east-1",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_CONFIG_FILE: "/nonexistent",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
    AWS_PROFILE: undefined,
    MIRRORSHADE_S3_ENDPOINT: endpoint,
  });
}

/**
 * rclone's environment for s3rver at `endpoint`, as the remote `bench:` (env only, no config
 * file; rclone refuses to start while AWS_CA_BUNDLE is set).
 */
export function rcloneS3Env(endpoint) {
  return cleanEnv({
    AWS_CA_BUNDLE: undefined,
    RCLONE_CONFIG_BENCH_TYPE: "s3",
    RCLONE_CONFIG_BENCH_PROVIDER: "Other",
    RCLONE_CONFIG_BENCH_ENDPOINT: endpoint,
    RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: "true",
    RCLONE_CONFIG_BENCH_REGION: "us-east-1",
    RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: "S3RVER",
    RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: "S3RVER",
    RCLONE_CONFIG: "/nonexistent",
  });
}
