/**
 * Save records. Object versions have no notion of a save, so each save also writes a small
 * JSON record under `<prefix>.mirrorshade/saves/`: when, who, the message, and each path it
 * changed with its content's sha256, ETag, size and, in a versioned bucket, version id. The
 * key starts with the time (`20261202T101500.123Z-<id>.json`): a listing orders the saves
 * without reading them. `log` reads them; `restore --at` folds them into the tree of a save.
 *
 * A prefix that had files before any record (an older mirrorshade, another tool) gets a
 * base record at its first recorded save: every path as this writer knew it. A base only
 * fills paths no earlier save recorded (a writer's view may be stale, a save's is not).
 * Records are data from the bucket: each is checked before use, like a key is.
 */
import { randomBytes } from "node:crypto";
import { ConfigError, NotFoundError } from "../../src/errors";
import { hostSafe } from "../lib/naming";
import { each } from "../lib/pool";
import type { LogOptions, Op, SaveMeta, SavePlan, SavePoint, SaveRecord } from "../types";
import type { S3Ctx } from "./context";
import { META, unsafeKey } from "./keys";
import type { Entry } from "./manifest";
import { sent } from "./timeouts";

export const SAVES = `${META}/saves/`;

export interface RecordFile {
  path: string;
  op: Op;
  sha256?: string;
  etag?: string;
  size?: number;
  version?: string;
}

export interface SaveRec {
  v: 1;
  id: string;
  time: string;
  host: string;
  message: string;
  /** Every path as its writer knew it, not one save's changes. */
  base?: boolean;
  files: RecordFile[];
}

/** A record as listed: its key says when, which and what kind, without reading it. */
export interface Listed {
  key: string;
  time: number;
  id: string;
  base: boolean;
}

const KEY = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})\.(\d{3})Z-([0-9a-f]{16})(\.base)?\.json$/;

export function recordKey(c: S3Ctx, r: Pick<SaveRec, "time" | "id" | "base">): string {
  return `${c.prefix}${SAVES}${r.time.replace(/[-:]/g, "")}-${r.id}${r.base ? ".base" : ""}.json`;
}

export function parseKey(c: S3Ctx, key: string): Listed | undefined {
  const m = KEY.exec(key.slice(c.prefix.length + SAVES.length));
  if (!m) return undefined;
  const [y, mo, d, h, mi, s, ms] = m.slice(1, 8).map(Number);
  return { key, time: Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, ms!), id: m[8]!, base: Boolean(m[9]) };
}

/** Same content, as the manifest knows it (undefined: no object). */
function same(a: Entry | undefined, b: Entry | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && a.etag === b.etag && a.sha256 === b.sha256);
}

/**
 * After a save (whole or failed half-way): record what the store acknowledged, i.e. each
 * planned path whose manifest entry changed from `before`. Never throws: a record the store
 * refuses is kept for the next save, and a warning says the save is not in the history yet.
 */
export async function recordSave(
  c: S3Ctx,
  meta: SaveMeta,
  plan: SavePlan,
  before: Map<string, Entry | undefined>,
): Promise<void> {
  const files: RecordFile[] = [];
  for (const e of plan.entries) {
    const now = c.manifest.get(e.path);
    if (same(now, before.get(e.path))) continue;
    if (!now) files.push({ path: e.path, op: "delete" });
    else {
      const version = c.versionIds.get(c.prefix + e.path);
      files.push({
        path: e.path,
        op: before.get(e.path) ? "modify" : "add",
        ...content(now),
        ...(version && { version }),
      });
    }
  }
  c.versionIds.clear();
  if (files.length) {
    const time = meta.date.toISOString();
    if (!c.manifest.recorded && !(await recordedBefore(c).catch(() => false))) {
      const b = base(c, before, meta);
      if (b.files.length) c.pendingRecords.push(b);
    }
    c.pendingRecords.push({ v: 1, id: newId(), time, host: hostSafe(meta.host), message: meta.message, files });
  }
  while (c.pendingRecords.length) {
    const rec = c.pendingRecords[0] as SaveRec;
    try {
      await sent(c.remote, (o) =>
        c.client.send(
          new c.sdk.PutObjectCommand({
            Bucket: c.bucket,
            Key: recordKey(c, rec),
            Body: JSON.stringify(rec),
            ContentType: "application/json",
          }),
          o,
        ),
      );
    } catch (err) {
      c.log.warn(`the record of a save could not be written (it is retried at the next save): ${String(err)}`, {
        hint: "until then log and restore --at do not know that save",
      });
      return;
    }
    c.pendingRecords.shift();
    c.manifest.markRecorded();
  }
}

