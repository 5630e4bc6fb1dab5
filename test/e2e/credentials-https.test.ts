/**
 * Git over http(s) with a token, against `git http-backend` behind Basic auth on loopback:
 * a token file, a wrong or empty or missing one, a token rotated under a running watch, a
 * read-only token at `init`, and credentials embedded in the URL (accepted, warned, redacted).
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { expectCleanError, filesBelow } from "../helpers/credentials";
import { startGitHttp } from "../helpers/githttp";
import { httpRemote } from "../helpers/remotes";
import {
  elsewhere,
  initConfig,
  jsonLogs,
  remoteFiles,
  run,
  sandbox,
  seedRemote,
  start,
  stop,
  tempDir,
  waitFor,
  waitForStart,
  write,
  type Running,
  type Sandbox,
} from "../helpers";

/** Log lines saying a credential was refused. */
function authFailures(w: Running): Record<string, unknown>[] {
  return w.logs().filter((l) => l.level === "error" && /rejected the token/.test(String(l.msg)));
}

describe("git over https with a token", () => {
  it("push with a token file lands; restore reads with it; the token is nowhere", async () => {
    const { sb, env, server, tokenFile } = await httpRemote();
    write(sb.work, "a.txt", "over http\n");
    const pushed = await run(["push", sb.work, "--json"], { env });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("over http\n");
    expect(server.requests["POST git-receive-pack"]).toBeGreaterThan(0);
    expect(server.log.every((r) => r.user === "x-access-token")).toBe(true);

    const other = elsewhere(sb, env);
    const restored = await run(["restore", other.work], { env: other.env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(readFileSync(path.join(other.work, "a.txt"), "utf8")).toBe("over http\n");

    const token = readFileSync(tokenFile, "utf8").trim();
    for (const text of [pushed.stdout, pushed.stderr, restored.stdout, restored.stderr])
      expect(text).not.toContain(token);
    expect(readFileSync(path.join(sb.state, "git", "config"), "utf8")).not.toContain(token);
  });

  it("MIRRORSHADE_TOKEN from the environment and --token-username", async () => {
    const sb = sandbox();
    const server = await startGitHttp({ root: sb.root, token: "tok_from_env_4567", username: "oauth2" });
    write(sb.work, "a.txt", "env token\n");
    const env = { ...sb.env, MIRRORSHADE_REMOTE: server.urlFor("remote.git"), MIRRORSHADE_TOKEN: "tok_from_env_4567" };
    const r = await run(["push", sb.work, "--token-username", "oauth2"], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("env token\n");
    expect(r.stdout + r.stderr).not.toContain("tok_from_env_4567");
  });

  it("a wrong token: exit 3 with one clear line", async () => {
    const { sb, env, tokenFile } = await httpRemote();
    writeFileSync(tokenFile, "tok_wrong_9876543210\n");
    write(sb.work, "a.txt", "x\n");
    const r = await run(["push", sb.work], { env });
    expectCleanError(r, 3, /rejected the token/);
    expect(r.stdout + r.stderr).not.toContain("tok_wrong_9876543210");
    expect(remoteFiles(sb.remote).size).toBe(0);
  });

  it("an empty token file: exit 2", async () => {
    const { sb, env, tokenFile } = await httpRemote();
    writeFileSync(tokenFile, "\n");
    write(sb.work, "a.txt", "x\n");
    expectCleanError(await run(["push", sb.work], { env }), 2, /token file .* is empty/);
  });

  it("a token file that does not exist: exit 2", async () => {
    const { sb, env } = await httpRemote();
    write(sb.work, "a.txt", "x\n");
    const missing = path.join(sb.root, "no-such-token");
    expectCleanError(
      await run(["push", sb.work], { env: { ...env, MIRRORSHADE_TOKEN_FILE: missing } }),
      2,
      /no-such-token.*does not exist/,
    );
  });

  it("a CA file (--ca-file) that does not exist: exit 2", async () => {
    const sb = sandbox({ remote: "none" });
    const r = await run(
      ["push", sb.work, "--remote", "https://127.0.0.1:9/x.git", "--ca-file", path.join(sb.root, "no-ca.pem")],
      { env: sb.env },
    );
    expectCleanError(r, 2, /no-ca\.pem.*does not exist/);
  });

  it("a running watch picks up a fixed, then a rotated token file", async () => {
    const { sb, env, tokenFile, server } = await httpRemote({ token: "tok_v1_abcdefgh" });
    seedRemote(sb.remote, { "seed.txt": "seed\n" });
    writeFileSync(tokenFile, "tok_typo_abcdefgh\n");
    write(sb.work, "a.txt", "waiting for a good token\n");

    // Started with a wrong token: it keeps running, says why, and retries.
    const w = await startWatchAnyway(sb, env);
    await waitFor("two auth failures in the log", () => authFailures(w).length >= 2);
    expect(w.proc.exitCode).toBeNull();
    writeFileSync(tokenFile, "tok_v1_abcdefgh\n");
    await w.waitForLog("watch to start", (l) => String(l.msg).startsWith("watching "));
    await waitFor("a.txt to land", () => remoteFiles(sb.remote).get("a.txt") === "waiting for a good token\n");

    // The server rotates the token; saves fail until the Secret has the new one.
    server.setToken("tok_v2_ijklmnop");
    const before = authFailures(w).length;
    write(sb.work, "b.txt", "after rotation\n");
    await waitFor("a save to fail on the old token", () => authFailures(w).length > before || saveFailures(w) > 0);
    writeFileSync(tokenFile, "tok_v2_ijklmnop\n");
    await waitFor("b.txt to land", () => remoteFiles(sb.remote).get("b.txt") === "after rotation\n");

    const stopped = await stop(w);
    expect(stopped.code, stopped.stderr).toBe(0);
    for (const t of ["tok_v1_abcdefgh", "tok_typo_abcdefgh", "tok_v2_ijklmnop"])
      expect(stopped.stderr).not.toContain(t);
  });

  it("a token that may not push: init says 'no push permission', exit 3", async () => {
    const { sb, env, url } = await httpRemote({ deny: "push" });
    const cwd = tempDir("ms-init-");
    const r = await run(["init", sb.work, "--remote", url, "--retry-for", "0s"], { cwd, env });
    expectCleanError(r, 3, /no push permission/);
  });

  it("a wrong token at init: exit 3, 'rejected the token'", async () => {
    const { sb, env, url, tokenFile } = await httpRemote();
    writeFileSync(tokenFile, "tok_wrong_init_1234\n");
    const r = await run(["init", sb.work, "--remote", url, "--retry-for", "0s"], { cwd: tempDir("ms-init-"), env });
    expectCleanError(r, 3, /rejected the token/);
  });

  it("credentials embedded in the URL work, with a warning, and appear nowhere", async () => {
    const token = "tok_inurl_5f3a9c2e71";
    const sb = sandbox();
    const server = await startGitHttp({ root: sb.root, token });
    const url = `http://someone:${token}@127.0.0.1:${server.port}/remote.git`;
    const cwd = tempDir("ms-init-");
    write(sb.work, "a.txt", "url creds\n");
    const init = await run(["init", sb.work, "--remote", url], { cwd, env: sb.env });
    expect(init.code, init.stderr).toBe(0);
    const pushed = await run(["push", sb.work, "--remote", url, "--json"], { env: sb.env });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("url creds\n");
    expect(server.log.some((r) => r.user === "someone")).toBe(true);

    const warned = jsonLogs(pushed.stderr).find(
      (l) => l.level === "warn" && /remote URL holds credentials/.test(String(l.msg)),
    );
    expect(warned, pushed.stderr).toBeDefined();
    const texts = [init.stdout, init.stderr, pushed.stdout, pushed.stderr];
    texts.push(readFileSync(initConfig(sb.work, sb.env)!.file, "utf8"));
    texts.push(readFileSync(path.join(sb.state, "git", "config"), "utf8"));
    for (const [, content] of filesBelow(sb.work)) texts.push(content.toString("latin1"));
    for (const text of texts) expect(text).not.toContain(token);
    expect(JSON.parse(pushed.stdout.trim()) as { remote: string }).toMatchObject({
      remote: `http://127.0.0.1:${server.port}/remote.git`,
    });
  });
});

/** Start `watch` and wait for its first log line only: without valid credentials it never reaches "watching". */
async function startWatchAnyway(sb: Sandbox, env: NodeJS.ProcessEnv): Promise<Running> {
  const w = start(["watch", sb.work, "--debounce", "200ms"], { env: { ...sb.env, ...env } });
  return waitForStart(w, "a first log line", () => true);
}

/** Log lines saying a save failed (the scheduler retries them). */
function saveFailures(w: Running): number {
  return w.logs().filter((l) => l.level === "error" && /save failed/.test(String(l.msg))).length;
}
