import type { SaveReport } from "../../backends/types";
import type { Settings } from "../config";
import { ConflictError, GuardError } from "../errors";
import { Git, buildGitEnv } from "../git";
import { log, out, setResult } from "../log";
import { stripUserinfo } from "../redact";
import { retry } from "../retry";
import { conflictLine, describeEntries, reportConflicts, saveOnce, type SaveOutcome } from "../engine/save";
import { askWatch, ensureRemote, loadSettings, openSession, type Flags } from "./common";

/** What `push` reports, with the same keys whoever saved (this process or the running watch). */
export interface PushSummary {
  ok: boolean;
  dryRun: boolean;
  dir: string;
  /** Where it saved; in place without --remote, the branch's upstream. */
  remote: string | null;
  saved: { path: string; op: string }[];
  skipped: { path: string; reason: string }[];
  deferred: { path: string; reason: string }[];
  /** The saved state's id (a commit), null when nothing new was saved. */
  id: string | null;
  incoming: string[];
  conflicts: SaveReport["conflicts"];
  /** Notebooks changed here and at the remote whose changes merged by cell (no conflict copy). */
  merged: string[];
  conflictRef: string | null;
  ms: number;
  /** The running watch did the save (or the plan). */
  viaWatcher: boolean;
}

/**
 * One summary of the saves (or the dry-run plan) a push caused. Several when a watch
 * answered: it first finishes the save in progress, which may carry the pushed files, then
 * saves what is left; the files of both were saved for this push.
 */
export function summarize(
  settings: Settings,
  outcomes: readonly SaveOutcome[],
  ms: number,
  remote: string | null = remoteOf(settings),
): PushSummary {
  const reports = outcomes.map((o) => o.report).filter((r): r is SaveReport => r !== undefined);
  const plan = outcomes.at(-1)?.plan;
  const saved = settings.dryRun ? (plan?.entries ?? []) : reports.flatMap((r) => r.saved);
  const conflicts = reports.flatMap((r) => r.conflicts);
  return {
    ok: conflicts.length === 0,
    dryRun: settings.dryRun,
    dir: settings.dir,
    remote,
    saved: saved.map((e) => ({ path: e.path, op: e.op })),
    skipped: plan?.skipped ?? [],
    deferred: plan?.deferred ?? [],
    id: reports.findLast((r) => r.id)?.id ?? null,
    incoming: reports.flatMap((r) => r.incoming),
    conflicts,
    merged: reports.flatMap((r) => r.merged ?? []),
    conflictRef: reports.findLast((r) => r.conflictRef)?.conflictRef ?? null,
    ms: Math.round(ms),
    viaWatcher: false,
  };
}

function remoteOf(settings: Settings): string | null {
  return settings.remote ? stripUserinfo(settings.remote) : null;
}

/**
 * In place without --remote, the save goes to the checked-out branch's upstream: name it.
 * Only in place: the dir's git config is trusted there, and nowhere else.
 */
export async function upstreamOf(settings: Settings): Promise<string | null> {
  if (settings.remote || !settings.inPlace) return remoteOf(settings);
  const git = new Git(settings.dir, buildGitEnv({ workTree: settings.dir, stateDir: settings.stateDir }));
  const up = await git.run(["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"], { okCodes: [128] });
  const name = /^([^/]+)\//.exec(up.stdout.trim())?.[1];
  if (up.code !== 0 || !name) return null;
  const url = await git.run(["remote", "get-url", name], { okCodes: [2, 128] });
  return url.code === 0 ? stripUserinfo(url.stdout.trim()) : null;
}

/** One save, then exit; the exit code says how it went. */
export async function push(dirArg: string | undefined, flags: Flags): Promise<void> {
  const settings = await loadSettings("push", dirArg, flags);
  const session = await openSession(settings, { write: !settings.dryRun });
  let summary: PushSummary;
  if ("watcher" in session) {
    // A watch runs on this dir: ask it, never touch its index.
    const op = settings.dryRun ? "plan" : "save";
    log.info(`a watch runs on this dir: asking it ${op === "plan" ? "what it would save" : "to save now"}`);
    // The save may wait for one in progress: a minute more than a push of our own would retry.
    const answer = await askWatch<PushSummary>(session.watcher, op, settings, 60_000);
    summary = { ...answer, viaWatcher: true };
  } else {
    try {
      await ensureRemote(session.backend, settings);
      // Take the remote's changes first (with no state yet, this is the first restore).
      const restored = settings.dryRun
        ? undefined
        : await retry("restore", settings.retryFor, () => session.backend.restore());
      const outcome = await retry("save", settings.retryFor, () =>
        saveOnce(session.backend, "all", settings, { forceInvalid: true, dryRun: settings.dryRun }),
      );
      summary = summarize(settings, [outcome], outcome.ms, await upstreamOf(settings));
      // Conflicts met while taking the remote's changes in (our edits not committed yet) count too.
      if (restored) {
        summary.incoming = [...restored.incoming, ...summary.incoming];
        summary.conflicts = [...restored.conflicts, ...summary.conflicts];
        summary.merged = [...(restored.merged ?? []), ...summary.merged];
        summary.conflictRef = restored.conflictRef ?? summary.conflictRef;
        summary.ok = summary.conflicts.length === 0;
        reportConflicts(restored);
      }
    } finally {
      await session.close();
    }
  }
  if (settings.json) setResult({ ...summary });
  else print(summary);
  if (summary.conflicts.length) {
    throw new ConflictError(conflictLine(summary.conflicts), {
      hint: summary.conflictRef ? `our commits before the merge are also on branch ${summary.conflictRef}` : undefined,
    });
  }
  const massDeletes = summary.deferred.filter((d) => d.reason === "mass deletion").length;
  if (massDeletes) {
    throw new GuardError(`refused to save the deletion of ${massDeletes} files`, {
      hint: "if it is intended, pass --allow-mass-delete",
    });
  }
}

function print(s: PushSummary): void {
  const mark = { add: "A", modify: "M", delete: "D" } as Record<string, string>;
  const lines = [
    ...s.saved.map((e) => `${mark[e.op] ?? "?"} ${e.path}`),
    ...s.skipped.map((e) => `- ${e.path} (skipped: ${e.reason})`),
    ...s.deferred.map((e) => `~ ${e.path} (not now: ${e.reason})`),
    ...s.conflicts.map(
      (c) => `C ${c.path} (conflict: ours kept, theirs ${c.copy ? `is ${c.copy}` : "was a deletion"})`,
    ),
    ...s.merged.map((p) => `= ${p} (merged by cell with the remote's changes)`),
  ];
  if (s.dryRun) lines.push(`dry run: would save ${describeEntries(s.saved)}`);
  else
    lines.push(
      s.saved.length ? `saved ${s.saved.length} change(s)${s.id ? ` as ${s.id.slice(0, 12)}` : ""}` : "nothing to save",
    );
  out(lines.join("\n"));
}
