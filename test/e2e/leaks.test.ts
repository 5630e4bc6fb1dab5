/**
 * Leak scan: run the credential scenarios (success and failure, https and ssh, push, watch,
 * restore, init, --json, debug logs) with a recognisable token and key, then look for them
 * everywhere they must never be: stdout/stderr and log lines, `--json` output, the state
 * dir's git config, any file in the work dir, and the argv of every git and ssh child
 * (recorded by wrapper executables first on the CLI's PATH).
 */
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { argvRecorder, type ArgvRecorder } from "../helpers/argv-recorder";
import { filesBelow } from "../helpers/credentials";
import { needs } from "../helpers/needs";
import { httpRemote, sshRemote } from "../helpers/remotes";
import { SSHD, sshKeygen } from "../helpers/sshd";
import {
  elsewhere,
  initConfig,
  remoteFiles,
  run,
  startWatch,
  stop,
  waitFor,
  write,
  type RunResult,
  type Sandbox,
} from "../helpers";

/** Every text a scenario produced, with where it came from. */
type Seen = { where: string; text: string }[];

function record(seen: Seen, name: string, r: RunResult): RunResult {
  seen.push({ where: `${name}: stdout`, text: r.stdout }, { where: `${name}: stderr`, text: r.stderr });
  return r;
}

/** The state dir's files, except the private key copies that are there by design (ssh/key-N). */
function stateFiles(seen: Seen, state: string): void {
  for (const [rel, content] of filesBelow(state)) {
    if (/^ssh\/key-\d+$/.test(rel)) continue;
    seen.push({ where: `state ${rel}`, text: content.toString("latin1") });
  }
}

function workFiles(seen: Seen, work: string): void {
  for (const [rel, content] of filesBelow(work)) seen.push({ where: `work ${rel}`, text: content.toString("latin1") });
}

/** The state dirs, then the work dirs, of the pods that ran. */
function sandboxFiles(seen: Seen, ...pods: Sandbox[]): void {
  for (const sb of pods) stateFiles(seen, sb.state);
  for (const sb of pods) workFiles(seen, sb.work);
}

/** What every scenario's env adds: the recorder first on PATH, debug logs (the most a log says). */
function scanned(env: NodeJS.ProcessEnv, rec: ArgvRecorder): NodeJS.ProcessEnv {
  return { ...env, PATH: `${rec.binDir}:${process.env.PATH}`, MIRRORSHADE_LOG_LEVEL: "debug" };
}

function argvOf(seen: Seen, rec: ArgvRecorder): string[][] {
  const entries = rec.entries();
  for (const argv of entries) seen.push({ where: `argv: ${argv.slice(0, 2).join(" ")} …`, text: argv.join(" ") });
  return entries;
}

/** No needle anywhere; the message names the place and the needle's label, never the needle itself. */
function expectNoLeak(seen: Seen, needles: Record<string, string>): void {
  const leaks: string[] = [];
  for (const { where, text } of seen) {
    for (const [label, needle] of Object.entries(needles))
      if (text.includes(needle)) leaks.push(`${label} in ${where}`);
  }
  expect(leaks).toEqual([]);
}

/** The lines of a private key that are secret (all but the BEGIN/END armour). */
function keyLines(privateKeyPath: string): Record<string, string> {
  const lines = readFileSync(privateKeyPath, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("-----"));
  return Object.fromEntries(lines.map((l, i) => [`${path.basename(privateKeyPath)} key line ${i + 1}`, l]));
}

function basic(user: string, token: string): string {
  return Buffer.from(`${user}:${token}`).toString("base64");
}

function jsonLines(stdout: string): unknown[] {
  return stdout
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as unknown);
}

