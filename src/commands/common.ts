/** What every command does first: settings, logging, the work dir, the state lock, the backend. */
import path from "node:path";
import { registry } from "../../backends/index";
import type { Backend } from "../../backends/types";
import { checkWorkDir, removeMadeDirs, resolveSettings, type Settings } from "../config";
import { ConfigError, NotFoundError, errorFromExitCode } from "../errors";
import { configureLog, log } from "../log";
import type { CommandName } from "../options";
import { retry } from "../retry";
import { StateLock, askWatcher, prepareStateDir, type ControlRequest } from "../state";
import { MAX_DURATION_MS } from "../validate";

export type Flags = Record<string, unknown>;

export async function loadSettings(command: CommandName, dirArg: string | undefined, flags: Flags): Promise<Settings> {
  const settings = await resolveSettings(command, dirArg, flags);
  configureLog({ level: settings.logLevel, format: settings.logFormat, quietProgress: settings.json });
  for (const warning of settings.warnings) log.warn(warning);
  return settings;
}

export interface Session {
  settings: Settings;
  backend: Backend;
  lock: StateLock;
  /** `failed`: the command failed; a work dir it made goes again while empty. */
  close(failed?: boolean): Promise<void>;
}

/**
 * Lock the state dir and open the backend. When a `watch` already runs on this dir,
 * returns its control socket instead: the caller asks it rather than touching its state.
 * Every usage error is found before the state dir is created (settings were checked when
 * resolved; the remote's scheme and the work dir here).
 * `createDir`: create a missing work dir (restore, like git clone); default: --create.
 */
export async function openSession(
  settings: Settings,
  opts: { write: boolean; createDir?: boolean },
): Promise<Session | { watcher: string }> {
  if (settings.remote === undefined && !settings.inPlace) {
    // A watch on this dir knows its remote: push, log and restore --at ask it without one.
    const watcher = StateLock.watcher(settings.stateDir);
    if (watcher) return { watcher };
    throw new ConfigError("no remote to save to", {
      hint: "pass --remote <url>, set MIRRORSHADE_REMOTE, or run: mirrorshade init <dir> --remote <url>",
    });
  }
  registry.backendFor(settings.remote);
  const made = checkWorkDir(settings.dir, { write: opts.write, create: opts.createDir ?? settings.create });
  let got;
  try {
    prepareStateDir(settings.stateDir, settings.dir);
    got = await StateLock.acquire(settings.stateDir, settings.command, settings.retryFor);
  } catch (err) {
    removeMadeDirs(settings.dir, made);
    throw err;
  }
  if ("watcher" in got) return got;
  const { lock } = got;
  try {
    const backend = await registry.open({
      remote: settings.remote,
      dir: settings.dir,
      stateDir: settings.stateDir,
      settings,
      log,
    });
    return {
      settings,
      backend,
      lock,
      async close(failed = false) {
        try {
          await backend.close();
        } finally {
          // Before the lock goes: a restore waiting for it may be about to use the dir.
          if (failed) removeMadeDirs(settings.dir, made);
          lock.release();
        }
      },
    };
  } catch (err) {
    removeMadeDirs(settings.dir, made);
    lock.release();
    throw err;
  }
}

/** Check the remote; create it when missing and --create was given. */
export async function ensureRemote(
  backend: Backend,
  settings: Settings,
  retryFor = settings.retryFor,
  opts: { write?: boolean } = {},
): Promise<void> {
  try {
    await retry("checking the remote", retryFor, () => backend.check(opts));
  } catch (err) {
    if (!(err instanceof NotFoundError) || !settings.create || !backend.create) throw err;
    await backend.create();
    await backend.check(opts);
  }
}

/**
 * Paths given after `--`, relative to the work dir (an absolute one must lie inside it), as
 * POSIX paths without `./` or a trailing `/`. A path naming the work dir itself means all:
 * undefined. ConfigError for one outside it.
 */
export function workPaths(dir: string, raw: unknown): string[] | undefined {
  const given = Array.isArray(raw) ? (raw as string[]) : [];
  const out: string[] = [];
  for (const p of given) {
    const rel = path.relative(dir, path.resolve(dir, p)).split(path.sep).join("/");
    if (rel === "") return undefined;
    if (rel === ".." || rel.startsWith("../") || path.isAbsolute(rel)) {
      throw new ConfigError(`${p} is not inside the work dir ${dir}`, {
        hint: "give paths relative to the work dir (or absolute, inside it)",
      });
    }
    out.push(rel);
  }
  return out.length ? [...new Set(out)] : undefined;
}

/**
 * Ask the running watch to do `op` for this command (its control socket, from openSession)
 * and wait as long as the command would retry on its own, plus `workMs` for the work. Its
 * error comes back as the typed error it was there, with its exit code and hint.
 */
export async function askWatch<T>(
  socket: string,
  op: ControlRequest["op"],
  settings: Pick<Settings, "retryFor">,
  workMs: number,
  args?: ControlRequest["args"],
): Promise<T> {
  const timeoutMs = Math.min(settings.retryFor + workMs, MAX_DURATION_MS);
  const answer = await askWatcher<T & { error?: string; exitCode?: number; hint?: string }>(
    socket,
    op,
    timeoutMs,
    args,
  );
  if (answer.error !== undefined) throw errorFromExitCode(answer.exitCode ?? 4, answer.error, answer.hint);
  return answer;
}
