/**
 * The S3 backend: s3://bucket/prefix, on AWS or any S3-compatible store. key = prefix +
 * POSIX relative path. What changed is decided from a local manifest in the state dir
 * (size, mtime, sha256, ETag per path) and, only when it was never synced, one flat listing:
 * never a HEAD per object. S3 keeps no history, so nothing is overwritten unseen: conditional
 * writes where the store has them, trash for deletes, conflict copies at restore. The
 * reserved `<prefix>.mirrorshade/` (trash, conflicts) is never mirrored.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  constants as fsc,
  existsSync,
  fstatSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from "node:fs";
import { lstat, link, mkdir, open, readdir, rename, unlink, type FileHandle } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { hostname } from "node:os";
import path from "node:path";
import type * as S3 from "@aws-sdk/client-s3";
import { AuthError, ConfigError, MirrorshadeError, NotFoundError, TransientError } from "../src/errors";
import { IgnoreRules } from "../src/engine/ignore";
import { readSecretFile } from "../src/credentials";
import type { Logger, Progress } from "../src/log";
import { addSecret } from "../src/redact";
import { formatSize } from "../src/units";
import type {
  Backend,
  BackendContext,
  BackendFactory,
  ChangeSet,
  Conflict,
  PathFilter,
  PlanEntry,
  RestoreOptions,
  RestoreReport,
  SaveMeta,
  SavePlan,
  SaveReport,
} from "./types";

/** Reserved top-level name under the prefix: trash, conflicts, probes. Never mirrored. */
const META = ".mirrorshade";
/** Temp files in the work dir match the default ignore `.~*`: the watcher never sees them. */
const TMP = ".~mirrorshade-";
const MAX_KEY_BYTES = 1024;

type Sdk = typeof S3;
type Obj = S3._Object & { rel: string };
/** What the manifest knows of one object: the local file it was last in sync with, and its ETag. */
interface Entry {
  size: number;
  /** The local file's mtimeMs when it matched the object; -1: never matched locally. */
  mtime: number;
  /** "" when the object was only listed, its content not seen. */
  sha256: string;
  etag: string;
}
interface Source {
  /** Large files: kept open from hashing to upload, so both read the same file. */
  fh?: FileHandle;
  size: number;
  mtime: number;
  sha256: string;
  md5: string;
  body?: Buffer;
}

export const createS3Backend: BackendFactory = async (ctx) => {
  const b = new S3Backend(ctx);
  await b.open();
  return b;
};

class S3Backend implements Backend {
  readonly name = "s3";
  readonly capabilities = { history: false, atRestore: false, conflicts: false, integrates: false };
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly s: BackendContext["settings"];
  private sdk!: Sdk;
  private client!: S3.S3Client;
  private endpoint: string | undefined;
  private manifest!: Manifest;
  private versioned: boolean | undefined;

  constructor(private readonly ctx: BackendContext) {
    this.s = ctx.settings;
    const m = /^s3:\/\/([^/@]+)(?:\/(.*))?$/i.exec(ctx.remote ?? "");
    if (!m) {
      throw new ConfigError(`bad S3 remote "${ctx.remote}"`, {
        hint: "use s3://bucket/prefix (credentials never go in the URL)",
      });
    }
    this.bucket = m[1]!;
    const p = (m[2] ?? "").replace(/^\/+|\/+$/g, "");
    this.prefix = p ? p + "/" : "";
    if (!/^[a-z0-9][a-z0-9._-]{1,254}$/i.test(this.bucket)) {
      throw new ConfigError(`bad S3 bucket name "${this.bucket}"`, { hint: "3-63 lowercase letters, digits, . and -" });
    }
    if (p.split("/").some((seg) => seg === "" || seg === "." || seg === "..")) {
      throw new ConfigError(`bad S3 prefix "${p}"`, { hint: "no empty, . or .. segments" });
    }
    if (this.s.s3PartSize < 5 * 1024 ** 2) {
      throw new ConfigError(`--s3-part-size ${formatSize(this.s.s3PartSize)} is below S3's minimum`, {
        hint: "use 5m or more",
      });
    }
  }

  private get remote(): string {
    return `s3://${this.bucket}/${this.prefix}`;
  }

  async open(): Promise<void> {
    const env = process.env;
    // As the aws CLI: the service-specific variable, then the general one (unless told to ignore both).
    const fromEnv =
      env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS === "true" ? undefined : env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL;
    this.endpoint = this.s.s3Endpoint ?? (fromEnv || undefined);
    if (this.endpoint !== undefined && !/^https?:\/\/[^/]+/i.test(this.endpoint)) {
      throw new ConfigError(`bad S3 endpoint "${this.endpoint}"`, { hint: "use http(s)://host[:port]" });
    }
    const aws = this.endpoint === undefined || /\.amazonaws\.com(\.cn)?(:\d+)?(\/|$)/i.test(this.endpoint);
    try {
      this.sdk = await import("@aws-sdk/client-s3");
    } catch (err) {
      throw new ConfigError("the S3 SDK (@aws-sdk/client-s3) is not installed", { hint: "npm ci", cause: err });
    }
    const region = await this.region();
    const checksum = this.s.s3ChecksumMode ?? (aws ? undefined : "WHEN_REQUIRED");
    const agent = agentOptions(this.s.s3Concurrency, this.ctx.log);
    const ca = this.s.caFile ?? env.AWS_CA_BUNDLE;
    addSecret(env.AWS_SECRET_ACCESS_KEY);
    addSecret(env.AWS_SESSION_TOKEN);
    this.client = new this.sdk.S3Client({
      region,
      endpoint: this.endpoint,
      forcePathStyle: this.s.s3PathStyle ?? !aws,
      followRegionRedirects: aws,
      requestChecksumCalculation: checksum,
      responseChecksumValidation: checksum,
      credentials: this.fileCredentials(),
      requestHandler: {
        httpAgent: new http.Agent(agent),
        httpsAgent: new https.Agent({ ...agent, ca: ca ? readSecretFile(ca, "CA bundle") : undefined }),
        connectionTimeout: 10_000,
      },
    });
    mkdirSync(this.ctx.stateDir, { recursive: true, mode: 0o700 });
    this.manifest = new Manifest(path.join(this.ctx.stateDir, "s3-manifest"), this.remote, this.ctx.log);
  }

