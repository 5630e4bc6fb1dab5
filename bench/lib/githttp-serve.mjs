// The tests' git smart-HTTP server (test/helpers/githttp-server.ts: Basic auth against a
// token, then `git http-backend` as a CGI script per request) in a process of its own, so
// that /proc tells its cost apart: the HTTP front in this process's own ticks, every
// http-backend and the git it runs in its reaped children's. Started by bench/lib/githttp.mjs.
//   node githttp-serve.mjs ROOT   (the token in BENCH_GITHTTP_TOKEN, never in argv)
// stdout: {"port":N} once listening, then one JSON line per finished request:
//   {"t": epoch ms (sub-ms), "method", "kind", "status", "url"}
// SIGTERM/SIGINT: the worker stops its server and kills running backends; then we exit.
import { performance } from "node:perf_hooks";
import process from "node:process";
import { setTimeout } from "node:timers";
import { MessageChannel, Worker } from "node:worker_threads";

const [root] = process.argv.slice(2);
const token = process.env.BENCH_GITHTTP_TOKEN;
if (!root || !token) {
  process.stderr.write("usage: BENCH_GITHTTP_TOKEN=… node githttp-serve.mjs ROOT\n");
  process.exit(2);
}

const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const { port1, port2 } = new MessageChannel();
// The worker acks token changes through this; the bench never changes the token.
const ack = new SharedArrayBuffer(4);
// Node strips the types of the .ts worker itself (erasable TypeScript, node: imports only).
const worker = new Worker(new URL("../../test/helpers/githttp-server.ts", import.meta.url), {
  workerData: { options: { root, token }, channel: port2, ack },
  transferList: [port2],
});
port1.on("message", (msg) => {
  if (msg.type === "stderr") process.stderr.write(msg.text);
  else if (msg.type === "request") {
    const { method, kind, status, url } = msg.entry;
    out({ t: performance.timeOrigin + performance.now(), method, kind, status, url });
  }
});
worker.on("message", (msg) => {
  if (msg.type === "listening") out({ port: msg.port });
  else if (msg.type === "fatal") {
    process.stderr.write(`git http server: ${msg.message}\n`);
    process.exit(1);
  }
});
worker.on("error", (err) => {
  process.stderr.write(`git http server: ${err?.stack ?? err}\n`);
  process.exit(1);
});
worker.on("exit", () => process.exit(0));

for (const sig of ["SIGTERM", "SIGINT"]) {
  process.on(sig, () => {
    worker.postMessage({ type: "stop" });
    // The worker ends once its server closed; don't wait on a stuck one.
    setTimeout(() => process.exit(0), 3000).unref();
  });
}
