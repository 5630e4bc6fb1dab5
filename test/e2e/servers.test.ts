/**
 * The test servers themselves, with plain git (no mirrorshade): if one of these fails, the
 * failures of tests built on them are about the helper, not the product.
 */
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { argvRecorder } from "../helpers/argv-recorder";
import { basicAuthHeader, startGitHttp } from "../helpers/githttp";
import { cleanEnv, exec, git, isAlive, remoteFiles, tempDir, waitFor, write, type RunResult } from "../helpers";
import { needs } from "../helpers/needs";
import { SSHD, sshCommand, sshKeygen, startSshd } from "../helpers/sshd";

/** Async on purpose: the http server runs in this process, a sync spawn would deadlock it. */
function runIn(cwd: string, env: NodeJS.ProcessEnv, cmd: string, ...args: string[]): Promise<RunResult> {
  return exec(cmd, args, { cwd, env });
}

/** The runner's env for git, without its global config (credential helpers, url rewrites) and never prompting. */
function gitEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...cleanEnv(), GIT_CONFIG_GLOBAL: "/dev/null", GIT_TERMINAL_PROMPT: "0", ...extra };
}

function bareRepo(root: string, name = "remote.git"): string {
  const bare = path.join(root, name);
  git(root, "init", "-q", "--bare", "-b", "main", bare);
  return bare;
}

/** Clone `url`, commit `files`, push to main. */
async function cloneCommitPush(root: string, url: string, env: NodeJS.ProcessEnv, files: Record<string, string>) {
  const clone = path.join(root, `clone-${randomBytes(4).toString("hex")}`);
  const cloned = await runIn(root, env, "git", "clone", "-q", url, clone);
  expect(cloned.code, cloned.stderr).toBe(0);
  for (const [rel, content] of Object.entries(files)) write(clone, rel, content);
  git(clone, "add", "-A");
  git(clone, "commit", "-q", "-m", "test");
  const pushed = await runIn(clone, env, "git", "push", "-q", "origin", "HEAD:refs/heads/main");
  expect(pushed.code, pushed.stderr).toBe(0);
  return clone;
}

function pgrep(pattern: string): string[] {
  try {
    return execFileSync("pgrep", ["-af", pattern], { encoding: "utf8" }).split("\n").filter(Boolean);
  } catch {
    return []; // exit 1: nothing matched
  }
}