  /** Always set: the option, AWS_REGION or the profile's (the SDK's own lookup), else us-east-1. */
  private async region(): Promise<string> {
    let region = this.s.s3Region;
    if (region === undefined) {
      const probe = new this.sdk.S3Client({});
      region = await (probe.config.region as () => Promise<string>)().catch(() => "us-east-1");
      probe.destroy();
    }
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(region)) {
      throw new ConfigError(`bad S3 region "${region}"`, { hint: "e.g. us-east-1, eu-central-1 (MinIO: us-east-1)" });
    }
    return region;
  }

  /** Credentials from mounted files, re-read before every request (a Secret rotates); else the SDK's chain. */
  private fileCredentials() {
    const { s3AccessKeyIdFile: idFile, s3SecretAccessKeyFile: keyFile, s3SessionTokenFile: tokenFile } = this.s;
    if (!idFile && !keyFile) return undefined;
    if (!idFile || !keyFile) {
      throw new ConfigError("S3 credentials from files need both the access key id file and the secret key file", {
        hint: "set MIRRORSHADE_S3_ACCESS_KEY_ID_FILE and MIRRORSHADE_S3_SECRET_ACCESS_KEY_FILE",
      });
    }
    return async () => {
      const read = (f: string, what: string) => readSecretFile(f, what).trim();
      const secretAccessKey = read(keyFile, "S3 secret key file");
      const sessionToken = tokenFile ? read(tokenFile, "S3 session token file") : undefined;
      addSecret(secretAccessKey);
      addSecret(sessionToken);
      // Expiring at once makes the SDK ask again for the next request.
      return {
        accessKeyId: read(idFile, "S3 access key id file"),
        secretAccessKey,
        sessionToken,
        expiration: new Date(),
      };
    };
  }

  async check(): Promise<void> {
    try {
      const c = await (
        this.client.config.credentials as () => Promise<{ secretAccessKey: string; sessionToken?: string }>
      )();
      addSecret(c.secretAccessKey);
      addSecret(c.sessionToken);
    } catch (err) {
      throw translate(err, this.remote);
    }
    // A listing, not HeadBucket: it also proves we may list the prefix, and says NoSuchBucket plainly.
    await this.send(
      this.client.send(new this.sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, MaxKeys: 1 })),
    );
  }

  async create(): Promise<void> {
    const region = await this.client.config.region();
    try {
      await this.client.send(
        new this.sdk.CreateBucketCommand({
          Bucket: this.bucket,
          CreateBucketConfiguration: region === "us-east-1" ? undefined : { LocationConstraint: region as never },
        }),
      );
      this.ctx.log.info(`created the bucket ${this.bucket}`);
    } catch (err) {
      if (code(err) !== "BucketAlreadyOwnedByYou") throw translate(err, this.remote);
    }
  }

  async close(): Promise<void> {
    this.manifest?.compact();
    this.client?.destroy();
  }

  // ---------------------------------------------------------------- restore

  async restore(opts: RestoreOptions = {}): Promise<RestoreReport> {
    const resumed = this.manifest.synced;
    const report: RestoreReport = { written: [], kept: [], empty: true, resumed, incoming: [], conflicts: [] };
    const remote = new Map<string, Obj>();
    for (const o of await this.list()) remote.set(o.rel, o);
    report.empty = remote.size === 0;
    for (const [rel] of this.manifest.entries) {
      if (remote.has(rel)) continue;
      // Deleted at the remote: the local file (if any) is kept and saved again; never deleted here.
      this.manifest.set(rel, undefined);
      if (await lstatOrNull(this.abs(rel)))
        this.ctx.log.info(`${rel} was deleted at the remote: the local file is kept`);
    }
    const work: Obj[] = [];
    for (const o of remote.values()) {
      const m = this.manifest.get(o.rel);
      const st = await lstatOrNull(this.abs(o.rel));
      if (st && !st.isFile()) {
        this.ctx.log.warn(`not restoring ${o.rel}: a ${st.isSymbolicLink() ? "symbolic link" : "directory"} is there`);
        continue;
      }
      if (m && m.etag === o.ETag && m.sha256 !== "") {
        if (!st && resumed) continue; // deleted here while we were down: the next save deletes it there
        if (st && (resumed || (m.size === st.size && m.mtime === st.mtimeMs))) continue; // in sync, or changed here only
      }
      work.push(o);
    }
    const meter = new Meter(this.ctx.log, "restoring", work, opts.progress);
    const dirs = new Set<string>();
    await each(work, this.s.s3Concurrency, async (o) => {
      await this.restoreOne(o, report, dirs);
      meter.add(o.Size ?? 0);
    }).finally(() => meter.done());
    this.manifest.synced = true;
    this.manifest.compact();
    for (const l of [report.written, report.kept, report.incoming]) l.sort();
    return report;
  }

  private async restoreOne(o: Obj, report: RestoreReport, dirs: Set<string>): Promise<void> {
    const { rel } = o;
    const target = this.abs(rel);
    if (!(await this.ensureParents(rel, dirs))) return;
    const m = this.manifest.get(rel);
    const st = await lstatOrNull(target);
    let local: { sha256: string; md5: string } | undefined;
    if (st) {
      local = await hashFile(target);
      if (local && st.size === o.Size && plainEtag(o.ETag) === local.md5) {
        this.manifest.set(rel, { size: st.size, mtime: st.mtimeMs, sha256: local.sha256, etag: o.ETag! });
        return; // identical: nothing to download
      }
    }
    const tmp = path.join(path.dirname(target), `${TMP}${randomBytes(6).toString("hex")}`);
    const got = await this.download(o, tmp);
    try {
      if (!st) {
        if (await linkNew(tmp, target)) {
          this.manifest.set(rel, got);
          report.written.push(rel);
          if (report.resumed) report.incoming.push(rel);
          return;
        }
        local = await hashFile(target); // created meanwhile: compare with it
      }
      if (local?.sha256 === got.sha256) {
        const now = await lstat(target);
        this.manifest.set(rel, { size: now.size, mtime: now.mtimeMs, sha256: got.sha256, etag: got.etag });
      } else if (report.resumed && m && local?.sha256 === m.sha256) {
        // Unchanged here since our last save, changed there: take theirs.
        await rename(tmp, target);
        this.manifest.set(rel, got);
        report.written.push(rel);
        report.incoming.push(rel);
      } else {
        // Differs, and the local file wins the path: theirs goes beside it, so neither is lost.
        const copy = conflictName(rel, got.sha256);
        await linkNew(tmp, this.abs(copy));
        this.manifest.set(rel, { ...got, mtime: -1 });
        if (report.resumed) report.conflicts.push({ path: rel, ours: "local", theirs: copy });
        else report.kept.push(rel);
        this.ctx.log.warn(`kept the local ${rel}: it differs from the remote, whose version is beside it as ${copy}`);
      }
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }

  /** Create the parent dirs of `rel`, refusing to go through anything that is not a real directory. */
  private async ensureParents(rel: string, made: Set<string>): Promise<boolean> {
    const parts = rel.split("/").slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join("/");
      if (made.has(sub)) continue;
      const st = await lstatOrNull(this.abs(sub));
      if (!st) {
        await mkdir(this.abs(sub)).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== "EEXIST") throw err;
        });
        if (!(await lstat(this.abs(sub))).isDirectory()) return this.refuse(rel, `${sub} is not a directory here`);
      } else if (!st.isDirectory()) {
        return this.refuse(rel, `${sub} is a ${st.isSymbolicLink() ? "symbolic link" : "file"} here`);
      }
      made.add(sub);
    }
    return true;
  }

  private refuse(rel: string, why: string): false {
    this.ctx.log.warn(`not restoring ${rel}: ${why}`);
    return false;
  }

  /** GET into a fresh temp file (never through a link), verified, with the object's mtime. */
  private async download(o: Obj, tmp: string): Promise<Entry> {
    const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o666);
    try {
      const res = await this.send(
        this.client.send(new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + o.rel })),
      );
      const sha = createHash("sha256");
      const md5 = createHash("md5");
      let size = 0;
      try {
        for await (const chunk of res.Body as AsyncIterable<Uint8Array>) {
          sha.update(chunk);
          md5.update(chunk);
          size += chunk.length;
          await fh.write(chunk);
        }
      } catch (err) {
        throw translate(err, this.remote);
      }
      const sha256 = sha.digest("hex");
      const want = res.Metadata?.sha256;
      const md5hex = md5.digest("hex");
      // A single-part ETag is the MD5, except under SSE-KMS / SSE-C.
      const etagMd5 =
        res.ServerSideEncryption?.startsWith("aws:kms") || res.SSECustomerAlgorithm ? undefined : plainEtag(res.ETag);
      if (size !== res.ContentLength || (want && want !== sha256) || (!want && etagMd5 && etagMd5 !== md5hex)) {
        throw new TransientError(`the download of ${o.rel} does not match the object (size or checksum)`);
      }
      const mtime = Number(res.Metadata?.mtime) || res.LastModified?.getTime() || Date.now();
      await fh.utimes(new Date(), new Date(mtime));
      const st = await fh.stat();
      return { size, mtime: st.mtimeMs, sha256, etag: res.ETag ?? o.ETag! };
    } finally {
      await fh.close();
    }
  }

  /** The objects under the prefix (one flat, paginated listing), keys checked for safety. */
  private async list(): Promise<Obj[]> {
    const out: Obj[] = [];
    let token: string | undefined;
    do {
      const r = await this.send(
        this.client.send(
          new this.sdk.ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix, ContinuationToken: token }),
        ),
      );
      for (const o of r.Contents ?? []) {
        const rel = o.Key!.slice(this.prefix.length);
        if (rel === META || rel.startsWith(META + "/") || (rel.endsWith("/") && !o.Size)) continue;
        const bad = unsafeKey(rel);
        if (bad) this.ctx.log.warn(`not restoring the key ${JSON.stringify(o.Key)}: ${bad}`);
        else out.push({ ...o, rel });
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  // ---------------------------------------------------------------- plan

  async plan(changes: ChangeSet | "all", filter: PathFilter): Promise<SavePlan> {
    const plan: SavePlan = { entries: [], skipped: [], deferred: [], total: 0, unacknowledged: 0 };
    if (!this.manifest.synced) {
      // Never synced (no restore yet): learn what the remote holds, so nothing there is overwritten unseen.
      for (const o of await this.list()) {
        if (!this.manifest.get(o.rel))
          this.manifest.set(o.rel, { size: o.Size ?? 0, mtime: -1, sha256: "", etag: o.ETag! });
      }
      this.manifest.synced = true;
    }
    const rules = new IgnoreRules(this.ctx.dir, this.s.ignore);
    const files = new Set<string>();
    const gone = new Set<string>();
    const scan = async (rel: string) => {
      const st = await lstatOrNull(this.abs(rel));
      if (rel !== "" && !st) {
        gone.add(rel);
        for (const k of this.manifest.entries.keys()) if (k.startsWith(rel + "/")) gone.add(k);
      } else if (rel === "" || st!.isDirectory()) {
        await this.walk(rel, rules, files, plan);
        for (const k of this.manifest.entries.keys()) if (rel === "" || k.startsWith(rel + "/")) gone.add(k);
      } else if (!rules.ignores(rel)) files.add(rel);
    };
    if (changes === "all") await scan("");
    else for (const rel of changes.keys()) await scan(rel === "." ? "" : rel);
    for (const rel of [...files].sort()) {
      gone.delete(rel);
      const st = await lstatOrNull(this.abs(rel));
      if (!st) continue;
      const why = this.unsaveable(rel, st);
      if (why) {
        plan.skipped.push({ path: rel, reason: why });
        continue;
      }
      const m = this.manifest.get(rel);
      if (m && m.size === st.size && m.mtime === st.mtimeMs) continue;
      const h = m && m.size === st.size ? await hashFile(this.abs(rel)) : undefined;
      if (m && h && (h.sha256 === m.sha256 || (m.sha256 === "" && plainEtag(m.etag) === h.md5))) {
        this.manifest.set(rel, { ...m, sha256: h.sha256, mtime: st.mtimeMs }); // touched, not changed
        continue;
      }
      await this.decide(plan, filter, { path: rel, op: m ? "modify" : "add", size: st.size });
    }
    for (const rel of [...gone].sort()) {
      // Only what we had here can be deleted here (not objects merely listed), and an ignored file is not deleted.
      if (!this.manifest.get(rel)?.sha256 || (await lstatOrNull(this.abs(rel))) || rules.ignores(rel)) continue;
      await this.decide(plan, filter, { path: rel, op: "delete" });
    }
    plan.total = this.manifest.entries.size;
    return plan;
  }

  private async decide(plan: SavePlan, filter: PathFilter, entry: PlanEntry): Promise<void> {
    const verdict = await filter(entry);
    if (verdict === "save") plan.entries.push(entry);
    else if ("skip" in verdict) plan.skipped.push({ path: entry.path, reason: verdict.skip });
    else plan.deferred.push({ path: entry.path, reason: verdict.defer });
  }

  /** Walk a directory (never following links), collecting regular files and skipping ignored paths. */
  private async walk(rel: string, rules: IgnoreRules, files: Set<string>, plan: SavePlan): Promise<void> {
    let ents;
    try {
      ents = await readdir(this.abs(rel), { withFileTypes: true });
    } catch (err) {
      if (["ENOENT", "ENOTDIR"].includes((err as NodeJS.ErrnoException).code!)) return;
      plan.skipped.push({ path: rel, reason: `unreadable directory (${(err as NodeJS.ErrnoException).code})` });
      return;
    }
    for (const e of ents) {
      const sub = rel ? `${rel}/${e.name}` : e.name;
      if (rules.ignores(sub, e.isDirectory())) continue;
      if (e.isDirectory()) await this.walk(sub, rules, files, plan);
      else files.add(sub);
    }
  }

  private unsaveable(rel: string, st: import("node:fs").Stats): string | undefined {
    if (st.isSymbolicLink()) return "a symbolic link: never followed, its target is not saved";
    if (!st.isFile()) return "not a regular file";
    if (rel === META || rel.startsWith(META + "/")) return `${META}/ is reserved at the remote (trash, conflicts)`;
    if (Buffer.byteLength(this.prefix + rel) > MAX_KEY_BYTES) return "the S3 key would be over 1024 bytes";
    return undefined;
  }

  // ---------------------------------------------------------------- save

  async save(plan: SavePlan, meta: SaveMeta): Promise<SaveReport> {
    const report: SaveReport = { saved: [], incoming: [], conflicts: [] };
    const stamp = meta.date.toISOString().replace(/[-:]/g, "").replace(/\..*/, "Z") + "-" + hostSafe(meta.host);
    const ups = plan.entries.filter((e) => e.op !== "delete");
    const dels = plan.entries.filter((e) => e.op === "delete");
    const conditional = ups.length ? await this.conditional() : false;
    const meter = new Meter(
      this.ctx.log,
      "saving",
      ups.map((e) => ({ Size: e.size })),
    );
    try {
      await each(ups, this.s.s3Concurrency, async (e) => {
        const c = await this.upload(e.path, conditional, stamp);
        if (c !== null) report.saved.push(e);
        if (c) report.conflicts.push(c);
        meter.add(e.size ?? 0);
      });
      if (dels.length) await this.remove(dels, stamp, report);
    } finally {
      meter.done();
      this.manifest.compact();
    }
    if (report.conflicts.length) report.conflictRef = `s3://${this.bucket}/${this.prefix}${META}/conflicts/${stamp}/`;
    return report;
  }

  /**
   * Upload one file unless another writer changed its object since we saw it; then theirs is
   * copied to the conflict area first (ours wins the path, like git). Returns the conflict,
   * undefined when plainly saved, null when the file vanished.
   */
  private async upload(rel: string, conditional: boolean, stamp: string): Promise<Conflict | undefined | null> {
    const src = await this.source(rel);
    if (!src) return null;
    const key = this.prefix + rel;
    let m = this.manifest.get(rel);
    let theirs = m?.sha256 === "" ? m.etag : undefined; // listed, never seen: preserve it before replacing
    let conflict: Conflict | undefined;
    try {
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          if (theirs) {
            const copy = `${this.prefix}${META}/conflicts/${stamp}${attempt ? `-${attempt}` : ""}/${rel}`;
            await this.copy(key, copy, theirs);
            conflict = { path: rel, ours: "", theirs: `s3://${this.bucket}/${copy}` };
          }
          const cond = !conditional ? {} : m ? { IfMatch: m.etag } : { IfNoneMatch: "*" };
          const etag = await this.put(key, src, cond);
          this.manifest.set(rel, { size: src.size, mtime: src.mtime, sha256: src.sha256, etag });
          if (conflict) conflict.ours = etag;
          return conflict;
        } catch (err) {
          if (!(status(err) === 412 || (m && code(err) === "NoSuchKey"))) throw translate(err, this.remote);
        }
        // Someone else wrote (or deleted) it since we saw it; one HEAD, for this path only.
        const head = await this.client
          .send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key }))
          .catch((err: unknown) => {
            if (status(err) === 404) return undefined;
            throw translate(err, this.remote);
          });
        if (head?.Metadata?.sha256 === src.sha256) {
          // Ours already: an upload whose acknowledgement a crash lost.
          this.manifest.set(rel, { size: src.size, mtime: src.mtime, sha256: src.sha256, etag: head.ETag! });
          return conflict;
        }
        m = head ? { size: head.ContentLength ?? 0, mtime: -1, sha256: "", etag: head.ETag! } : undefined;
        theirs = head?.ETag;
      }
      throw new TransientError(`${rel} keeps changing at the remote: retrying later`);
    } finally {
      await src.fh?.close();
    }
  }

  /** Open a file to upload (never through a symlink), hashed; its Buffer when small. */
  private async source(rel: string): Promise<Source | undefined> {
    const file = this.abs(rel);
    const vanished = (err: unknown) => ["ENOENT", "ELOOP", "ENOTDIR"].includes((err as NodeJS.ErrnoException).code!);
    let fd: number;
    try {
      fd = openSync(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (err) {
      if (vanished(err)) return undefined;
      throw err;
    }
    try {
      // Small files: synchronous reads cost far less than four thread-pool round trips each.
      const st = fstatSync(fd);
      if (!st.isFile()) return undefined;
      if (st.size <= this.s.s3MultipartThreshold) {
        const body = readFileSync(fd);
        const sha256 = createHash("sha256").update(body).digest("hex");
        return {
          size: body.length,
          mtime: st.mtimeMs,
          sha256,
          md5: createHash("md5").update(body).digest("hex"),
          body,
        };
      }
    } finally {
      closeSync(fd);
    }
    let fh: FileHandle;
    try {
      fh = await open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (err) {
      if (vanished(err)) return undefined;
      throw err;
    }
    const st = await fh.stat();
    if (!st.isFile()) {
      await fh.close();
      return undefined;
    }
    const hashes = await hashStream(fh.createReadStream({ start: 0, autoClose: false }));
    return { fh, size: st.size, mtime: st.mtimeMs, ...hashes };
  }

  /** PUT (Buffer, with Content-MD5) or multipart Upload; returns the ETag after checking what the store took. */
  private async put(key: string, src: Source, cond: { IfMatch?: string; IfNoneMatch?: string }): Promise<string> {
    const params = {
      Bucket: this.bucket,
      Key: key,
      ContentLength: src.size,
      Metadata: { sha256: src.sha256, mtime: String(src.mtime) },
      StorageClass: this.s.s3StorageClass as S3.StorageClass | undefined,
      ServerSideEncryption: this.s.s3Sse as S3.ServerSideEncryption | undefined,
      SSEKMSKeyId: this.s.s3SseKmsKeyId,
      ...cond,
    };
    if (src.body) {
      const r = await this.client.send(
        new this.sdk.PutObjectCommand({
          ...params,
          Body: src.body,
          ContentMD5: Buffer.from(src.md5, "hex").toString("base64"),
        }),
      );
      const etag = plainEtag(r.ETag);
      // A store that ignores Content-MD5 still tells us what it took (an SSE-KMS ETag is no MD5).
      if (etag && etag !== src.md5 && !this.s.s3Sse?.startsWith("aws:kms")) {
        throw new TransientError(`the store acknowledged other content for ${key} (ETag ${etag}, ours ${src.md5})`);
      }
      return r.ETag!;
    }
    const { Upload } = await import("@aws-sdk/lib-storage");
    const body = src.fh!.createReadStream({ start: 0, end: Math.max(0, src.size - 1), autoClose: false });
    const up = new Upload({ client: this.client, params: { ...params, Body: body }, partSize: this.s.s3PartSize });
    const r = await up.done();
    const head = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: key }));
    if (head.ContentLength !== src.size) {
      throw new TransientError(`the store holds ${head.ContentLength} bytes for ${key}, not ${src.size}`);
    }
    return r.ETag ?? head.ETag!;
  }

  private async copy(from: string, to: string, ifMatch?: string): Promise<void> {
    const source = (k: string) => `${this.bucket}/${k.split("/").map(encodeURIComponent).join("/")}`;
    const send = (src: string) =>
      this.client.send(
        new this.sdk.CopyObjectCommand({
          Bucket: this.bucket,
          Key: to,
          CopySource: src,
          CopySourceIfMatch: ifMatch,
          StorageClass: this.s.s3StorageClass as S3.StorageClass | undefined,
          ServerSideEncryption: this.s.s3Sse as S3.ServerSideEncryption | undefined,
          SSEKMSKeyId: this.s.s3SseKmsKeyId,
        }),
      );
    try {
      await send(source(from));
    } catch (err) {
      // Stores that decode the copy source with decodeURI (s3rver) miss keys with reserved characters.
      const loose = `${this.bucket}/${encodeURI(from)}`;
      if (code(err) !== "NoSuchKey" || loose === source(from)) throw err;
      await send(loose);
    }
  }

  /** Deletes per --s3-delete-policy; the manifest forgets each path once the store acknowledged it. */
  private async remove(dels: PlanEntry[], stamp: string, report: SaveReport): Promise<void> {
    const policy = this.s.s3DeletePolicy;
    const forget = (e: PlanEntry) => {
      this.manifest.set(e.path, undefined);
      report.saved.push(e);
    };
    if (policy === "keep") return dels.forEach(forget);
    let doomed = dels;
    if (policy === "trash" && !(await this.isVersioned())) {
      doomed = [];
      await each(dels, this.s.s3Concurrency, async (e) => {
        const etag = this.manifest.get(e.path)?.etag;
        try {
          await this.copy(this.prefix + e.path, `${this.prefix}${META}/trash/${stamp}/${e.path}`, etag);
          doomed.push(e);
        } catch (err) {
          if (status(err) === 412) {
            // Changed there since we saw it: their version stays, and the next restore brings it back.
            report.conflicts.push({ path: e.path, ours: "deleted", theirs: "changed at the remote" });
          } else if (code(err) !== "NoSuchKey") throw translate(err, this.remote);
          forget(e);
        }
      });
    }
    const failed: string[] = [];
    for (let i = 0; i < doomed.length; i += 1000) {
      const batch = doomed.slice(i, i + 1000);
      const cmd = new this.sdk.DeleteObjectsCommand({
        Bucket: this.bucket,
        Delete: { Objects: batch.map((e) => ({ Key: this.prefix + e.path })), Quiet: true },
      });
      cmd.middlewareStack.add(contentMd5 as never, { step: "build", name: "mirrorshadeContentMd5" });
      const r = await this.send(this.client.send(cmd));
      const errors = new Set((r.Errors ?? []).map((x) => x.Key!));
      for (const e of batch) {
        if (errors.has(this.prefix + e.path)) failed.push(e.path);
        else forget(e);
      }
    }
    if (failed.length) throw new TransientError(`the store refused to delete ${failed.length} object(s): ${failed[0]}`);
  }

  private async isVersioned(): Promise<boolean> {
    if (this.versioned === undefined) {
      const r = await this.client
        .send(new this.sdk.GetBucketVersioningCommand({ Bucket: this.bucket }))
        .catch(() => undefined);
      this.versioned = r?.Status === "Enabled";
      if (this.versioned) this.ctx.log.info("the bucket keeps versions: deleted objects stay there, not in the trash");
    }
    return this.versioned;
  }

  /**
   * Whether the store honours If-Match / If-None-Match on PUT. `auto` asks once (cached in the
   * manifest): a second If-None-Match:* PUT of one probe key must be refused, and so must an
   * If-Match with a wrong ETag. s3rver ignores both: there the last writer wins.
   */
  private async conditional(): Promise<boolean> {
    const mode = this.s.s3ConditionalWrites;
    if (mode !== "auto") return (this.capabilities.conflicts = mode === "on");
    const store = `${this.endpoint ?? "aws"} ${this.bucket}`;
    let known = this.manifest.conditional[store];
    if (known === undefined) {
      const key = `${this.prefix}${META}/probe-${hostSafe(hostname())}-${process.pid}`;
      const put = (cond: { IfMatch?: string; IfNoneMatch?: string }) =>
        this.client
          .send(new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key: key, Body: Buffer.alloc(0), ...cond }))
          .then(
            () => true,
            (err: unknown) => {
              if (status(err) === 412) return false;
              if (status(err) === 501 || code(err) === "NotImplemented") return true;
              throw translate(err, this.remote);
            },
          );
      try {
        await put({});
        known = !(await put({ IfNoneMatch: "*" })) && !(await put({ IfMatch: `"${"0".repeat(32)}"` }));
      } finally {
        await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: key })).catch(() => {});
      }
      this.manifest.conditional[store] = known;
      if (!known) {
        this.ctx.log.warn(
          "this S3 store ignores conditional writes: two writers on one prefix overwrite each other (last writer wins); turn on bucket versioning",
        );
      }
    }
    return (this.capabilities.conflicts = known);
  }

  private abs(rel: string): string {
    return path.join(this.ctx.dir, rel);
  }

  /** Await an SDK call, translating its failure. */
  private async send<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (err) {
      throw translate(err, this.remote);
    }
  }
}

