import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, cleanEnv, cliCommand, run, sandbox, tempDir, write } from "../helpers";
import { SETPRIV, asUid } from "../helpers/as-uid";
import { expectCleanError } from "../helpers/credentials";
import { needs } from "../helpers/needs";

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;

/** A cwd with no config file, and an env with no remote: nothing but what the test passes. */
function bare(): { cwd: string; env: NodeJS.ProcessEnv } {
  const cwd = tempDir();
  write(cwd, "work/.keep", "");
  return {
    cwd,
    env: { ...cleanEnv(), MIRRORSHADE_STATE_DIR: path.join(cwd, "state"), MIRRORSHADE_LOG_FORMAT: "json" },
  };
}

describe("errors", () => {
  it("no remote anywhere (no flag, env or config): exit 2", async () => {
    const { cwd, env } = bare();
    const r = await run(["push", "work"], { cwd, env });
    expectCleanError(r, 2, /remote/);
  });

  it("unknown remote scheme ftp://: exit 2", async () => {
    const { cwd, env } = bare();
    const r = await run(["push", "work", "--remote", "ftp://x/y"], { cwd, env });
    expectCleanError(r, 2, /ftp/);
  });

  it("a remote path that does not exist: exit 6", async () => {
    const { cwd, env } = bare();
    const remote = path.join(cwd, "missing.git");
    const r = await run(["push", "work", "--remote", remote], { cwd, env });
    expectCleanError(r, 6, /does not exist|not found/);
    expect(existsSync(remote)).toBe(false);
  });

  it("a remote path that does not exist, with --create: exit 0 and a bare repo is created", async () => {
    const { cwd, env } = bare();
    const remote = path.join(cwd, "made.git");
    const r = await run(["push", "work", "--remote", remote, "--create"], { cwd, env });
    expect(r.code, r.stderr).toBe(0);
    expect(execFileSync("git", ["-C", remote, "rev-parse", "--is-bare-repository"], { encoding: "utf8" }).trim()).toBe(
      "true",
    );
  });

  it("a work dir that does not exist: exit 2", async () => {
    const sb = sandbox();
    const r = await run(["push", path.join(sb.root, "nope")], { env: sb.env });
    expectCleanError(r, 2, /does not exist/);
  });

  it("a work dir that is a file: exit 2", async () => {
    const sb = sandbox();
    write(sb.root, "file.txt", "x");
    const r = await run(["push", path.join(sb.root, "file.txt")], { env: sb.env });
    expectCleanError(r, 2, /not a directory/);
  });

  it("an invalid JSON .mirrorshaderc.json in cwd: exit 2, naming the file and what is wrong", async () => {
    const { cwd, env } = bare();
    write(cwd, ".mirrorshaderc.json", '{"remote": ');
    const r = await run(["push", "work"], { cwd, env });
    const line = expectCleanError(r, 2, /\.mirrorshaderc\.json/);
    expect(line).toMatch(/Unexpected|Expected|position|line \d/);
    expect(line).not.toMatch(/:\s*$/); // the reason itself, not only a header
  });

  it("an unknown key in the config file: exit 2, naming the key", async () => {
    const { cwd, env } = bare();
    write(cwd, ".mirrorshaderc.json", JSON.stringify({ remote: path.join(cwd, "r.git"), frobnicate: true }));
    const r = await run(["push", "work"], { cwd, env });
    expectCleanError(r, 2, /frobnicate/);
  });

  it("a bad duration --debounce 5x: exit 2", async () => {
    const sb = sandbox();
    const r = await run(["watch", sb.work, "--debounce", "5x"], { env: sb.env });
    expectCleanError(r, 2, /5x/);
  });

  it("a bad duration in MIRRORSHADE_DEBOUNCE=abc: exit 2, naming the variable", async () => {
    const sb = sandbox();
    const r = await run(["watch", sb.work], { env: { ...sb.env, MIRRORSHADE_DEBOUNCE: "abc" } });
    expectCleanError(r, 2, /MIRRORSHADE_DEBOUNCE/);
  });

  it("an unknown option --frobnicate: exit 2", async () => {
    const sb = sandbox();
    const r = await run(["push", sb.work, "--frobnicate"], { env: sb.env });
    expectCleanError(r, 2, /frobnicate/);
  });

  it("an unknown command: exit 2", async () => {
    const sb = sandbox();
    const r = await run(["frobnicate"], { env: sb.env });
    expectCleanError(r, 2, /frobnicate/);
  });

  it("--help: exit 0 and documents the exit codes", async () => {
    const r = await run(["--help"], { env: cleanEnv() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Exit status/);
    for (const code of [0, 1, 2, 3, 4, 5, 6, 7]) expect(r.stdout).toMatch(new RegExp(`^\\s+${code}\\s+\\S`, "m"));
  });

  it("--version: exit 0 and prints the package.json version", async () => {
    const r = await run(["--version"], { env: cleanEnv() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(VERSION);
  });

  it("credentials in the remote URL never appear in the output", async () => {
    const sb = sandbox({ remote: "none" });
    const r = await run(
      ["push", sb.work, "--remote", "https://user:s3cretTok@127.0.0.1:1/x.git", "--retry-for", "1s"],
      {
        env: sb.env,
      },
    );
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).not.toContain("s3cretTok");
    expectCleanError(r, 4);
  });

  it("an unwritable work dir (another uid): exit 2", async (ctx) => {
    const uid = 1000650000;
    const missing = needs("root", "util-linux");
    if (missing) return ctx.skip(missing);
    if (process.env.MIRRORSHADE_CLI || cliCommand().length !== 2)
      return ctx.skip("a custom MIRRORSHADE_CLI: not copied");
    // A world-readable copy of the bundle and of node, in a dir that uid can traverse.
    const { node, bundle } = asUid(uid);
    const bin = path.dirname(node);
    const asUidFlags = [`--reuid=${uid}`, "--regid=0", "--clear-groups"];
    try {
      execFileSync(SETPRIV, [...asUidFlags, node, bundle, "--version"], { stdio: "pipe" });
    } catch (err) {
      return ctx.skip(`uid ${uid} cannot run the copied CLI: ${String(err)}`);
    }

    const sb = sandbox();
    chmodSync(sb.root, 0o755);
    chmodSync(sb.work, 0o755); // root's, not writable by uid
    const state = path.join(bin, "state"); // writable by the uid: the work dir is the only problem
    execFileSync("install", ["-d", "-m", "0700", "-o", String(uid), state]);
    const env = { ...sb.env, MIRRORSHADE_STATE_DIR: state, HOME: "/" };
    const r = await run(["restore", sb.work], { env, command: [SETPRIV, ...asUidFlags, node, bundle] });
    expectCleanError(r, 2, /not writable/);
  });
});
