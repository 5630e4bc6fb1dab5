/**
 * A real S3-compatible server for tests: s3rver in a child process (it needs
 * --openssl-legacy-provider for paginated listings), on a free loopback port, stopped after
 * the test. A small HTTP proxy can sit in front of it to count requests, hold one, act as a
 * forward proxy (HTTP_PROXY), or add the conditional writes s3rver lacks (If-Match /
 * If-None-Match on PUT and multipart completion, x-amz-copy-source-if-match), as AWS has them.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import http from "node:http";
import path from "node:path";
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { ROOT, defer, sandbox, tempDir, type Sandbox } from "./index";

export const BUCKET = "test";

/** The env a CLI run needs for s3rver (a MinIO-like setup), with the instance metadata service off. */
export function s3Env(endpoint: string): NodeJS.ProcessEnv {
  return {
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    AWS_REGION: "us-east-1",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_CONFIG_FILE: "/nonexistent",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
    MIRRORSHADE_S3_ENDPOINT: endpoint,
  };
}

/** A sandbox whose remote is `remote` (default s3://test/notes) on the S3 server at `endpoint`. */
export function s3Sandbox(
  endpoint: string,
  extraEnv: NodeJS.ProcessEnv = {},
  remote = `s3://${BUCKET}/notes`,
): Sandbox {
  const sb = sandbox({ remote: "none" });
  return { ...sb, remote, env: { ...sb.env, ...s3Env(endpoint), MIRRORSHADE_REMOTE: remote, ...extraEnv } };
}

export interface S3rver {
  endpoint: string;
  port: number;
  dir: string;
  client: S3Client;
  stop(): Promise<void>;
  /** Start again on the same port and data (after stop()). */
  start(): Promise<void>;
}

const CHILD = `
const S3rver = require(process.argv[1]);
const s = new S3rver({ address: "127.0.0.1", port: Number(process.argv[2]), silent: true, directory: process.argv[3],
  configureBuckets: JSON.parse(process.argv[4]).map((name) => ({ name })) });
s.run().then((a) => process.stdout.write(JSON.stringify(a) + "\\n"), (e) => { console.error(e); process.exit(1); });
`;

/** Start s3rver with `buckets` on a free port (or `port`); it is stopped after the test. */
export async function startS3rver(opts: { buckets?: string[]; port?: number } = {}): Promise<S3rver> {
  const dir = tempDir("ms-s3rver-");
  let proc: ChildProcess | undefined;
  const launch = async (port: number): Promise<number> => {
    proc = spawn(
      process.execPath,
      [
        "-e",
        CHILD,
        path.join(ROOT, "node_modules", "s3rver"),
        String(port),
        dir,
        JSON.stringify(opts.buckets ?? [BUCKET]),
      ],
      {
        env: { ...process.env, NODE_OPTIONS: "--openssl-legacy-provider" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let err = "";
    proc.stderr!.on("data", (d) => (err += d));
    return new Promise((resolve, reject) => {
      let out = "";
      proc!.stdout!.on("data", (d) => {
        out += d;
        if (out.includes("\n")) resolve((JSON.parse(out) as { port: number }).port);
      });
      proc!.on("exit", (code) => reject(new Error(`s3rver exited (${code}): ${err}`)));
    });
  };
  const stop = async () => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.on("exit", () => resolve());
      p.kill("SIGKILL");
    });
  };
  const port = await launch(opts.port ?? 0);
  defer(stop);
  const endpoint = `http://127.0.0.1:${port}`;
  const client = testClient(endpoint);
  defer(() => client.destroy());
  return {
    endpoint,
    port,
    dir,
    client,
    stop,
    start: async () => {
      await launch(port);
    },
  };
}

/** An SDK client configured as users configure it for MinIO. */
export function testClient(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

export async function createBucket(client: S3Client, bucket: string): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: bucket }));
}

/** Every key under `prefix`, with its content (a flat, paginated listing); save records only when asked. */
export async function objects(
  client: S3Client,
  prefix = "",
  bucket = BUCKET,
  opts: { records?: boolean } = {},
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of await keys(client, prefix, bucket, opts)) out.set(key, await getText(client, key, bucket));
  return out;
}

