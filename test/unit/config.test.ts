import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { defaultStateDir, isInside, resolveSettings } from "../../src/config";
import { ConfigError } from "../../src/errors";
import { perDirConfigFile } from "../../src/paths";
import { tempDir } from "../helpers";

/** A fresh temp dir (real path), removed after the test. */
const tmp = (): string => realpathSync(tempDir("ms-unit-config-"));

/** A sandbox: a work dir, a separate dir for config files, and an env that keeps state under it. */
function setup() {
  const root = tmp();
  const work = path.join(root, "work");
  const etc = path.join(root, "etc");
  mkdirSync(work);
  mkdirSync(etc);
  const env: NodeJS.ProcessEnv = { HOME: path.join(root, "home"), XDG_STATE_HOME: path.join(root, "xdg-state") };
  return { root, work, etc, env };
}

async function configError(p: Promise<unknown>): Promise<ConfigError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

/** A JS config that leaves a marker file when it is executed. */
function jsConfig(file: string, marker: string, config: object): void {
  writeFileSync(
    file,
    `process.getBuiltinModule("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran");\n` +
      `module.exports = ${JSON.stringify(config)};\n`,
  );
}

describe("resolveSettings: defaults", () => {
  it("uses the option table's defaults with no flags, env or file", async () => {
    const { work, env } = setup();
    const s = await resolveSettings("watch", undefined, {}, env, work);
    expect(s).toMatchObject({
      command: "watch",
      dir: work,
      debounce: 2000,
      maxDelay: 30_000,
      shutdownTimeout: 20_000,
      retryFor: 30_000,
      logLevel: "info",
      message: "mirrorshade: {files}",
      maxFileSize: 50 * 1024 ** 2,
      restore: true,
      create: false,
      dryRun: false,
      json: false,
      allowMassDelete: false,
      trailer: [],
      ignore: [],
    });
    expect(s.remote).toBeUndefined();
    expect(s.configFile).toBeUndefined();
    expect(isInside(s.stateDir, work)).toBe(false);
  });

  it("resolves the dir argument against cwd", async () => {
    const { root, env } = setup();
    const s = await resolveSettings("push", "work", {}, env, root);
    expect(s.dir).toBe(path.join(root, "work"));
  });
});

