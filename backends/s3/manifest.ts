/**
 * The manifest: what we last saw at the remote, per path. A snapshot (temp + rename) plus an
 * append-only journal of acknowledged writes, so a crash loses no acknowledgement and the
 * next start re-uploads nothing that landed. It lives in the state dir, never the work dir.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import type { Logger } from "../../src/log";

/** What the manifest knows of one object: the local file it was last in sync with, and its ETag. */
export interface Entry {
  size: number;
  /** The local file's mtimeMs when it matched the object; -1: never matched locally. */
  mtime: number;
  /** "" when the object was only listed, its content not seen. */
  sha256: string;
  etag: string;
}

interface Snapshot {
  remote: string;
  synced: boolean;
  conditional?: Record<string, boolean>;
  entries: Record<string, Entry>;
}

export class Manifest {
  readonly entries = new Map<string, Entry>();
  /** Listed at least once (a restore, or a plan's listing): every remote key is in `entries`. */
  synced = false;
  /** Per store (endpoint + bucket): whether it honours conditional writes. */
  conditional: Record<string, boolean> = {};
  private journal: number | undefined;
  private dirty = false;

  /** `base` + ".json" is the snapshot, `base` + ".journal" the journal. */
  constructor(
    private readonly base: string,
    private readonly remote: string,
    log: Logger,
  ) {
    try {
      const snap = JSON.parse(readFileSync(base + ".json", "utf8")) as Snapshot;
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

  /** Record (or, with undefined, forget) what the remote acknowledged for `rel`; journaled at once. */
  set(rel: string, e: Entry | undefined): void {
    if (e) this.entries.set(rel, e);
    else if (!this.entries.delete(rel)) return;
    this.journal ??= openSync(this.base + ".journal", "a", 0o600);
    writeSync(this.journal, JSON.stringify([rel, e ?? null]) + "\n");
    this.dirty = true;
  }

  /** Write the snapshot and drop the journal (after a batch). */
  compact(): void {
    if (!this.dirty && existsSync(this.base + ".json")) return;
    const tmp = `${this.base}.json.tmp-${process.pid}`;
    const fd = openSync(tmp, "w", 0o600);
    const snap: Snapshot = {
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
