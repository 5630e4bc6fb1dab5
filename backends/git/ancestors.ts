/**
 * Keeps the state dir's last synced notebooks (backends/lib/ancestors) in step with git: the
 * last synced state is the merge base of our HEAD and the remote-tracking ref (after a push,
 * both are the same commit). Only the notebooks that changed since the commit recorded last
 * are read: one `merge-base`, one `diff` and one `cat-file` when anything changed.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { nulSplit } from "../../src/git";
import { isNotebook, type Ancestors } from "../lib/ancestors";
import { treeEntries } from "./checkout";
import { catBlobs } from "./objects";
import type { Repo } from "./repo";

export async function syncAncestors(repo: Repo, store: Ancestors): Promise<void> {
  const { git } = repo;
  const head = await repo.head();
  const tip = repo.branch === undefined ? "" : await repo.rev(repo.tracking, true);
  if (!head || !tip) return;
  const mb = await git.run(["merge-base", head, tip], { okCodes: [1] });
  const synced = mb.stdout.trim();
  if (mb.code !== 0 || !synced) return;
  const marker = path.join(store.dir, "synced");
  const was = readOr(marker);
  if (was === synced) return;
  let paths: string[];
  const known = was && (await git.run(["cat-file", "-e", `${was}^{commit}`], { okCodes: [1, 128] })).code === 0;
  if (known) {
    paths = nulSplit(await git.out(["diff", "--name-only", "-z", "--no-renames", was, synced])).filter(isNotebook);
  } else {
    paths = nulSplit(await git.out(["ls-tree", "-r", "-z", "--name-only", "--full-tree", synced])).filter(isNotebook);
  }
  const entries = paths.length ? await treeEntries(repo, synced, paths) : new Map();
  for (const p of paths) if (!entries.has(p)) store.delete(p);
  const blobs = [...entries.values()].filter((e) => e.mode === "100644" || e.mode === "100755");
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
  try {
    mkdirSync(store.dir, { recursive: true, mode: 0o700 });
    writeFileSync(marker, synced + "\n", { mode: 0o600 });
  } catch {
    // a full state dir: the next sync reads the same range again
  }
}

function readOr(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    return "";
  }
}
