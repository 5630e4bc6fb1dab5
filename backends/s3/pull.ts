/**
 * Pull while watching: one flat listing compared with the manifest, then what changed at the
 * remote comes in as a resumed restore takes it (restore.ts), path by path, leaving alone the
 * paths a pending local change covers. Before this side ever synced, nothing happens: the
 * first save lists the remote and protects what it holds.
 */
import type { PullOptions, PullReport } from "../types";
import type { S3Ctx } from "./context";
import { bringIn } from "./restore";

export async function pull(c: S3Ctx, opts: PullOptions): Promise<PullReport> {
  if (!c.manifest.synced) return { incoming: [], deleted: [], conflicts: [], waiting: [] };
  const r = await bringIn(c, { pending: opts.pending });
  // A notebook merged here is uploaded by the next save (the puller asks for it), not by the pull.
  return { incoming: r.incoming, deleted: r.deleted, conflicts: r.conflicts, merged: r.merged, waiting: r.waiting };
}