describe("resolveSettings: precedence flag > env > config file > default", () => {
  it("takes each layer in order", async () => {
    const { work, etc, env } = setup();
    writeFileSync(path.join(etc, ".mirrorshaderc.json"), JSON.stringify({ debounce: "5s", maxDelay: "1m" }));
    const flags = { debounce: "1s" };
    const withEnv = { ...env, MIRRORSHADE_DEBOUNCE: "3s" };

    expect((await resolveSettings("watch", work, flags, withEnv, etc)).debounce).toBe(1000);
    expect((await resolveSettings("watch", work, {}, withEnv, etc)).debounce).toBe(3000);
    const fromFile = await resolveSettings("watch", work, {}, env, etc);
    expect(fromFile.debounce).toBe(5000);
    expect(fromFile.maxDelay).toBe(60_000);
    expect(fromFile.configFile).toBe(path.join(etc, ".mirrorshaderc.json"));
    rmSync(path.join(etc, ".mirrorshaderc.json"));
    expect((await resolveSettings("watch", work, {}, env, etc)).debounce).toBe(2000);
  });

  it("ignores empty env variables", async () => {
    const { work, env } = setup();
    const s = await resolveSettings("watch", undefined, {}, { ...env, MIRRORSHADE_DEBOUNCE: "" }, work);
    expect(s.debounce).toBe(2000);
  });

  it("reads a YAML config file with durations, sizes, lists and booleans", async () => {
    const { work, etc, env } = setup();
    writeFileSync(
      path.join(etc, ".mirrorshaderc.yaml"),
      [
        "debounce: 750ms",
        "maxDelay: 10s",
        "maxFileSize: 1m",
        "allowMassDelete: true",
        "trailer:",
        "  - 'Signed-off-by: bot <b@x>'",
        "ignore: ['*.tmp']",
        "message: 'save {count}'",
      ].join("\n"),
    );
    const s = await resolveSettings("watch", work, {}, env, etc);
    expect(s).toMatchObject({
      debounce: 750,
      maxDelay: 10_000,
      maxFileSize: 1024 ** 2,
      allowMassDelete: true,
      trailer: ["Signed-off-by: bot <b@x>"],
      ignore: ["*.tmp"],
      message: "save {count}",
      configFile: path.join(etc, ".mirrorshaderc.yaml"),
    });
  });

  it("parses env lists (comma or newline separated) and booleans", async () => {
    const { work, env } = setup();
    const s = await resolveSettings(
      "watch",
      undefined,
      {},
      { ...env, MIRRORSHADE_IGNORE: "*.tmp, *.bak", MIRRORSHADE_TRAILER: "A: 1\nB: 2", MIRRORSHADE_CREATE: "yes" },
      work,
    );
    expect(s.ignore).toEqual(["*.tmp", "*.bak"]);
    expect(s.trailer).toEqual(["A: 1", "B: 2"]);
    expect(s.create).toBe(true);
  });

  it("reads an explicit --config path, from a flag or from MIRRORSHADE_CONFIG", async () => {
    const { work, etc, env } = setup();
    const file = path.join(etc, "ms.json");
    writeFileSync(file, JSON.stringify({ debounce: "4s" }));
    // a config file in cwd is not read when one is named
    writeFileSync(path.join(work, ".mirrorshaderc.json"), JSON.stringify({ debounce: "9s" }));
    const a = await resolveSettings("watch", undefined, { config: file }, env, work);
    expect(a.debounce).toBe(4000);
    expect(a.configFile).toBe(file);
    const b = await resolveSettings("watch", undefined, {}, { ...env, MIRRORSHADE_CONFIG: file }, work);
    expect(b.debounce).toBe(4000);
    // relative to cwd
    const c = await resolveSettings("watch", work, { config: "etc/ms.json" }, env, path.dirname(etc));
    expect(c.debounce).toBe(4000);
  });
});

describe("resolveSettings: errors", () => {
  it("refuses an unknown key in the config file", async () => {
    const { work, etc, env } = setup();
    writeFileSync(path.join(etc, ".mirrorshaderc.json"), JSON.stringify({ debounse: "1s" }));
    const err = await configError(resolveSettings("watch", work, {}, env, etc));
    expect(err.message).toContain('"debounse"');
    expect(err.message).toContain(".mirrorshaderc.json");
    expect(err.hint).toContain("debounce");
  });

  it("refuses the key 'config' inside a config file", async () => {
    const { work, etc, env } = setup();
    writeFileSync(path.join(etc, ".mirrorshaderc.json"), JSON.stringify({ config: "other.json" }));
    await configError(resolveSettings("watch", work, {}, env, etc));
  });

  it("refuses malformed JSON", async () => {
    const { work, etc, env } = setup();
    writeFileSync(path.join(etc, ".mirrorshaderc.json"), '{"debounce": "1s",');
    const err = await configError(resolveSettings("watch", work, {}, env, etc));
    expect(err.message).toContain(".mirrorshaderc.json");
  });

  it("refuses a config file that is not an object", async () => {
    const { work, etc, env } = setup();
    writeFileSync(path.join(etc, ".mirrorshaderc.json"), '["a"]');
    await configError(resolveSettings("watch", work, {}, env, etc));
  });

  it("refuses an explicit config file that does not exist", async () => {
    const { work, env } = setup();
    const err = await configError(resolveSettings("watch", undefined, { config: "nope.json" }, env, work));
    expect(err.message).toContain("nope.json");
  });

  it("names the option and where a bad duration came from", async () => {
    const { work, etc, env } = setup();
    const fromEnv = await configError(
      resolveSettings("watch", undefined, {}, { ...env, MIRRORSHADE_DEBOUNCE: "2x" }, work),
    );
    expect(fromEnv.message).toContain("debounce");
    expect(fromEnv.message).toContain("MIRRORSHADE_DEBOUNCE");
    expect(fromEnv.message).toContain('"2x"');

    const fromFlag = await configError(resolveSettings("watch", undefined, { maxDelay: "2" }, env, work));
    expect(fromFlag.message).toContain("--max-delay");

    writeFileSync(path.join(etc, ".mirrorshaderc.json"), JSON.stringify({ shutdownTimeout: "soon" }));
    const fromFile = await configError(resolveSettings("watch", work, {}, env, etc));
    expect(fromFile.message).toContain("shutdown-timeout");
    expect(fromFile.message).toContain(path.join(etc, ".mirrorshaderc.json"));
  });

  it("refuses a bare number as a duration in a config file", async () => {
    const { work, etc, env } = setup();
    writeFileSync(path.join(etc, ".mirrorshaderc.json"), JSON.stringify({ debounce: 500 }));
    await configError(resolveSettings("watch", work, {}, env, etc));
  });

  it("refuses bad booleans, enums and sizes", async () => {
    const { work, env } = setup();
    await configError(resolveSettings("watch", undefined, {}, { ...env, MIRRORSHADE_CREATE: "maybe" }, work));
    await configError(resolveSettings("watch", undefined, {}, { ...env, MIRRORSHADE_LOG_LEVEL: "loud" }, work));
    await configError(resolveSettings("watch", undefined, {}, { ...env, MIRRORSHADE_MAX_FILE_SIZE: "big" }, work));
  });

  it("refuses a max delay shorter than the debounce", async () => {
    const { work, env } = setup();
    const err = await configError(resolveSettings("watch", undefined, { debounce: "10s", maxDelay: "5s" }, env, work));
    expect(err.message).toContain("--max-delay");
    // equal is fine
    const s = await resolveSettings("watch", undefined, { debounce: "5s", maxDelay: "5s" }, env, work);
    expect(s.maxDelay).toBe(5000);
  });
});

