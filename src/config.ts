import { createHash } from "node:crypto";
import { existsSync, mkdirSync, realpathSync, statSync, accessSync, constants } from "node:fs";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { ConfigError } from "./errors";
import type { Level, LogFormat } from "./log";
import { OPTIONS, envName, flagName, type CommandName, type OptionKey, type OptionSpec } from "./options";
import { parseDuration, parseSize } from "./units";

export interface Settings {
  command: CommandName;
  /** Absolute path of the work dir. */
  dir: string;
  remote?: string;
  branch?: string;
  stateDir: string;
  create: boolean;
  /** Use the work dir's own git repo and config (laptop mode); never chosen by what the dir holds. */
  inPlace: boolean;
  /** In-place mode: the repo's own hooks may run. */
  runHooks: boolean;
  retryFor: number;
  logFormat?: LogFormat;
  logLevel: Level;
  debounce: number;
  maxDelay: number;
  shutdownTimeout: number;
  restore: boolean;
  message: string;
  author?: string;
  trailer: string[];
  maxFileSize: number;
  allowMassDelete: boolean;
  ignore: string[];
  dryRun: boolean;
  json: boolean;
  sshKeyFile: string[];
  sshKnownHostsFile?: string;
  sshAcceptNewHostKeys: boolean;
  tokenFile?: string;
  tokenUsername: string;
  caFile?: string;
  listen?: string;
  s3Endpoint?: string;
  s3Region?: string;
  /** undefined: on with a custom endpoint. */
  s3PathStyle?: boolean;
  s3ChecksumMode?: "WHEN_REQUIRED" | "WHEN_SUPPORTED";
  s3Concurrency: number;
  s3MultipartThreshold: number;
  s3PartSize: number;
  s3StorageClass?: string;
  s3Sse?: string;
  s3SseKmsKeyId?: string;
  s3DeletePolicy: "trash" | "mirror" | "keep";
  s3ConditionalWrites: "auto" | "on" | "off";
  s3AccessKeyIdFile?: string;
  s3SecretAccessKeyFile?: string;
  s3SessionTokenFile?: string;
  /** The config file that was read, if any. */
  configFile?: string;
}

type Raw = Partial<Record<OptionKey | "dir", unknown>>;
const CODE_CONFIG = /\.(c|m)?(j|t)s$/;

/**
 * Resolve settings for a command: flag > MIRRORSHADE_* env > config file > default.
 * `flags` are commander's parsed values (undefined when not given).
 */
export async function resolveSettings(
  command: CommandName,
  dirArg: string | undefined,
  flags: Raw,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): Promise<Settings> {
  const fromEnv: Raw = {};
  for (const key of [...Object.keys(OPTIONS), "dir"] as (OptionKey | "dir")[]) {
    const v = env[envName(key)];
    if (v !== undefined && v !== "") fromEnv[key] = v;
  }
  // Where the dir is known before the config file is read, a code config inside it is refused.
  const earlyDir = path.resolve(cwd, String(dirArg ?? fromEnv.dir ?? "."));
  const file = await loadConfigFile(String(flags.config ?? fromEnv.config ?? "") || undefined, cwd, earlyDir);
  const fromFile: Raw = file?.config ?? {};
  const fileDir = file ? path.dirname(file.filepath) : cwd;

  const pick = (key: OptionKey | "dir"): { value: unknown; source: string; base: string } | undefined => {
    if (key === "dir" && dirArg !== undefined) return { value: dirArg, source: "the dir argument", base: cwd };
    if (flags[key] !== undefined) return { value: flags[key], source: `--${flagName(key)}`, base: cwd };
    if (fromEnv[key] !== undefined) return { value: fromEnv[key], source: envName(key), base: cwd };
    if (fromFile[key] !== undefined)
      return { value: fromFile[key], source: `"${key}" in ${file!.filepath}`, base: fileDir };
    return undefined;
  };

  const s: Record<string, unknown> = { command, configFile: file?.filepath };
  for (const [key, spec] of Object.entries(OPTIONS) as [OptionKey, OptionSpec][]) {
    if (key === "config") continue;
    const got = pick(key);
    const raw = got?.value ?? spec.default;
    s[key] = raw === undefined ? undefined : convert(key, spec, raw, got?.source ?? "the default");
    if (key === "remote" && typeof s.remote === "string" && got) s.remote = resolveLocalRemote(s.remote, got.base);
  }
  const dirPick = pick("dir");
  s.dir = path.resolve(dirPick?.base ?? cwd, String(dirPick?.value ?? "."));
  s.create ??= false;
  s.inPlace ??= false;
  s.runHooks ??= false;
  s.dryRun ??= false;
  s.json ??= false;
  s.allowMassDelete ??= false;
  s.trailer ??= [];
  s.sshKeyFile ??= [];
  s.sshAcceptNewHostKeys ??= false;
  s.ignore ??= [];
  const settings = s as unknown as Settings;
  if (settings.maxDelay < settings.debounce) {
    throw new ConfigError(`--max-delay (${settings.maxDelay}ms) is shorter than --debounce (${settings.debounce}ms)`, {
      hint: "make --max-delay at least as long as --debounce",
    });
  }
  const stateGiven = pick("stateDir");
  settings.stateDir = stateGiven
    ? path.resolve(stateGiven.base, String(stateGiven.value))
    : defaultStateDir(settings.dir, env);
  return settings;
}