/**
 * The manifest: what we last saw at the remote, per path. A snapshot (temp + rename) plus an
 * append-only journal of acknowledged writes, so a crash loses no acknowledgement and the
 * next start re-uploads nothing that landed.
 */
class Manifest {
  readonly entries = new Map<string, Entry>();
  /** Listed at least once (a restore, or a plan's listing): every remote key is in `entries`. */
  synced = false;
  conditional: Record<string, boolean> = {};
  private journal: number | undefined;
  private dirty = false;

  constructor(
    private readonly base: string,
    private readonly remote: string,
    log: Logger,
  ) {
    try {
      const snap = JSON.parse(readFileSync(base + ".json", "utf8")) as {
        remote: string;
        synced: boolean;
        conditional?: Record<string, boolean>;
        entries: Record<string, Entry>;
      };
      if (snap.remote !== remote) {
        log.warn(`the state dir saved ${snap.remote} before, not ${remote}: starting afresh`);
        rmSync(base + ".journal", { force: true });
        return;
      }
      this.synced = snap.synced;
      this.conditional = snap.conditional ?? {};
      for (const [k, v] of Object.entries(snap.entries)) this.entries.set(k, v);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") log.warn(`unreadable S3 manifest: starting afresh`);
    }
    if (!existsSync(base + ".journal")) return;
    // A torn last line (a crash mid-append) is ignored.
    for (const line of readFileSync(base + ".journal", "utf8").split("\n")) {
      try {
        const [rel, e] = JSON.parse(line) as [string, Entry | null];
        if (e) this.entries.set(rel, e);
        else this.entries.delete(rel);
        this.dirty = true;
      } catch {
        // torn
      }
    }
  }

