/**
 * Which config files are read, and how. The work dir is written by a less trusted container,
 * and in a container it is often the current directory: outside in-place mode nothing in it
 * configures mirrorshade, and no code in it ever runs.
 *
 * Search (the first file found is the config; `--config` replaces the search):
 *   1. `--config` / MIRRORSHADE_CONFIG: inside the work dir only in in-place mode (given by flag or env)
 *   2. the current directory, unless it lies inside the work dir (then one warning)
 *   3. the user config dir ($XDG_CONFIG_HOME/mirrorshade, ~/.config/mirrorshade): the file `init`
 *      wrote for this work dir (dirs/<name>-<hash>.json), then config.{json,yaml,yml}
 * In in-place mode (a laptop checkout: flag, env, or the config above), the work dir's own
 * `.mirrorshaderc*` is read too, below it: data only, and not the keys that choose where data
 * goes or whom to trust (OPTIONS[key].outsideOnly).
 *
 * cosmiconfig's loaders parse the files; its search is not used, because cosmiconfig() first
 * reads a "meta config" from the process's cwd (`.config/config.*`, `package.json`), which can
 * `$import` code and add search places: from a work dir, that is the attacker's.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "./errors";
import { OPTIONS, envName, flagName, type OptionSpec } from "./options";
import { isInside, perDirConfigFile, realPath, userConfigDir } from "./paths";
import { convertValue } from "./validate";

export interface ConfigLayer {
  file: string;
  values: Record<string, unknown>;
  /** Where it was found: explicit (--config), cwd, the user config dir (perDir, user), the work dir. */
  kind: "explicit" | "cwd" | "perDir" | "user" | "workDir";
}

export interface FoundConfig {
  /** Highest precedence first. */
  layers: ConfigLayer[];
  /** The work dir (absolute, as given), decided with the files that may name it. */
  dir: string;
  inPlace: boolean;
  /** For the log, once it is configured. */
  warnings: string[];
}

export interface ConfigSearch {
  /** `--config` / MIRRORSHADE_CONFIG, absolute. */
  explicit?: string;
  cwd: string;
  /** The dir argument or MIRRORSHADE_DIR, absolute. */
  dirGiven?: string;
  /** --in-place or MIRRORSHADE_IN_PLACE. */
  inPlaceGiven?: boolean;
  env: NodeJS.ProcessEnv;
}

const CODE = /\.(c|m)?(j|t)s$/;
/** A config file is small; anything larger (or /dev/zero behind a link) is not read. */
const MAX_CONFIG_BYTES = 1024 * 1024;
/** Keys that only flags, env or a config file outside the work dir may set. */
const OUTSIDE_ONLY = new Set<string>(["dir", ...Object.keys(OPTIONS).filter((k) => outsideOnly(k))]);

function outsideOnly(key: string): boolean {
  return Boolean((OPTIONS as Record<string, OptionSpec>)[key]?.outsideOnly);
}

