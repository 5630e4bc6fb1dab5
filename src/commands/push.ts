import type { SavePlan, SaveReport } from "../../backends/types";
import type { Settings } from "../config";
import { ConflictError, GuardError, errorFromExitCode } from "../errors";
import { log, out } from "../log";
import { redactDeep, stripUserinfo } from "../redact";
import { retry } from "../retry";
import { askWatcher } from "../state";
import { conflictLine, describeEntries, reportConflicts, saveOnce } from "../engine/save";
import { ensureRemote, loadSettings, openSession, type Flags } from "./common";

export interface PushSummary {
  ok: boolean;
  dryRun: boolean;
  dir: string;
  remote?: string;
  saved: { path: string; op: string }[];
  skipped: { path: string; reason: string }[];
  deferred: { path: string; reason: string }[];
  id?: string;
  incoming: string[];
  conflicts: SaveReport["conflicts"];
  conflictRef?: string;
  ms: number;
  /** The running watcher did the save. */
  viaWatcher?: boolean;
  error?: string;
  exitCode?: number;
}

export function summarize(settings: Settings, plan: SavePlan, report: SaveReport | undefined, ms: number): PushSummary {
  return {
    ok: !report?.conflicts.length,
    dryRun: settings.dryRun,
    dir: settings.dir,
    remote: settings.remote && stripUserinfo(settings.remote),
    saved: (report ? report.saved : settings.dryRun ? plan.entries : []).map((e) => ({ path: e.path, op: e.op })),
    skipped: plan.skipped,
    deferred: plan.deferred,
    id: report?.id,
    incoming: report?.incoming ?? [],
    conflicts: report?.conflicts ?? [],
    conflictRef: report?.conflictRef,
    ms: Math.round(ms),
  };
}

/** One save, then exit; the exit code says how it went. */
export async function push(dirArg: string | undefined, flags: Flags): Promise<void> {
  const settings = await loadSettings("push", dirArg, flags);
  const session = await openSession(settings, { write: !settings.dryRun });
  let summary: PushSummary;
  if ("watcher" in session) {
    // A watch runs on this dir: ask it, never touch its index.
    log.info("a watch runs on this dir: asking it to save");
    summary = await askWatcher<PushSummary>(
      session.watcher,
      settings.dryRun ? "plan" : "save",
      settings.retryFor + 60_000,
    );
    summary.viaWatcher = true;
    if (summary.error) throw errorFromExitCode(summary.exitCode ?? 4, summary.error);
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
      summary = summarize(settings, outcome.plan, outcome.report, outcome.ms);
      // Conflicts met while taking the remote's changes in (our edits not committed yet) count too.
      if (restored) {
        summary.incoming = [...restored.incoming, ...summary.incoming];
        summary.conflicts = [...restored.conflicts, ...summary.conflicts];
        summary.conflictRef = restored.conflictRef ?? summary.conflictRef;
        summary.ok = summary.conflicts.length === 0;
        reportConflicts(restored);
      }
    } finally {
      await session.close();
    }
  }
  print(summary, settings);
  if (summary.conflicts.length) {
    throw new ConflictError(conflictLine(summary.conflicts.length), {
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

function print(s: PushSummary, settings: Settings): void {
  if (settings.json) {
    out(JSON.stringify(redactDeep(s)));
    return;
  }
  const mark = { add: "A", modify: "M", delete: "D" } as Record<string, string>;
  for (const e of s.saved) out(`${mark[e.op] ?? "?"} ${e.path}`);
  for (const e of s.skipped) out(`- ${e.path} (skipped: ${e.reason})`);
  for (const e of s.deferred) out(`~ ${e.path} (not now: ${e.reason})`);
  if (s.dryRun) out(`dry run: would save ${describeEntries(s.saved)}`);
  else
    out(
      s.saved.length ? `saved ${s.saved.length} change(s)${s.id ? ` as ${s.id.slice(0, 12)}` : ""}` : "nothing to save",
    );
}