/** A save record (`<prefix>.mirrorshade/saves/…`, one per save: the history `log` reads). */
const RECORD = /(^|\/)\.mirrorshade\/saves\//;

/** Every key under `prefix`, sorted; save records (bookkeeping of every save) only with `records`. */
export async function keys(
  client: S3Client,
  prefix = "",
  bucket = BUCKET,
  opts: { records?: boolean } = {},
): Promise<string[]> {
  const all: string[] = [];
  let token: string | undefined;
  do {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of r.Contents ?? []) if (opts.records || !RECORD.test(o.Key!)) all.push(o.Key!);
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return all.sort();
}

/**
 * An object's text, as S3 would give it. s3rver writes an object in place (truncate, then
 * write) and its MD5 after, so a read racing a write can get no bytes, half of them, a cut
 * connection ("aborted") or another version's ETag; S3 never shows any of these. The test's
 * reader asks again until body and ETag agree, as the backend does (backends/s3/transfer.ts).
 */
export async function getText(client: S3Client, key: string, bucket = BUCKET): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = Buffer.from(await r.Body!.transformToByteArray());
      const etag = r.ETag?.replace(/"/g, "") ?? "";
      const whole = /-\d+$/.test(etag) // a multipart ETag is no MD5 of the body: its length must do
        ? body.length === r.ContentLength
        : etag === createHash("md5").update(body).digest("hex");
      if (whole) return body.toString("utf8");
      if (attempt >= 50) throw new Error(`${key}: body and ETag ${r.ETag} disagree after ${attempt} reads`);
    } catch (err) {
      if ((err as { name?: string }).name === "NoSuchKey" || attempt >= 50) throw err;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function head(client: S3Client, key: string, bucket = BUCKET) {
  return client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
}

export async function putText(client: S3Client, key: string, body: string, bucket = BUCKET): Promise<void> {
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.from(body) }));
}

export interface Recorded {
  method: string;
  /** Decoded object key (without the bucket), "" for bucket-level requests. */
  key: string;
  query: string;
  /** The access key id the request was signed with, and its session token. */
  accessKeyId?: string;
  sessionToken?: string;
}

export interface Proxy {
  endpoint: string;
  requests: Recorded[];
  count(method: string, keyFilter?: (key: string) => boolean): number;
  /** Hold the response of the next request matching `match` (after the server took it) until released. */
  hold(match: (r: Recorded) => boolean): { reached: Promise<void>; release(): void };
  close(): Promise<void>;
}

/**
 * A proxy in front of `upstream` (an s3rver endpoint). Also a forward proxy: an absolute-form
 * request (HTTP_PROXY) goes to the host it names. With `conditional`, it refuses PUTs whose
 * If-Match / If-None-Match do not hold, with S3's 412 PreconditionFailed. The first GET of a
 * key in `midWrite` gets the answer of a store caught writing it.
 */
