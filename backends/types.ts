/**
 * The Backend contract, in mirrorshade's own terms. Paths are POSIX, relative to the work
 * dir. Every method may throw: AuthError (credentials refused), NotFoundError (remote
 * missing), TransientError (worth retrying: network, server, busy), ConfigError (bad URL
 * or settings). Anything else is a bug. Retry, dry-run, logging and redaction live around
 * backends (src/engine), not inside them.
 */
import type { Settings } from "../src/config";
import type { Logger } from "../src/log";

export type ChangeKind = "create" | "update" | "delete";

/** Paths touched since the last save, coalesced. A directory path means "rescan below it". */
export type ChangeSet = ReadonlyMap<string, ChangeKind>;

export type Op = "add" | "modify" | "delete";
export interface PlanEntry {
  path: string;
  op: Op;
  /** Bytes, for add/modify. */
  size?: number;
  /**
   * The exact bytes the shared layer checked (a notebook that parsed as JSON): a backend
   * saves these rather than re-reading a file a writer may be rewriting in place.
   */
  content?: Buffer;
}

/** What the shared layer decides about one candidate path. */
export type Verdict = "save" | { skip: string } | { defer: string };
export type PathFilter = (entry: PlanEntry) => Promise<Verdict>;

export interface SavePlan {
  entries: PlanEntry[];
  /** Never saved in this state (too large, …), with the reason. */
  skipped: { path: string; reason: string }[];
  /** Left for a later save (half-written notebook, mass deletion), with the reason. */
  deferred: { path: string; reason: string }[];
  /** Files the remote holds now (for the mass-deletion guard). */
  total: number;
  /** Work saved locally but not yet acknowledged by the remote (e.g. unpushed commits). */
  unacknowledged: number;
}

export interface SaveMeta {
  message: string;
  author?: string;
  trailers: string[];
  host: string;
  date: Date;
}

export interface Conflict {
  path: string;
  /** Backend-specific ids of the two versions (commit ids for git; "local", "deleted" where no id fits). */
  ours: string;
  theirs: string;
  /**
   * Where their version was written beside ours in the work dir (DESIGN.md "Conflict
   * copies"); absent when there is nothing to copy (deleted there) or it could not be written
   * (then their version stays reachable at the remote only, and the log says why).
   */
  copy?: string;
}

export interface SaveReport {
  saved: PlanEntry[];
  /** An id for the saved state (a commit id), when the backend has one. */
  id?: string;
  /** Paths that came in from the remote while integrating someone else's changes. */
  incoming: string[];
  conflicts: Conflict[];
  /**
   * Notebooks changed on both sides that merged by cell (backends/lib/notebooks.ts): the work dir
   * holds the merged notebook, no conflict copy was made. Absent: none.
   */
  merged?: string[];
  /** Where our side of a conflict was kept (a branch name for git). */
  conflictRef?: string;
}

export interface RestoreOptions {
  /** Work dir content already known to the backend is resumed, not restored afresh. */
  signal?: AbortSignal;
  /** The caller's progress indicator (files, bytes) for a long restore; without it the backend shows its own. */
  progress?: (msg: string) => void;
}

export interface RestoreReport {
  /** Files written into the work dir. */
  written: string[];
  /** Local files that differ from the remote and were kept (the next save commits them). */
  kept: string[];
  /** The remote had nothing yet. */
  empty: boolean;
  /** State from an earlier run was reused (no fresh restore). */
  resumed: boolean;
  incoming: string[];
  conflicts: Conflict[];
  /**
   * Notebooks changed on both sides that merged by cell (backends/lib/notebooks.ts): the work dir
   * holds the merged notebook, no conflict copy was made. Absent: none.
   */
  merged?: string[];
  /** Where our side of a conflict met while resuming was kept (a branch name for git). */
  conflictRef?: string;
}

export interface PullOptions {
  /**
   * Local changes not saved yet (the scheduler's pending set: paths, directories, or "." for
   * the whole tree). A pull never writes or deletes a path they cover; it waits for their save.
   */
  pending: ReadonlySet<string>;
}

export interface PullReport {
  /** Paths written into the work dir, or deleted from it, because they changed only at the remote. */
  incoming: string[];
  /** Of `incoming`, those deleted: deleted at the remote and unchanged here since our last save. */
  deleted: string[];
  /** Paths changed on both sides: ours stays in place, theirs is written beside it (`copy`). */
  conflicts: Conflict[];
  /**
   * Notebooks changed on both sides that merged by cell: the work dir holds the merged notebook.
   * A backend that cannot save it within the pull (S3) leaves it to the next save. Absent: none.
   */
  merged?: string[];
  /** Where our side of a conflict was kept (a branch name for git). */
  conflictRef?: string;
  /** Paths changed at the remote that wait, because a local change to them is pending. */
  waiting: string[];
}

/** One save as the history keeps it (`log`). */
export interface SaveRecord {
  /** The save's id: a commit id (git), a record id (S3). `restore --at` takes it, or a unique prefix. */
  id: string;
  /** When it was saved: ISO 8601, UTC. */
  time: string;
  /** Who saved it: the pod's (or machine's) name; a person's name for a commit made outside mirrorshade. */
  host: string;
  message: string;
  /** The paths this save changed (only those under LogOptions.paths, when given). */
  files: { path: string; op: Op }[];
}

export interface LogOptions {
  /** Only saves made at or after this time. */
  since?: Date;
  /** Only saves that changed one of these paths (files, or directories: everything below). */
  paths?: string[];
  /** At most this many saves (the newest). */
  limit?: number;
  /** The caller's progress indicator, for history fetched on demand; without it the backend logs. */
  progress?: (msg: string) => void;
}

