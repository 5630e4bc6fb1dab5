import { statSync } from "node:fs";
import type { ChangeKind } from "../../backends/types";
import { AuthError, ConfigError, MirrorshadeError, TransientError } from "../errors";
import { log } from "../log";
import { now } from "../profile";
import { stripUserinfo } from "../redact";
import { backoff, describe, sleep } from "../retry";
import { serveControl } from "../state";
import { Health, serveHealth } from "../health";
import { IgnoreRules } from "../ignore";
import { Scheduler } from "../engine/scheduler";
import { answerHistory } from "../engine/history";
import { reportConflicts, saveOnce, type SaveOutcome } from "../engine/save";
import { startPuller } from "../engine/puller";
import { startWatcher } from "../engine/watcher";
import { formatDuration } from "../units";
import { collectStartupGarbage } from "../v8-flags";
import { ensureRemote, loadSettings, openSession, type Flags } from "./common";
import { summarize, upstreamOf } from "./push";

/** How often the work dir itself is checked (vanished, replaced by a new mount). */
const DIR_CHECK_MS = 10_000;

/** The long-running mode: restore (or resume), watch, save each change, save what is left on SIGTERM. */
export async function watch(dirArg: string | undefined, flags: Flags): Promise<void> {
  const settings = await loadSettings("watch", dirArg, flags);
  process.umask(0o002); // files we write are group-writable: the notebook may run as another UID of the group
  const health = new Health();
  // Bound before the state dir is touched: a port in use is a usage error, and those change nothing.
  const listener = settings.listen ? await serveHealth(health, settings.listen) : undefined;
  let session;
  try {
    session = await openSession(settings, { write: true });
  } catch (err) {
    listener?.server.close();
    throw err;
  }
  if ("watcher" in session) {
    listener?.server.close();
    throw new ConfigError(`a mirrorshade watch already runs on ${settings.dir}`, { hint: "one watch per work dir" });
  }
  const { backend, lock } = session;

  let stopping: string | undefined;
  let wake: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  const onSignal = (sig: string) => {
    if (stopping) {
      log.warn(`${sig} again: exiting without the final save`);
      process.exit(130);
    }
    stopping = sig;
    log.info(`${sig}: saving what is left, then exiting`);
    wake();
  };
  process.on("SIGTERM", () => onSignal("SIGTERM"));
  process.on("SIGINT", () => onSignal("SIGINT"));

  try {
    // Start-up retries forever on transient and credential errors: the Secret or the
    // network may be fixed while we wait; a missing remote or bad config is final.
    await untilStopped(
      () => ensureRemote(backend, settings, 0),
      () => stopping,
    );
    if (settings.restore && !stopping) {
      const progress = log.progress(`restoring ${settings.dir}`);
      const report = await untilStopped(
        () => backend.restore({ progress: (m) => progress.update(m) }),
        () => stopping,
      );
      if (report) {
        reportConflicts(report);
        health.noteConflicts(report.conflicts);
        health.merges += report.merged?.length ?? 0;
        progress.done(
          report.resumed
            ? `resumed from state${report.incoming.length ? `, took ${report.incoming.length} change(s) from the remote` : ""}`
            : report.empty
              ? "the remote is empty: nothing to restore"
              : `restored ${report.written.length} file(s), kept ${report.kept.length} local file(s) that differ`,
        );
      }
    }
    if (stopping) return;
    lock.markReady();
    health.ready = true;

    /** Saves that end while a `push` waits on the control socket are reported to it. */
    const pushers = new Set<SaveOutcome[]>();
    let startedUp = false; // the first whole-tree check is done
    /** Why the last save failed: a push that asked for it exits with that, code and hint. */
    let lastSaveError: unknown;
    const scheduler = new Scheduler({
      debounce: settings.debounce,
      maxDelay: settings.maxDelay,
      save: async (paths, force) => {
        const last = await saveOnce(backend, paths.has(".") ? "all" : paths, settings, { forceInvalid: force });
        for (const seen of pushers) seen.push(last);
        health.recordSkipped(paths.has("."), last.plan.entries, last.plan.skipped);
        health.merges += last.report?.merged?.length ?? 0;
        const saved = last.report?.saved ?? [];
        health.recordSave(
          last.ms,
          saved.length,
          saved.reduce((n, e) => n + (e.size ?? 0), 0),
          last.report?.conflicts.length ?? 0,
        );
        health.noteConflicts(last.report?.conflicts ?? [], false);
        if (paths.has(".") && !startedUp) {
          startedUp = true;
          setImmediate(collectStartupGarbage);
        }
        return { deferred: last.plan.deferred };
      },
      onResult: (ok, err) => {
        lastSaveError = ok ? undefined : err;
        if (!ok) health.recordFailure(describe(err));
      },
    });
    health.pendingCount = () => scheduler.pending.size;
    const rules = new IgnoreRules(settings.dir, settings.ignore);
    const onChange = (rel: string, kind: ChangeKind) => scheduler.notify(rel, kind);
    // Without inotify (limits exhausted), scan at most as often as max-delay asks for.
    const watchDir = () =>
      startWatcher(settings.dir, rules, onChange, { pollEvery: Math.max(settings.maxDelay, 10_000) });
    let watcher = await watchDir();
    health.watcher = watcher;
    // The control socket is up before "watching" is said: from then on push and status reach us.
    const remote = settings.remote ? stripUserinfo(settings.remote) : null;
    let upstream: Promise<string | null> | undefined; // asked once, when a push first asks
    const control = serveControl(lock.socket, async (req) => {
      const { op } = req;
      if (op === "status") return { ...health.snapshot(), dir: settings.dir, remote };
      if (op === "log" || op === "restoreAt")
        return answerHistory(req, backend, settings, (fn) => scheduler.exclusive(fn));
      if (op === "plan") {
        log.info("a push asked what would be saved");
        const o = await scheduler.exclusive(() => saveOnce(backend, "all", settings, { dryRun: true }));
        return summarize({ ...settings, dryRun: true }, [o], o.ms, await (upstream ??= upstreamOf(settings)));
      }
      // saveNow first lets a save in progress end (it may carry the pushed files), then
      // saves what is left: what both saved is what this push saved.
      log.info("a push asked for a save now");
      const seen: SaveOutcome[] = [];
      const started = now();
      pushers.add(seen);
      let ok: boolean;
      try {
        ok = await scheduler.saveNow();
      } finally {
        pushers.delete(seen);
      }
      if (!ok) {
        if (lastSaveError instanceof MirrorshadeError) throw lastSaveError;
        throw new TransientError("the running watch could not save; see its log");
      }
      return summarize(settings, seen, now() - started, await (upstream ??= upstreamOf(settings)));
    });

    log.info(`watching ${settings.dir}`, {
      remote: settings.remote,
      debounce: settings.debounce,
      maxDelay: settings.maxDelay,
    });
    // Whatever changed while we were not running (and local files kept by the restore).
    scheduler.notify(".", "update");
    const puller = settings.pull ? startPuller(settings.pull, backend, scheduler, health) : undefined;

    let identity = dirIdentity(settings.dir);
    let vanished = false;
    const dirCheck = setInterval(() => {
      const now = dirIdentity(settings.dir);
      if (!now) {
        if (!vanished) log.error(`work dir ${settings.dir} vanished: nothing is saved until it is back`);
        vanished = true;
        return;
      }
      if (vanished || now !== identity) {
        log.warn(`work dir ${settings.dir} was ${vanished ? "restored" : "replaced"}: watching it afresh`);
        vanished = false;
        identity = now;
        void watcher.close().then(async () => {
          watcher = await watchDir();
          health.watcher = watcher;
          scheduler.notify(".", "update");
        });
      }
    }, DIR_CHECK_MS);
    dirCheck.unref();

    await stopped;
    await puller?.stop();
    clearInterval(dirCheck);
    await watcher.close();
    health.watcher = undefined;
    control.close();
    // The watcher batches events (tens of ms): a write just before the signal may not have
    // reached us yet. The final save looks at the whole tree, not only at events seen.
    scheduler.notify(".", "update");
    const unsaved = await scheduler.flush(settings.shutdownTimeout);
    if (unsaved.length) {
      throw new TransientError(
        `exiting with ${unsaved.length} change(s) not saved: ${unsaved.slice(0, 5).join(", ")}${unsaved.length > 5 ? ", …" : ""}`,
        { hint: `the remote did not take them within --shutdown-timeout ${formatDuration(settings.shutdownTimeout)}` },
      );
    }
    log.info("all changes saved; bye");
  } finally {
    listener?.server.close();
    await session.close();
  }
}

/** Retry `fn` forever on transient and auth errors (backoff, jitter), until a signal arrives. */
async function untilStopped<T>(fn: () => Promise<T>, stopping: () => string | undefined): Promise<T | undefined> {
  for (let attempt = 1; !stopping(); attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof TransientError || err instanceof AuthError)) throw err;
      const wait = backoff(attempt, 60_000);
      log.error(`${describe(err)}; retrying in ${formatDuration(wait)}`, { hint: err.hint });
      for (const end = Date.now() + wait; Date.now() < end && !stopping();)
        await sleep(Math.min(250, end - Date.now()));
    }
  }
  return undefined;
}

function dirIdentity(dir: string): string | undefined {
  try {
    const st = statSync(dir);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}