export async function findConfig(s: ConfigSearch): Promise<FoundConfig> {
  const warnings: string[] = [];
  const dirOf = (layer: ConfigLayer | undefined) => {
    const d = layer && layer.kind !== "perDir" ? layer.values.dir : undefined;
    if (d === undefined) return undefined;
    const v = convertValue("dir", { type: "string", help: "" }, d, { source: `"dir" in ${layer!.file}`, file: true });
    return path.resolve(path.dirname(layer!.file), v as string);
  };

  if (s.explicit) {
    const early = s.dirGiven ?? s.cwd;
    const values = await readConfig(s.explicit, { explicit: true, dataOnly: isInside(s.explicit, early) });
    const layer: ConfigLayer = { file: s.explicit, values: values ?? {}, kind: "explicit" };
    const dir = s.dirGiven ?? dirOf(layer) ?? s.cwd;
    if (isInside(s.explicit, dir)) {
      if (!s.inPlaceGiven) {
        throw new ConfigError(`the config file ${s.explicit} lies inside the work dir ${dir}`, {
          hint: "keep the config outside the work dir (its files are not trusted), or pass --in-place for your own checkout",
        });
      }
      if (CODE.test(s.explicit)) throw codeInside(s.explicit);
      refuseOutsideOnly(layer);
    }
    return { layers: values ? [layer] : [], dir, inPlace: s.inPlaceGiven ?? fileInPlace(layer) ?? false, warnings };
  }

  // The work dir as known before any file is read: a file in it cannot move it elsewhere.
  const early = s.dirGiven ?? s.cwd;
  let outside: ConfigLayer | undefined;
  if (!isInside(s.cwd, early)) {
    // A file here may still be a link into the work dir: it is judged by where it really is.
    const skip = (file: string) => {
      if (!isInside(file, early)) return false;
      warnings.push(`ignoring ${file}: it leads into the work dir ${early}, whose files are not trusted`);
      return true;
    };
    outside = await searchDir(s.cwd, "cwd", { dataOnly: false, nofollow: false, skip });
  } else if (!s.inPlaceGiven) {
    const planted = await presentIn(s.cwd);
    if (planted) {
      warnings.push(
        `ignoring ${planted}: it lies inside the work dir ${early}, whose files are not trusted` +
          " (name the config with --config, keep it in ~/.config/mirrorshade, or pass --in-place for your own checkout)",
      );
    }
  }
  if (!outside) {
    const user = userConfigDir(s.env);
    const candidates: [string | undefined, ConfigLayer["kind"]][] = [
      [perDirConfigFile(early, s.env), "perDir"],
      ...["config.json", "config.yaml", "config.yml"].map(
        (f) => [user && path.join(user, f), "user"] as [string | undefined, ConfigLayer["kind"]],
      ),
    ];
    for (const [file, kind] of candidates) {
      if (!file || !exists(file)) continue;
      if (isInside(file, early) && !s.inPlaceGiven) {
        warnings.push(`ignoring ${file}: it lies inside the work dir ${early}, whose files are not trusted`);
        continue;
      }
      const values = await readConfig(file, { explicit: false, dataOnly: isInside(file, early) });
      if (values) {
        outside = { file, values, kind };
        break;
      }
    }
  }
  const dir = s.dirGiven ?? dirOf(outside) ?? s.cwd;
  if (outside && outside.kind !== "perDir" && isInside(outside.file, dir) && !s.inPlaceGiven) {
    throw new ConfigError(`${outside.file} names the work dir ${dir}, which holds that file itself`, {
      hint: "keep the config outside the work dir: its files are not trusted",
    });
  }
  const inPlace = s.inPlaceGiven ?? fileInPlace(outside) ?? false;
  const layers = outside ? [outside] : [];
  if (inPlace) {
    // The checkout's own config, below the user's: data only, and never where data goes or whom to trust.
    const places = isInside(s.cwd, dir) && realPath(s.cwd) !== realPath(dir) ? [s.cwd, dir] : [dir];
    for (const place of places) {
      const inside = await searchDir(place, "workDir", { dataOnly: true, nofollow: true });
      if (!inside) continue;
      if (inside.file !== outside?.file) {
        refuseOutsideOnly(inside);
        layers.push(inside);
      }
      break;
    }
  }
  return { layers, dir, inPlace, warnings };
}

function fileInPlace(layer: ConfigLayer | undefined): boolean | undefined {
  const v = layer?.values.inPlace;
  if (v === undefined) return undefined;
  return convertValue("inPlace", OPTIONS.inPlace, v, { source: `"inPlace" in ${layer!.file}`, file: true }) as boolean;
}

function refuseOutsideOnly(layer: ConfigLayer): void {
  for (const key of Object.keys(layer.values)) {
    if (!OUTSIDE_ONLY.has(key)) continue;
    throw new ConfigError(`"${key}" in ${layer.file} is not read from inside the work dir`, {
      hint: `set it with --${flagName(key)}, ${envName(key)}, or a config file outside the work dir`,
    });
  }
}

function codeInside(file: string): ConfigError {
  return new ConfigError(`refusing to run the code config ${file}: it lies inside the work dir`, {
    hint: "use a JSON or YAML config (.mirrorshaderc.json, .mirrorshaderc.yaml) there",
  });
}

