import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../errors";
import { log, out } from "../log";
import { stripCredentials } from "../redact";
import { ensureRemote, loadSettings, openSession, type Flags } from "./common";

const CONFIG_FILE = ".mirrorshaderc.json";

/** Write a config file in the current directory, check the remote, create it with --create. */
export async function init(dirArg: string | undefined, flags: Flags): Promise<void> {
  const settings = await loadSettings("init", dirArg, flags);
  if (!settings.remote) {
    throw new ConfigError("init needs a remote", { hint: "mirrorshade init [dir] --remote <url> [--create]" });
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
  const file = path.resolve(CONFIG_FILE);
  const config: Record<string, string> = {
    dir: path.relative(process.cwd(), settings.dir) || ".",
    remote: stripCredentials(settings.remote),
  };
  if (settings.branch) config.branch = settings.branch;
  if (existsSync(file)) log.warn(`overwriting ${file}`);
  writeFileSync(file, JSON.stringify(config, null, 2) + "\n");
  out(`wrote ${file}: ${settings.dir} saves to ${config.remote}`);
}
