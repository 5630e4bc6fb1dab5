import type { ChangeKind } from "../../backends/types";

/**
 * Paths touched since the last save, coalesced: create then delete is nothing, delete then
 * create is an update. Backends compare with what they saved, so a coalesced-away path
 * costs nothing and a mis-coalesced one still saves correctly.
 */
export class ChangeSet {
  readonly paths = new Map<string, ChangeKind>();
  /** When the first unsaved change arrived (ms since epoch), for max-delay. */
  firstAt: number | undefined;

  add(rel: string, kind: ChangeKind, now = Date.now()): void {
    const prev = this.paths.get(rel);
    this.firstAt ??= now;
    if (prev === "create" && kind === "delete") {
      this.paths.delete(rel);
      if (this.paths.size === 0) this.firstAt = undefined; // nothing unsaved: no max-delay running
      return;
    }
    if (prev === "delete" && kind === "create") kind = "update";
    else if (prev === "create" && kind === "update") kind = "create";
    this.paths.set(rel, kind);
  }

  /** Put back what a failed or partial save did not take; newer events win. */
  merge(other: ReadonlyMap<string, ChangeKind>, firstAt: number | undefined): void {
    for (const [p, k] of other) if (!this.paths.has(p)) this.paths.set(p, k);
    if (firstAt !== undefined && (this.firstAt === undefined || firstAt < this.firstAt)) this.firstAt = firstAt;
  }

  /** Take everything, leaving this empty. */
  take(): { paths: Map<string, ChangeKind>; firstAt: number | undefined } {
    const taken = { paths: new Map(this.paths), firstAt: this.firstAt };
    this.paths.clear();
    this.firstAt = undefined;
    return taken;
  }

  get size(): number {
    return this.paths.size;
  }
}
