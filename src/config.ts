import { accessSync, constants, mkdirSync, rmdirSync, statSync } from "node:fs";
import path from "node:path";
import { findConfig } from "./config-files";
import type { CredentialSettings } from "./credentials";
import { ConfigError } from "./errors";
import type { Level, LogFormat } from "./log";
import { OPTIONS, envName, flagName, type CommandName, type OptionKey, type OptionSpec } from "./options";
import { defaultStateDir, isInside } from "./paths";
import { parseRemote } from "./remote";
import { convertValue } from "./validate";

export { defaultStateDir, isInside };

/** Every resolved option; the credential ones are shared with src/credentials.ts. */
export interface Settings extends CredentialSettings {
  command: CommandName;
  /** Absolute path of the work dir. */
  dir: string;
  remote?: string;
  branch?: string;
  stateDir: string;
  create: boolean;
  /** init: overwrite the config file an earlier init wrote. */
  force: boolean;
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
  /** watch: how often to take other writers' saves in; undefined or 0: never (only at start). */
  pull?: number;
  restore: boolean;
  message: string;
  author?: string;
  trailer: string[];
  maxFileSize: number;
  allowMassDelete: boolean;
  /** Notebooks reach the remote without outputs, execution counts and run metadata; the work dir keeps them. */
  stripOutputs: boolean;
  ignore: string[];
  dryRun: boolean;
  /** restore: a past save to bring back (`<when>`, src/time.ts), and whether to replace what differs. */
  at?: string;
  overwrite: boolean;
  /** log: only saves at or after this (`<when>`), at most `limit` of them. */
  since?: string;
  limit?: number;
  json: boolean;
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
  /** The config file that was read, if any (the one of highest precedence). */
  configFile?: string;
  /** Said once the log is configured (a config file ignored, …). */
  warnings: string[];
}

type Raw = Partial<Record<OptionKey | "dir", unknown>>;

/**
 * Resolve settings for a command: flag > MIRRORSHADE_* env > config file > default, each
 * value checked by src/validate.ts. Reads only: a usage error here has created nothing.
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
  const given = (key: OptionKey | "dir") =>
    key === "dir" && dirArg !== undefined
      ? { value: dirArg as unknown, source: "the dir argument" }
      : flags[key] !== undefined
        ? { value: flags[key], source: `--${flagName(key)}` }
        : fromEnv[key] !== undefined
          ? { value: fromEnv[key], source: envName(key) }
          : undefined;
  const text = (key: "dir" | "config") => {
    const g = given(key);
    return g && (convertValue(key, { type: "string", help: "" }, g.value, { ...g, file: false }) as string);
  };
  const inPlaceGiven = given("inPlace");
  const configGiven = text("config");
  const dirGiven = text("dir");
  const found = await findConfig({
    explicit: configGiven && path.resolve(cwd, configGiven),
    cwd,
    dirGiven: dirGiven && path.resolve(cwd, dirGiven),
    inPlaceGiven:
      inPlaceGiven &&
      (convertValue("inPlace", OPTIONS.inPlace, inPlaceGiven.value, { ...inPlaceGiven, file: false }) as boolean),
    env,
  });

  const pick = (key: OptionKey) => {
    const g = given(key);
    if (g) return { ...g, base: cwd, file: false };
    for (const layer of found.layers) {
      if (layer.values[key] !== undefined) {
        return {
          value: layer.values[key],
          source: `"${key}" in ${layer.file}`,
          base: path.dirname(layer.file),
          file: true,
        };
      }
    }
    return undefined;
  };

  const s: Record<string, unknown> = {
    command,
    dir: found.dir,
    inPlace: found.inPlace,
    configFile: found.layers[0]?.file,
    warnings: found.warnings,
  };
  let stateGiven: { value: string; base: string } | undefined;
  for (const [key, spec] of Object.entries(OPTIONS) as [OptionKey, OptionSpec][]) {
    if (key === "config" || key === "inPlace") continue;
    const got = pick(key);
    if (got) s[key] = convertValue(key, spec, got.value, got);
    else if (spec.default !== undefined)
      s[key] = convertValue(key, spec, spec.default, { source: "the default", file: false });
    if (key === "remote" && got) s.remote = resolveLocalRemote(s.remote as string, got.base);
    if (key === "stateDir" && got) stateGiven = { value: s.stateDir as string, base: got.base };
  }
  s.create ??= false;
  s.force ??= false;
  s.runHooks ??= false;
  s.dryRun ??= false;
  s.overwrite ??= false;
  s.json ??= false;
  s.allowMassDelete ??= false;
  s.stripOutputs ??= false;
  s.trailer ??= [];
  s.sshKeyFile ??= [];
  s.sshAcceptNewHostKeys ??= false;
  s.ignore ??= [];
  const settings = s as unknown as Settings;
  settings.stateDir = stateGiven ? path.resolve(stateGiven.base, stateGiven.value) : defaultStateDir(settings.dir, env);
  checkTogether(settings);
  return settings;
}

/** Rules between options; each value alone passed src/validate.ts. */
function checkTogether(settings: Settings): void {
  if (settings.pull && settings.pull < 1000) {
    throw new ConfigError(`--pull ${settings.pull}ms is too often: every pull asks the remote`, {
      hint: "use 1s or more (0 turns it off)",
    });
  }
  if (settings.maxDelay < settings.debounce) {
    throw new ConfigError(`--max-delay (${settings.maxDelay}ms) is shorter than --debounce (${settings.debounce}ms)`, {
      hint: "make --max-delay at least as long as --debounce",
    });
  }
  if (settings.runHooks && !settings.inPlace) {
    throw new ConfigError("--run-hooks is for --in-place only", {
      hint: "hooks never run on the sidecar's own git dir; pass --in-place for your own checkout",
    });
  }
  if (Boolean(settings.s3AccessKeyIdFile) !== Boolean(settings.s3SecretAccessKeyFile)) {
    throw new ConfigError("S3 credentials from files need both the access key id file and the secret key file", {
      hint: "set MIRRORSHADE_S3_ACCESS_KEY_ID_FILE and MIRRORSHADE_S3_SECRET_ACCESS_KEY_FILE",
    });
  }
  if (isInside(settings.stateDir, settings.dir)) {
    throw new ConfigError(`state dir ${settings.stateDir} is inside the work dir`, {
      hint: "put --state-dir outside it: the work dir is shared with a less trusted writer",
    });
  }
}

/** A relative local path remote is relative to where it was given (cwd, or the config file's dir). */
function resolveLocalRemote(remote: string, base: string): string {
  const local = parseRemote(remote).scheme === "file" && !/^file:/i.test(remote);
  return local && !path.isAbsolute(remote) ? path.resolve(base, remote) : remote;
}

/**
 * The work dir must exist and be a directory we can write (restore, watch) or read (push).
 * With `create`, a missing one is made: returns the topmost dir made (see removeMadeDirs).
 */
export function checkWorkDir(dir: string, opts: { write: boolean; create: boolean }): string | undefined {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    if (!opts.create) {
      throw new ConfigError(`work dir ${dir} does not exist`, { hint: `create it (mkdir -p ${dir}) or pass --create` });
    }
    return mkdirSync(dir, { recursive: true });
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

/**
 * A command that made the work dir and then failed leaves no empty dir behind, as git clone:
 * from `dir` up to `made`, each dir goes while it is empty (a restore that wrote some files
 * keeps them, and their dirs).
 */
export function removeMadeDirs(dir: string, made: string | undefined): void {
  if (made === undefined || !isInside(dir, made)) return;
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
    if (d === made) return;
  }
}