/** A past point: a save's id (or a unique prefix of it), or the newest save made at or before a time. */
export type SavePoint = { id: string } | { time: Date };

export interface RestoreAtOptions {
  at: SavePoint;
  /** Only these paths (files, or directories: everything below); default: the whole tree. */
  paths?: string[];
  /**
   * Replace a local file that differs instead of writing the old version beside it, when its
   * current content is saved (the caller saves first); one whose content is not (too large,
   * ignored, changed since) still gets the old version beside it.
   */
  overwrite?: boolean;
  progress?: (msg: string) => void;
}

export interface RestoreAtReport {
  /** The save that was brought back. */
  id: string;
  time: string;
  /** Paths absent here, written as they were. */
  written: string[];
  /** Paths that differ here: the local file stays, the old version is beside it as `copy`. */
  copies: { path: string; copy: string }[];
  /** Paths that differed, whose saved content was replaced (overwrite). */
  replaced: string[];
  /** Paths already as they were. */
  unchanged: number;
  /** Paths of that save that could not be brought back, each with the reason. */
  missing: { path: string; reason: string }[];
}

export interface Backend {
  readonly name: string;
  readonly capabilities: {
    /** Earlier versions stay retrievable at the remote. */
    history: boolean;
    /** The saves are listed (`log`) and a past one brought back (`restore --at`): `log` and `restoreAt` exist. */
    atRestore: boolean;
    /**
     * A save that would replace a version of a path this side has not seen (another writer
     * saved it meanwhile) notices it, keeps both and reports it in SaveReport.conflicts. Without
     * it the last writer wins (S3 on a store without conditional writes). Absent: false.
     */
    conflicts?: boolean;
    /**
     * A save brings the other writers' changes into the work dir (SaveReport.incoming). Without
     * it they arrive at the next restore. Absent: false.
     */
    integrates?: boolean;
    /** `pull` brings other writers' saves into the work dir while watching. Absent: false. */
    pulls?: boolean;
  };
  /** Reachable and credentials work (with `write`, also that we may write); writes nothing. */
  check(opts?: { write?: boolean }): Promise<void>;
  /** Make the remote exist (init --create, --create). */
  create?(): Promise<void>;
  /**
   * Bring the remote into the work dir. A first restore writes the union, local first: it never
   * deletes or overwrites a local file (one that differs is kept, theirs beside it as a conflict
   * copy where the backend has no history to keep it in). With state from an earlier run it
   * resumes, taking in what the remote gained meanwhile as `pull` does.
   */
  restore(opts?: RestoreOptions): Promise<RestoreReport>;
  /** What a save of these changes would do. Reads only; calls `filter` on each candidate. */
  plan(changes: ChangeSet | "all", filter: PathFilter): Promise<SavePlan>;
  /**
   * Save the planned entries (their current content) and anything unacknowledged from
   * before. Resolves only when the remote acknowledged it. On a concurrent change it
   * integrates, keeps both versions, and reports the conflicts instead of throwing.
   */
  save(plan: SavePlan, meta: SaveMeta): Promise<SaveReport>;
  /**
   * Bring what other writers saved since our last sync into the work dir, the way a save
   * integrates it, without saving anything of ours that was not saved before:
   * - a path changed only at the remote is written (a temp file beside it, then a rename:
   *   a reader never sees half a file) when the local file is unchanged since our last save;
   * - a path deleted at the remote is deleted here only when unchanged since our last save;
   *   changed here, ours is kept (a conflict without a copy) and the next save saves it;
   * - a path changed on both sides keeps ours in place and gets theirs beside it as a conflict
   *   copy (never overwriting anything; identical content never makes a second copy), except a
   *   notebook whose changes merge by cell: the merged notebook replaces ours (`merged`);
   * - a path `opts.pending` covers is not touched (reported in `waiting`); a backend whose
   *   remote changes cannot be split by path (git) waits for all of them.
   * Its own writes into the work dir must not cause a save of anything but the copies.
   * Before a first restore (or save) has synced this side, it does nothing. Throws as `save`.
   */
  pull?(opts: PullOptions): Promise<PullReport>;
  /**
   * The saves at the remote, newest first [atRestore]. Fetches what it needs (older history
   * included, on demand), reads only: the work dir and what counts as saved are untouched.
   * A remote with no saves gives an empty list.
   */
  log?(opts?: LogOptions): Promise<SaveRecord[]>;
  /**
   * Bring back the files of a past save into the work dir [atRestore]. Never deletes a
   * local file and never overwrites one unless `overwrite` says so: a path absent here is
   * written, one that differs keeps the local file and gets the old version beside it, named
   * like a conflict copy (backends/lib/naming.ts) with the time of that save. What counts as
   * saved does not change: what it wrote is a local change the next save takes (with no state
   * yet, local files the first restore keeps). NotFoundError when no save matches `at` (or
   * the remote has none); ConfigError for an ambiguous id. A file the remote no longer keeps
   * (S3 without versioning) is reported in `missing`, not thrown.
   */
  restoreAt?(opts: RestoreAtOptions): Promise<RestoreAtReport>;
  close(): Promise<void>;
}

export interface BackendContext {
  /** The remote URL; undefined when the backend can find it itself (a git work tree's upstream). */
  remote: string | undefined;
  dir: string;
  stateDir: string;
  settings: Settings;
  log: Logger;
}

export type BackendFactory = (ctx: BackendContext) => Promise<Backend>;