export async function startProxy(
  upstream: string,
  opts: { conditional?: boolean; injectKeys?: string[]; midWrite?: string[] } = {},
): Promise<Proxy> {
  const midWrite = new Set(opts.midWrite);
  const requests: Recorded[] = [];
  const holds: { match: (r: Recorded) => boolean; reached: () => void; released: Promise<void> }[] = [];
  const up = new URL(upstream);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  const server = http.createServer((req, res) => {
    const absolute = /^https?:\/\//.test(req.url!);
    const url = new URL(req.url!, absolute ? undefined : upstream);
    const [, , ...rest] = url.pathname.split("/");
    const rec: Recorded = {
      method: req.method!,
      key: decodeURIComponent(rest.join("/")),
      query: url.search,
      accessKeyId: /Credential=([^/]+)\//.exec(req.headers.authorization ?? "")?.[1],
      sessionToken: req.headers["x-amz-security-token"] as string | undefined,
    };
    requests.push(rec);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", async () => {
      const body = Buffer.concat(chunks);
      const target = absolute ? url : new URL(url.pathname + url.search, up);
      if (req.method === "GET" && midWrite.delete(rec.key)) {
        // What s3rver answers for an object caught mid-PUT (it truncates the object, then writes
        // it and its MD5 file): no bytes, and an empty ETag.
        res.writeHead(200, { "content-length": "0", etag: '""', "last-modified": new Date().toUTCString() });
        res.end();
        return;
      }
      if (opts.conditional && (await refused(req, target))) {
        res.writeHead(412, { "content-type": "application/xml" });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>PreconditionFailed</Code><Message>At least one of the pre-conditions you specified did not hold</Message></Error>',
        );
        return;
      }
      const fwd = http.request(
        target,
        { method: req.method, headers: { ...req.headers, host: target.host }, agent },
        async (upRes) => {
          const hold = holds.find((h) => h.match(rec));
          const parts: Buffer[] = [];
          try {
            for await (const c of upRes) parts.push(c as Buffer);
          } catch {
            // s3rver cut its answer (a read racing a write): so is ours, as a store's would be.
            res.destroy();
            return;
          }
          if (res.headersSent || res.destroyed) return; // answered already (a 502 below)
          if (hold) {
            holds.splice(holds.indexOf(hold), 1);
            hold.reached();
            await hold.released;
          }
          let out = Buffer.concat(parts);
          const headers = { ...upRes.headers };
          if (opts.injectKeys && req.method === "GET" && url.searchParams.get("list-type") === "2") {
            // A hostile store: keys s3rver cannot hold, in its listing.
            const extra = opts.injectKeys
              .map(
                (k) => `<Contents><Key>${xmlEscape(k)}</Key><Size>4</Size><ETag>"${"a".repeat(32)}"</ETag></Contents>`,
              )
              .join("");
            out = Buffer.from(out.toString("utf8").replace("</ListBucketResult>", extra + "</ListBucketResult>"));
            delete headers["content-length"];
          }
          res.writeHead(upRes.statusCode!, headers);
          res.end(out);
        },
      );
      fwd.on("error", () => {
        if (res.headersSent) return void res.destroy();
        res.writeHead(502);
        res.end();
      });
      fwd.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      agent.destroy();
      server.close(() => r());
    });
  defer(close);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    count: (method, keyFilter = () => true) => requests.filter((r) => r.method === method && keyFilter(r.key)).length,
    hold(match) {
      let reached!: () => void;
      let release!: () => void;
      const r = new Promise<void>((res) => (reached = res));
      const released = new Promise<void>((res) => (release = res));
      holds.push({ match, reached, released });
      return { reached: r, release };
    },
    close,
  };
}

/** Would S3 refuse this request's preconditions? Checks the current object with a HEAD upstream. */
async function refused(req: http.IncomingMessage, target: URL): Promise<boolean> {
  const ifMatch = req.headers["if-match"];
  const ifNoneMatch = req.headers["if-none-match"];
  const copyIfMatch = req.headers["x-amz-copy-source-if-match"];
  const isWrite = req.method === "PUT" || (req.method === "POST" && target.searchParams.has("uploadId"));
  if (!isWrite || (!ifMatch && !ifNoneMatch && !copyIfMatch)) return false;
  const etagOf = (u: URL) =>
    new Promise<string | undefined>((resolve) => {
      http
        .request(u, { method: "HEAD" }, (r) => {
          r.resume();
          resolve(r.statusCode === 200 ? String(r.headers.etag) : undefined);
        })
        .on("error", () => resolve(undefined))
        .end();
    });
  if (copyIfMatch) {
    const src = decodeURIComponent(String(req.headers["x-amz-copy-source"]).replace(/^\//, ""));
    const srcUrl = new URL("/" + src.split("/").map(encodeURIComponent).join("/"), target);
    if ((await etagOf(srcUrl)) !== copyIfMatch) return true;
  }
  if (!ifMatch && !ifNoneMatch) return false;
  const current = await etagOf(new URL(target.pathname, target));
  if (ifNoneMatch === "*" && current !== undefined) return true;
  if (ifMatch && current !== ifMatch) return true;
  return false;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