describe.skipIf(needs(...SSHD))("startSshd", () => {
  it("serves clone and push for an authorized key, and refuses a wrong host key or an unknown key", async () => {
    const root = tempDir();
    const key = sshKeygen(root, "client");
    const sshd = await startSshd({ authorizedKeys: [key.publicKey] });
    expect(sshd.knownHostsLine).toMatch(new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 \\S+$`));
    const bare = bareRepo(root);
    const url = sshd.urlFor(bare);
    expect(url).toBe(`ssh://root@127.0.0.1:${sshd.port}${bare}`);

    const env = gitEnv({ GIT_SSH_COMMAND: sshCommand(key.privateKeyPath, sshd.knownHostsFile) });
    const clone = await cloneCommitPush(root, url, env, { "a.txt": "over ssh\n" });
    expect(remoteFiles(bare).get("a.txt")).toBe("over ssh\n");
    const fetched = await runIn(clone, env, "git", "fetch", "-q", "origin");
    expect(fetched.code, fetched.stderr).toBe(0);

    // Strict host key checking against another key for the same [host]:port.
    const other = sshKeygen(root, "not-the-host");
    const wrongKnownHosts = path.join(root, "wrong_known_hosts");
    writeFileSync(wrongKnownHosts, `[127.0.0.1]:${sshd.port} ${other.publicKey.split(" ").slice(0, 2).join(" ")}\n`);
    const wrongHost = await runIn(
      root,
      gitEnv({ GIT_SSH_COMMAND: sshCommand(key.privateKeyPath, wrongKnownHosts) }),
      "git",
      "ls-remote",
      url,
    );
    expect(wrongHost.code).not.toBe(0);
    expect(wrongHost.stderr).toMatch(/REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);

    // An empty known_hosts: unknown host, refused under StrictHostKeyChecking=yes.
    const empty = path.join(root, "empty_known_hosts");
    writeFileSync(empty, "");
    const unknownHost = await runIn(
      root,
      gitEnv({ GIT_SSH_COMMAND: sshCommand(key.privateKeyPath, empty) }),
      "git",
      "ls-remote",
      url,
    );
    expect(unknownHost.code).not.toBe(0);
    expect(unknownHost.stderr).toMatch(/Host key verification failed/);

    // A key that is not in authorized_keys.
    const stranger = await runIn(
      root,
      gitEnv({ GIT_SSH_COMMAND: sshCommand(other.privateKeyPath, sshd.knownHostsFile) }),
      "git",
      "ls-remote",
      url,
    );
    expect(stranger.code).not.toBe(0);
    expect(stranger.stderr).toMatch(/Permission denied \(publickey\)/);
    expect(sshd.log()).toMatch(/Accepted publickey for root/);
  });

  it.skipIf(needs("procps"))("stop() leaves no sshd behind, not even a session in progress", async () => {
    const root = tempDir();
    const key = sshKeygen(root, "client");
    const sshd = await startSshd({ authorizedKeys: [key.publicKey] });
    expect(pgrep(sshd.configPath).length).toBeGreaterThan(0);

    const marker = `ms-session-${randomBytes(6).toString("hex")}`;
    const ssh = spawn(
      "sh",
      [
        "-c",
        `exec ${sshCommand(key.privateKeyPath, sshd.knownHostsFile)} -p ${sshd.port} root@127.0.0.1 "$0"`,
        `sleep 60; : ${marker}`,
      ],
      { stdio: "ignore" },
    );
    const sshExited = new Promise((r) => ssh.on("close", r));
    // The server side of the session: a shell whose command line holds the marker, below sshd.
    await waitFor("the remote command to run", () => pgrep(marker).some((l) => !l.includes(" ssh ")));

    await sshd.stop();
    expect(isAlive(sshd.pid)).toBe(false);
    expect(pgrep(sshd.configPath)).toEqual([]);
    await sshExited; // the client notices the server is gone
    await waitFor("the session's processes to be gone", () => pgrep(marker).length === 0);
    await sshd.stop(); // idempotent
  });

  it("comes back on the same port with the same host key; a taken port fails with sshd's own words", async () => {
    const root = tempDir();
    const key = sshKeygen(root, "client");
    const bare = bareRepo(root);
    const first = await startSshd({ authorizedKeys: [key.publicKey] });
    const env = gitEnv({ GIT_SSH_COMMAND: sshCommand(key.privateKeyPath, first.knownHostsFile) });
    expect((await runIn(root, env, "git", "ls-remote", first.urlFor(bare))).code).toBe(0);
    await first.stop();
    const down = await runIn(root, env, "git", "ls-remote", first.urlFor(bare));
    expect(down.stderr).toMatch(/Connection refused/);

    const again = await startSshd({ authorizedKeys: [key.publicKey], port: first.port, hostKey: first.hostKeyPath });
    expect(again.knownHostsLine).toBe(first.knownHostsLine);
    const back = await runIn(root, env, "git", "ls-remote", again.urlFor(bare));
    expect(back.code, back.stderr).toBe(0);

    const taken = startSshd({ authorizedKeys: [key.publicKey], port: again.port });
    await expect(taken).rejects.toThrow(/sshd did not start[\s\S]*Address already in use/);
  });

  it("runs several servers at once, each with its own port and host key", async () => {
    const root = tempDir();
    const key = sshKeygen(root, "client");
    const [a, b] = await Promise.all([
      startSshd({ authorizedKeys: [key.publicKey] }),
      startSshd({ authorizedKeys: [key.publicKey] }),
    ]);
    expect(a.port).not.toBe(b.port);
    expect(a.knownHostsLine.split(" ")[2]).not.toBe(b.knownHostsLine.split(" ")[2]);
    // A client running as another UID can read the known_hosts file.
    const asOther = ["--reuid=1000650000", "--regid=1000650000", "--clear-groups", "cat", a.knownHostsFile];
    expect(execFileSync("setpriv", asOther, { encoding: "utf8" }).trim()).toBe(a.knownHostsLine);
  });
});

describe("startGitHttp", () => {
  it("serves clone and push with the token, answers 401 to a wrong or missing one", async () => {
    const root = tempDir();
    const bare = bareRepo(root);
    const srv = await startGitHttp({ root, token: "s3cret" });
    const url = srv.urlFor("remote.git");
    expect(url).toBe(`http://127.0.0.1:${srv.port}/remote.git`);

    const good = gitEnv();
    const withToken = (token: string) => ["-c", `http.extraHeader=${basicAuthHeader(token)}`];
    const clone = path.join(root, "clone");
    const cloned = await runIn(root, good, "git", ...withToken("s3cret"), "clone", "-q", url, clone);
    expect(cloned.code, cloned.stderr).toBe(0);
    write(clone, "a.txt", "over http\n");
    git(clone, "add", "-A");
    git(clone, "commit", "-q", "-m", "test");
    const pushed = await runIn(
      clone,
      good,
      "git",
      ...withToken("s3cret"),
      "push",
      "-q",
      "origin",
      "HEAD:refs/heads/main",
    );
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(remoteFiles(bare).get("a.txt")).toBe("over http\n");
    expect(srv.requests["GET info/refs?service=git-receive-pack"]).toBe(1);
    expect(srv.requests["POST git-receive-pack"]).toBe(1);
    expect(srv.log.every((r) => r.status === 200)).toBe(true);

    // A 401 to a request carrying only an extra header makes git ask for credentials.
    const wrong = await runIn(root, good, "git", ...withToken("nope"), "ls-remote", url);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/could not read Username/);
    // With credentials from an askpass helper, a 401 is "Authentication failed".
    const askpass = path.join(root, "askpass.sh");
    writeFileSync(
      askpass,
      `#!/bin/sh\ncase "$1" in Username*) echo x-access-token;; *) cat ${JSON.stringify(path.join(root, "tok"))};; esac\n`,
      {
        mode: 0o755,
      },
    );
    writeFileSync(path.join(root, "tok"), "nope\n");
    const badAskpass = await runIn(root, gitEnv({ GIT_ASKPASS: askpass }), "git", "ls-remote", url);
    expect(badAskpass.stderr).toMatch(/Authentication failed/);
    writeFileSync(path.join(root, "tok"), "s3cret\n");
    const goodAskpass = await runIn(root, gitEnv({ GIT_ASKPASS: askpass }), "git", "ls-remote", url);
    expect(goodAskpass.code, goodAskpass.stderr).toBe(0);

    const none = await runIn(root, good, "git", "ls-remote", url);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/could not read Username/);
    expect(srv.log.filter((r) => r.status === 401).length).toBeGreaterThanOrEqual(2);
  });

  it("keeps serving while the test's main thread is blocked in a synchronous git call", async () => {
    const root = tempDir();
    const bare = bareRepo(root);
    const srv = await startGitHttp({ root, token: "t" });
    const env = gitEnv({
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "http.extraHeader",
      GIT_CONFIG_VALUE_0: basicAuthHeader("t"),
    });
    const clone = path.join(root, "clone");
    execFileSync("git", ["clone", "-q", srv.urlFor("remote.git"), clone], { env, timeout: 30_000, stdio: "pipe" });
    write(clone, "a.txt", "sync\n");
    git(clone, "add", "-A");
    git(clone, "commit", "-q", "-m", "sync");
    execFileSync("git", ["push", "-q", "origin", "HEAD:refs/heads/main"], {
      cwd: clone,
      env,
      timeout: 30_000,
      stdio: "pipe",
    });
    expect(remoteFiles(bare).get("a.txt")).toBe("sync\n");
    // Recorded before the response ended: there as soon as git has exited.
    expect(srv.requests["POST git-receive-pack"]).toBe(1);
  });

  it("comes back on the same port after stop()", async () => {
    const root = tempDir();
    bareRepo(root);
    const first = await startGitHttp({ root, token: "t" });
    const url = first.urlFor("remote.git");
    const ls = () => runIn(root, gitEnv(), "git", "-c", `http.extraHeader=${basicAuthHeader("t")}`, "ls-remote", url);
    expect((await ls()).code).toBe(0);
    await first.stop();
    expect((await ls()).stderr).toMatch(/Could not connect|Connection refused|Failed to connect/);
    const again = await startGitHttp({ root, token: "t", port: first.port });
    expect(again.urlFor("remote.git")).toBe(url);
    expect((await ls()).code).toBe(0);
    await expect(startGitHttp({ root, token: "t", port: again.port })).rejects.toThrow(/EADDRINUSE/);
  });

  it("checks the username when one is given", async () => {
    const root = tempDir();
    bareRepo(root);
    const srv = await startGitHttp({ root, token: "t", username: "alice" });
    const url = srv.urlFor("remote.git");
    const as = (user: string) =>
      runIn(root, gitEnv(), "git", "-c", `http.extraHeader=${basicAuthHeader("t", user)}`, "ls-remote", url);
    expect((await as("alice")).code).toBe(0);
    expect((await as("bob")).stderr).toMatch(/could not read Username/);
  });

  it('deny: "push" answers 403 to a push and still serves clones', async () => {
    const root = tempDir();
    const bare = bareRepo(root);
    const srv = await startGitHttp({ root, token: "ro", deny: "push" });
    const env = gitEnv();
    const auth = ["-c", `http.extraHeader=${basicAuthHeader("ro")}`];
    const clone = path.join(root, "clone");
    expect((await runIn(root, env, "git", ...auth, "clone", "-q", srv.urlFor("remote.git"), clone)).code).toBe(0);
    write(clone, "a.txt", "a\n");
    git(clone, "add", "-A");
    git(clone, "commit", "-q", "-m", "test");
    const pushed = await runIn(clone, env, "git", ...auth, "push", "origin", "HEAD:refs/heads/main");
    expect(pushed.code).not.toBe(0);
    expect(pushed.stderr).toMatch(/403/);
    expect(srv.log.find((r) => r.kind === "info/refs?service=git-receive-pack")?.status).toBe(403);
    expect(remoteFiles(bare).size).toBe(0);
  });

  it("setToken rotates the token; a token file is re-read on every request", async () => {
    const root = tempDir();
    bareRepo(root);
    const tokenFile = path.join(root, "token");
    writeFileSync(tokenFile, "first\n");
    const srv = await startGitHttp({ root, tokenFile });
    const url = srv.urlFor("remote.git");
    const lsRemote = (token: string) =>
      runIn(root, gitEnv(), "git", "-c", `http.extraHeader=${basicAuthHeader(token)}`, "ls-remote", url);

    expect((await lsRemote("first")).code).toBe(0);
    writeFileSync(tokenFile, "second\n");
    expect((await lsRemote("first")).code).not.toBe(0);
    expect((await lsRemote("second")).code).toBe(0);
    srv.setToken("third");
    expect((await lsRemote("second")).stderr).toMatch(/could not read Username/);
    expect((await lsRemote("third")).code).toBe(0);
  });

  it("handles chunked pushes and gzip-compressed fetch requests", async () => {
    const root = tempDir();
    const bare = bareRepo(root);
    const srv = await startGitHttp({ root, token: "t" });
    const env = gitEnv();
    const auth = ["-c", `http.extraHeader=${basicAuthHeader("t")}`];
    const url = srv.urlFor("remote.git");
    const clone = path.join(root, "clone");
    expect((await runIn(root, env, "git", ...auth, "clone", "-q", url, clone)).code).toBe(0);
    // Incompressible and above http.postBuffer (1 MiB): git streams the pack chunked.
    writeFileSync(path.join(clone, "big.bin"), randomBytes(1_500_000));
    git(clone, "add", "-A");
    git(clone, "commit", "-q", "-m", "big");
    // Many refs: the fetch request's list of wants passes 1 KiB and git gzips it.
    const head = git(clone, "rev-parse", "HEAD").trim();
    const refs = Array.from({ length: 60 }, (_, i) => `create refs/heads/b${i} ${head}\n`).join("");
    execFileSync("git", ["update-ref", "--stdin"], { cwd: clone, env: cleanEnv(), input: refs });
    const pushed = await runIn(clone, env, "git", ...auth, "push", "-q", "origin", "--all");
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(srv.log.some((r) => r.kind === "git-receive-pack" && r.chunked && r.status === 200)).toBe(true);
    expect(remoteFiles(bare).get("big.bin")?.length).toBeGreaterThan(0);

    const second = path.join(root, "second");
    const cloned = await runIn(root, env, "git", ...auth, "clone", "-q", "--mirror", url, second);
    expect(cloned.code, cloned.stderr).toBe(0);
    expect(srv.log.some((r) => r.kind === "git-upload-pack" && r.gzip && r.status === 200)).toBe(true);
    expect(git(second, "for-each-ref", "refs/heads/").trim().split("\n")).toHaveLength(61);
    expect(srv.cgiStderr()).toBe("");
  });
});

