/**
 * Git over ssh against a real sshd on loopback, with the key and known_hosts handed over the
 * way a Secret hands them: restore, push and watch; host key checking; accept-new; a rejected
 * key; `init`'s precise reasons; bad input; and the Secret-mount matrix run as a random UID.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { asUid, asUidUnavailable, mirrorshadeVars, uidSandbox } from "../helpers/as-uid";
import { expectCleanError, secretFile, secretMount } from "../helpers/credentials";
import { needs } from "../helpers/needs";
import { sshRemote } from "../helpers/remotes";
import { SSHD, sshKeygen, startSshd } from "../helpers/sshd";
import {
  elsewhere,
  initConfig,
  jsonLogs,
  remoteFiles,
  run,
  sandbox,
  start,
  startWatch,
  stop,
  tempDir,
  waitFor,
  waitForStart,
  write,
} from "../helpers";

/** A known_hosts naming `[127.0.0.1]:port` with some other host's key. */
function wrongKnownHosts(dir: string, port: number): string {
  const other = sshKeygen(dir, "not-the-host");
  const file = path.join(dir, "wrong_known_hosts");
  writeFileSync(file, `[127.0.0.1]:${port} ${other.publicKey.split(" ").slice(0, 2).join(" ")}\n`);
  return file;
}

function fingerprint(publicKeyFile: string): string {
  return execFileSync("ssh-keygen", ["-l", "-f", publicKeyFile], { encoding: "utf8" }).split(" ")[1]!;
}

