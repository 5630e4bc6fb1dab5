/**
 * Where things are: real paths (through symlinks, for paths that do not exist yet too), the
 * inside-the-work-dir test, and the per-work-dir places mirrorshade keeps (state dir, user
 * config file), keyed by the work dir's real path so every name for one dir finds them.
 * Reads only: nothing here creates a file or a directory.
 */
import { createHash } from "node:crypto";
import { accessSync, constants, realpathSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import path from "node:path";

/**
 * The real path of `p`: symlinks resolved in its longest existing prefix, the rest appended.
 * A path that does not exist yet (a state dir before its first run) is judged by where its
 * existing part really is, so `link/state` with `link` pointing into the work dir is inside.
 */
export function realPath(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  for (let at = abs; ; at = path.dirname(at)) {
    try {
      return path.join(realpathSync(at), ...rest.reverse());
    } catch {
      if (path.dirname(at) === at) return abs; // not even "/" resolves
      rest.push(path.basename(at));
    }
  }
}

/** `child` is `parent` or lies below it, judged by real paths. */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(realPath(parent), realPath(child));
  return rel === "" || (!rel.startsWith(".." + path.sep) && rel !== ".." && !path.isAbsolute(rel));
}

/** `<basename>-<12 hex of sha256(real path)>`: the name of a work dir's state dir and user config file. */
export function dirKey(dir: string): string {
  const real = realPath(dir);
  return `${path.basename(real) || "root"}-${createHash("sha256").update(real).digest("hex").slice(0, 12)}`;
}

/** `$XDG_CONFIG_HOME/mirrorshade`, else `~/.config/mirrorshade`; none when HOME is unset or `/` (a random UID). */
export function userConfigDir(env: NodeJS.ProcessEnv): string | undefined {
  if (env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME)) return path.join(env.XDG_CONFIG_HOME, "mirrorshade");
  if (!env.HOME || env.HOME === "/" || !path.isAbsolute(env.HOME)) return undefined;
  return path.join(env.HOME, ".config", "mirrorshade");
}

/** The config file `init` writes for `dir` and every command reads for it, in the user config dir. */
export function perDirConfigFile(dir: string, env: NodeJS.ProcessEnv): string | undefined {
  const base = userConfigDir(env);
  return base && path.join(base, "dirs", `${dirKey(dir)}.json`);
}

/** The last resort for state: `<tmp>/mirrorshade-<uid>`, checked before use (the temp dir is shared). */
export function tempStateBase(): string {
  return path.join(tmpdir(), `mirrorshade-${process.getuid?.() ?? "user"}`);
}

/**
 * One state dir per work dir, keyed by its real path, outside it: $XDG_STATE_HOME or
 * ~/.local/state, else (HOME unwritable, e.g. HOME=/ under a random UID) the temp dir.
 * Nothing is created here: a place counts as writable when its nearest existing ancestor is.
 */
export function defaultStateDir(dir: string, env: NodeJS.ProcessEnv = process.env): string {
  const home = env.HOME || safeHomedir();
  const candidates = [
    env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) && path.join(env.XDG_STATE_HOME, "mirrorshade"),
    home && home !== "/" && path.join(home, ".local", "state", "mirrorshade"),
  ].filter((x): x is string => Boolean(x));
  // never inside the work dir (`watch ~`); the temp dir is the last resort
  const base = candidates.find((b) => !isInside(b, dir) && writable(b)) ?? tempStateBase();
  return path.join(base, dirKey(dir));
}

function writable(p: string): boolean {
  for (let at = path.resolve(p); ; at = path.dirname(at)) {
    try {
      accessSync(at, constants.F_OK);
    } catch {
      if (path.dirname(at) === at) return false;
      continue;
    }
    try {
      accessSync(at, constants.W_OK | constants.X_OK);
      return true;
    } catch {
      return false;
    }
  }
}

function safeHomedir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined; // a UID with no passwd entry
  }
}
