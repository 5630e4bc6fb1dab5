import { ConfigError } from "../errors";
import { log, out, setResult } from "../log";
import { retry } from "../retry";
import { ensureRemote, loadSettings, openSession, type Flags } from "./common";
import { restoreAt } from "./restore-at";

/**
 * Bring the remote into the dir: the union, local first. Never deletes or overwrites; never
 * pushes. With --at, a past save instead (restore-at.ts).
 */
export async function restore(dirArg: string | undefined, flags: Flags): Promise<void> {
  const settings = await loadSettings("restore", dirArg, flags);
  process.umask(0o002); // restored files group-writable: the notebook may run as another UID of the group
  if (settings.at !== undefined) return restoreAt(settings, flags);
  if (settings.overwrite || (flags.paths as string[] | undefined)?.length) {
    throw new ConfigError(`${settings.overwrite ? "--overwrite" : "paths after --"} go with --at only`, {
      hint: "a plain restore never overwrites and takes the whole remote; pass --at <when> to bring back a past save",
    });
  }
  // A missing destination is created, as git clone and rclone copy do.
  const session = await openSession(settings, { write: true, createDir: true });
  if ("watcher" in session) {
    throw new ConfigError(`a mirrorshade watch already runs on ${settings.dir} (it restored at start)`, {
      hint: "stop it, or leave the restore to it",
    });
  }
  let done = false;
  try {
    await ensureRemote(session.backend, settings);
    const progress = log.progress(`restoring ${settings.dir}`);
    const report = await retry("restore", settings.retryFor, () =>
      session.backend.restore({ progress: (m) => progress.update(m) }),
    ).catch((err) => {
      progress.fail("restore failed");
      throw err;
    });
    const summary = report.empty
      ? "the remote is empty: nothing to restore"
      : `restored ${report.written.length} file(s), kept ${report.kept.length} local file(s) that differ` +
        (report.incoming.length ? `, took ${report.incoming.length} change(s)` : "") +
        (report.merged?.length ? `, merged ${report.merged.length} notebook(s) by cell` : "");
    progress.done(summary);
    if (settings.json) setResult({ ...report });
    else out(summary);
    done = true;
  } finally {
    await session.close(!done);
  }
}
