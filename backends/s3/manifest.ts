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
  recorded?: boolean;
  conditional?: Record<string, boolean>;
  entries: Record<string, Entry>;
}

export class Manifest {
  readonly entries = new Map<string, Entry>();
  /** This state wrote a save record (or found the prefix's history recorded already): see records.ts. */
  recorded = false;
  /** Per store (endpoint + bucket): whether it honours conditional writes (set with `learnConditional`). */
  readonly conditional: Record<string, boolean> = {};
  private listed = false;
  private journal: number | undefined;
  /** A journal write failed (a full disk): nothing more is appended until a snapshot lands. */
  private broken = false;
  private dirty = false;
  /** The full-disk warning was given (once per episode). */
  private warned = false;

  /** `base` + ".json" is the snapshot, `base` + ".journal" the journal. */
  constructor(
    private readonly base: string,
    private readonly remote: string,
    private readonly log: Logger,
  ) {
    try {
      const snap = JSON.parse(readFileSync(base + ".json", "utf8")) as Snapshot;
      if (snap.remote !== remote) {
        log.warn(`the state dir saved ${snap.remote} before, not ${remote}: starting afresh`);
        rmSync(base + ".journal", { force: true });
        return;
      }
      this.listed = snap.synced;
      this.recorded = snap.recorded ?? false;
      Object.assign(this.conditional, snap.conditional);
      for (const [k, v] of Object.entries(snap.entries)) this.entries.set(k, v);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") log.warn(`unreadable S3 manifest: starting afresh`);
    }
    if (!existsSync(base + ".journal")) return;
    // A torn last line (a crash or a full disk mid-append) is ignored.
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

  /**
   * Listed at least once (a restore, or a plan's listing): every remote key is in `entries`.
   * The flags are not journaled: a change marks the snapshot for writing.
   */
  get synced(): boolean {
    return this.listed;
  }

  set synced(yes: boolean) {
    if (yes === this.listed) return;
    this.listed = yes;
    this.dirty = true;
  }

  /** Remember whether a store honours conditional writes (written with the next snapshot). */
  learnConditional(store: string, yes: boolean): void {
    this.conditional[store] = yes;
    this.dirty = true;
  }

  /** Remember that this state records its saves (written with the next snapshot). */
  markRecorded(): void {
    if (this.recorded) return;
    this.recorded = true;
    this.dirty = true;
  }

  get(rel: string): Entry | undefined {
    return this.entries.get(rel);
  }

  /**
   * Record (or, with undefined, forget) what the remote acknowledged for `rel`; journaled at
   * once. A journal that cannot be written (a full state dir) does not fail the save the
   * remote already acknowledged: the entry is kept in memory and the next snapshot carries
   * it (a crash before that costs re-checking these paths, never losing them).
   */
  set(rel: string, e: Entry | undefined): void {
    if (e) this.entries.set(rel, e);
    else if (!this.entries.delete(rel)) return;
    this.dirty = true;
    if (this.broken) return;
    try {
      this.journal ??= openSync(this.base + ".journal", "a", 0o600);
      const line = Buffer.from(JSON.stringify([rel, e ?? null]) + "\n");
      for (let off = 0; off < line.length;) off += writeSync(this.journal, line, off);
    } catch (err) {
      this.closeJournal();
      this.cannotWrite(err);
      this.broken = true;
    }
  }

  /** Write the snapshot and drop the journal (after a batch). On a full disk: a warning, and the next batch tries again. */
  compact(): void {
    if (!this.dirty && existsSync(this.base + ".json")) return;
    const tmp = `${this.base}.json.tmp-${process.pid}`;
    const snap: Snapshot = {
      remote: this.remote,
      synced: this.listed,
      recorded: this.recorded,
      conditional: this.conditional,
      entries: Object.fromEntries(this.entries),
    };
    let fd: number | undefined;
    try {
      fd = openSync(tmp, "w", 0o600);
      const bytes = Buffer.from(JSON.stringify(snap));
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, this.base + ".json");
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      rmSync(tmp, { force: true });
      this.cannotWrite(err);
      return;
    }
    this.closeJournal();
    rmSync(this.base + ".journal", { force: true });
    this.dirty = false;
    if (this.broken || this.warned) this.log.info("the S3 manifest is written again in the state dir");
    this.broken = false;
    this.warned = false;
  }

  /** One warning per episode; errors other than a full disk are not ours to hide. */
  private cannotWrite(err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOSPC" && code !== "EDQUOT") throw err;
    if (this.warned) return;
    this.warned = true;
    this.log.warn(
      `no space left in the state dir for the S3 manifest (${code}): kept in memory, written again at the next save`,
      { hint: "free space in the state dir; until then a restart re-checks (never re-loses) what was saved" },
    );
  }

  private closeJournal(): void {
    if (this.journal !== undefined) closeSync(this.journal);
    this.journal = undefined;
  }
}
