/**
 * `restore --at` for S3: the tree of a save, folded from the save records (records.ts), into
 * the work dir. Each file's content is fetched from where the store still keeps it: the
 * version the record names (a versioned bucket), else the current object or a copy in the
 * trash or conflict area when it still has that content (by ETag, or size and sha256), else
 * an older version with that ETag. What none of them holds is reported, not guessed: on a
 * bucket without versioning a file changed since cannot come back. Nothing local is deleted
 * or overwritten unless saved and asked (overwrite); the manifest does not move.
 */
import type { Hashes } from "../lib/hash";
import { conflictCopyNameOf } from "../lib/naming";
import { each } from "../lib/pool";
import { Meter } from "../lib/progress";
import { UnsafePathError, withWorkDir, type TempFile, type WorkDir } from "../../src/safefs";
import type { RestoreAtOptions, RestoreAtReport } from "../types";
import { isVersioned } from "./conflicts";
import type { Obj, S3Ctx } from "./context";
import { code, status } from "./errors";
import { META, list, plainEtag } from "./keys";
import { fold, readRecords, under, upTo, type RecordFile } from "./records";
import { sent } from "./timeouts";
import { download, hashLocal } from "./transfer";

interface Source {
  key: string;
  versionId?: string;
}

type Action = "write" | "replace" | "copy";

export async function restoreAt(c: S3Ctx, opts: RestoreAtOptions): Promise<RestoreAtReport> {
  const { target, upto } = await upTo(c, opts.at);
  const records = await readRecords(c, upto);
  const time = new Date(target.time);
  const tree = [...fold(records).values()].filter((f) => under(f.path, opts.paths));
  const report: RestoreAtReport = {
    id: target.id,
    time: time.toISOString(),
    written: [],
    copies: [],
    replaced: [],
    unchanged: 0,
    missing: [],
  };
  for (const p of opts.paths ?? []) {
    if (!tree.some((f) => under(f.path, [p]))) report.missing.push({ path: p, reason: `not in save ${target.id}` });
  }
  const sources = new Sources(c);
  await withWorkDir(c.dir, async (wd) => {
    const todo: { f: RecordFile; action: Action }[] = [];
    for (const f of tree) {
      const here = await compare(wd, f);
      if (here === "same") report.unchanged++;
      else if (here === "absent") todo.push({ f, action: "write" });
      else if ("reason" in here) report.missing.push({ path: f.path, reason: here.reason });
      else {
        // Replaced only when what is here is saved (the manifest has its content): else beside it.
        const saved = here.local !== undefined && c.manifest.get(f.path)?.sha256 === here.local;
        todo.push({ f, action: opts.overwrite && saved ? "replace" : "copy" });
      }
    }
    const meter = new Meter(
      c.log,
      "restoring",
      todo.map((t) => t.f.size ?? 0),
      opts.progress,
    );
    await each(todo, c.s.s3Concurrency, async ({ f, action }) => {
      const why = await bringBack(c, wd, f, action, time, sources, report);
      if (why) report.missing.push({ path: f.path, reason: why });
      meter.add(f.size ?? 0);
    }).finally(() => meter.done());
  });
  for (const l of [report.written, report.replaced]) l.sort();
  report.copies.sort((a, b) => a.path.localeCompare(b.path));
  report.missing.sort((a, b) => a.path.localeCompare(b.path));
  return report;
}

/** Fetch one old version and put it in place, over, or beside; the reason when it cannot. */
async function bringBack(
  c: S3Ctx,
  wd: WorkDir,
  f: RecordFile,
  action: Action,
  time: Date,
  sources: Sources,
  report: RestoreAtReport,
): Promise<string | undefined> {
  for (const src of await sources.of(f)) {
    let tmp: TempFile;
    try {
      tmp = await wd.createTemp(f.path);
    } catch (err) {
      if (err instanceof UnsafePathError) return err.reason;
      throw err;
    }
    let done = false;
    try {
      let got;
      try {
        got = (await download(c, { rel: f.path, ETag: f.etag }, tmp.fh, { from: src }))!.entry;
      } catch (err) {
        if (gone(err)) continue; // that version or copy is gone meanwhile: the next place
        throw err;
      }
      if (f.sha256 && got.sha256 !== f.sha256) continue; // changed since it was listed
      done = true;
      if (action === "replace") {
        await tmp.commit({ overwrite: true });
        report.replaced.push(f.path);
      } else if (action === "write" && (await tmp.commit())) {
        report.written.push(f.path);
      } else {
        const copy = conflictCopyNameOf(f.path, time, got.sha256);
        if (wd.stat(copy)) await tmp.discard();
        else await tmp.commitAs(copy);
        report.copies.push({ path: f.path, copy });
      }
      return undefined;
    } finally {
      if (!done) await tmp.discard();
    }
  }
  return (await isVersioned(c))
    ? "the bucket no longer keeps that version"
    : "changed or deleted since, and the bucket keeps no versions (turn on versioning)";
}

/** The store has no such version or key (the SDK's error, or ours with it as the cause). */
function gone(err: unknown): boolean {
  const e = (err as { cause?: unknown })?.cause ?? err;
  const k = code(e);
  return status(e) === 404 || k === "NoSuchVersion" || k === "NoSuchKey" || /NotFound/.test(k);
}

