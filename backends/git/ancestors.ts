/**
 * Keeps the state dir's last synced notebooks (backends/lib/ancestors) in step with git: the
 * last synced state is the merge base of our HEAD and the remote-tracking ref (after a push,
 * both are the same commit). A plain save of ours needs no git at all (the bytes it committed
 * are in the plan); after anything else, the notebooks that changed since the commit recorded
 * last are read: one `merge-base`, one `diff`, one `cat-file`.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { nulSplit } from "../../src/git";
import { isNotebook, type Ancestors } from "../lib/ancestors";
import type { SaveReport } from "../types";
import { isFileEntry, treeEntries } from "./checkout";
import { catBlobs } from "./objects";
import type { Repo } from "./repo";

export class SyncedNotebooks {
  /** The commit the store reflects, as known to this process (undefined: ask git). */
  private at: string | undefined;

  constructor(
    private readonly repo: Repo,
    private readonly store: Ancestors,
  ) {}

  /** A save failed: what it committed may be pushed later with another save's report. */
  forget(): void {
    this.at = undefined;
  }

  /** After a save: its own notebooks from the plan when it only pushed them, else from git. */
  async saved(r: SaveReport): Promise<void> {
    const books = r.saved.filter((e) => isNotebook(e.path));
    const plain =
      this.at !== undefined && r.id !== undefined && !r.incoming.length && !r.conflicts.length && !r.merged?.length;
    if (plain && books.every((e) => e.op === "delete" || e.content)) {
      for (const e of books) {
        if (e.op === "delete") this.store.delete(e.path);
        else this.store.set(e.path, e.content!);
      }
      this.at = r.id;
      if (books.length) this.mark(r.id!);
      return;
    }
    if (
      books.length ||
      r.incoming.some(isNotebook) ||
      r.conflicts.length ||
      r.merged?.length ||
      this.at === undefined
    ) {
      // A conflict whose side of ours is not committed yet: the last agreed version stays its ancestor.
      const saved = new Set(r.saved.map((e) => e.path));
      await this.sync(new Set(r.conflicts.map((c) => c.path).filter((p) => !saved.has(p))));
    }
  }

  /**
   * After a restore or a pull took the remote's commits in. A conflict's path keeps its
   * ancestor: the remote holds theirs, we hold ours, and both last agreed on the old one.
   */
  async integrated(changed: boolean, conflicts: readonly { path: string }[] = []): Promise<void> {
    if (changed || this.at === undefined) await this.sync(new Set(conflicts.map((c) => c.path)));
  }

  /** Bring the store to the merge base of HEAD and the remote-tracking ref (`keep`: paths left as they are). */
  async sync(keep: ReadonlySet<string> = new Set()): Promise<void> {
    const { repo, store } = this;
    const { git } = repo;
    const head = await repo.head();
    const tip = repo.branch === undefined ? "" : await repo.rev(repo.tracking, true);
    if (!head || !tip) return;
    const mb = await git.run(["merge-base", head, tip], { okCodes: [1] });
    const synced = mb.stdout.trim();
    if (mb.code !== 0 || !synced) return;
    const was = this.at ?? readOr(this.marker);
    if (was === synced) {
      this.at = synced;
      return;
    }
    const known = was && (await git.run(["cat-file", "-e", `${was}^{commit}`], { okCodes: [1, 128] })).code === 0;
    const paths = nulSplit(
      await git.out(
        known
          ? ["diff", "--name-only", "-z", "--no-renames", was, synced]
          : ["ls-tree", "-r", "-z", "--name-only", "--full-tree", synced],
      ),
    ).filter((p) => isNotebook(p) && !keep.has(p));
    const entries = paths.length ? await treeEntries(repo, synced, paths) : new Map();
    for (const p of paths) if (!entries.has(p)) store.delete(p);
    const blobs = [...entries.values()].filter(isFileEntry);
    let i = 0;
    await catBlobs(
      git,
      blobs.map((e) => e.id),
      (_id, bytes) => {
        const e = blobs[i++]!;
        if (bytes) store.set(e.path, bytes);
        else store.delete(e.path);
      },
    );
    this.at = synced;
    this.mark(synced);
  }

  private get marker(): string {
    return path.join(this.store.dir, "synced");
  }

  private mark(commit: string): void {
    try {
      mkdirSync(this.store.dir, { recursive: true, mode: 0o700 });
      writeFileSync(this.marker, commit + "\n", { mode: 0o600 });
    } catch {
      // a full state dir: the next sync reads the same range again
    }
  }
}

function readOr(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}