describe("resolveSettings: code config files", () => {
  it("never runs mirrorshade.config.js in a work dir that is the cwd: ignored, with one warning", async () => {
    const { root, work, env } = setup();
    const marker = path.join(root, "marker");
    jsConfig(path.join(work, "mirrorshade.config.js"), marker, { debounce: "1s" });
    const s = await resolveSettings("watch", undefined, {}, env, work);
    expect(s.debounce).toBe(2000);
    expect(s.warnings).toHaveLength(1);
    expect(s.warnings[0]).toContain("mirrorshade.config.js");
    expect(s.warnings[0]).toContain("inside the work dir");
    expect(existsSync(marker)).toBe(false);
  });

  it("refuses (and does not run) an explicit .mirrorshaderc.cjs inside the work dir", async () => {
    const { root, work, env } = setup();
    const marker = path.join(root, "marker");
    const file = path.join(work, ".mirrorshaderc.cjs");
    jsConfig(file, marker, { debounce: "1s" });
    await configError(resolveSettings("watch", work, { config: file }, env, root));
    await configError(resolveSettings("watch", undefined, { config: file }, { ...env, MIRRORSHADE_DIR: work }, root));
    // in-place mode reads data from the work dir, never code
    await configError(resolveSettings("watch", work, { config: file, inPlace: true }, env, root));
    expect(existsSync(marker)).toBe(false);
  });

  it("never runs a code config in a cwd that is the work dir through a symlink", async () => {
    const { root, work, env } = setup();
    const marker = path.join(root, "marker");
    jsConfig(path.join(work, ".mirrorshaderc.cjs"), marker, { debounce: "1s" });
    const link = path.join(root, "link");
    symlinkSync(work, link);
    const s = await resolveSettings("watch", work, {}, env, link);
    expect(s.debounce).toBe(2000);
    expect(s.warnings).toHaveLength(1);
    expect(existsSync(marker)).toBe(false);
  });

  it("never reads cosmiconfig's meta config (.config/config.*) from a work dir that is the cwd", async () => {
    const { root, work, env } = setup();
    const marker = path.join(root, "marker");
    mkdirSync(path.join(work, ".config"));
    jsConfig(path.join(work, ".config", "config.js"), marker, {});
    jsConfig(path.join(work, "evil.cjs"), marker, {});
    // a data meta config can $import code, and add search places
    writeFileSync(path.join(work, ".config", "config.json"), JSON.stringify({ $import: "../evil.cjs" }));
    writeFileSync(path.join(work, "package.json"), JSON.stringify({ cosmiconfig: { searchPlaces: ["evil.cjs"] } }));
    const before = process.cwd();
    process.chdir(work);
    try {
      const s = await resolveSettings("watch", undefined, {}, env, work);
      expect(s.configFile).toBeUndefined();
      // give an import started in the background the chance to run
      await new Promise((r) => setImmediate(r));
    } finally {
      process.chdir(before);
    }
    expect(existsSync(marker)).toBe(false);
  });

  it("loads a code config outside the work dir", async () => {
    const { root, work, etc, env } = setup();
    const marker = path.join(root, "marker");
    jsConfig(path.join(etc, ".mirrorshaderc.cjs"), marker, { debounce: "1500ms", maxDelay: "3s" });
    const s = await resolveSettings("watch", work, {}, env, etc);
    expect(s.debounce).toBe(1500);
    expect(s.maxDelay).toBe(3000);
    expect(s.configFile).toBe(path.join(etc, ".mirrorshaderc.cjs"));
    expect(existsSync(marker)).toBe(true);
  });
});

