/**
 * Smart git over HTTP on 127.0.0.1 for tests: a Node server that checks Basic auth against a
 * token (like a forge's personal access token) and runs `git http-backend` as a CGI script.
 * Plain http: git treats http and https alike for auth, and a test CA would only add setup.
 *
 * The server runs in a worker thread (githttp-server.ts), so synchronous git calls in the
 * test (execFileSync, the `git()` helper) against its URL work instead of deadlocking.
 */
import { MessageChannel, Worker, receiveMessageOnPort } from "node:worker_threads";
import { defer } from "./index";
import type { GitHttpKind, GitHttpOptions, GitHttpRequest, WorkerData } from "./githttp-server";

export type { GitHttpKind, GitHttpOptions, GitHttpRequest };

export interface GitHttp {
  host: "127.0.0.1";
  port: number;
  /** `http://127.0.0.1:PORT/<repoName>` (repoName relative to root, e.g. `remote.git`). */
  urlFor(repoName: string): string;
  /** From now on the password must be `token` (overrides tokenFile). Effective when this returns. */
  setToken(token: string): void;
  /** Count per `"<METHOD> <kind>"`, e.g. `"POST git-receive-pack"`; 401/403 answers included. */
  readonly requests: Record<string, number>;
  /** Every finished request in order, with the status it got. */
  readonly log: GitHttpRequest[];
  /** What git http-backend wrote to stderr (its error messages). */
  cgiStderr(): string;
  /** Close the server, drop connections, kill running backends. Idempotent; also deferred. */
  stop(): Promise<void>;
}

/** Start the server (see GitHttpOptions); it is stopped after the test. */
export async function startGitHttp(opts: GitHttpOptions): Promise<GitHttp> {
  if ((opts.token === undefined) === (opts.tokenFile === undefined)) {
    throw new Error("startGitHttp needs exactly one of token, tokenFile");
  }
  const { port1, port2 } = new MessageChannel();
  const ack = new SharedArrayBuffer(4);
  const acks = new Int32Array(ack);
  const data: WorkerData = { options: { ...opts }, channel: port2, ack };
  const worker = new Worker(new URL("./githttp-server.ts", import.meta.url), {
    workerData: data,
    transferList: [port2],
  });
  worker.unref(); // never what keeps the test process alive
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  let fatal: Error | undefined;
  worker.on("error", (err) => (fatal = err));

  const listening = new Promise<number>((resolve, reject) => {
    worker.on("message", (msg: { type: string; port?: number; message?: string }) => {
      if (msg.type === "listening") resolve(msg.port!);
      else if (msg.type === "fatal") {
        fatal = new Error(`git http server: ${msg.message}`);
        reject(fatal);
      }
    });
    worker.once("error", reject);
    void exited.then(() => reject(fatal ?? new Error("git http server exited before listening")));
  });
  let port: number;
  try {
    port = await listening;
  } catch (err) {
    await worker.terminate();
    throw err;
  }

  const requests: Record<string, number> = {};
  const log: GitHttpRequest[] = [];
  let stderr = "";
  // Messages from the worker wait in port1 until read here, synchronously.
  const drain = () => {
    for (let m = receiveMessageOnPort(port1); m; m = receiveMessageOnPort(port1)) {
      const msg = m.message as { type: "request"; entry: GitHttpRequest } | { type: "stderr"; text: string };
      if (msg.type === "stderr") stderr += msg.text;
      else {
        log.push(msg.entry);
        const key = `${msg.entry.method} ${msg.entry.kind}`;
        requests[key] = (requests[key] ?? 0) + 1;
      }
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      worker.postMessage({ type: "stop" });
      const timeout = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), 5_000).unref());
      if ((await Promise.race([exited, timeout])) === "timeout") await worker.terminate();
      drain();
      port1.close();
    })());
  defer(stop);

  return {
    host: "127.0.0.1",
    port,
    urlFor: (repoName) => `http://127.0.0.1:${port}/${repoName.replace(/^\/+/, "")}`,
    setToken(token) {
      if (fatal) throw fatal;
      const seen = Atomics.load(acks, 0);
      worker.postMessage({ type: "token", token });
      if (Atomics.wait(acks, 0, seen, 10_000) === "timed-out")
        throw new Error("git http server did not take the new token");
    },
    get requests() {
      drain();
      return requests;
    },
    get log() {
      drain();
      return log;
    },
    cgiStderr() {
      drain();
      return stderr;
    },
    stop,
  };
}

/** `Authorization: Basic …` for a token, for tests of the server itself (git -c http.extraHeader=…). */
export function basicAuthHeader(token: string, user = "x-access-token"): string {
  return `Authorization: Basic ${Buffer.from(`${user}:${token}`).toString("base64")}`;
}