  get(rel: string): Entry | undefined {
    return this.entries.get(rel);
  }

  set(rel: string, e: Entry | undefined): void {
    if (e) this.entries.set(rel, e);
    else if (!this.entries.delete(rel)) return;
    this.journal ??= openSync(this.base + ".journal", "a", 0o600);
    writeSync(this.journal, JSON.stringify([rel, e ?? null]) + "\n");
    this.dirty = true;
  }

  compact(): void {
    if (!this.dirty && existsSync(this.base + ".json")) return;
    const tmp = `${this.base}.json.tmp-${process.pid}`;
    const fd = openSync(tmp, "w", 0o600);
    const snap = {
      remote: this.remote,
      synced: this.synced,
      conditional: this.conditional,
      entries: Object.fromEntries(this.entries),
    };
    writeSync(fd, JSON.stringify(snap));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.base + ".json");
    if (this.journal !== undefined) closeSync(this.journal);
    this.journal = undefined;
    rmSync(this.base + ".journal", { force: true });
    this.dirty = false;
  }
}

/** Files and bytes done, on a terminal (a log line elsewhere), for transfers worth watching. */
class Meter {
  private p?: Progress;
  private files = 0;
  private bytes = 0;
  private last = 0;
  private readonly total: number;

  constructor(
    log: Logger,
    private readonly verb: string,
    private readonly items: { Size?: number }[],
    private readonly external?: (msg: string) => void,
  ) {
    this.total = items.reduce((n, o) => n + (o.Size ?? 0), 0);
    if (items.length < 100 && this.total < 32 * 1024 ** 2) return;
    if (!external) this.p = log.progress(this.text());
    else external(this.text());
  }