describe("resolveSettings: paths", () => {
  it("resolves a relative remote in a config file against the config file's dir", async () => {
    const { root, work, etc, env } = setup();
    writeFileSync(path.join(etc, "ms.json"), JSON.stringify({ remote: "../backup.git", dir: "../work" }));
    const s = await resolveSettings("push", undefined, { config: path.join(etc, "ms.json") }, env, path.join(root));
    expect(s.remote).toBe(path.join(root, "backup.git"));
    expect(s.dir).toBe(work);
  });

  it("resolves a relative remote from a flag or env against cwd", async () => {
    const { root, work, env } = setup();
    expect((await resolveSettings("push", work, { remote: "r.git" }, env, root)).remote).toBe(path.join(root, "r.git"));
    expect((await resolveSettings("push", work, {}, { ...env, MIRRORSHADE_REMOTE: "x/r.git" }, root)).remote).toBe(
      path.join(root, "x", "r.git"),
    );
  });

  it.each([
    "file:///srv/backup.git",
    "ssh://git@host/x.git",
    "https://host/x.git",
    "git@host:x.git",
    "host:x.git",
    "s3://bucket/prefix",
    "/abs/backup.git",
  ])("leaves the remote %j as is", async (remote) => {
    const { root, work, env } = setup();
    expect((await resolveSettings("push", work, { remote }, env, root)).remote).toBe(remote);
  });

  it("resolves a relative state dir and takes MIRRORSHADE_STATE_DIR", async () => {
    const { root, work, env } = setup();
    expect((await resolveSettings("push", work, { stateDir: "st" }, env, root)).stateDir).toBe(path.join(root, "st"));
    expect((await resolveSettings("push", work, {}, { ...env, MIRRORSHADE_STATE_DIR: "/x/y" }, root)).stateDir).toBe(
      "/x/y",
    );
  });

  it("puts the default state dir under $XDG_STATE_HOME", async () => {
    const { work, env } = setup();
    const s = await resolveSettings("watch", work, {}, env, work);
    expect(path.dirname(s.stateDir)).toBe(path.join(env.XDG_STATE_HOME!, "mirrorshade"));
    expect(path.basename(s.stateDir)).toMatch(/^work-[0-9a-f]{12}$/);
  });
});

