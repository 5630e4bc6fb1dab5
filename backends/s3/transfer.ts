/**
 * Transfers: a local file opened for upload (hashed; a Buffer when small, an open handle for
 * multipart), PUT with Content-MD5 or a multipart `Upload`, server-side copies, and GET into
 * a temp file, verified against the object's checksum before anyone sees it.
 */
import type { FileHandle } from "node:fs/promises";
import type * as S3 from "@aws-sdk/client-s3";
import { TransientError } from "../../src/errors";
import { readUpTo, reasonOf, type WorkDir } from "../../src/safefs";
import type { PlanEntry } from "../types";
import { hashBytes, hashHandle, hashStream, type Hashes } from "../lib/hash";
import type { Obj, S3Ctx } from "./context";
import { call, sent } from "./timeouts";
import { code, status, translate } from "./errors";
import { plainEtag } from "./keys";
import type { Entry } from "./manifest";

export interface Source {
  /** Large files: kept open from hashing to upload, so both read the same file. */
  fh?: FileHandle;
  size: number;
  mtime: number;
  sha256: string;
  md5: string;
  body?: Buffer;
}

/** The hashes of a local file, read without following links; undefined when it is not a readable regular file. */
export async function hashLocal(wd: WorkDir, rel: string): Promise<Hashes | undefined> {
  const o = await wd.open(rel);
  if (o.kind !== "file") return undefined;
  try {
    return await hashHandle(o.fh);
  } catch {
    return undefined;
  } finally {
    await o.fh.close();
  }
}

export type Conditions = { IfMatch?: string; IfNoneMatch?: string };

/** What an upload reads from: a Source, a reason it cannot (`skip`), or undefined when the file vanished. */
export type Sourced = Source | { skip: string } | undefined;

/**
 * The bytes to upload for a planned entry. The bytes the shared filter checked (a notebook
 * that parsed as JSON) are uploaded as they are: a re-read could catch a half-written
 * rewrite. Otherwise the file is opened through safe-fs (no symlink anywhere in its path,
 * never blocking, regular files only), hashed, and read into a Buffer when small.
 */
export async function source(c: S3Ctx, wd: WorkDir, e: PlanEntry): Promise<Sourced> {
  if (e.content) return bytesSource(e.content);
  const o = await wd.open(e.path);
  if (o.kind === "gone") return undefined;
  if (o.kind === "symlink") return { skip: "a symbolic link: never followed, its target is not saved" };
  if (o.kind === "skip") return { skip: o.reason };
  const { fh, stat } = o;
  try {
    if (stat.size > c.s.s3MultipartThreshold) {
      return { fh, size: stat.size, mtime: stat.mtimeMs, ...(await hashHandle(fh)) };
    }
    const body = await readUpTo(fh, stat.size);
    await fh.close();
    return { size: body.length, mtime: stat.mtimeMs, ...hashBytes(body), body };
  } catch (err) {
    await fh.close().catch(() => {});
    return { skip: reasonOf(err) };
  }
}

/**
 * Bytes held in memory (checked, stripped or merged): their mtime is not known to match the
 * local file's, so -1 makes the next plan compare by hash.
 */
export function bytesSource(bytes: Buffer): Source {
  return { size: bytes.length, mtime: -1, ...hashBytes(bytes), body: bytes };
}

/** PUT (Buffer, with Content-MD5) or multipart Upload; returns the ETag after checking what the store took. */
export async function put(c: S3Ctx, key: string, src: Source, cond: Conditions): Promise<string> {
  const params = {
    Bucket: c.bucket,
    Key: key,
    ContentLength: src.size,
    Metadata: { sha256: src.sha256, mtime: String(src.mtime) },
    StorageClass: c.s.s3StorageClass as S3.StorageClass | undefined,
    ServerSideEncryption: c.s.s3Sse as S3.ServerSideEncryption | undefined,
    SSEKMSKeyId: c.s.s3SseKmsKeyId,
    ...cond,
  };
  if (src.body) {
    const r: S3.PutObjectCommandOutput = await call((o) =>
      c.client.send(
        new c.sdk.PutObjectCommand({
          ...params,
          Body: src.body,
          ContentMD5: Buffer.from(src.md5, "hex").toString("base64"),
        }),
        o,
      ),
    );
    const etag = plainEtag(r.ETag);
    // A store that ignores Content-MD5 still tells us what it took (an SSE-KMS ETag is no MD5).
    if (etag && etag !== src.md5 && !c.s.s3Sse?.startsWith("aws:kms")) {
      throw new TransientError(`the store acknowledged other content for ${key} (ETag ${etag}, ours ${src.md5})`);
    }
    if (r.VersionId) c.versionIds.set(key, r.VersionId);
    return r.ETag!;
  }
  const { Upload } = await import("@aws-sdk/lib-storage");
  const body = src.fh!.createReadStream({ start: 0, end: Math.max(0, src.size - 1), autoClose: false });
  const up = new Upload({ client: c.client, params: { ...params, Body: body }, partSize: c.s.s3PartSize });
  const r = await up.done();
  const head = await call((o) => c.client.send(new c.sdk.HeadObjectCommand({ Bucket: c.bucket, Key: key }), o));
  if (head.ContentLength !== src.size) {
    throw new TransientError(`the store holds ${head.ContentLength} bytes for ${key}, not ${src.size}`);
  }
  if (r.VersionId) c.versionIds.set(key, r.VersionId);
  return r.ETag ?? head.ETag!;
}