  private text(): string {
    return `${this.verb} ${this.files}/${this.items.length} files, ${formatSize(this.bytes)} of ${formatSize(this.total)}`;
  }

  add(bytes: number): void {
    this.files++;
    this.bytes += bytes;
    if (!this.p && !this.external) return;
    if (Date.now() - this.last < 200) return;
    this.last = Date.now();
    if (this.p) this.p.update(this.text());
    else this.external!(this.text());
  }

  done(): void {
    this.p?.done(this.text());
    this.p = undefined;
  }
}

/** The agents: keep-alive, enough sockets, and HTTPS_PROXY/HTTP_PROXY/NO_PROXY (Node's own support). */
function agentOptions(concurrency: number, log: Logger): https.AgentOptions {
  const opts: https.AgentOptions = { keepAlive: true, maxSockets: Math.max(50, concurrency * 2) };
  const env = process.env;
  if (!["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"].some((k) => env[k])) return opts;
  // The v3 SDK ignores proxy variables unless its agent handles them: Node ≥ 24.5 (and 22.21) does.
  const probe = new http.Agent({ proxyEnv: { HTTP_PROXY: "http://127.0.0.1:1" } });
  if (Object.getOwnPropertySymbols(probe).some((s) => String(s) === "Symbol(kProxyConfig)")) {
    return { ...opts, proxyEnv: env };
  }
  log.warn(`HTTPS_PROXY/HTTP_PROXY are set but this Node (${process.version}) cannot use them for S3: use Node 24.5+`);
  return opts;
}

