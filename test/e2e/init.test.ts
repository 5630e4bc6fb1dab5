import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cleanEnv, git, remoteFiles, reportedError, run, tempDir, write } from "../helpers";

/** A cwd holding a work dir, and an env that names no remote: only the config file may. */
function setup(): { cwd: string; work: string; remote: string; env: NodeJS.ProcessEnv } {
  const cwd = tempDir();
  const work = path.join(cwd, "work");
  mkdirSync(work);
  return {
    cwd,
    work,
    remote: path.join(cwd, "backup.git"),
    env: { ...cleanEnv(), MIRRORSHADE_STATE_DIR: path.join(cwd, "state"), MIRRORSHADE_LOG_FORMAT: "json" },
  };
}

describe("init", () => {
  it("init <dir> --remote <path> --create: writes .mirrorshaderc.json in cwd, creates the bare repo", async () => {
    const t = setup();
    const r = await run(["init", "work", "--remote", t.remote, "--create"], { cwd: t.cwd, env: t.env });
    expect(r.code, r.stderr).toBe(0);
    const file = path.join(t.cwd, ".mirrorshaderc.json");
    const config = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
    expect(config.remote).toBe(t.remote);
    expect(path.resolve(t.cwd, String(config.dir))).toBe(t.work);
    expect(Object.keys(config).sort()).toEqual(["dir", "remote"]); // nothing else, no secret
    expect(existsSync(path.join(t.work, ".mirrorshaderc.json"))).toBe(false);
    expect(git(t.remote, "rev-parse", "--is-bare-repository").trim()).toBe("true");
  });

  it("then push with no flags in that cwd uses the config file", async () => {
    const t = setup();
    const i = await run(["init", "work", "--remote", t.remote, "--create"], { cwd: t.cwd, env: t.env });
    expect(i.code, i.stderr).toBe(0);
    write(t.work, "notes.md", "from the config\n");
    const r = await run(["push"], { cwd: t.cwd, env: t.env });
    expect(r.code, r.stderr).toBe(0);
    expect(Object.fromEntries(remoteFiles(t.remote))).toEqual({ "notes.md": "from the config\n" });
  });

  it("without --remote: exit 2 and one clear line, no config written", async () => {
    const t = setup();
    const r = await run(["init", "work"], { cwd: t.cwd, env: t.env });
    expect(r.code, r.stderr).toBe(2);
    const lines = reportedError(r.stderr);
    expect(lines[0]).toMatch(/^mirrorshade: .*remote/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(existsSync(path.join(t.cwd, ".mirrorshaderc.json"))).toBe(false);
  });
});