describe("defaultStateDir", () => {
  it("is deterministic, per dir, and outside the dir", () => {
    const { root, work, env } = setup();
    const other = path.join(root, "other");
    mkdirSync(other);
    const a = defaultStateDir(work, env);
    expect(defaultStateDir(work, env)).toBe(a);
    expect(defaultStateDir(other, env)).not.toBe(a);
    expect(isInside(a, work)).toBe(false);
  });

  it("keys by the real path: a symlink to the dir shares its state dir", () => {
    const { root, work, env } = setup();
    const link = path.join(root, "link");
    symlinkSync(work, link);
    expect(path.basename(defaultStateDir(link, env)).slice(-12)).toBe(
      path.basename(defaultStateDir(work, env)).slice(-12),
    );
  });

  it("uses $XDG_STATE_HOME/mirrorshade when set, else ~/.local/state/mirrorshade", () => {
    const { work, env } = setup();
    expect(defaultStateDir(work, env).startsWith(path.join(env.XDG_STATE_HOME!, "mirrorshade") + path.sep)).toBe(true);
    const noXdg = { HOME: env.HOME };
    expect(
      defaultStateDir(work, noXdg).startsWith(path.join(env.HOME!, ".local", "state", "mirrorshade") + path.sep),
    ).toBe(true);
  });

  it("falls back to the temp dir when HOME is / (a random UID)", () => {
    const { work } = setup();
    const d = defaultStateDir(work, { HOME: "/" });
    expect(d.startsWith(tmpdir())).toBe(true);
    expect(isInside(d, work)).toBe(false);
  });

  it("stays outside a work dir that contains the state home (watch ~)", () => {
    const { root, env } = setup();
    const home = env.HOME!;
    mkdirSync(home);
    const d = defaultStateDir(home, { HOME: home });
    expect(isInside(d, home)).toBe(false);
    const x = defaultStateDir(root, env); // XDG_STATE_HOME is under root
    expect(isInside(x, root)).toBe(false);
  });
});

/** The attacker's config: what a notebook user would plant to steer the sidecar. */
const PLANTED = {
  caFile: "/planted/ca.pem",
  sshAcceptNewHostKeys: true,
  ignore: ["**"],
  tokenUsername: "planted-user",
  listen: "127.0.0.1:9",
  remote: "/planted/remote.git",
};