/** Why a key's relative path must not be written into the work dir, or undefined when safe. */
export function unsafeKey(rel: string): string | undefined {
  if (rel === "") return "an empty name";
  if (rel.includes("\0")) return "a NUL character in the name";
  if (rel.startsWith("/")) return "an absolute path";
  const parts = rel.split("/");
  if (parts.some((p) => p === "..")) return "it climbs out of the work dir (..)";
  if (parts.some((p) => p === "" || p === ".")) return "an empty or . path segment";
  if (parts.some((p) => Buffer.byteLength(p) > 255)) return "a name longer than 255 bytes";
  if (parts.some((p) => p.toLowerCase() === ".git")) return "a .git directory is never restored";
  return undefined;
}

/** `dir/name.ext` → `dir/name.conflict-<first 8 of the remote's sha256>.ext` (stable: a second restore adds nothing). */
export function conflictName(rel: string, sha256: string): string {
  const base = path.posix.basename(rel);
  const ext = path.posix.extname(base);
  const stem = base.slice(0, base.length - ext.length);
  const dir = path.posix.dirname(rel);
  return (dir === "." ? "" : dir + "/") + `${stem}.conflict-${sha256.slice(0, 8)}${ext}`;
}

/** Translate an SDK or network error into our typed errors (original as `cause`); unknown errors pass through. */
export function translate(err: unknown, where: string): unknown {
  if (err instanceof MirrorshadeError) return err;
  const e = err as { name?: string; code?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const st = status(err);
  const c = code(err);
  const msg = String(e.message ?? err);
  const o = (hint: string) => ({ hint, cause: err });
  if (e.name === "CredentialsProviderError" || /Could not load credentials/i.test(msg)) {
    return new AuthError(
      `no S3 credentials for ${where}`,
      o(
        "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or MIRRORSHADE_S3_ACCESS_KEY_ID_FILE and …_SECRET_ACCESS_KEY_FILE",
      ),
    );
  }
  if (c === "NoSuchBucket") return new NotFoundError(`bucket of ${where} does not exist`, o("--create makes it"));
  if (
    st === 401 ||
    st === 403 ||
    /^(AccessDenied|InvalidAccessKeyId|SignatureDoesNotMatch|ExpiredToken|InvalidToken)$/.test(c)
  ) {
    return new AuthError(`${where} refused our credentials: ${c || st}`, o("check the access key, secret and policy"));
  }
  if (st === 301 || c === "PermanentRedirect" || c === "AuthorizationHeaderMalformed") {
    return new ConfigError(`${where} is in another region: ${msg}`, o("set --s3-region (AWS_REGION)"));
  }
  if (st === 412) return new TransientError(`${where}: an object changed meanwhile`, o("it is retried"));
  if (st && (st >= 500 || st === 408 || st === 429 || c === "SlowDown" || c === "RequestTimeout")) {
    return new TransientError(`${where}: the store answered ${st} ${c}`, o("it is retried"));
  }
  if (st && st >= 400)
    return new ConfigError(`${where} refused the request: ${c || st} ${msg}`, o("check the S3 settings"));
  if (/Region not accepted|Invalid region/i.test(msg))
    return new ConfigError(`bad S3 region: ${msg}`, o("e.g. us-east-1"));
  if (/CERT|certificate|self[- ]signed/i.test(`${e.code} ${msg}`)) {
    return new ConfigError(`TLS to ${where} failed: ${msg}`, o("point AWS_CA_BUNDLE (or --ca-file) at the store's CA"));
  }
  if (["ENOTFOUND", "EAI_AGAIN"].includes(e.code ?? "")) {
    return new TransientError(
      `cannot resolve the S3 endpoint host: ${msg}`,
      o("check --s3-endpoint and DNS; it is retried"),
    );
  }
  const net = ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "ECONNABORTED"];
  if (
    net.includes(e.code ?? "") ||
    ["TimeoutError", "RequestTimeout"].includes(e.name ?? "") ||
    /socket hang up/i.test(msg)
  ) {
    return new TransientError(`cannot reach ${where}: ${msg}`, o("check --s3-endpoint and the network; it is retried"));
  }
  return err;
}

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function code(err: unknown): string {
  const e = err as { Code?: string; name?: string };
  return e?.Code ?? e?.name ?? "";
}