/** Server-side copy `from` → `to`, only while `from` still has the ETag `ifMatch` (when given); the copy's ETag. */
export async function copy(c: S3Ctx, from: string, to: string, ifMatch?: string): Promise<string | undefined> {
  const source = (k: string) => `${c.bucket}/${k.split("/").map(encodeURIComponent).join("/")}`;
  const send = (src: string) =>
    call((o) =>
      c.client.send(
        new c.sdk.CopyObjectCommand({
          Bucket: c.bucket,
          Key: to,
          CopySource: src,
          CopySourceIfMatch: ifMatch,
          StorageClass: c.s.s3StorageClass as S3.StorageClass | undefined,
          ServerSideEncryption: c.s.s3Sse as S3.ServerSideEncryption | undefined,
          SSEKMSKeyId: c.s.s3SseKmsKeyId,
        }),
        o,
      ),
    );
  try {
    return (await send(source(from))).CopyObjectResult?.ETag;
  } catch (err) {
    // Stores that decode the copy source with decodeURI (s3rver) miss keys with reserved characters.
    const loose = `${c.bucket}/${encodeURI(from)}`;
    if (code(err) !== "NoSuchKey" || loose === source(from)) throw err;
    return (await send(loose)).CopyObjectResult?.ETag;
  }
}

/** What a download got: the manifest entry, the object's time, and its bytes when asked for. */
export interface Downloaded {
  entry: Entry;
  /** When the store last wrote this version (names a conflict copy). */
  lastModified: Date;
  bytes?: Buffer;
}

export interface DownloadOptions {
  /** The ETag of the version we hold: a 304 (still that version) gives undefined, nothing transferred. */
  ifNoneMatch?: string;
  /** Also return the bytes (a notebook, kept as last synced). */
  keep?: boolean;
  /** Another key or an older version than `o`'s own (restore --at). */
  from?: { key: string; versionId?: string };
}

/** GET into `fh` (a fresh temp file), verified, stamped with the object's mtime. */
export async function download(
  c: S3Ctx,
  o: Pick<Obj, "rel" | "ETag">,
  fh: FileHandle,
  opts: DownloadOptions = {},
): Promise<Downloaded | undefined> {
  const from = opts.from ?? { key: c.prefix + o.rel };
  let res;
  try {
    res = await sent(c.remote, (o2) =>
      c.client.send(
        new c.sdk.GetObjectCommand({
          Bucket: c.bucket,
          Key: from.key,
          VersionId: from.versionId,
          IfNoneMatch: opts.ifNoneMatch,
        }),
        o2,
      ),
    );
  } catch (err) {
    if (opts.ifNoneMatch && (status(err) === 304 || status((err as { cause?: unknown }).cause) === 304)) {
      return undefined;
    }
    throw err;
  }
  let size = 0;
  const kept: Buffer[] = [];
  const counted = async function* () {
    for await (const chunk of res.Body as AsyncIterable<Uint8Array>) {
      size += chunk.length;
      await fh.write(chunk);
      if (opts.keep) kept.push(Buffer.from(chunk));
      yield chunk;
    }
  };
  let got;
  try {
    got = await hashStream(counted());
  } catch (err) {
    throw translate(err, c.remote);
  }
  const want = res.Metadata?.sha256;
  // A single-part ETag is the MD5, except under SSE-KMS / SSE-C.
  const etagMd5 =
    res.ServerSideEncryption?.startsWith("aws:kms") || res.SSECustomerAlgorithm ? undefined : plainEtag(res.ETag);
  if (size !== res.ContentLength || (want && want !== got.sha256) || (!want && etagMd5 && etagMd5 !== got.md5)) {
    throw new TransientError(`the download of ${o.rel} does not match the object (size or checksum)`);
  }
  // With neither our checksum nor an ETag nothing vouches for the bytes (s3rver caught mid-PUT
  // answers with no bytes and an empty ETag): asked again, never taken as they came.
  if (!want && !res.ETag?.replace(/"/g, "")) {
    throw new TransientError(
      `the store sent ${o.rel} with neither an ETag nor a checksum: nothing vouches for its bytes`,
    );
  }
  const mtime = Number(res.Metadata?.mtime) || res.LastModified?.getTime() || Date.now();
  await fh.utimes(new Date(), new Date(mtime));
  const st = await fh.stat();
  return {
    entry: { size, mtime: st.mtimeMs, sha256: got.sha256, etag: res.ETag ?? o.ETag! },
    lastModified: res.LastModified ?? new Date(),
    bytes: opts.keep ? Buffer.concat(kept, size) : undefined,
  };
}