function content(e: Entry): Pick<RecordFile, "sha256" | "etag" | "size"> {
  return { ...(e.sha256 && { sha256: e.sha256 }), etag: e.etag, size: e.size };
}

/** Every path as this writer knew it just before `meta`'s save. */
function base(c: S3Ctx, before: Map<string, Entry | undefined>, meta: SaveMeta): SaveRec {
  const files: RecordFile[] = [];
  for (const [path, e] of c.manifest.entries) {
    const was = before.has(path) ? before.get(path) : e;
    if (was) files.push({ path, op: "add", ...content(was) });
  }
  for (const [path, was] of before) if (was && !c.manifest.get(path)) files.push({ path, op: "add", ...content(was) });
  const time = new Date(meta.date.getTime() - 1).toISOString();
  return {
    v: 1,
    id: newId(),
    time,
    host: hostSafe(meta.host),
    message: "files saved before this history",
    base: true,
    files,
  };
}

function newId(): string {
  return randomBytes(8).toString("hex");
}

/** Whether the prefix has any record yet (then its history is recorded: no base needed). */
async function recordedBefore(c: S3Ctx): Promise<boolean> {
  const r = await sent(c.remote, (o) =>
    c.client.send(new c.sdk.ListObjectsV2Command({ Bucket: c.bucket, Prefix: c.prefix + SAVES, MaxKeys: 1 }), o),
  );
  return (r.KeyCount ?? r.Contents?.length ?? 0) > 0;
}

