/**
 * Git objects without git reading the work dir: blobs from bytes mirrorshade read itself
 * go in as loose objects written in-process (a few files), or through one `git fast-import`
 * into one pack (many files: creating a file per object costs far more than the object),
 * and blobs are read back in one `cat-file --batch` stream.
 */
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { PassThrough } from "node:stream";
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { deflate, deflateSync } from "node:zlib";
import type { Git } from "../../src/git";
import { rmQuiet } from "./util";

const deflateAsync = promisify(deflate);
/** Above this, deflate off the event loop (the watcher and the control socket keep answering). */
const ASYNC_DEFLATE = 1 << 20;
/** Git's own prefix for objects being written: `git gc` (and our sweep) know to remove leftovers. */
const TEMP_PREFIX = "tmp_obj_";

/** The id git gives a blob of these bytes. */
export function blobId(bytes: Buffer): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

/** Where blobs are written; `close` resolves when all of them are stored. */
export interface BlobSink {
  write(bytes: Buffer): Promise<string>;
  close(): Promise<void>;
}

/** Writes blobs into an objects directory the way git does (zlib, temp file, rename into place). */
export class LooseObjects implements BlobSink {
  private readonly made = new Set<string>();

  constructor(readonly dir: string) {}

  async write(bytes: Buffer): Promise<string> {
    const id = blobId(bytes);
    const sub = path.join(this.dir, id.slice(0, 2));
    const file = path.join(sub, id.slice(2));
    if (existsSync(file)) return id;
    if (!this.made.has(sub)) {
      mkdirSync(sub, { recursive: true });
      this.made.add(sub);
    }
    const raw = Buffer.concat([Buffer.from(`blob ${bytes.length}\0`), bytes]);
    // Level 1, git's default for loose objects: they are repacked by the push anyway.
    const data = raw.length > ASYNC_DEFLATE ? await deflateAsync(raw, { level: 1 }) : deflateSync(raw, { level: 1 });
    const tmp = path.join(sub, TEMP_PREFIX + randomBytes(6).toString("hex"));
    try {
      writeFileSync(tmp, data, { mode: 0o444, flag: "wx" });
      renameSync(tmp, file);
    } catch (err) {
      rmQuiet(tmp);
      throw err;
    }
    return id;
  }

  async close(): Promise<void> {}
}

/**
 * Blobs streamed into one `git fast-import`, which writes them as one pack. Ids are computed
 * here (the same bytes, the same id). If fast-import fails (a full disk), writing stops and
 * `close` rejects with its failure.
 */
export class FastImport implements BlobSink {
  private readonly stream = new PassThrough();
  private readonly done: Promise<unknown>;
  private chain: Promise<void> = Promise.resolve();

  constructor(git: Git) {
    this.done = git.exec(["fast-import", "--quiet"], { input: this.stream });
    this.done.catch(() => {}); // reported by write or close
  }

  write(bytes: Buffer): Promise<string> {
    const id = blobId(bytes);
    this.chain = this.chain.then(async () => {
      this.stream.write(`blob\ndata ${bytes.length}\n`);
      this.stream.write(bytes);
      // Wait for fast-import to take it (or to have died: then its failure is the answer).
      if (!this.stream.write("\n")) await Promise.race([once(this.stream, "drain"), this.done]);
    });
    return this.chain.then(() => id);
  }

  async close(): Promise<void> {
    await this.chain.catch(() => {});
    this.stream.end();
    await this.done;
    await this.chain;
  }
}

/**
 * Remove what a git (or we) left behind while writing objects when it failed (a full disk,
 * a kill): temp objects, temp packs, fast-import's crash reports, a shared index being written. Safe while no git of ours
 * runs (we hold the lock).
 */
export function sweepFailedWrites(gitDir: string): number {
  let n = 0;
  try {
    // fast-import's crash reports, and a shared index git was writing (split index: repo.ts).
    for (const name of readdirSync(gitDir))
      if (/^(fast_import_crash_|sharedindex_)/.test(name) && rmQuiet(path.join(gitDir, name))) n++;
  } catch {
    return 0;
  }
  const objectsDir = path.join(gitDir, "objects");
  let subs: string[];
  try {
    subs = readdirSync(objectsDir);
  } catch {
    return 0;
  }
  for (const sub of subs) {
    if (!/^[0-9a-f]{2}$|^pack$/.test(sub)) continue;
    let names: string[];
    try {
      names = readdirSync(path.join(objectsDir, sub));
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.startsWith(TEMP_PREFIX) && !(sub === "pack" && name.startsWith("tmp_"))) continue;
      if (rmQuiet(path.join(objectsDir, sub, name))) n++;
    }
  }
  return n;
}

/**
 * Stream the blobs `ids` through `git cat-file --batch`, calling `onBlob` for each in order;
 * at most one blob is held in memory. A missing id is reported with `bytes` undefined.
 */
export async function catBlobs(
  git: Git,
  ids: string[],
  onBlob: (id: string, bytes: Buffer | undefined) => void,
): Promise<void> {
  if (!ids.length) return;
  // Chunks are joined once per object, not once per chunk (a 50 MB blob comes in ~800).
  let chunks: Buffer[] = [];
  let have = 0;
  const flat = (): Buffer => {
    if (chunks.length > 1) chunks = [Buffer.concat(chunks, have)];
    return chunks[0] ?? Buffer.alloc(0);
  };
  const take = (n: number): Buffer => {
    const all = flat();
    const rest = all.subarray(n);
    chunks = rest.length ? [rest] : [];
    have = rest.length;
    return all.subarray(0, n);
  };
  let want: { id: string; size: number } | undefined;
  let next = 0;
  let failure: unknown;
  const parse = () => {
    for (;;) {
      if (!want) {
        const nl = have ? flat().indexOf(10) : -1;
        if (nl < 0) return;
        const header = take(nl + 1)
          .subarray(0, nl)
          .toString("latin1");
        const id = ids[next++]!;
        const m = /^([0-9a-f]+) (\S+) (\d+)$/.exec(header);
        if (!m) {
          onBlob(id, undefined); // "<id> missing"
          continue;
        }
        want = { id, size: Number(m[3]) };
      }
      if (have < want.size + 1) return;
      const bytes = take(want.size + 1).subarray(0, want.size);
      const done = want;
      want = undefined;
      onBlob(done.id, bytes);
    }
  };
  await git.exec(["cat-file", "--batch"], {
    input: ids.join("\n") + "\n",
    onStdout: (chunk) => {
      if (failure) return;
      chunks.push(chunk);
      have += chunk.length;
      try {
        parse();
      } catch (err) {
        failure = err;
      }
    },
  });
  if (failure) throw failure;
}
