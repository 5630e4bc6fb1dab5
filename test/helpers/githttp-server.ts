/**
 * The HTTP side of startGitHttp(), run in a worker thread (by Node itself, types stripped: so
 * node: imports only, erasable TypeScript only). In its own thread the server keeps serving
 * while the test's main thread is blocked in a synchronous git call (execFileSync), which
 * would otherwise deadlock.
 *
 * Each request: Basic auth against the current token, then `git http-backend` as a CGI
 * script. Protocol with the main thread (githttp.ts):
 * - workerData: { options, port (0: any), channel (MessagePort), ack (SharedArrayBuffer) }
 * - parentPort → main: { type: "listening", port } once, { type: "fatal", message }
 * - channel → main: { type: "request", entry } when a response ends, { type: "stderr", text };
 *   main drains these synchronously (receiveMessageOnPort), so they are there by the time
 *   the git client that made the request has exited
 * - main → parentPort: { type: "token", token } (acked by incrementing ack[0]), { type: "stop" }
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import type { Socket } from "node:net";
import { parentPort, workerData, type MessagePort } from "node:worker_threads";

export interface GitHttpOptions {
  /** GIT_PROJECT_ROOT: `urlFor("x.git")` serves `root/x.git`. */
  root: string;
  /** The password every request must carry (exactly one of token / tokenFile). */
  token?: string;
  /** A file holding the token, re-read (and trimmed) on every request: rotate by rewriting it. */
  tokenFile?: string;
  /** Require this username too; by default any username is accepted (like GitHub with a PAT). */
  username?: string;
  /** "push": the token is valid but may not push (403 for git-receive-pack, like a read-only token). */
  deny?: "push";
  /** Listen on this port (e.g. to bring a stopped server back); default: any free one. */
  port?: number;
}

/** What a request asked for. */
export type GitHttpKind =
  | "info/refs?service=git-upload-pack"
  | "info/refs?service=git-receive-pack"
  | "git-upload-pack"
  | "git-receive-pack"
  | "other";

export interface GitHttpRequest {
  method: string;
  /** Path and query as requested. */
  url: string;
  kind: GitHttpKind;
  /** The status sent; 0 if the client went away before any. */
  status: number;
  /** Username from the Authorization header, if there was one. */
  user?: string;
  /** Request body sent with `Content-Encoding: gzip` (git does that for big fetch negotiations). */
  gzip: boolean;
  /** Request body sent chunked, without Content-Length (git does that above http.postBuffer). */
  chunked: boolean;
}

export interface WorkerData {
  options: GitHttpOptions;
  channel: MessagePort;
  ack: SharedArrayBuffer;
}

const BACKEND = existsSync("/usr/lib/git-core/git-http-backend") ? "/usr/lib/git-core/git-http-backend" : undefined;

if (parentPort && workerData?.channel) serve(workerData as WorkerData);

