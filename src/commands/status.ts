import { existsSync } from "node:fs";
import path from "node:path";
import { NoWatchError } from "../errors";
import { out, setResult } from "../log";
import { stripUserinfo } from "../redact";
import { StateLock, askWatcher } from "../state";
import { formatDuration } from "../units";
import { loadSettings, type Flags } from "./common";

/**
 * What the `watch` on this dir is doing, for a person (or `--json` for a script). Reads
 * only. Exit 8 when no watch runs: the state dir it looked in is the one a watch with the
 * same --state-dir would use, so the message names it.
 */
export async function status(dirArg: string | undefined, flags: Flags): Promise<void> {
  const settings = await loadSettings("status", dirArg, flags);
  const holder = StateLock.holder(settings.stateDir);
  const base = {
    dir: settings.dir,
    remote: settings.remote ? stripUserinfo(settings.remote) : null,
    stateDir: settings.stateDir,
  };
  const watcher = StateLock.watcher(settings.stateDir);
  if (watcher) {
    const report = { running: true, ...(await askWatcher<Record<string, unknown>>(watcher, "status", 10_000)) };
    if (settings.json) return setResult(report);
    return printRows(report);
  }
  if (holder?.command === "watch") {
    // Its control socket comes up once the restore is done: a watch that is starting.
    const report = { running: true, ready: false, pid: holder.pid, ...base };
    if (settings.json) return setResult(report);
    out(`a watch (pid ${holder.pid}) is starting on ${settings.dir}: restoring, not answering yet`);
    return;
  }
  const report = {
    running: false,
    ...base,
    // Another command (push, restore, init) holds the state dir now: no watch, but not idle.
    holder: holder ? { command: holder.command, pid: holder.pid } : null,
    restoredBefore:
      existsSync(path.join(settings.stateDir, "git")) || existsSync(path.join(settings.stateDir, "ready")),
  };
  if (settings.json) setResult(report);
  const hint = `a watch started with another --state-dir (or MIRRORSHADE_STATE_DIR) is found with that one only`;
  if (holder) {
    throw new NoWatchError(
      `not watched: a ${holder.command} (pid ${holder.pid}) is using ${settings.dir} (state dir ${settings.stateDir})`,
      { hint: `it ends by itself; ${hint}` },
    );
  }
  throw new NoWatchError(`no watch runs on ${settings.dir} (looked in state dir ${settings.stateDir})`, { hint });
}

/** "2: a.fifo (a FIFO …), b.txt (cannot read it …)" or "-". */
function describeSkipped(skipped: unknown): string {
  const list = Array.isArray(skipped) ? (skipped as { path: string; reason: string }[]) : [];
  if (!list.length) return "-";
  const shown = list.slice(0, 5).map((s) => `${s.path} (${s.reason})`);
  return `${list.length}: ${shown.join(", ")}${list.length > 5 ? ", …" : ""}`;
}

function printRows(report: Record<string, unknown>): void {
  const rows: [string, unknown][] = [
    ["dir", report.dir],
    ["remote", report.remote ?? "-"],
    ["pid", report.pid],
    ["ready", report.ready],
    ["watcher", report.watcher],
    ["pending changes", report.pending],
    ["saves", report.saves],
    ["last save", report.lastSuccess ?? "never"],
    ["failures", `${String(report.failures)} (${String(report.consecutiveFailures)} in a row)`],
    ["last error", report.lastError ?? "-"],
    ["conflicts", report.conflicts],
    ["skipped", describeSkipped(report.skipped)],
  ];
  // Each recent conflict: ours at the path, theirs in the copy beside it.
  const recent = (report.recentConflicts as { path: string; copy?: string; at: string }[] | undefined) ?? [];
  for (const c of recent) rows.push(["", `${c.path} (theirs: ${c.copy ?? "none, deleted there or not writable"})`]);
  const pull = report.pull as { every: number; pulls: number; failures: number; last?: string } | null | undefined;
  rows.push([
    "pull",
    pull ? `every ${formatDuration(pull.every)}, ${pull.pulls} done, last ${pull.last ?? "never"}` : "off",
  ]);
  out(rows.map(([k, v]) => `${k.padEnd(16)} ${String(v)}`).join("\n"));
}