describe("config files: the work dir configures nothing outside in-place mode", () => {
  it("a .mirrorshaderc.json in a cwd that is the work dir sets nothing, with one warning", async () => {
    const { work, env } = setup();
    writeFileSync(path.join(work, ".mirrorshaderc.json"), JSON.stringify(PLANTED));
    for (const dirArg of [undefined, work]) {
      const s = await resolveSettings("watch", dirArg, {}, env, work);
      expect(s.caFile).toBeUndefined();
      expect(s.sshAcceptNewHostKeys).toBe(false);
      expect(s.ignore).toEqual([]);
      expect(s.tokenUsername).toBe("x-access-token");
      expect(s.listen).toBeUndefined();
      expect(s.remote).toBeUndefined();
      expect(s.configFile).toBeUndefined();
      expect(s.warnings).toHaveLength(1);
      expect(s.warnings[0]).toContain(path.join(work, ".mirrorshaderc.json"));
    }
    const withEnv = await resolveSettings("push", undefined, {}, { ...env, MIRRORSHADE_REMOTE: "/env/r.git" }, work);
    expect(withEnv.remote).toBe("/env/r.git");
  });

  it("in a subdir of the work dir too, and it cannot move the work dir elsewhere", async () => {
    const { root, work, env } = setup();
    const sub = path.join(work, "sub");
    mkdirSync(sub);
    writeFileSync(path.join(sub, ".mirrorshaderc.yaml"), `dir: ${root}\nremote: /planted.git\n`);
    const s = await resolveSettings("push", work, {}, env, sub);
    expect(s.dir).toBe(work);
    expect(s.remote).toBeUndefined();
    // the cwd is the work dir when none is named: a file there cannot name another
    writeFileSync(path.join(work, ".mirrorshaderc.json"), JSON.stringify({ dir: "/etc" }));
    expect((await resolveSettings("push", undefined, {}, env, work)).dir).toBe(work);
  });

  it("warns about nothing when the work dir holds no config file", async () => {
    const { work, env } = setup();
    expect((await resolveSettings("watch", undefined, {}, env, work)).warnings).toEqual([]);
  });

  it("an explicit config inside the work dir is refused, unless --in-place", async () => {
    const { root, work, env } = setup();
    const file = path.join(work, "ms.json");
    writeFileSync(file, JSON.stringify({ debounce: "5s" }));
    const err = await configError(resolveSettings("watch", work, { config: file }, env, root));
    expect(err.message).toContain("inside the work dir");
    const s = await resolveSettings("watch", work, { config: file, inPlace: true }, env, root);
    expect(s.debounce).toBe(5000);
  });

  it("--in-place reads the work dir's own config as data, below the user's, without the keys that choose where data goes", async () => {
    const { work, env } = setup();
    writeFileSync(path.join(work, ".mirrorshaderc.json"), JSON.stringify({ debounce: "5s", maxDelay: "1m" }));
    const s = await resolveSettings("watch", undefined, { inPlace: true }, env, work);
    expect(s).toMatchObject({ debounce: 5000, maxDelay: 60_000, inPlace: true, warnings: [] });
    const fromEnv = await resolveSettings("watch", work, {}, { ...env, MIRRORSHADE_IN_PLACE: "1" }, "/");
    expect(fromEnv.debounce).toBe(5000);

    // (ignore patterns are fine there: a checkout's own .gitignore says as much)
    const { ignore: _fine, ...steering } = PLANTED;
    for (const [key, value] of Object.entries({
      ...steering,
      inPlace: true,
      runHooks: true,
      stateDir: "/x",
      dir: ".",
    })) {
      writeFileSync(path.join(work, ".mirrorshaderc.json"), JSON.stringify({ [key]: value }));
      const err = await configError(resolveSettings("watch", undefined, { inPlace: true }, env, work));
      expect(err.message, key).toContain(`"${key}"`);
      expect(err.message, key).toContain("not read from inside the work dir");
    }
  });

  it("in-place mode chosen by the user's config outside the work dir reads the work dir's config below it", async () => {
    const { work, env } = setup();
    const userDir = path.join(env.HOME!, ".config", "mirrorshade");
    mkdirSync(userDir, { recursive: true });
    writeFileSync(path.join(userDir, "config.json"), JSON.stringify({ inPlace: true, debounce: "3s" }));
    writeFileSync(path.join(work, ".mirrorshaderc.json"), JSON.stringify({ debounce: "5s", maxDelay: "1m" }));
    const s = await resolveSettings("watch", undefined, {}, env, work);
    expect(s).toMatchObject({ inPlace: true, debounce: 3000, maxDelay: 60_000 });
    expect(s.configFile).toBe(path.join(userDir, "config.json"));
  });
});

