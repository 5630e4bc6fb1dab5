import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { defaultStateDir, isInside, resolveSettings } from "../../src/config";
import { ConfigError } from "../../src/errors";

const temps: string[] = [];
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fresh temp dir (real path), removed after the test. */
function tmp(): string {
  const d = realpathSync(mkdtempSync(path.join(tmpdir(), "ms-unit-config-")));
  temps.push(d);
  return d;
}

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
    const { work, env } = setup();
    writeFileSync(path.join(work, ".mirrorshaderc.json"), JSON.stringify({ debounce: "5s", maxDelay: "1m" }));
    const flags = { debounce: "1s" };
    const withEnv = { ...env, MIRRORSHADE_DEBOUNCE: "3s" };

    expect((await resolveSettings("watch", undefined, flags, withEnv, work)).debounce).toBe(1000);
    expect((await resolveSettings("watch", undefined, {}, withEnv, work)).debounce).toBe(3000);
    const fromFile = await resolveSettings("watch", undefined, {}, env, work);
    expect(fromFile.debounce).toBe(5000);
    expect(fromFile.maxDelay).toBe(60_000);
    expect(fromFile.configFile).toBe(path.join(work, ".mirrorshaderc.json"));
    rmSync(path.join(work, ".mirrorshaderc.json"));
    expect((await resolveSettings("watch", undefined, {}, env, work)).debounce).toBe(2000);
  });

  it("ignores empty env variables", async () => {
    const { work, env } = setup();
    const s = await resolveSettings("watch", undefined, {}, { ...env, MIRRORSHADE_DEBOUNCE: "" }, work);
    expect(s.debounce).toBe(2000);
  });

  it("reads a YAML config file with durations, sizes, lists and booleans", async () => {
    const { work, env } = setup();
    writeFileSync(
      path.join(work, ".mirrorshaderc.yaml"),
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
    const s = await resolveSettings("watch", undefined, {}, env, work);
    expect(s).toMatchObject({
      debounce: 750,
      maxDelay: 10_000,
      maxFileSize: 1024 ** 2,
      allowMassDelete: true,
      trailer: ["Signed-off-by: bot <b@x>"],
      ignore: ["*.tmp"],
      message: "save {count}",
      configFile: path.join(work, ".mirrorshaderc.yaml"),
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
    const { work, env } = setup();
    writeFileSync(path.join(work, ".mirrorshaderc.json"), JSON.stringify({ debounse: "1s" }));
    const err = await configError(resolveSettings("watch", undefined, {}, env, work));
    expect(err.message).toContain('"debounse"');
    expect(err.message).toContain(".mirrorshaderc.json");
    expect(err.hint).toContain("debounce");
  });

  it("refuses the key 'config' inside a config file", async () => {
    const { work, env } = setup();
    writeFileSync(path.join(work, ".mirrorshaderc.json"), JSON.stringify({ config: "other.json" }));
    await configError(resolveSettings("watch", undefined, {}, env, work));
  });

  it("refuses malformed JSON", async () => {
    const { work, env } = setup();
    writeFileSync(path.join(work, ".mirrorshaderc.json"), '{"debounce": "1s",');
    const err = await configError(resolveSettings("watch", undefined, {}, env, work));
    expect(err.message).toContain(".mirrorshaderc.json");
  });

  it("refuses a config file that is not an object", async () => {
    const { work, env } = setup();
    writeFileSync(path.join(work, ".mirrorshaderc.json"), '["a"]');
    await configError(resolveSettings("watch", undefined, {}, env, work));
  });

  it("refuses an explicit config file that does not exist", async () => {
    const { work, env } = setup();
    const err = await configError(resolveSettings("watch", undefined, { config: "nope.json" }, env, work));
    expect(err.message).toContain("nope.json");
  });

  it("names the option and where a bad duration came from", async () => {
    const { work, env } = setup();
    const fromEnv = await configError(
      resolveSettings("watch", undefined, {}, { ...env, MIRRORSHADE_DEBOUNCE: "2x" }, work),
    );
    expect(fromEnv.message).toContain("debounce");
    expect(fromEnv.message).toContain("MIRRORSHADE_DEBOUNCE");
    expect(fromEnv.message).toContain('"2x"');

    const fromFlag = await configError(resolveSettings("watch", undefined, { maxDelay: "2" }, env, work));
    expect(fromFlag.message).toContain("--max-delay");

    writeFileSync(path.join(work, ".mirrorshaderc.json"), JSON.stringify({ shutdownTimeout: "soon" }));
    const fromFile = await configError(resolveSettings("watch", undefined, {}, env, work));
    expect(fromFile.message).toContain("shutdown-timeout");
    expect(fromFile.message).toContain(path.join(work, ".mirrorshaderc.json"));
  });

  it("refuses a bare number as a duration in a config file", async () => {
    const { work, env } = setup();
    writeFileSync(path.join(work, ".mirrorshaderc.json"), JSON.stringify({ debounce: 500 }));
    await configError(resolveSettings("watch", undefined, {}, env, work));
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
  it("refuses (and does not run) mirrorshade.config.js inside the work dir", async () => {
    const { root, work, env } = setup();
    const marker = path.join(root, "marker");
    jsConfig(path.join(work, "mirrorshade.config.js"), marker, { debounce: "1s" });
    const err = await configError(resolveSettings("watch", undefined, {}, env, work));
    expect(err.message).toContain("mirrorshade.config.js");
    expect(err.message).toContain("inside the work dir");
    expect(existsSync(marker)).toBe(false);
  });

  it("refuses (and does not run) an explicit .mirrorshaderc.cjs inside the work dir", async () => {
    const { root, work, env } = setup();
    const marker = path.join(root, "marker");
    const file = path.join(work, ".mirrorshaderc.cjs");
    jsConfig(file, marker, { debounce: "1s" });
    await configError(resolveSettings("watch", work, { config: file }, env, root));
    await configError(resolveSettings("watch", undefined, { config: file }, { ...env, MIRRORSHADE_DIR: work }, root));
    expect(existsSync(marker)).toBe(false);
  });

  it("refuses a code config reached through a symlink to the work dir", async () => {
    const { root, work, env } = setup();
    const marker = path.join(root, "marker");
    jsConfig(path.join(work, ".mirrorshaderc.cjs"), marker, { debounce: "1s" });
    const link = path.join(root, "link");
    symlinkSync(work, link);
    await configError(resolveSettings("watch", work, {}, env, link));
    expect(existsSync(marker)).toBe(false);
  });

  it("refuses (and does not run) cosmiconfig's .config/config.js meta config in a work dir that is the cwd", async () => {
    const { root, work, env } = setup();
    const marker = path.join(root, "marker");
    mkdirSync(path.join(work, ".config"));
    jsConfig(path.join(work, ".config", "config.js"), marker, {});
    const before = process.cwd();
    process.chdir(work);
    try {
      await configError(resolveSettings("watch", undefined, {}, env, work));
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