/** What the work dir holds at `f.path` compared with `f`; for a difference, the sha256 of what is here. */
async function compare(
  wd: WorkDir,
  f: RecordFile,
): Promise<"same" | "absent" | { local: string | undefined } | { reason: string }> {
  const st = wd.find(f.path);
  if (!st) return "absent";
  if ("reason" in st) return st;
  if (st.kind === "dir") return { reason: "a directory is there" };
  if (st.kind === "other") return { reason: "a special file (FIFO, socket, device) is there" };
  if (st.kind === "symlink") return { local: undefined };
  const h: Hashes | undefined = await hashLocal(wd, f.path);
  if (!h) return { local: undefined };
  const same = f.sha256 ? h.sha256 === f.sha256 : st.size === f.size && plainEtag(f.etag) === h.md5;
  return same ? "same" : { local: h.sha256 };
}

/** A copy kept under `<META>/trash/<stamp>/<path>`. */
interface Kept {
  key: string;
  etag?: string;
  size?: number;
}

/** Where the store still keeps a recorded content: listed once, when first needed. */
class Sources {
  private current?: Promise<{ byPath: Map<string, Obj>; byEtag: Map<string, string[]> }>;
  private kept?: Promise<{ trash: Map<string, Kept[]>; byEtag: Map<string, string[]> }>;

  constructor(private readonly c: S3Ctx) {}

  /** The places to try for `f`, best first (empty: none holds it). */
  async of(f: RecordFile): Promise<Source[]> {
    const { c } = this;
    const key = c.prefix + f.path;
    const out: Source[] = [];
    if (f.version) out.push({ key, versionId: f.version });
    if (!f.etag) return out;
    this.current ??= list(c).then((objs) => ({
      byPath: new Map(objs.map((o) => [o.rel, o])),
      byEtag: byEtag(objs.map((o) => ({ key: o.Key!, etag: o.ETag }))),
    }));
    this.kept ??= this.listKept();
    const [current, kept] = [await this.current, await this.kept];
    const keys: string[] = [];
    if (current.byPath.get(f.path)?.ETag === f.etag) keys.push(key);
    for (const k of kept.trash.get(f.path) ?? []) {
      if (k.etag === f.etag) keys.push(k.key);
      else if (f.sha256 && k.size === f.size && (await this.sha256Of(k.key)) === f.sha256) keys.push(k.key);
    }
    // Any other object with that ETag holds that content: a conflict copy (beside the path, or in
    // the conflict area) is named after the path, not by it. The download checks the sha256.
    keys.push(...(current.byEtag.get(f.etag) ?? []), ...(kept.byEtag.get(f.etag) ?? []));
    out.push(...[...new Set(keys)].map((k) => ({ key: k })));
    if (!out.length && (await isVersioned(c))) out.push(...(await this.versionsWith(f)));
    return out;
  }

  /** Copies in the trash (`<META>/trash/<stamp>/<path>`, by path) and the conflict area (by ETag). */
  private async listKept() {
    const { c } = this;
    const trash = new Map<string, Kept[]>();
    const all: Kept[] = [];
    for (const area of ["trash", "conflicts"]) {
      const base = `${c.prefix}${META}/${area}/`;
      let token: string | undefined;
      do {
        const r = await sent(c.remote, (o) =>
          c.client.send(
            new c.sdk.ListObjectsV2Command({ Bucket: c.bucket, Prefix: base, ContinuationToken: token }),
            o,
          ),
        );
        for (const o of r.Contents ?? []) {
          const k = { key: o.Key!, etag: o.ETag, size: o.Size };
          all.push(k);
          const rest = o.Key!.slice(base.length);
          const rel = rest.slice(rest.indexOf("/") + 1);
          if (area !== "trash" || !rest.includes("/") || !rel) continue;
          if (!trash.has(rel)) trash.set(rel, []);
          trash.get(rel)!.push(k);
        }
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    }
    return { trash, byEtag: byEtag(all) };
  }

  private async sha256Of(key: string): Promise<string | undefined> {
    const { c } = this;
    const h = await sent(c.remote, (o) =>
      c.client.send(new c.sdk.HeadObjectCommand({ Bucket: c.bucket, Key: key }), o),
    );
    return h.Metadata?.sha256;
  }

  /** Versions of `f.path` with its ETag, newest first (a record made before versioning named no version id). */
  private async versionsWith(f: RecordFile): Promise<Source[]> {
    const { c } = this;
    const key = c.prefix + f.path;
    const out: Source[] = [];
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    do {
      const r = await sent(c.remote, (o) =>
        c.client.send(
          new c.sdk.ListObjectVersionsCommand({
            Bucket: c.bucket,
            Prefix: key,
            KeyMarker: keyMarker,
            VersionIdMarker: versionMarker,
          }),
          o,
        ),
      );
      for (const v of r.Versions ?? [])
        if (v.Key === key && v.ETag === f.etag) out.push({ key, versionId: v.VersionId });
      keyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
      versionMarker = r.IsTruncated ? r.NextVersionIdMarker : undefined;
    } while (keyMarker);
    return out;
  }
}

/** Keys by ETag. */
function byEtag(objs: { key: string; etag?: string }[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const { key, etag } of objs) {
    if (!etag) continue;
    if (!out.has(etag)) out.set(etag, []);
    out.get(etag)!.push(key);
  }
  return out;
}