describe("config files: the user config dir", () => {
  function userConfig(env: NodeJS.ProcessEnv) {
    const dir = path.join(env.HOME!, ".config", "mirrorshade");
    mkdirSync(path.join(dir, "dirs"), { recursive: true });
    return dir;
  }

  it("finds the per-dir file (what init writes) from any cwd, by the work dir's real path", async () => {
    const { root, work, etc, env } = setup();
    const file = perDirConfigFile(work, env)!;
    expect(path.dirname(file)).toBe(path.join(userConfig(env), "dirs"));
    expect(path.basename(file)).toMatch(/^work-[0-9a-f]{12}\.json$/);
    writeFileSync(file, JSON.stringify({ dir: work, remote: "/r.git", debounce: "4s" }));
    for (const cwd of [etc, work, "/"]) {
      const s = await resolveSettings("push", work, {}, env, cwd);
      expect(s).toMatchObject({ remote: "/r.git", debounce: 4000, configFile: file, warnings: [] });
    }
    const link = path.join(root, "other-name");
    symlinkSync(work, link);
    expect((await resolveSettings("push", link, {}, env, etc)).remote).toBe("/r.git");
    // another dir does not get it
    expect((await resolveSettings("push", etc, {}, env, etc)).remote).toBeUndefined();
  });

  it("then config.json or config.yaml for every dir; XDG_CONFIG_HOME moves it; a file in the cwd comes first", async () => {
    const { root, work, etc, env } = setup();
    writeFileSync(path.join(userConfig(env), "config.yaml"), "debounce: 7s\n");
    expect((await resolveSettings("watch", work, {}, env, etc)).debounce).toBe(7000);
    writeFileSync(path.join(etc, ".mirrorshaderc.json"), JSON.stringify({ debounce: "1s" }));
    expect((await resolveSettings("watch", work, {}, env, etc)).debounce).toBe(1000);
    const xdg = path.join(root, "xdg-config");
    mkdirSync(path.join(xdg, "mirrorshade"), { recursive: true });
    writeFileSync(path.join(xdg, "mirrorshade", "config.json"), JSON.stringify({ debounce: "9s" }));
    expect((await resolveSettings("watch", work, {}, { ...env, XDG_CONFIG_HOME: xdg }, work)).debounce).toBe(9000);
  });

  it("has none when HOME is unset or / (a random UID)", async () => {
    const { work } = setup();
    expect(perDirConfigFile(work, { HOME: "/" })).toBeUndefined();
    expect(perDirConfigFile(work, {})).toBeUndefined();
  });

  it("is not read when it lies inside the work dir (watch ~), unless --in-place", async () => {
    const { env } = setup();
    const home = env.HOME!;
    writeFileSync(path.join(userConfig(env), "config.json"), JSON.stringify({ debounce: "7s" }));
    const s = await resolveSettings("watch", home, {}, env, "/");
    expect(s.debounce).toBe(2000);
    expect(s.warnings.join("\n")).toContain("config.json");
    expect((await resolveSettings("watch", home, { inPlace: true }, env, "/")).debounce).toBe(7000);
  });
});

describe("validation: one set of rules for flags, env and config files", () => {
  it.each([
    ["branch", "x.lock"],
    ["branch", "a//b"],
    ["branch", ".hidden"],
    ["branch", "trailing/"],
    ["branch", "-x"],
    ["branch", "a..b"],
    ["branch", "a@{b"],
    ["author", "nobody"],
    ["author", "<x@y>"],
    ["author", "A <x@y> <z>"],
    ["trailer", "no separator"],
    ["trailer", ": value"],
    ["listen", "here"],
    ["listen", ":99999"],
    ["remote", "fd::3"],
    ["remote", "ext::sh -c x"],
    ["remote", "--upload-pack=x;:"],
    ["remote", "https://[bad"],
    ["remote", "file://%zz/x.git"],
    ["shutdownTimeout", "600h"],
    ["debounce", "597h"],
    ["maxFileSize", "-5"],
    ["s3PartSize", "1m"],
    ["s3PartSize", "6g"],
    ["s3Concurrency", "0"],
    ["s3Concurrency", "100000"],
    ["s3Endpoint", "ftp://host"],
    ["s3Region", "us east"],
    ["stateDir", "a\x01b"],
  ])("--%s %j: refused from a flag, the environment and a config file", async (key, value) => {
    const { work, etc, env } = setup();
    const flag = await configError(
      resolveSettings("watch", work, { [key]: key === "trailer" ? [value] : value }, env, etc),
    );
    expect(flag.message).not.toContain("\n");
    const envKey = "MIRRORSHADE_" + key.replace(/[A-Z]/g, (c) => "_" + c).toUpperCase();
    await configError(resolveSettings("watch", work, {}, { ...env, [envKey]: value }, etc));
    writeFileSync(path.join(etc, ".mirrorshaderc.json"), JSON.stringify({ [key]: value }));
    const file = await configError(resolveSettings("watch", work, {}, env, etc));
    expect(file.message).toContain(path.join(etc, ".mirrorshaderc.json"));
  });

  it("accepts the longest duration Node's timers take", async () => {
    const { work, env } = setup();
    const s = await resolveSettings("watch", work, { shutdownTimeout: "596h", maxDelay: "596h" }, env, work);
    expect(s.shutdownTimeout).toBe(596 * 3_600_000);
  });

  it.each([
    ["maxFileSize", -5],
    ["maxFileSize", 1.5],
    ["trailer", {}],
    ["trailer", [{ a: 1 }]],
    ["ignore", [1]],
    ["message", { text: "x" }],
    ["branch", ["main"]],
    ["create", "maybe"],
    ["create", 1],
    ["logLevel", 3],
    ["s3Concurrency", 2.5],
    ["debounce", 500],
  ])("refuses %s: %j of the wrong type or range in a config file", async (key, value) => {
    const { work, etc, env } = setup();
    writeFileSync(path.join(etc, ".mirrorshaderc.json"), JSON.stringify({ [key]: value }));
    const err = await configError(resolveSettings("watch", work, {}, env, etc));
    expect(err.message).toContain(key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase()));
  });

  it("takes a YAML number where a string is meant, and one string where a list is", async () => {
    const { work, etc, env } = setup();
    writeFileSync(path.join(etc, ".mirrorshaderc.yaml"), "branch: 2024\ntrailer: 'Saved-by: me'\n");
    const s = await resolveSettings("watch", work, {}, env, etc);
    expect(s.branch).toBe("2024");
    expect(s.trailer).toEqual(["Saved-by: me"]);
  });

  it("--run-hooks needs --in-place", async () => {
    const { work, env } = setup();
    await configError(resolveSettings("watch", work, { runHooks: true }, env, work));
    expect((await resolveSettings("watch", work, { runHooks: true, inPlace: true }, env, work)).runHooks).toBe(true);
  });

  it("creates nothing while resolving, even the default state dir's parent", async () => {
    const { root, work, env } = setup();
    const before = readdirSync(root).sort();
    await resolveSettings("watch", work, {}, env, work);
    await configError(resolveSettings("watch", work, { branch: "x.lock" }, env, work));
    expect(readdirSync(root).sort()).toEqual(before);
  });
});

