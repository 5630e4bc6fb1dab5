/**
 * The bytes of each notebook as last synced (what this side and the remote last agreed on), in
 * the state dir: the common ancestor a cell-level three-way merge needs when both sides changed
 * a notebook since. Git could find it in history, but a shallow clone may lack it and S3's
 * manifest holds only hashes; one store serves both backends.
 *
 * One file per path, named by the sha256 of the path, written to a temp file and renamed: a
 * crash leaves the old bytes or the new ones. A write that fails (a full state dir) drops the
 * entry rather than leave a stale one: no ancestor means "no merge", a wrong one a wrong merge.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Logger } from "../../src/log";

/** Paths whose last synced bytes are kept: notebooks (other files are never merged). */
export function isNotebook(rel: string): boolean {
  return rel.endsWith(".ipynb");
}

/** The store in a backend's state dir (its folder is named here only). */
export function ancestorsIn(stateDir: string, log: Logger): Ancestors {
  return new Ancestors(path.join(stateDir, "ancestors"), log);
}

export class Ancestors {
  private made = false;
  private warned = false;

  /** `dir`: a directory of its own in the state dir. */
  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** The bytes of `rel` as last synced, or undefined (never synced, not a notebook, or dropped). */
  get(rel: string): Buffer | undefined {
    try {
      return readFileSync(this.file(rel));
    } catch {
      return undefined;
    }
  }

  /** Record `bytes` as the last synced version of `rel` (notebooks only; others are ignored). */
  set(rel: string, bytes: Buffer): void {
    if (!isNotebook(rel)) return;
    const file = this.file(rel);
    const tmp = `${file}.tmp-${randomBytes(4).toString("hex")}`;
    try {
      if (!this.made) mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      this.made = true;
      writeFileSync(tmp, bytes, { mode: 0o600, flag: "wx" });
      renameSync(tmp, file);
    } catch (err) {
      try {
        rmSync(tmp, { force: true });
      } catch {
        // its directory is not one any more
      }
      this.delete(rel);
      if (!this.warned) {
        this.warned = true;
        this.log.warn(`cannot keep the last synced copy of ${rel} in the state dir: ${(err as Error).message}`);
      }
    }
  }

  /** Forget `rel` (deleted on both sides, or its last synced bytes are not known). */
  delete(rel: string): void {
    try {
      unlinkSync(this.file(rel));
    } catch {
      // not there
    }
  }

  /** How many notebooks are kept (tests, status). */
  count(): number {
    try {
      return readdirSync(this.dir).filter((n) => /^[0-9a-f]{64}$/.test(n)).length;
    } catch {
      return 0;
    }
  }

  private file(rel: string): string {
    return path.join(this.dir, createHash("sha256").update(rel).digest("hex"));
  }
}
