import type { Settings } from "../config";
import { NotFoundError } from "../errors";
import { log, out, setResult } from "../log";
import { retry } from "../retry";
import { parseWhen } from "../time";
import { fromPoint, restoreAtSave, type RestoreAtRequest, type RestoreAtResult } from "../engine/history";
import { askWatch, ensureRemote, openSession, workPaths, type Flags } from "./common";

/**
 * `restore --at <when>`: the files of a past save into the dir. Never deletes, never
 * overwrites silently: what differs here keeps its place and the old version goes beside it
 * (or, with --overwrite, replaces it once the current version is saved). When a watch runs on
 * the dir, it does the work (and then saves what was written like any change).
 */
export async function restoreAt(settings: Settings, flags: Flags): Promise<void> {
  const at = parseWhen(settings.at!, new Date())!; // checked with the settings
  const req: RestoreAtRequest = {
    at: fromPoint(at),
    paths: workPaths(settings.dir, flags.paths),
    overwrite: settings.overwrite,
  };
  const session = await openSession(settings, { write: true, createDir: true });
  let report: RestoreAtResult;
  if ("watcher" in session) {
    log.info("a watch runs on this dir: asking it to bring the save back");
    const answer = await askWatch<RestoreAtResult>(session.watcher, "restoreAt", settings, 10 * 60_000, { ...req });
    report = answer;
  } else {
    let done = false;
    try {
      await ensureRemote(session.backend, settings);
      const progress = log.progress(`restoring ${settings.dir} as it was`);
      report = await retry("restore --at", settings.retryFor, () =>
        restoreAtSave(session.backend, settings, req, (m) => progress.update(m)),
      ).catch((err) => {
        progress.fail("restore --at failed");
        throw err;
      });
      progress.done();
      done = report.missing.length === 0; // else it fails below: a dir it made and left empty goes
    } finally {
      await session.close(!done);
    }
  }
  if (settings.json) setResult({ ...report, viaWatcher: "watcher" in session });
  else print(report, "watcher" in session);
  if (report.missing.length) {
    const first = report.missing[0]!;
    throw new NotFoundError(
      `${report.missing.length} file(s) of save ${report.id.slice(0, 12)} could not be brought back: ` +
        `${first.path} (${first.reason})${report.missing.length > 1 ? ", …" : ""}`,
      { hint: missingHint(report.missing.map((m) => m.reason)) },
    );
  }
}

function missingHint(reasons: string[]): string {
  if (reasons.some((r) => /versioning/i.test(r))) {
    return "turn on versioning for the bucket: from then on every save can be brought back";
  }
  return "the others were restored; run with --json to see each path and its reason";
}

function print(r: RestoreAtResult, viaWatcher: boolean): void {
  const lines = [
    ...r.written.map((p) => `A ${p}`),
    ...r.replaced.map((p) => `R ${p}`),
    ...r.copies.map((c) => `C ${c.path} -> ${c.copy}`),
    ...r.missing.map((m) => `! ${m.path} (${m.reason})`),
  ];
  const when = r.time.replace("T", " ").replace(/\.\d+Z$/, "Z");
  lines.push(
    `brought back save ${r.id.slice(0, 12)} (${when}): ${r.written.length} written, ${r.replaced.length} replaced, ` +
      `${r.copies.length} beside the local file, ${r.unchanged} unchanged` +
      (r.savedFirst ? `; the current version was saved first as ${r.savedFirst.slice(0, 12)}` : "") +
      (r.written.length + r.replaced.length + r.copies.length === 0
        ? ""
        : viaWatcher
          ? "; the watch saves them next"
          : "; the next save (watch or push) saves them"),
  );
  out(lines.join("\n"));
}
