/**
 * OpenShift's random UID: no passwd entry, group 0, HOME=/, an environment with nothing but
 * what the pod spec sets (`setpriv … env -i HOME=/ PATH=/usr/bin:/bin`). Restore and save
 * must work over ssh (ssh itself needs a passwd entry: nss_wrapper) and over https, and
 * nothing may be written outside the state dir and the work dir.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { asUid, asUidUnavailable, mirrorshadeVars, uidSandbox } from "../helpers/as-uid";
import { secretFile } from "../helpers/credentials";
import { needs } from "../helpers/needs";
import { httpRemote, sshRemote } from "../helpers/remotes";
import { SSHD } from "../helpers/sshd";
import { git, remoteFiles, run, seedRemote, write } from "../helpers";

/** Its own UID: the "nothing written elsewhere" scan looks for files this UID owns. */
const UID = 1000650001;

/** Where HOME=/ would lead git and ssh to write. */
const HOME_FILES = ["/.gitconfig", "/.gitconfig.lock", "/.ssh", "/.config", "/.cache", "/.local", "/.npm"];

/** Which of HOME_FILES exist, and since when: compared before and after a scenario. */
function homeState(): Record<string, number | null> {
  return Object.fromEntries(HOME_FILES.map((f) => [f, existsSync(f) ? statSync(f).mtimeMs : null]));
}

function hasPasswdEntry(uid: number): boolean {
  return readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .some((l) => l.split(":")[2] === String(uid));
}

/** Files and dirs the UID owns in the places it could write to (world-writable dirs, /), outside `allowed`. */
function strayFiles(allowed: string[]): string[] {
  let out = "";
  for (const [start, depth] of [
    ["/tmp", []],
    ["/var/tmp", []],
    ["/dev/shm", []],
    ["/run", []],
    ["/", ["-maxdepth", "1"]],
  ] as const) {
    if (!existsSync(start)) continue;
    try {
      out += execFileSync("find", [start, ...depth, "-xdev", "-uid", String(UID), "-print"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      });
    } catch (err) {
      out += (err as { stdout?: string }).stdout ?? ""; // find exits 1 on an unreadable dir; keep what it found
    }
  }
  return out
    .split("\n")
    .filter(Boolean)
    .filter((p) => !allowed.some((a) => p === a || p.startsWith(a + path.sep)));
}

describe.skipIf(asUidUnavailable())(`a random uid (${UID}) with no passwd entry and HOME=/`, () => {
  it("the uid really has no passwd entry", () => {
    expect(hasPasswdEntry(UID)).toBe(false);
  });

  it.skipIf(needs(...SSHD, "libnss-wrapper"))(
    "restore and save over ssh (nss_wrapper gives ssh its passwd entry)",
    async () => {
      const home = homeState();
      const u = asUid(UID);
      const { sb, sshd, key, env } = await sshRemote({ sb: uidSandbox(UID) });
      seedRemote(sb.remote, { "seed.txt": "from the remote\n" });
      // The Secret: root-owned, 0440, read through group 0.
      const keyFile = secretFile("ssh-privatekey", readFileSync(key.privateKeyPath, "utf8"));
      const command = u.command({ ...mirrorshadeVars(env), MIRRORSHADE_SSH_KEY_FILE: keyFile });

      const restored = await run(["restore", sb.work], { command });
      expect(restored.code, restored.stderr).toBe(0);
      expect(readFileSync(path.join(sb.work, "seed.txt"), "utf8")).toBe("from the remote\n");
      expect(statSync(path.join(sb.work, "seed.txt")).uid).toBe(UID);

      write(sb.work, "notebook.ipynb", '{"cells": []}\n');
      const saved = await run(["push", sb.work], { command });
      expect(saved.code, saved.stderr).toBe(0);
      expect(remoteFiles(sb.remote).get("notebook.ipynb")).toBe('{"cells": []}\n');
      expect(remoteFiles(sb.remote).get("seed.txt")).toBe("from the remote\n");
      // Committed under a usable identity although the uid has no name.
      expect(git(sb.remote, "log", "-1", "--format=%an <%ae>", "main").trim()).toMatch(/^\S.* <\S+@\S+>$/);
      // ssh got its passwd entry from a file in the state dir, not from /etc/passwd.
      expect(readFileSync(path.join(sb.state, "passwd"), "utf8")).toMatch(new RegExp(`^[^:\\n]+:x:${UID}:`, "m"));
      expect(sshd.log()).toMatch(/Accepted publickey for root/);

      expect(homeState()).toEqual(home);
      expect(strayFiles([sb.work, sb.state])).toEqual([]);
    },
  );

  it("restore and save over https with a token file", async () => {
    const home = homeState();
    const u = asUid(UID);
    const token = "tok_random_uid_8f2e4d";
    const { sb, server, env } = await httpRemote({ sb: uidSandbox(UID), token });
    seedRemote(sb.remote, { "seed.txt": "from the remote\n" });
    const tokenFile = secretFile("token", token + "\n");
    const command = u.command({ ...mirrorshadeVars(env), MIRRORSHADE_TOKEN_FILE: tokenFile });

    const restored = await run(["restore", sb.work], { command });
    expect(restored.code, restored.stderr).toBe(0);
    expect(readFileSync(path.join(sb.work, "seed.txt"), "utf8")).toBe("from the remote\n");

    write(sb.work, "notes.md", "# saved as a random uid\n");
    const saved = await run(["push", sb.work], { command });
    expect(saved.code, saved.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("notes.md")).toBe("# saved as a random uid\n");
    expect(server.requests["POST git-receive-pack"]).toBeGreaterThan(0);

    expect(homeState()).toEqual(home);
    expect(strayFiles([sb.work, sb.state])).toEqual([]);
  });
});