function convert(key: string, spec: OptionSpec, raw: unknown, source: string): unknown {
  const bad = (what: string, hint: string) =>
    new ConfigError(`bad ${what} ${JSON.stringify(raw)} for ${flagName(key)} (from ${source})`, { hint });
  switch (spec.type) {
    case "boolean":
      if (typeof raw === "boolean") return raw;
      if (/^(1|true|yes|on)$/i.test(String(raw))) return true;
      if (/^(0|false|no|off)$/i.test(String(raw))) return false;
      throw bad("boolean", "use true or false");
    case "duration": {
      const ms = typeof raw === "string" ? parseDuration(raw) : raw === 0 ? 0 : undefined;
      if (ms === undefined) throw bad("duration", "use a number with a unit: 500ms, 2s, 1m, 1h");
      return ms;
    }
    case "size": {
      const n = typeof raw === "number" ? raw : parseSize(String(raw));
      if (n === undefined || !Number.isFinite(n)) throw bad("size", "use bytes or a unit: 512k, 50m, 1g");
      return n;
    }
    case "number": {
      const n = typeof raw === "number" ? raw : Number(String(raw).trim());
      if (!Number.isInteger(n) || n < 1) throw bad("number", "use a whole number, 1 or more");
      return n;
    }
    case "list":
      if (Array.isArray(raw)) return raw.map(String);
      // From env, a list is newline- or comma-separated.
      return String(raw)
        .split(/[\n,]/)
        .map((x) => x.trim())
        .filter(Boolean);
    case "enum":
      if (!spec.choices!.includes(String(raw))) throw bad("value", `use one of: ${spec.choices!.join(", ")}`);
      return String(raw);
    default:
      if (typeof raw !== "string" || raw === "") throw bad("value", "use a non-empty string");
      return raw;
  }
}

/** A relative local path remote is relative to where it was given (cwd, or the config file's dir). */
function resolveLocalRemote(remote: string, base: string): string {
  // scheme:// or scp-like [user@]host:path (a colon before any slash), as schemeOf reads it
  const isUrl = /^[a-z][a-z0-9+.-]*:\/\//i.test(remote) || /^[^/]+:/.test(remote);
  if (isUrl || path.isAbsolute(remote)) return remote;
  return path.resolve(base, remote);
}

async function loadConfigFile(explicit: string | undefined, cwd: string, workDir: string) {
  const { cosmiconfig, defaultLoaders } = await import("cosmiconfig");
  // Never execute code from the work dir: it is written by a less trusted container.
  const guard = (loader: (f: string, c: string) => unknown) => (filepath: string, content: string) => {
    if (isInside(filepath, workDir)) {
      throw new ConfigError(`refusing to run the code config ${filepath}: it lies inside the work dir`, {
        hint: "use a JSON or YAML config (.mirrorshaderc.json, .mirrorshaderc.yaml) there",
      });
    }
    return loader(filepath, content);
  };
  const loaders = Object.fromEntries(
    Object.entries(defaultLoaders).map(([ext, l]) => [ext, CODE_CONFIG.test(ext) ? guard(l) : l]),
  );
  // cosmiconfig() first reads its own "meta config" from the process's cwd, running
  // .config/config.js & co. with its unguarded loaders: refuse those inside the work dir too.
  for (const ext of ["js", "ts", "cjs", "mjs", "cts", "mts"]) {
    const meta = path.join(process.cwd(), ".config", `config.${ext}`);
    if (existsSync(meta) && isInside(meta, workDir)) {
      throw new ConfigError(`refusing to run the code config ${meta}: it lies inside the work dir`, {
        hint: "remove it, or start mirrorshade from a directory outside the work dir",
      });
    }
  }
  const explorer = cosmiconfig("mirrorshade", { searchStrategy: "none", loaders, cache: false });
  let result;
  try {
    result = explicit ? await explorer.load(path.resolve(cwd, explicit)) : await explorer.search(cwd);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const e = err as NodeJS.ErrnoException;
    const where = explicit ?? "the config file";
    if (e.code === "ENOENT") throw new ConfigError(`config file ${where} not found`, { hint: "check --config" });
    throw new ConfigError(`cannot read ${(e as { filepath?: string }).filepath ?? where}: ${firstLine(e.message)}`, {
      hint: "fix the file's syntax (JSON, YAML or JS)",
      cause: err,
    });
  }
  if (!result || result.isEmpty) return undefined;
  const config: unknown = result.config;
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new ConfigError(`${result.filepath} must hold an object of settings`, { hint: 'e.g. {"remote": "..."}' });
  }
  flattenNested(config as Record<string, unknown>, "s3", result.filepath);
  const known = new Set([...Object.keys(OPTIONS), "dir"]);
  for (const key of Object.keys(config)) {
    if (/^(token|password|secret)$/i.test(key)) {
      throw new ConfigError(`"${key}" in ${result.filepath}: a config file never holds secrets`, {
        hint: "mount the token as a file and set tokenFile (MIRRORSHADE_TOKEN_FILE), or set MIRRORSHADE_TOKEN",
      });
    }
    if (!known.has(key) || key === "config") {
      throw new ConfigError(`unknown setting "${key}" in ${result.filepath}`, {
        hint: `known settings: ${[...known].filter((k) => k !== "config").join(", ")}`,
      });
    }
  }
  return { config: config as Raw, filepath: result.filepath };
}