/** Every record under the prefix, oldest first (one flat listing). */
export async function listRecords(c: S3Ctx): Promise<Listed[]> {
  const out: Listed[] = [];
  let token: string | undefined;
  do {
    const r = await sent(c.remote, (o) =>
      c.client.send(
        new c.sdk.ListObjectsV2Command({ Bucket: c.bucket, Prefix: c.prefix + SAVES, ContinuationToken: token }),
        o,
      ),
    );
    for (const o of r.Contents ?? []) {
      const l = parseKey(c, o.Key ?? "");
      if (l) out.push(l);
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out.sort((a, b) => a.time - b.time || (a.key < b.key ? -1 : 1));
}

/** Read records (in parallel), in the order given; a malformed one is skipped with a warning. */
export async function readRecords(c: S3Ctx, listed: Listed[]): Promise<SaveRec[]> {
  const got = new Array<SaveRec | undefined>(listed.length);
  await each(
    listed.map((l, i) => ({ l, i })),
    c.s.s3Concurrency,
    async ({ l, i }) => {
      const r = await sent(c.remote, (o) =>
        c.client.send(new c.sdk.GetObjectCommand({ Bucket: c.bucket, Key: l.key }), o),
      );
      const text = await (r.Body as { transformToString(): Promise<string> }).transformToString();
      got[i] = check(c, l, text);
    },
  );
  return got.filter((r): r is SaveRec => r !== undefined);
}

const OPS = new Set<Op>(["add", "modify", "delete"]);

/** A record read from the bucket, checked as untrusted data; undefined (with a warning) when malformed. */
function check(c: S3Ctx, l: Listed, text: string): SaveRec | undefined {
  const bad = (why: string) => {
    c.log.warn(`skipping the save record ${l.key}: ${why}`);
    return undefined;
  };
  let r: SaveRec;
  try {
    r = JSON.parse(text) as SaveRec;
  } catch {
    return bad("not JSON");
  }
  if (typeof r !== "object" || r === null || r.v !== 1 || r.id !== l.id || !Array.isArray(r.files))
    return bad("not a save record of this version");
  if (Number.isNaN(Date.parse(r.time))) return bad("no time");
  const files: RecordFile[] = [];
  for (const f of r.files as unknown[]) {
    const x = f as RecordFile;
    if (typeof x !== "object" || x === null || typeof x.path !== "string" || !OPS.has(x.op))
      return bad("a bad file entry");
    const why = unsafeKey(x.path);
    if (why) {
      c.log.warn(`a save record names ${JSON.stringify(x.path)}: ${why}; it is left out`);
      continue;
    }
    if (x.sha256 !== undefined && !/^[0-9a-f]{64}$/.test(x.sha256)) return bad("a bad sha256");
    for (const k of ["etag", "version"] as const)
      if (x[k] !== undefined && typeof x[k] !== "string") return bad(`a bad ${k}`);
    if (x.size !== undefined && !Number.isSafeInteger(x.size)) return bad("a bad size");
    files.push({ path: x.path, op: x.op, sha256: x.sha256, etag: x.etag, size: x.size, version: x.version });
  }
  return {
    v: 1,
    id: r.id,
    time: new Date(r.time).toISOString(),
    host: typeof r.host === "string" ? r.host : "?",
    message: typeof r.message === "string" ? r.message : "",
    base: l.base,
    files,
  };
}

/** Whether `path` is one of `paths` or below one. */
export function under(path: string, paths: string[] | undefined): boolean {
  return !paths || paths.some((p) => path === p || path.startsWith(p + "/"));
}

/** The saves, newest first, as `log` shows them (base records are not saves). */
export async function log(c: S3Ctx, opts: LogOptions = {}): Promise<SaveRecord[]> {
  const since = opts.since?.getTime() ?? -Infinity;
  const listed = (await listRecords(c)).filter((l) => !l.base && l.time >= since).reverse();
  const out: SaveRecord[] = [];
  const batch = opts.limit && !opts.paths ? opts.limit : Math.max(64, c.s.s3Concurrency * 4);
  for (let i = 0; i < listed.length; i += batch) {
    for (const r of await readRecords(c, listed.slice(i, i + batch))) {
      const files = r.files.filter((f) => under(f.path, opts.paths)).map((f) => ({ path: f.path, op: f.op }));
      if (opts.paths && !files.length) continue;
      out.push({ id: r.id, time: r.time, host: r.host, message: r.message, files });
      if (opts.limit && out.length >= opts.limit) return out;
    }
  }
  return out;
}

/** The record a SavePoint names, and every record up to it (oldest first, bases included). */
export async function upTo(c: S3Ctx, at: SavePoint): Promise<{ target: Listed; upto: Listed[] }> {
  const all = await listRecords(c);
  const saves = all.filter((l) => !l.base);
  if (!saves.length) throw new NotFoundError(`${c.remote} has no recorded saves yet`, { hint: "nothing to restore" });
  let target: Listed | undefined;
  if ("id" in at) {
    const found = saves.filter((l) => l.id.startsWith(at.id));
    if (found.length > 1)
      throw new ConfigError(`the save id ${at.id} is ambiguous`, { hint: "give more of its characters" });
    target = found[0];
    if (!target)
      throw new NotFoundError(`no save ${at.id} at ${c.remote}`, { hint: "see the saves with: mirrorshade log" });
  } else {
    target = saves.filter((l) => l.time <= at.time.getTime()).at(-1);
    if (!target) {
      throw new NotFoundError(`no save at or before ${at.time.toISOString()}`, {
        hint: `the first recorded save is from ${new Date(saves[0]!.time).toISOString()}; see them with: mirrorshade log`,
      });
    }
  }
  return { target, upto: all.slice(0, all.indexOf(target) + 1) };
}

/**
 * The tree as it was after the last of `records` (oldest first): each path's last recorded
 * content; a base fills only paths no earlier record named. Deleted paths are left out.
 */
export function fold(records: SaveRec[]): Map<string, RecordFile> {
  const tree = new Map<string, RecordFile>();
  for (const r of records) {
    for (const f of r.files) if (!r.base || !tree.has(f.path)) tree.set(f.path, f);
  }
  for (const [p, f] of tree) if (f.op === "delete") tree.delete(p);
  return tree;
}
