/**
 * Usage errors change nothing: every bad flag, env var or config value ends as exit 2 and one
 * line, before the state dir or the lock exists. Each case was seen to exit 1 with a stack,
 * hang, or create the state dir first.
 */
import { existsSync, mkdirSync, readdirSync, symlinkSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { expectCleanError } from "../helpers/credentials";
import { commitCount, defer, run, sandbox, tempDir, write, type Sandbox } from "../helpers";

/** Exit 2, one line, no stack, and no state dir: nothing was created. */
async function expectUsageError(sb: Sandbox, args: string[], mention?: RegExp, env: NodeJS.ProcessEnv = {}) {
  write(sb.work, "notes.md", "x\n");
  const r = await run(args, { env: { ...sb.env, ...env }, timeoutMs: 30_000 });
  expectCleanError(r, 2, mention);
  expect(existsSync(sb.state), "the state dir was created").toBe(false);
  expect(commitCount(sb.remote)).toBe(0);
  return r;
}

describe("usage errors: exit 2, one line, nothing created", () => {
  it.each(["x.lock", "a//b", ".hidden", "trailing/", "-x", "a..b", "a@{b", "HEAD"])("--branch=%s", async (branch) => {
    const sb = sandbox();
    await expectUsageError(sb, ["push", sb.work, `--branch=${branch}`], /branch/);
  });

  it("MIRRORSHADE_BRANCH=x.lock, naming the variable", async () => {
    const sb = sandbox();
    await expectUsageError(sb, ["push", sb.work], /MIRRORSHADE_BRANCH/, { MIRRORSHADE_BRANCH: "x.lock" });
  });

  it.each([
    "https://[bad",
    "file://%zz/x.git",
    "--upload-pack=touch /tmp/ms-pwned;:",
    "fd::3",
    "ext::sh -c touch% /tmp/ms-pwned",
    "s3://bucket/../x",
  ])("--remote=%s", async (remote) => {
    const sb = sandbox();
    await expectUsageError(sb, ["push", sb.work, `--remote=${remote}`], /remote/);
  });

  it("--remote with credentials in a malformed URL: the credentials never appear", async () => {
    const sb = sandbox();
    const r = await expectUsageError(sb, ["push", sb.work, "--remote=https://alice:s3cretTok@[bad"]);
    expect(r.stdout + r.stderr).not.toContain("s3cretTok");
  });

  it.each([
    ["--author", "nobody"],
    ["--trailer", "no separator"],
    ["--shutdown-timeout", "600h"],
    ["--max-delay", "1000h"],
    ["--listen", "nowhere"],
    ["--max-file-size", "-5"],
  ])("watch %s=%s", async (flag, value) => {
    const sb = sandbox();
    await expectUsageError(sb, ["watch", sb.work, `${flag}=${value}`], new RegExp(flag.slice(2)));
  });

  it("--shutdown-timeout 600h says what the limit is", async () => {
    const sb = sandbox();
    const r = await expectUsageError(sb, ["watch", sb.work, "--shutdown-timeout", "600h"], /timers/);
    expect(r.stderr).toMatch(/at most 596h/);
  });

  it("--listen on a port in use: exit 2 before the state dir or lock exists", async () => {
    const sb = sandbox();
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
    defer(() => new Promise<void>((resolve) => busy.close(() => resolve())));
    const port = (busy.address() as net.AddressInfo).port;
    await expectUsageError(sb, ["watch", sb.work, "--listen", `127.0.0.1:${port}`], /listen/);
  });

  it("S3 settings S3 would refuse (a part below 5 MiB) are refused before anything exists", async () => {
    const sb = sandbox();
    await expectUsageError(
      sb,
      ["push", sb.work, "--remote", "s3://bucket/prefix", "--s3-part-size", "1m"],
      /part-size/,
    );
  });

  it.each([
    ["maxFileSize", -5],
    ["trailer", {}],
    ["branch", "x.lock"],
    ["author", "nobody"],
  ])("a config file with %s: %j", async (key, value) => {
    const sb = sandbox();
    const etc = tempDir();
    write(etc, "ms.json", JSON.stringify({ [key]: value }));
    await expectUsageError(sb, ["push", sb.work, "--config", path.join(etc, "ms.json")], /ms\.json/);
  });

  it("--state-dir through a symlink into the work dir (not created yet): exit 2, nothing in the work dir", async () => {
    const sb = sandbox();
    symlinkSync(sb.work, path.join(sb.root, "link"));
    write(sb.work, "notes.md", "x\n");
    const r = await run(["push", sb.work, "--state-dir", path.join(sb.root, "link", "state")], { env: sb.env });
    expectCleanError(r, 2, /inside the work dir/);
    expect(readdirSync(sb.work)).toEqual(["notes.md"]);
    expect(commitCount(sb.remote)).toBe(0);
  });

  it("a work dir that does not exist (push): exit 2, no state dir", async () => {
    const sb = sandbox();
    const r = await run(["push", path.join(sb.root, "nope")], { env: sb.env });
    expectCleanError(r, 2, /does not exist/);
    expect(existsSync(sb.state)).toBe(false);
    mkdirSync(sb.state); // (the sandbox expects to clean it up either way)
  });
});
