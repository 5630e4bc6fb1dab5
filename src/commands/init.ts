import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../errors";
import { out } from "../log";
import { isInside, perDirConfigFile, realPath } from "../paths";
import { stripCredentials, stripUserinfo } from "../redact";
import { ensureRemote, loadSettings, openSession, type Flags } from "./common";

/**
 * Check the remote (create it with --create), then write the dir's config where every later
 * command finds it from any current directory: the user config dir, keyed by the work dir's
 * real path. Never inside the work dir (its files are not trusted), never a secret.
 */
export async function init(dirArg: string | undefined, flags: Flags): Promise<void> {
  const settings = await loadSettings("init", dirArg, flags);
  if (!settings.remote) {
    throw new ConfigError("init needs a remote", { hint: "mirrorshade init [dir] --remote <url> [--create]" });
  }
  const file = perDirConfigFile(settings.dir, process.env);
  if (!file) {
    throw new ConfigError("init writes to the user config dir, and there is none (HOME is unset or /)", {
      hint: "set XDG_CONFIG_HOME or HOME, or skip init: give --remote (MIRRORSHADE_REMOTE) to each command",
    });
  }
  if (isInside(file, settings.dir) && !settings.inPlace) {
    throw new ConfigError(`the user config dir ${path.dirname(path.dirname(file))} lies inside the work dir`, {
      hint: "set XDG_CONFIG_HOME to a dir outside it, or give --remote (MIRRORSHADE_REMOTE) to each command",
    });
  }
  if (existsSync(file) && !settings.force) {
    throw new ConfigError(`${file} already holds the config of ${settings.dir}`, {
      hint: "pass --force to overwrite it",
    });
  }
  const session = await openSession(settings, { write: true });
  if ("watcher" in session)
    throw new ConfigError(`a mirrorshade watch already runs on ${settings.dir}`, { hint: "stop it first" });
  try {
    // init is where a user learns what is wrong: check write access too.
    await ensureRemote(session.backend, settings, settings.retryFor, { write: true });
  } finally {
    await session.close();
  }
  const config: Record<string, string | boolean> = {
    dir: realPath(settings.dir),
    remote: stripCredentials(settings.remote),
  };
  if (settings.branch) config.branch = settings.branch;
  if (settings.inPlace) config.inPlace = true;
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const text = JSON.stringify(config, null, 2) + "\n";
  if (settings.force) {
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, file);
  } else {
    try {
      writeFileSync(file, text, { mode: 0o600, flag: "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      throw new ConfigError(`${file} was written meanwhile`, { hint: "pass --force to overwrite it" });
    }
  }
  out(`wrote ${file}: ${settings.dir} saves to ${stripUserinfo(settings.remote)}`);
}
