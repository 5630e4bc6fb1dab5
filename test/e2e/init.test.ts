import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cleanEnv, git, remoteFiles, reportedError, run, tempDir, write } from "../helpers";

/**
 * A cwd holding a work dir, a private user config dir (XDG_CONFIG_HOME), and an env that
 * names no remote: only the config init writes may.
 */
function setup() {
  const cwd = realpathSync(tempDir());
  const work = path.join(cwd, "work");
  mkdirSync(work);
  const xdg = path.join(cwd, "xdg-config");
  const state = path.join(cwd, "state");
  return {
    cwd,
    work,
    state,
    remote: path.join(cwd, "backup.git"),
    dirs: path.join(xdg, "mirrorshade", "dirs"),
    env: { ...cleanEnv(), XDG_CONFIG_HOME: xdg, MIRRORSHADE_STATE_DIR: state, MIRRORSHADE_LOG_FORMAT: "json" },
  };
}

function written(dirs: string): { file: string; config: Record<string, unknown> } {
  const files = existsSync(dirs) ? readdirSync(dirs) : [];
  expect(files).toHaveLength(1);
  const file = path.join(dirs, files[0]!);
  return { file, config: JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown> };
}

describe("init", () => {
  it("init <dir> --remote <path> --create: writes the dir's config in the user config dir, creates the bare repo", async () => {
    const t = setup();
    const r = await run(["init", "work", "--remote", t.remote, "--create"], { cwd: t.cwd, env: t.env });
    expect(r.code, r.stderr).toBe(0);
    const { file, config } = written(t.dirs);
    expect(path.basename(file)).toMatch(/^work-[0-9a-f]{12}\.json$/);
    expect(config).toEqual({ dir: t.work, remote: t.remote }); // nothing else, no secret
    expect(r.stdout).toContain(file);
    // never in the work dir (its files are not trusted, and would be saved), nor in the cwd
    expect(readdirSync(t.work)).toEqual([]);
    expect(existsSync(path.join(t.cwd, ".mirrorshaderc.json"))).toBe(false);
    expect(git(t.remote, "rev-parse", "--is-bare-repository").trim()).toBe("true");
  });

  it("then push <dir> from any current directory, and push in the dir itself, use it", async () => {
    const t = setup();
    const i = await run(["init", "work", "--remote", t.remote, "--create"], { cwd: t.cwd, env: t.env });
    expect(i.code, i.stderr).toBe(0);
    write(t.work, "notes.md", "from the config\n");
    const elsewhere = tempDir();
    const r = await run(["push", t.work], { cwd: elsewhere, env: t.env });
    expect(r.code, r.stderr).toBe(0);
    expect(Object.fromEntries(remoteFiles(t.remote))).toEqual({ "notes.md": "from the config\n" });

    write(t.work, "more.md", "pushed from inside\n");
    const inside = await run(["push"], { cwd: t.work, env: t.env });
    expect(inside.code, inside.stderr).toBe(0);
    expect(remoteFiles(t.remote).get("more.md")).toBe("pushed from inside\n");
  });

  it("a second init refuses to overwrite the config (exit 2, one line); --force overwrites it", async () => {
    const t = setup();
    const first = await run(["init", "work", "--remote", t.remote, "--create"], { cwd: t.cwd, env: t.env });
    expect(first.code, first.stderr).toBe(0);
    const other = path.join(t.cwd, "other.git");
    git(t.cwd, "init", "-q", "--bare", other);

    const again = await run(["init", t.work, "--remote", other], { cwd: t.cwd, env: t.env });
    expect(again.code, again.stderr).toBe(2);
    const lines = reportedError(again.stderr);
    expect(lines[0]).toMatch(/^mirrorshade: .*already holds the config/);
    expect(lines[1]).toMatch(/--force/);
    expect(written(t.dirs).config.remote).toBe(t.remote);

    const forced = await run(["init", t.work, "--remote", other, "--force"], { cwd: t.cwd, env: t.env });
    expect(forced.code, forced.stderr).toBe(0);
    expect(written(t.dirs).config.remote).toBe(other);
  });

  it("without --remote: exit 2 and one clear line, no config written, no state dir", async () => {
    const t = setup();
    const r = await run(["init", "work"], { cwd: t.cwd, env: t.env });
    expect(r.code, r.stderr).toBe(2);
    const lines = reportedError(r.stderr);
    expect(lines[0]).toMatch(/^mirrorshade: .*remote/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(t.dirs)).toBe(false);
    expect(existsSync(t.state)).toBe(false);
  });

  it("with no user config dir (HOME=/, a random UID): exit 2 saying so, nothing written", async () => {
    const t = setup();
    const { XDG_CONFIG_HOME: _, ...env } = t.env;
    const r = await run(["init", "work", "--remote", t.remote, "--create"], { cwd: t.cwd, env: { ...env, HOME: "/" } });
    expect(r.code, r.stderr).toBe(2);
    expect(reportedError(r.stderr)[0]).toMatch(/^mirrorshade: .*user config dir/);
    expect(existsSync(t.remote)).toBe(false);
    expect(existsSync(t.state)).toBe(false);
  });
});