describe("argvRecorder", () => {
  it.skipIf(needs(...SSHD))(
    "records git and ssh invocations, arguments verbatim, and execs the real binaries",
    async () => {
      const rec = argvRecorder();
      const env = { ...gitEnv(), PATH: `${rec.binDir}:${process.env.PATH}` };

      const version = await runIn(rec.binDir, env, "git", "--version");
      expect(version.stdout).toMatch(/^git version /);
      const odd = await runIn(rec.binDir, env, "git", "-c", "x.y=a b\nc 'd' \"e\" $f", "-c", "x.z=", "--version");
      expect(odd.code, odd.stderr).toBe(0);

      const root = tempDir();
      const key = sshKeygen(root, "client");
      const sshd = await startSshd({ authorizedKeys: [key.publicKey] });
      const bare = bareRepo(root);
      const ls = await runIn(
        root,
        { ...env, GIT_SSH_COMMAND: sshCommand(key.privateKeyPath, sshd.knownHostsFile) },
        "git",
        "ls-remote",
        sshd.urlFor(bare),
      );
      expect(ls.code, ls.stderr).toBe(0);

      const entries = rec.entries();
      expect(entries[0]).toEqual(["git", "--version"]);
      expect(entries[1]).toEqual(["git", "-c", "x.y=a b\nc 'd' \"e\" $f", "-c", "x.z=", "--version"]);
      expect(entries[2]).toEqual(["git", "ls-remote", sshd.urlFor(bare)]);
      const ssh = entries.find((e) => e[0] === "ssh");
      expect(ssh).toBeDefined();
      expect(ssh).toEqual(
        expect.arrayContaining(["-i", key.privateKeyPath, "-p", String(sshd.port), "root@127.0.0.1"]),
      );
      expect(ssh!.at(-1)).toBe(`git-upload-pack '${bare}'`);
    },
  );

  it.skipIf(needs("root", "util-linux"))("works for a process running as another UID", () => {
    const rec = argvRecorder({ commands: ["git"] });
    const out = execFileSync(
      "setpriv",
      [
        "--reuid=1000650000",
        "--regid=0",
        "--clear-groups",
        "env",
        "-i",
        "HOME=/",
        `PATH=${rec.binDir}:/usr/bin:/bin`,
        "git",
        "-c",
        "a.b=c d",
        "--version",
      ],
      { encoding: "utf8" },
    );
    expect(out).toMatch(/^git version /);
    expect(rec.entries()).toEqual([["git", "-c", "a.b=c d", "--version"]]);
    expect(readFileSync(rec.logFile, "latin1")).toContain("\0");
  });
});