describe.skipIf(needs(...SSHD))("git over ssh", () => {
  it("push, restore and watch with MIRRORSHADE_SSH_KEY_FILE + MIRRORSHADE_SSH_KNOWN_HOSTS_FILE", async () => {
    const { sshd, sb, env } = await sshRemote();
    write(sb.work, "a.txt", "over ssh\n");
    const pushed = await run(["push", sb.work], { env });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("over ssh\n");
    // The private copy of the key: ours, 0600, in the state dir.
    expect(statSync(path.join(sb.state, "ssh", "key-0")).mode & 0o777).toBe(0o600);

    // Another pod: restore into an empty dir, then watch it.
    const other = elsewhere(sb, env);
    const restored = await run(["restore", other.work], { env: other.env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(readFileSync(path.join(other.work, "a.txt"), "utf8")).toBe("over ssh\n");

    const w = await startWatch(other);
    write(other.work, "b.txt", "from watch\n");
    await waitFor("b.txt to land over ssh", () => remoteFiles(sb.remote).get("b.txt") === "from watch\n");
    const stopped = await stop(w);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(sshd.log()).toMatch(/Accepted publickey for root/);
  });

  it("strict host key checking: a wrong known_hosts fails with exit 3 and one line naming known_hosts", async () => {
    const { sb, env, sshd, keysDir } = await sshRemote();
    write(sb.work, "a.txt", "x\n");
    const r = await run(["push", sb.work], {
      env: { ...env, MIRRORSHADE_SSH_KNOWN_HOSTS_FILE: wrongKnownHosts(keysDir, sshd.port) },
    });
    expectCleanError(r, 3, /known_hosts/);
    expect(r.stderr).toMatch(/host key/);
    expect(remoteFiles(sb.remote).size).toBe(0);
  });

  it("a host key missing from known_hosts: exit 3, naming known_hosts and the opt-in", async () => {
    const { sb, env, keysDir } = await sshRemote();
    const empty = path.join(keysDir, "empty_known_hosts");
    writeFileSync(empty, "");
    write(sb.work, "a.txt", "x\n");
    const r = await run(["push", sb.work], { env: { ...env, MIRRORSHADE_SSH_KNOWN_HOSTS_FILE: empty } });
    expectCleanError(r, 3, /not in known_hosts/);
    expect(r.stderr).toMatch(/--ssh-accept-new-host-keys/);
  });

  it("--ssh-accept-new-host-keys: trusts the key on first use with a warning; a changed key still fails", async () => {
    const { sb, env, sshd } = await sshRemote();
    const { MIRRORSHADE_SSH_KNOWN_HOSTS_FILE: _, ...noKnownHosts } = env;
    write(sb.work, "a.txt", "first\n");
    const first = await run(["push", sb.work, "--ssh-accept-new-host-keys"], { env: noKnownHosts });
    expect(first.code, first.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("first\n");
    const warning = jsonLogs(first.stderr).find((l) => l.level === "warn" && /accept/.test(String(l.msg)));
    expect(warning, first.stderr).toBeDefined();
    const accepted = readFileSync(path.join(sb.state, "ssh", "known_hosts.accepted"), "utf8");
    expect(accepted).toContain(sshd.knownHostsLine.split(" ")[2]);

    // Env form of the opt-in, second run: the kept key is used.
    write(sb.work, "a.txt", "second\n");
    const second = await run(["push", sb.work], {
      env: { ...noKnownHosts, MIRRORSHADE_SSH_ACCEPT_NEW_HOST_KEYS: "1" },
    });
    expect(second.code, second.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("second\n");

    // The same address, another host key: accept-new never accepts a *changed* key.
    const port = sshd.port;
    await sshd.stop();
    await startSshd({ authorizedKeys: [readFileSync(`${env.MIRRORSHADE_SSH_KEY_FILE}.pub`, "utf8")], port });
    write(sb.work, "a.txt", "third\n");
    const third = await run(["push", sb.work, "--ssh-accept-new-host-keys"], { env: noKnownHosts });
    expectCleanError(third, 3, /host key/);
    expect(third.stderr).toMatch(/CHANGED/);
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("second\n");
  });

  it("an unauthorized key: exit 3, 'rejected the ssh key'; listed with an authorized one, the push works", async () => {
    const { sb, env, keysDir, key } = await sshRemote();
    const stranger = sshKeygen(keysDir, "stranger");
    write(sb.work, "a.txt", "two keys\n");
    const r = await run(["push", sb.work], { env: { ...env, MIRRORSHADE_SSH_KEY_FILE: stranger.privateKeyPath } });
    expectCleanError(r, 3, /rejected the ssh key/);
    expect(remoteFiles(sb.remote).size).toBe(0);

    // Several keys (a list, as flags): ssh offers each; the authorized one gets in.
    const both = await run(
      ["push", sb.work, "--ssh-key-file", stranger.privateKeyPath, "--ssh-key-file", key.privateKeyPath],
      { env },
    );
    expect(both.code, both.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("two keys\n");
  });

  it("init says precisely what is wrong: unreachable host, key rejected, host key unknown; then succeeds", async () => {
    const { sb, env, sshd, keysDir, url } = await sshRemote();
    const cwd = tempDir("ms-init-");
    const init = (extra: NodeJS.ProcessEnv = {}, args: string[] = []) =>
      run(["init", sb.work, "--remote", url, "--retry-for", "0s", ...args], { cwd, env: { ...env, ...extra } });

    const stranger = sshKeygen(keysDir, "stranger");
    expectCleanError(await init({ MIRRORSHADE_SSH_KEY_FILE: stranger.privateKeyPath }), 3, /rejected the ssh key/);

    const empty = path.join(keysDir, "empty_known_hosts");
    writeFileSync(empty, "");
    expectCleanError(await init({ MIRRORSHADE_SSH_KNOWN_HOSTS_FILE: empty }), 3, /not in known_hosts/);
    expect(initConfig(sb.work, env)).toBeUndefined();

    const ok = await init();
    expect(ok.code, ok.stderr).toBe(0);
    expect(initConfig(sb.work, env)!.config.remote).toBe(url);

    await sshd.stop();
    const down = await init({}, ["--force"]);
    const line = expectCleanError(down, 4, /cannot connect/);
    expect(line).toContain(`127.0.0.1:${sshd.port}`);
  });
});

describe("bad ssh input", () => {
  const remote = "ssh://root@127.0.0.1:9/nowhere.git";

  it("a key file that does not exist: exit 2", async () => {
    const sb = sandbox({ remote: "none" });
    const missing = path.join(sb.root, "no-such-key");
    const r = await run(["push", sb.work, "--remote", remote, "--ssh-key-file", missing], { env: sb.env });
    expectCleanError(r, 2, /no-such-key.*does not exist/);
  });

  it("a key file that is not a key: exit 2, 'not an ssh private key'", async () => {
    const sb = sandbox({ remote: "none" });
    write(sb.root, "key.pub", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI this is the public half\n");
    const r = await run(["push", sb.work, "--remote", remote, "--ssh-key-file", path.join(sb.root, "key.pub")], {
      env: sb.env,
    });
    expectCleanError(r, 2, /not an ssh private key/);
  });

  it.skipIf(needs("openssh-client"))("a known_hosts file that does not exist: exit 2", async () => {
    const sb = sandbox({ remote: "none" });
    const key = sshKeygen(sb.root, "k");
    const r = await run(["push", sb.work, "--remote", remote], {
      env: {
        ...sb.env,
        MIRRORSHADE_SSH_KEY_FILE: key.privateKeyPath,
        MIRRORSHADE_SSH_KNOWN_HOSTS_FILE: path.join(sb.root, "no_known_hosts"),
      },
    });
    expectCleanError(r, 2, /no_known_hosts.*does not exist/);
  });
});

/**
 * The key as a Secret volume hands it to a pod running as a random UID in group 0 (OpenShift):
 * root-owned with the volume's defaultMode, or owned by the pod's UID (fsGroup-less setups).
 */
describe.skipIf(asUidUnavailable() ?? needs(...SSHD, "libnss-wrapper"))(
  "Secret mount matrix (random uid in group 0)",
  () => {
    const UID = 1000650000;

    /** sshRemote() with a work dir and state dir the UID owns; command(keyFile) runs the CLI as that UID. */
    async function asRandomUid() {
      const r = await sshRemote({ sb: uidSandbox(UID) });
      const u = asUid(UID);
      const command = (keyFile: string) => u.command({ ...mirrorshadeVars(r.env), MIRRORSHADE_SSH_KEY_FILE: keyFile });
      return { ...r, command };
    }

    const readable: [string, number, "root" | "uid"][] = [
      ["root-owned 0440, read through group 0", 0o440, "root"],
      ["root-owned 0644", 0o644, "root"],
      ["owned by the running uid with 0644 (ssh itself would refuse it)", 0o644, "uid"],
    ];
    it.each(readable)("key %s: push works", async (_, mode, owner) => {
      const setup = await asRandomUid();
      const key = readFileSync(setup.key.privateKeyPath, "utf8");
      const keyFile = secretFile("ssh-privatekey", key, { mode, uid: owner === "uid" ? UID : 0 });
      write(setup.sb.work, "a.txt", `mode ${mode.toString(8)}\n`);
      const r = await run(["push", setup.sb.work], { command: setup.command(keyFile) });
      expect(r.code, r.stderr).toBe(0);
      expect(remoteFiles(setup.sb.remote).get("a.txt")).toBe(`mode ${mode.toString(8)}\n`);
      const copy = statSync(path.join(setup.sb.state, "ssh", "key-0"));
      expect({ uid: copy.uid, mode: copy.mode & 0o777 }).toEqual({ uid: UID, mode: 0o600 });
    });

    it("key root-owned 0400 (unreadable for the uid): exit 3, naming defaultMode and fsGroup", async () => {
      const setup = await asRandomUid();
      const keyFile = secretFile("ssh-privatekey", readFileSync(setup.key.privateKeyPath, "utf8"), { mode: 0o400 });
      write(setup.sb.work, "a.txt", "x\n");
      const r = await run(["push", setup.sb.work], { command: setup.command(keyFile) });
      expectCleanError(r, 3, /cannot read ssh key/);
      expect(r.stderr).toMatch(/defaultMode/);
      expect(r.stderr).toMatch(/fsGroup/);
    });

    it("the ..data symlink layout, rotated while watching: the next save uses the new key", async () => {
      const keysDir = tempDir("ms-keys-");
      const first = sshKeygen(keysDir, "first");
      const mount = secretMount({ "ssh-privatekey": readFileSync(first.privateKeyPath, "utf8") }, { mode: 0o440 });
      const setup = await asRandomUid();
      // The server trusts the Secret's key, not sshRemote()'s own.
      const authorizedKeys = path.join(path.dirname(setup.sshd.configPath), "authorized_keys");
      writeFileSync(authorizedKeys, first.publicKey + "\n");

      const command = setup.command(mount.path("ssh-privatekey"));
      const w = await waitForStart(start(["watch", setup.sb.work, "--debounce", "200ms"], { command }));
      write(setup.sb.work, "a.txt", "with the first key\n");
      await waitFor("a.txt to land", () => remoteFiles(setup.sb.remote).get("a.txt") === "with the first key\n");

      // Rotation: the server drops the old key, the kubelet swaps ..data to the new one.
      const second = sshKeygen(keysDir, "second");
      writeFileSync(authorizedKeys, second.publicKey + "\n");
      mount.rotate({ "ssh-privatekey": readFileSync(second.privateKeyPath, "utf8") });
      write(setup.sb.work, "b.txt", "with the second key\n");
      await waitFor("b.txt to land", () => remoteFiles(setup.sb.remote).get("b.txt") === "with the second key\n");
      expect(setup.sshd.log()).toContain(fingerprint(`${second.privateKeyPath}.pub`));
      const stopped = await stop(w);
      expect(stopped.code, stopped.stderr).toBe(0);
      expect(w.logs().filter((l) => l.level === "error")).toEqual([]);
    });
  },
);