describe("the state dir: keyed by the work dir's real path, never inside it", () => {
  it("a symlink with another name to the same dir gets the same state dir", async () => {
    const { root, work, env } = setup();
    const link = path.join(root, "another-name");
    symlinkSync(work, link);
    const a = await resolveSettings("watch", work, {}, env, root);
    const b = await resolveSettings("watch", link, {}, env, root);
    expect(b.stateDir).toBe(a.stateDir);
    expect(path.basename(a.stateDir)).toMatch(/^work-[0-9a-f]{12}$/);
  });

  it("--state-dir through a symlink into the work dir is inside it, although it does not exist yet", async () => {
    const { root, work, env } = setup();
    symlinkSync(work, path.join(root, "link"));
    const err = await configError(resolveSettings("watch", work, { stateDir: "link/state/deeper" }, env, root));
    expect(err.message).toContain("inside the work dir");
    expect(existsSync(path.join(work, "state"))).toBe(false);
  });
});

describe("config files: links", () => {
  it("a config file in the cwd that links into the work dir is not read", async () => {
    const { root, work, etc, env } = setup();
    const marker = path.join(root, "marker");
    jsConfig(path.join(work, "evil.cjs"), marker, { debounce: "1s" });
    symlinkSync(path.join(work, "evil.cjs"), path.join(etc, ".mirrorshaderc.cjs"));
    const s = await resolveSettings("watch", work, {}, env, etc);
    expect(s.debounce).toBe(2000);
    expect(s.warnings).toHaveLength(1);
    expect(existsSync(marker)).toBe(false);
  });

  it("in in-place mode, a config file in the work dir that is a link or a FIFO is refused, never followed or waited on", async () => {
    const { root, work, env } = setup();
    writeFileSync(path.join(root, "outside.json"), JSON.stringify({ debounce: "1s" }));
    symlinkSync(path.join(root, "outside.json"), path.join(work, ".mirrorshaderc.json"));
    await configError(resolveSettings("watch", work, { inPlace: true }, env, root));
    rmSync(path.join(work, ".mirrorshaderc.json"));
    execFileSync("mkfifo", [path.join(work, ".mirrorshaderc.yaml")]);
    const err = await configError(resolveSettings("watch", work, { inPlace: true }, env, root));
    expect(err.message).toContain("not a regular file");
  });
});