function serve({ options: opts, channel, ack }: WorkerData): void {
  const acks = new Int32Array(ack);
  let override: string | undefined;
  const currentToken = () => override ?? opts.token ?? readFileSync(opts.tokenFile!, "utf8").trim();
  const children = new Set<ChildProcess>();
  const sockets = new Set<Socket>();
  let port = 0;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const kind = kindOf(url);
    const entry: GitHttpRequest = {
      method: req.method ?? "GET",
      url: req.url ?? "/",
      kind,
      status: 0,
      gzip: /gzip/i.test(req.headers["content-encoding"] ?? ""),
      chunked: req.headers["content-length"] === undefined && /chunked/i.test(req.headers["transfer-encoding"] ?? ""),
    };
    let recorded = false;
    const record = () => {
      if (recorded) return;
      recorded = true;
      entry.status = res.headersSent ? res.statusCode : 0;
      channel.postMessage({ type: "request", entry });
    };
    // Before the last byte goes out, so the entry is queued before the client can exit.
    const finish = () => {
      record();
      res.end();
    };
    res.on("close", record); // the client went away
    const answer = (status: number, body: string, headers: http.OutgoingHttpHeaders = {}) => {
      req.resume(); // drain the body so the connection can be reused
      res.writeHead(status, { "Content-Type": "text/plain", ...headers });
      res.write(body);
      finish();
    };

    const auth = parseBasic(req.headers.authorization);
    if (auth) entry.user = auth.user;
    let token: string;
    try {
      token = currentToken();
    } catch (err) {
      return answer(500, `cannot read token file: ${String(err)}\n`);
    }
    if (!auth || auth.password !== token || (opts.username !== undefined && auth.user !== opts.username)) {
      return answer(401, "authentication required\n", { "WWW-Authenticate": 'Basic realm="git"' });
    }
    if (opts.deny === "push" && kind.endsWith("git-receive-pack")) {
      return answer(403, "this token may not push\n");
    }

    const headerEnv: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (["authorization", "content-type", "content-length", "proxy"].includes(name) || value === undefined) continue;
      headerEnv[`HTTP_${name.toUpperCase().replace(/-/g, "_")}`] = Array.isArray(value) ? value.join(", ") : value;
    }
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      ...headerEnv, // includes HTTP_CONTENT_ENCODING (gzip bodies) and HTTP_GIT_PROTOCOL (protocol v2)
      GIT_PROJECT_ROOT: opts.root,
      GIT_HTTP_EXPORT_ALL: "1",
      // The server side must not read the test runner's own git config.
      GIT_CONFIG_NOSYSTEM: "1",
      GIT_CONFIG_GLOBAL: "/dev/null",
      GATEWAY_INTERFACE: "CGI/1.1",
      SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
      SERVER_SOFTWARE: "mirrorshade-test",
      SERVER_NAME: "127.0.0.1",
      SERVER_PORT: String(port),
      REQUEST_METHOD: entry.method,
      REQUEST_URI: entry.url,
      SCRIPT_NAME: "",
      PATH_INFO: decodeURIComponent(url.pathname),
      QUERY_STRING: url.search.replace(/^\?/, ""),
      REMOTE_ADDR: req.socket.remoteAddress ?? "127.0.0.1",
      // A REMOTE_USER turns on receive-pack (http.receivepack defaults to "authenticated users").
      REMOTE_USER: auth.user || "token",
      AUTH_TYPE: "Basic",
    };
    if (req.headers["content-type"]) env.CONTENT_TYPE = req.headers["content-type"];
    // Without CONTENT_LENGTH http-backend reads the body to EOF: what a chunked request needs.
    if (req.headers["content-length"] !== undefined) env.CONTENT_LENGTH = req.headers["content-length"];

    const cgi = BACKEND
      ? spawn(BACKEND, [], { env, stdio: ["pipe", "pipe", "pipe"] })
      : spawn("git", ["http-backend"], { env, stdio: ["pipe", "pipe", "pipe"] });
    children.add(cgi);
    cgi.stderr!.on("data", (d: Buffer) => channel.postMessage({ type: "stderr", text: d.toString() }));
    cgi.stdin!.on("error", () => {}); // EPIPE when the backend answers before reading the body
    req.pipe(cgi.stdin!);
    res.on("close", () => {
      if (!res.writableFinished && cgi.exitCode === null) cgi.kill("SIGKILL"); // the client went away
    });

    // CGI response: header lines up to a blank line ("Status: 404 Not Found" sets the status), then the body.
    let head = Buffer.alloc(0);
    let inBody = false;
    const send = (chunk: Buffer) => {
      if (!res.write(chunk)) {
        cgi.stdout!.pause(); // a slow client: don't buffer a whole pack in memory
        res.once("drain", () => cgi.stdout!.resume());
      }
    };
    cgi.stdout!.on("data", (chunk: Buffer) => {
      if (inBody) return send(chunk);
      head = Buffer.concat([head, chunk]);
      const end = headerEnd(head);
      if (!end) return;
      inBody = true;
      let status = 200;
      const headers: Record<string, string | string[]> = {};
      for (const line of head.subarray(0, end.at).toString("latin1").split(/\r?\n/)) {
        const colon = line.indexOf(":");
        if (colon < 1) continue;
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === "status") status = Number.parseInt(value, 10) || 500;
        else {
          const prev = headers[name];
          headers[name] = prev === undefined ? value : [...(Array.isArray(prev) ? prev : [prev]), value];
        }
      }
      res.writeHead(status, headers);
      const rest = head.subarray(end.at + end.length);
      if (rest.length) send(rest);
    });
    cgi.on("error", (err) => {
      children.delete(cgi);
      if (!res.headersSent) answer(502, `cannot run git http-backend: ${err.message}\n`);
    });
    cgi.on("close", (code, signal) => {
      children.delete(cgi);
      if (res.headersSent) return finish();
      answer(502, `git http-backend exited (${signal ?? code}) without a response\n`);
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("error", (err) => parentPort!.postMessage({ type: "fatal", message: err.message }));
  server.listen(opts.port ?? 0, "127.0.0.1", () => {
    port = (server.address() as { port: number }).port;
    parentPort!.postMessage({ type: "listening", port });
  });

  parentPort!.on("message", (msg: { type: "token"; token: string } | { type: "stop" }) => {
    if (msg.type === "token") {
      override = msg.token;
      Atomics.add(acks, 0, 1);
      Atomics.notify(acks, 0);
    } else if (msg.type === "stop") {
      for (const c of children) c.kill("SIGKILL");
      for (const s of sockets) s.destroy();
      server.close(() => {
        channel.close();
        parentPort!.close(); // nothing left: the thread ends
      });
    }
  });
}

/** `Authorization: Basic base64(user:password)` → its parts. */
function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+(\S+)\s*$/i.exec(header ?? "");
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function kindOf(url: URL): GitHttpKind {
  if (url.pathname.endsWith("/info/refs")) {
    const service = url.searchParams.get("service");
    if (service === "git-upload-pack" || service === "git-receive-pack") return `info/refs?service=${service}`;
    return "other";
  }
  if (url.pathname.endsWith("/git-upload-pack")) return "git-upload-pack";
  if (url.pathname.endsWith("/git-receive-pack")) return "git-receive-pack";
  return "other";
}

/** Where the CGI header block ends: the first blank line, CRLF or LF style. */
function headerEnd(buf: Buffer): { at: number; length: number } | undefined {
  const crlf = buf.indexOf("\r\n\r\n");
  const lf = buf.indexOf("\n\n");
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return { at: crlf, length: 4 };
  if (lf >= 0) return { at: lf, length: 2 };
  return undefined;
}