function exists(file: string): boolean {
  try {
    lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

/** The names cosmiconfig searches for module "mirrorshade" (package.json#mirrorshade included). */
async function searchPlaces(): Promise<string[]> {
  const { getDefaultSearchPlaces } = await import("cosmiconfig");
  return getDefaultSearchPlaces("mirrorshade");
}

/** The first config file present in `dir`, without reading any (package.json is not counted). */
async function presentIn(dir: string): Promise<string | undefined> {
  return (await searchPlaces())
    .filter((p) => p !== "package.json")
    .map((p) => path.join(dir, p))
    .find(exists);
}

async function searchDir(
  dir: string,
  kind: ConfigLayer["kind"],
  opts: { dataOnly: boolean; nofollow: boolean; skip?: (file: string) => boolean },
): Promise<ConfigLayer | undefined> {
  for (const place of await searchPlaces()) {
    const file = path.join(dir, place);
    if (opts.skip && exists(file) && opts.skip(file)) continue;
    const values = await readConfig(file, { explicit: false, ...opts });
    if (values) return { file, values, kind };
  }
  return undefined;
}

/**
 * One config file's settings, or undefined when it is absent or empty. `dataOnly`: code is
 * refused (never run); `nofollow`: a symlink is refused (a file inside the work dir).
 */
async function readConfig(
  file: string,
  opts: { explicit: boolean; dataOnly: boolean; nofollow?: boolean },
): Promise<Record<string, unknown> | undefined> {
  const ext = path.extname(file);
  const isCode = CODE.test(ext);
  const content = readSmallFile(file, opts);
  if (content === undefined) {
    if (opts.explicit) throw new ConfigError(`config file ${file} not found`, { hint: "check --config" });
    return undefined;
  }
  if (isCode && opts.dataOnly) throw codeInside(file);
  if (!isCode && content.trim() === "") return undefined;
  const { defaultLoaders } = await import("cosmiconfig");
  const loader = (defaultLoaders as Record<string, (f: string, c: string) => unknown>)[ext || "noExt"];
  if (!loader) {
    throw new ConfigError(`cannot read ${file}: unknown file type`, { hint: "use JSON (.json) or YAML (.yaml)" });
  }
  let config: unknown;
  try {
    config = await loader(file, content);
  } catch (err) {
    throw new ConfigError(`cannot read ${file}: ${firstLine((err as Error).message ?? String(err))}`, {
      hint: "fix the file's syntax (JSON, YAML or JS)",
      cause: err,
    });
  }
  if (path.basename(file) === "package.json") {
    config = (config as Record<string, unknown> | null)?.mirrorshade;
    if (config === undefined) return undefined;
  }
  if (config === undefined || config === null) return undefined;
  if (typeof config !== "object" || Array.isArray(config)) {
    throw new ConfigError(`${file} must hold an object of settings`, { hint: 'e.g. {"remote": "..."}' });
  }
  const values = { ...(config as Record<string, unknown>) };
  flattenNested(values, "s3", file);
  const known = new Set([...Object.keys(OPTIONS), "dir"]);
  for (const key of Object.keys(values)) {
    if (/^(token|password|secret)$/i.test(key)) {
      throw new ConfigError(`"${key}" in ${file}: a config file never holds secrets`, {
        hint: "mount the token as a file and set tokenFile (MIRRORSHADE_TOKEN_FILE), or set MIRRORSHADE_TOKEN",
      });
    }
    if (!known.has(key) || key === "config") {
      throw new ConfigError(`unknown setting "${key}" in ${file}`, {
        hint: `known settings: ${[...known].filter((k) => k !== "config").join(", ")}`,
      });
    }
  }
  return values;
}

/** The file's text; undefined when it does not exist. Never blocks on a FIFO, never reads a device or a huge file. */
function readSmallFile(file: string, opts: { nofollow?: boolean }): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | (opts.nofollow ? constants.O_NOFOLLOW : 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    if (code === "ELOOP") {
      throw new ConfigError(`${file} is a symlink inside the work dir: not followed`, { hint: "make it a plain file" });
    }
    throw new ConfigError(`cannot read ${file}: ${code ?? (err as Error).message}`, { hint: "check its permissions" });
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) return undefined;
    if (!st.isFile()) throw new ConfigError(`${file} is not a regular file`, { hint: "a config file is JSON or YAML" });
    if (st.size > MAX_CONFIG_BYTES) {
      throw new ConfigError(`${file} is larger than 1 MiB: not a config file`, { hint: "check the path" });
    }
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
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
  // The loaders' first line is a header ("JSON Error in <file>:"); the reason is on the next.
  return (/Error in .*:$/.test(lines[0] ?? "") && lines[1] ? lines[1] : lines[0]) ?? s;
}