/** The MD5 hex of a single-part ETag, undefined for multipart (`…-N`) or other forms. */
function plainEtag(etag: string | undefined): string | undefined {
  const m = /^"?([0-9a-f]{32})"?$/i.exec(etag ?? "");
  return m ? m[1]!.toLowerCase() : undefined;
}

/** Stores that want Content-MD5 on DeleteObjects (older MinIO, Ceph) get it; WHEN_REQUIRED alone sends CRC32. */
const contentMd5 =
  (next: (args: { request: unknown }) => Promise<unknown>) =>
  async (args: { request: unknown }): Promise<unknown> => {
    const req = args.request as { headers?: Record<string, string>; body?: unknown };
    if (
      req.headers &&
      typeof req.body === "string" &&
      !Object.keys(req.headers).some((h) => /^content-md5$/i.test(h))
    ) {
      req.headers["content-md5"] = createHash("md5").update(req.body).digest("base64");
    }
    return next(args);
  };

async function hashFile(file: string): Promise<{ sha256: string; md5: string } | undefined> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(file, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    return await hashStream(fh.createReadStream({ start: 0, autoClose: false }));
  } catch {
    return undefined;
  } finally {
    await fh?.close();
  }
}

async function hashStream(stream: AsyncIterable<Buffer>): Promise<{ sha256: string; md5: string }> {
  const sha = createHash("sha256");
  const md5 = createHash("md5");
  for await (const chunk of stream) {
    sha.update(chunk);
    md5.update(chunk);
  }
  return { sha256: sha.digest("hex"), md5: md5.digest("hex") };
}

/** Hard-link `tmp` to `target` unless something is there: never overwrites, never follows a link. */
async function linkNew(tmp: string, target: string): Promise<boolean> {
  try {
    await link(tmp, target);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
}

async function lstatOrNull(p: string) {
  try {
    return await lstat(p);
  } catch {
    return null;
  }
}

/** Run `fn` over items, `limit` at a time; after a failure no new item starts, and the first error is thrown. */
async function each<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    while (!failure && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.err;
}

function hostSafe(host: string): string {
  return (process.env.HOSTNAME || host || "host").replace(/[^A-Za-z0-9._-]/g, "-");
}