describe("leak scan", () => {
  // flock: the argv recorder's lock.
  it.skipIf(needs("util-linux"))(
    "https: a canary token (file, env, URL) appears in no output, log, file or child argv",
    async () => {
      const token = `tok_LEAKCANARY_${randomBytes(12).toString("hex")}`;
      const wrong = `tok_LEAKCANARY_WRONG_${randomBytes(12).toString("hex")}`;
      const inUrl = `tok_LEAKCANARY_URL_${randomBytes(12).toString("hex")}`;
      const rec = argvRecorder();
      const { sb, server, tokenFile, ...remote } = await httpRemote({ token });
      const env = scanned(remote.env, rec);
      const seen: Seen = [];

      // init writes its config file into the user config dir: the scan covers it.
      const init = record(seen, "init", await run(["init", sb.work], { cwd: sb.work, env }));
      expect(init.code, init.stderr).toBe(0);
      seen.push({ where: "init's config file", text: readFileSync(initConfig(sb.work, env)!.file, "utf8") });
      write(sb.work, "a.txt", "one\n");
      const pushed = record(seen, "push", await run(["push", sb.work, "--json"], { env }));
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(jsonLines(pushed.stdout)).toHaveLength(1);
      expect(remoteFiles(sb.remote).get("a.txt")).toBe("one\n");

      const w = await startWatch(sb, [], env);
      write(sb.work, "b.txt", "two\n");
      await waitFor("b.txt to land", () => remoteFiles(sb.remote).get("b.txt") === "two\n");
      record(seen, "watch", await stop(w));

      // Another pod restores; then a wrong token, a token from the env, a token in the URL.
      const other = elsewhere(sb, env);
      const restored = record(seen, "restore", await run(["restore", other.work, "--json"], { env: other.env }));
      expect(restored.code, restored.stderr).toBe(0);

      writeFileSync(tokenFile, wrong + "\n");
      write(sb.work, "c.txt", "three\n");
      const refused = record(seen, "wrong token", await run(["push", sb.work, "--json"], { env }));
      expect(refused.code, refused.stderr).toBe(3);

      const { MIRRORSHADE_TOKEN_FILE: _, ...noFile } = env;
      const viaEnv = record(
        seen,
        "env token",
        await run(["push", sb.work, "--json"], { env: { ...noFile, MIRRORSHADE_TOKEN: token } }),
      );
      expect(viaEnv.code, viaEnv.stderr).toBe(0);

      server.setToken(inUrl);
      write(sb.work, "d.txt", "four\n");
      const urlCreds = `http://someone:${inUrl}@127.0.0.1:${server.port}/remote.git`;
      const viaUrl = record(
        seen,
        "URL token",
        await run(["push", sb.work, "--remote", urlCreds, "--json"], { env: noFile }),
      );
      expect(viaUrl.code, viaUrl.stderr).toBe(0);
      expect(remoteFiles(sb.remote).get("d.txt")).toBe("four\n");
      const viaUrlWrongUser = record(
        seen,
        "URL token, refused",
        await run(["push", sb.work, "--remote", urlCreds.replace(inUrl, wrong), "--json", "--retry-for", "0s"], {
          env: noFile,
        }),
      );
      expect(viaUrlWrongUser.code, viaUrlWrongUser.stderr).toBe(3);

      sandboxFiles(seen, sb, other);
      const argv = argvOf(seen, rec);
      // The recorder saw the network commands: the scan of argv means something.
      expect(argv.some((a) => a[0] === "git" && a.includes("push"))).toBe(true);
      expect(argv.some((a) => a[0] === "git" && a.includes("ls-remote"))).toBe(true);
      // Config never travels in argv: no `git -c …`, no header.
      expect(argv.filter((a) => a.includes("-c") || a.some((x) => /extraheader|authorization/i.test(x)))).toEqual([]);

      expectNoLeak(seen, {
        token,
        "wrong token": wrong,
        "URL token": inUrl,
        "Basic header of the token": basic("x-access-token", token),
        "Basic header of the wrong token": basic("x-access-token", wrong),
        "Basic header of the URL token": basic("someone", inUrl),
      });
    },
  );

  it.skipIf(needs(...SSHD))("ssh: a canary key appears in no output, log, file or child argv", async () => {
    const rec = argvRecorder();
    const { sb, key, keysDir, ...remote } = await sshRemote({ keyName: "canary" });
    const stranger = sshKeygen(keysDir, "stranger-canary");
    const env = scanned(remote.env, rec);
    const seen: Seen = [];

    write(sb.work, "a.txt", "one\n");
    const pushed = record(seen, "push", await run(["push", sb.work, "--json"], { env }));
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("one\n");

    const other = elsewhere(sb, env);
    const restored = record(seen, "restore", await run(["restore", other.work, "--json"], { env: other.env }));
    expect(restored.code, restored.stderr).toBe(0);

    write(sb.work, "b.txt", "two\n");
    const refused = record(
      seen,
      "unauthorized key",
      await run(["push", sb.work, "--json"], { env: { ...env, MIRRORSHADE_SSH_KEY_FILE: stranger.privateKeyPath } }),
    );
    expect(refused.code, refused.stderr).toBe(3);

    sandboxFiles(seen, sb, other);
    const argv = argvOf(seen, rec);
    const sshCalls = argv.filter((a) => a[0] === "ssh");
    expect(sshCalls.length).toBeGreaterThan(0);
    // ssh is given the private copy by path, isolated from the host's ssh config.
    for (const a of sshCalls) {
      expect(a).toContain("-i");
      expect(a[a.indexOf("-i") + 1]).toMatch(new RegExp(`^(${sb.state}|${other.state})/ssh/key-0$`));
      expect(a.join(" ")).toContain("-F /dev/null");
      expect(a.join(" ")).toContain("StrictHostKeyChecking=yes");
    }

    expectNoLeak(seen, { ...keyLines(key.privateKeyPath), ...keyLines(stranger.privateKeyPath) });
  });
});
