/**
 * The S3 backend: s3://bucket/prefix, on AWS or any S3-compatible store. key = prefix +
 * POSIX relative path. What changed is decided from a local manifest in the state dir
 * (size, mtime, sha256, ETag per path) and, only when it was never synced, one flat listing:
 * never a HEAD per object. S3 keeps no history, so nothing is overwritten unseen: conditional
 * writes where the store has them, trash for deletes, conflict copies beside ours (in the work
 * dir and at the remote). The reserved `<prefix>.mirrorshade/` (trash, probes) is never mirrored.
 *
 * This file wires the modules: client (SDK setup), keys (URL, key safety, listing),
 * manifest (state), transfer (bytes), conflicts (two writers), restore and pull, plan, save,
 * records (a record per save: log), at (a past save back: restore --at).
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../../src/errors";
import { addSecret } from "../../src/redact";
import { formatSize } from "../../src/units";
import type {
  Backend,
  BackendFactory,
  ChangeSet,
  LogOptions,
  PathFilter,
  PullOptions,
  PullReport,
  RestoreAtOptions,
  RestoreAtReport,
  RestoreOptions,
  RestoreReport,
  SaveMeta,
  SavePlan,
  SaveRecord,
  SaveReport,
} from "../types";
import { ancestorsIn } from "../lib/ancestors";
import { restoreAt } from "./at";
import { openClient } from "./client";
import { isVersioned } from "./conflicts";
import type { S3Ctx } from "./context";
import { call, operate, sent } from "./timeouts";
import { code, translate } from "./errors";
import { parseRemote } from "./keys";
import { Manifest } from "./manifest";
import { plan } from "./plan";
import { pull } from "./pull";
import { log, recordSave } from "./records";
import { restore } from "./restore";
import { save } from "./save";

/** S3's smallest part (but the last). */
const MIN_PART_SIZE = 5 * 1024 ** 2;

export const createS3Backend: BackendFactory = async (ctx) => {
  const { bucket, prefix } = parseRemote(ctx.remote);
  if (ctx.settings.s3PartSize < MIN_PART_SIZE) {
    throw new ConfigError(`--s3-part-size ${formatSize(ctx.settings.s3PartSize)} is below S3's minimum`, {
      hint: "use 5m or more",
    });
  }
  const remote = `s3://${bucket}/${prefix}`;
  const { sdk, client, endpoint } = await openClient(ctx.settings, ctx.log);
  mkdirSync(ctx.stateDir, { recursive: true, mode: 0o700 });
  const manifest = new Manifest(path.join(ctx.stateDir, "s3-manifest"), remote, ctx.log);
  const b = new S3Backend();
  b.c = {
    sdk,
    client,
    bucket,
    prefix,
    remote,
    endpoint,
    dir: ctx.dir,
    s: ctx.settings,
    log: ctx.log,
    manifest,
    ancestors: ancestorsIn(ctx.stateDir, ctx.log),
    caps: b.capabilities,
    skipped: new Set(),
    versionIds: new Map(),
    pendingRecords: [],
  };
  return b;
};

class S3Backend implements Backend {
  readonly name = "s3";
  /** `history` (the bucket keeps versions) is learnt when first asked; save records make `log` work anyway. */
  readonly capabilities = { history: false, atRestore: true, conflicts: false, integrates: false, pulls: true };
  c!: S3Ctx;

  check(): Promise<void> {
    return operate(() => this.checkNow());
  }

  private async checkNow(): Promise<void> {
    const { c } = this;
    try {
      const creds = await (
        c.client.config.credentials as () => Promise<{ secretAccessKey: string; sessionToken?: string }>
      )();
      addSecret(creds.secretAccessKey);
      addSecret(creds.sessionToken);
    } catch (err) {
      throw translate(err, c.remote);
    }
    // A listing, not HeadBucket: it also proves we may list the prefix, and says NoSuchBucket plainly.
    await sent(c.remote, (o) =>
      c.client.send(new c.sdk.ListObjectsV2Command({ Bucket: c.bucket, Prefix: c.prefix, MaxKeys: 1 }), o),
    );
  }

  create(): Promise<void> {
    return operate(() => this.createNow());
  }

  private async createNow(): Promise<void> {
    const { c } = this;
    const region = await c.client.config.region();
    try {
      await call((o) =>
        c.client.send(
          new c.sdk.CreateBucketCommand({
            Bucket: c.bucket,
            CreateBucketConfiguration: region === "us-east-1" ? undefined : { LocationConstraint: region as never },
          }),
          o,
        ),
      );
      c.log.info(`created the bucket ${c.bucket}`);
    } catch (err) {
      if (code(err) !== "BucketAlreadyOwnedByYou") throw translate(err, c.remote);
    }
  }

  restore(opts?: RestoreOptions): Promise<RestoreReport> {
    return operate(() => restore(this.c, opts));
  }

  plan(changes: ChangeSet | "all", filter: PathFilter): Promise<SavePlan> {
    return operate(() => plan(this.c, changes, filter));
  }

  save(p: SavePlan, meta: SaveMeta): Promise<SaveReport> {
    return operate(async () => {
      // What the store acknowledged is recorded even when the save fails half-way.
      const before = new Map(p.entries.map((e) => [e.path, this.c.manifest.get(e.path)]));
      try {
        return await save(this.c, p, meta);
      } finally {
        await recordSave(this.c, meta, p, before);
        this.c.manifest.compact();
      }
    });
  }

  log(opts?: LogOptions): Promise<SaveRecord[]> {
    return operate(() => log(this.c, opts));
  }

  restoreAt(opts: RestoreAtOptions): Promise<RestoreAtReport> {
    return operate(async () => {
      await isVersioned(this.c); // capabilities.history, and where versions are looked for
      return restoreAt(this.c, opts);
    });
  }

  pull(opts: PullOptions): Promise<PullReport> {
    return operate(() => pull(this.c, opts));
  }

  async close(): Promise<void> {
    this.c?.manifest.compact();
    this.c?.client.destroy();
  }
}
