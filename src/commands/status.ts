import { existsSync } from "node:fs";
import path from "node:path";
import { out } from "../log";
import { redactDeep, stripUserinfo } from "../redact";
import { StateLock, askWatcher } from "../state";
import { loadSettings, type Flags } from "./common";

/** What the `watch` on this dir is doing, for a person (or `--json` for a script). Reads only. */
export async function status(dirArg: string | undefined, flags: Flags): Promise<void> {
  const settings = await loadSettings("status", dirArg, flags);
  const holder = StateLock.holder(settings.stateDir);
  let report: Record<string, unknown>;
  if (holder?.command === "watch" && holder.socket && existsSync(holder.socket)) {
    report = { running: true, ...(await askWatcher<Record<string, unknown>>(holder.socket, "status", 10_000)) };
  } else {
    report = {
      running: false,
      dir: settings.dir,
      remote: settings.remote && stripUserinfo(settings.remote),
      stateDir: settings.stateDir,
      busy: holder ? `${holder.command} (pid ${holder.pid})` : undefined,
      restoredBefore:
        existsSync(path.join(settings.stateDir, "git")) || existsSync(path.join(settings.stateDir, "ready")),
    };
  }
  if (settings.json) {
    out(JSON.stringify(redactDeep(report)));
    return;
  }
  if (!report.running) {
    out(`no watch runs on ${settings.dir}${report.busy ? ` (busy: ${String(report.busy)})` : ""}`);
    return;
  }
  const rows: [string, unknown][] = [
    ["dir", report.dir],
    ["remote", report.remote],
    ["pid", report.pid],
    ["ready", report.ready],
    ["watcher", report.watcher],
    ["pending changes", report.pending],
    ["saves", report.saves],
    ["last save", report.lastSuccess ?? "never"],
    ["failures", `${String(report.failures)} (${String(report.consecutiveFailures)} in a row)`],
    ["last error", report.lastError ?? "-"],
    ["conflicts", report.conflicts],
  ];
  for (const [k, v] of rows) out(`${k.padEnd(16)} ${String(v)}`);
}