/** `{"s3": {"endpoint": …}}` in a config file is `{"s3Endpoint": …}`, the option table's key. */
function flattenNested(config: Record<string, unknown>, group: string, file: string): void {
  const nested = config[group];
  if (nested === undefined) return;
  if (typeof nested !== "object" || nested === null || Array.isArray(nested)) {
    throw new ConfigError(`"${group}" in ${file} must be an object of settings`, { hint: `e.g. {"${group}": {...}}` });
  }
  delete config[group];
  for (const [k, v] of Object.entries(nested)) {
    const flat = group + k.charAt(0).toUpperCase() + k.slice(1);
    if (/^s3(SecretAccessKey|SessionToken|AccessKeyId)$/.test(flat)) {
      throw new ConfigError(`"${group}.${k}" in ${file}: a config file never holds secrets`, {
        hint: `mount it as a file and set ${group}.${k}File, or use the AWS SDK's environment and profiles`,
      });
    }
    if (flat in config) throw new ConfigError(`${file} sets both "${group}.${k}" and "${flat}"`, { hint: "keep one" });
    config[flat] = v;
  }
}

function firstLine(s: string): string {
  const lines = s
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  // cosmiconfig's first line is a header ("JSON Error in <file>:"); the reason is on the next.
  return (/Error in .*:$/.test(lines[0] ?? "") && lines[1] ? lines[1] : lines[0]) ?? s;
}

export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(real(parent), real(child));
  return rel === "" || (!rel.startsWith("..") && !path.isAbsolute(rel));
}

function real(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    return path.resolve(p);
  }
}

/**
 * One state dir per work dir, keyed by its real path, outside it: $XDG_STATE_HOME or
 * ~/.local/state, else (HOME unwritable, e.g. HOME=/ under a random UID) the temp dir.
 */
export function defaultStateDir(dir: string, env: NodeJS.ProcessEnv = process.env): string {
  const key = `${path.basename(dir) || "root"}-${createHash("sha256").update(real(dir)).digest("hex").slice(0, 12)}`;
  const home = env.HOME || safeHomedir();
  const candidates = [
    env.XDG_STATE_HOME && path.join(env.XDG_STATE_HOME, "mirrorshade"),
    home && home !== "/" && path.join(home, ".local", "state", "mirrorshade"),
    path.join(tmpdir(), `mirrorshade-${process.getuid?.() ?? "user"}`),
  ]
    .filter((x): x is string => Boolean(x))
    // never inside the work dir (`watch ~`); the temp dir stays as the last resort
    .filter((base, i, all) => i === all.length - 1 || !isInside(base, dir));
  for (const base of candidates) {
    try {
      mkdirSync(base, { recursive: true, mode: 0o700 });
      accessSync(base, constants.W_OK);
      return path.join(base, key);
    } catch {
      // not writable: try the next place
    }
  }
  return path.join(candidates.at(-1)!, key);
}

function safeHomedir(): string | undefined {
  try {
    return homedir();
  } catch {
    return undefined; // a UID with no passwd entry
  }
}

/** The work dir must exist and be a directory we can write (restore, watch) or read (push). */
export function checkWorkDir(dir: string, opts: { write: boolean; create: boolean }): void {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    if (!opts.create) {
      throw new ConfigError(`work dir ${dir} does not exist`, { hint: `create it (mkdir -p ${dir}) or pass --create` });
    }
    mkdirSync(dir, { recursive: true });
    return;
  }
  if (!st.isDirectory()) throw new ConfigError(`work dir ${dir} is not a directory`, { hint: "pass a directory" });
  try {
    accessSync(dir, opts.write ? constants.W_OK | constants.R_OK | constants.X_OK : constants.R_OK | constants.X_OK);
  } catch {
    throw new ConfigError(
      `work dir ${dir} is not ${opts.write ? "writable" : "readable"} by uid ${process.getuid?.()}`,
      {
        hint: "fix its permissions (in a pod: fsGroup, or a group-writable emptyDir)",
      },
    );
  }
}
