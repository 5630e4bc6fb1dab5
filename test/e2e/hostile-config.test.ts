/**
 * Config planted in the work dir, tried the way an attacker in the notebook container would:
 * the work dir is the current directory (as in a container), and holds a `.mirrorshaderc.json`
 * setting what flags and env did not. None of it may take effect, and no code from the work dir
 * may run. Real runs of the built CLI against real remotes.
 */
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { expectCleanError } from "../helpers/credentials";
import { startGitHttp } from "../helpers/githttp";
import { sshKeygen, startSshd } from "../helpers/sshd";
import {
  jsonLogs,
  commitCount,
  freePort,
  git,
  remoteFiles,
  run,
  sandbox,
  start,
  stop,
  tempDir,
  waitFor,
  waitForStart,
  write,
  type Sandbox,
} from "../helpers";

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = net.connect(port, "127.0.0.1");
    conn.on("connect", () => {
      conn.destroy();
      resolve(false);
    });
    conn.on("error", () => resolve(true));
  });
}

/**
 * The sandbox, with the user config dir private to the test, and the attacker's config planted
 * in the work dir: `config(decoy)` (default: every key), where `decoy` is a second bare repo.
 */
function planted(config?: (decoy: string, root: string) => Record<string, unknown>) {
  const sb = sandbox();
  const decoy = path.join(sb.root, "planted.git");
  git(sb.root, "init", "-q", "--bare", "-b", "main", decoy);
  const all = {
    caFile: path.join(sb.root, "no-such-ca.pem"),
    sshAcceptNewHostKeys: true,
    ignore: ["**"],
    tokenUsername: "planted-user",
    remote: decoy,
  };
  write(sb.work, ".mirrorshaderc.json", JSON.stringify(config ? config(decoy, sb.root) : all));
  write(sb.work, "notes.md", "my notes\n");
  const env: NodeJS.ProcessEnv = { ...sb.env, XDG_CONFIG_HOME: path.join(sb.root, "xdg-config") };
  return { sb, decoy, env };
}

/** The one warning about the planted file, and nothing else about it. */
function expectOneWarning(stderr: string, sb: Sandbox): void {
  const warnings = jsonLogs(stderr).filter((l) => String(l.msg).includes(".mirrorshaderc.json"));
  expect(warnings, stderr).toHaveLength(1);
  expect(warnings[0]!.level).toBe("warn");
  expect(String(warnings[0]!.msg)).toContain(path.join(sb.work, ".mirrorshaderc.json"));
}

describe("a config file planted in the work dir (the current directory) configures nothing", () => {
  it("push saves to the env's remote, ignores nothing, reads no planted CA file; one warning", async () => {
    const { sb, decoy, env } = planted();
    const r = await run(["push"], { cwd: sb.work, env });
    expect(r.code, r.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("notes.md")).toBe("my notes\n");
    expect(commitCount(decoy)).toBe(0);
    expectOneWarning(r.stderr, sb);
  });

  it("with no remote in the env, the planted remote is not used: exit 2, no state dir", async () => {
    const { sb, decoy, env } = planted((decoy) => ({ remote: decoy }));
    const { MIRRORSHADE_REMOTE: _, ...noRemote } = env;
    const r = await run(["push"], { cwd: sb.work, env: noRemote });
    expectCleanError(r, 2, /no remote/);
    expect(commitCount(decoy)).toBe(0);
    expect(existsSync(sb.state)).toBe(false);
  });

  it("watch opens no planted listener, and saves every file", async () => {
    const port = await freePort();
    const { sb, env } = planted(() => ({ listen: `127.0.0.1:${port}`, ignore: ["**"] }));
    const w = start(["watch", "--debounce", "200ms"], { cwd: sb.work, env });
    await waitForStart(w);
    expect(await refused(port)).toBe(true);
    write(sb.work, "later.md", "written while watching\n");
    await waitFor("later.md saved", () => remoteFiles(sb.remote).get("later.md") === "written while watching\n");
    const r = await stop(w);
    expect(r.code, r.stderr).toBe(0);
    expectOneWarning(r.stderr, sb);
  });

  it("the planted tokenUsername is not sent to an https remote", async () => {
    const { sb, env } = planted(() => ({ tokenUsername: "planted-user" }));
    const token = "tok-" + "x".repeat(24);
    const server = await startGitHttp({ root: sb.root, token });
    const r = await run(["push"], {
      cwd: sb.work,
      env: { ...env, MIRRORSHADE_REMOTE: server.urlFor("remote.git"), MIRRORSHADE_TOKEN: token },
    });
    expect(r.code, r.stderr).toBe(0);
    const users = new Set(server.log.filter((q) => q.user !== undefined).map((q) => q.user));
    expect([...users]).toEqual(["x-access-token"]);
    expect(remoteFiles(sb.remote).get("notes.md")).toBe("my notes\n");
  });

  it("the planted sshAcceptNewHostKeys does not make ssh trust an unknown host: exit 3, nothing pushed", async () => {
    const { sb, env } = planted(() => ({ sshAcceptNewHostKeys: true }));
    const keys = tempDir("ms-keys-");
    const key = sshKeygen(keys, "client");
    const sshd = await startSshd({ authorizedKeys: [key.publicKey] });
    // No known_hosts given: only the opt-in (flag, env, or a config outside the work dir) would trust it.
    const r = await run(["push"], {
      cwd: sb.work,
      env: {
        ...env,
        HOME: tempDir("ms-home-"),
        MIRRORSHADE_REMOTE: sshd.urlFor(sb.remote),
        MIRRORSHADE_SSH_KEY_FILE: key.privateKeyPath,
      },
    });
    expectCleanError(r, 3, /not in known_hosts/);
    expect(commitCount(sb.remote)).toBe(0);
  });

  it("no code from the work dir runs: a code config, or cosmiconfig's meta config importing code", async () => {
    const { sb, env } = planted(() => ({ debounce: "1s" }));
    const marker = path.join(sb.root, "pwned");
    const payload = `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran"); module.exports = {};\n`;
    write(sb.work, "mirrorshade.config.cjs", payload);
    write(sb.work, "payload.cjs", payload);
    write(sb.work, ".config/config.json", JSON.stringify({ $import: "../payload.cjs" }));
    const r = await run(["push"], { cwd: sb.work, env });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(marker)).toBe(false);
    expect(remoteFiles(sb.remote).get("notes.md")).toBe("my notes\n");
  });
});
