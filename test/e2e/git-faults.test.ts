/**
 * The remote and the disk misbehave (issue 9, git side): a server that accepts and never
 * answers, a damaged index in the state dir, a full state-dir disk. Each ends in a clear,
 * bounded failure, and the state heals when the cause goes away.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { expectCleanError } from "../helpers/credentials";
import { needs } from "../helpers/needs";
import { blackHole, defer, isAlive, remoteFiles, run, sandbox, tempDir, write, type Sandbox } from "../helpers";

/** Pids (other than ours) whose command line names `port`: a git, ssh or git-remote-https left talking to it. */
function talkingTo(port: number): number[] {
  const found: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${name}/cmdline`, "utf8").split("\0");
    } catch {
      continue;
    }
    if (args.some((a) => a === String(port) || a.includes(`:${port}`)) && isAlive(Number(name)))
      found.push(Number(name));
  }
  return found;
}

const push = (sb: Sandbox, extra: string[] = [], env = sb.env) =>
  run(["push", ...extra], { cwd: sb.work, env, timeoutMs: 60_000 });

describe("a remote that accepts and never answers", () => {
  for (const scheme of ["https", "ssh"] as const) {
    it(`${scheme}: push --retry-for 3s exits 4 well within its deadline and leaves no git or ssh behind`, async () => {
      const sb = sandbox({ remote: "none" });
      const { port } = await blackHole();
      const url = scheme === "https" ? `https://127.0.0.1:${port}/x.git` : `ssh://git@127.0.0.1:${port}/x.git`;
      write(sb.work, "a.txt", "a\n");
      const started = Date.now();
      const r = await push(sb, ["--retry-for", "3s"], { ...sb.env, MIRRORSHADE_REMOTE: url });
      const took = Date.now() - started;
      expectCleanError(r, 4);
      // It gave up: the hint says so, not that it is retried.
      expect(r.stderr).toMatch(/gave up after --retry-for/);
      expect(r.stderr).not.toMatch(/it is retried/);
      expect(took).toBeLessThan(20_000);
      expect(talkingTo(port)).toEqual([]);
    });
  }
});

describe("the state heals itself", () => {
  // Our index is split (repo.ts): its shared part (sharedindex.<id>) can be damaged as well.
  const shared = (git: string) =>
    path.join(
      git,
      readdirSync(git).find((f) => f.startsWith("sharedindex."))!,
    );
  const damages: Record<string, (git: string) => void> = {
    // Cut inside the first entry: git 2.39 does not check the checksum and reads garbage entries.
    truncated: (git) => truncateSync(path.join(git, "index"), 40),
    garbage: (git) => writeFileSync(path.join(git, "index"), randomBytes(500)),
    "shared-part-truncated": (git) => truncateSync(shared(git), 40),
    "shared-part-gone": (git) => rmSync(shared(git)),
  };
  for (const [damage, harm] of Object.entries(damages)) {
    it(`a ${damage} index in the state dir is rebuilt from the last commit; nothing is lost`, async () => {
      const sb = sandbox();
      write(sb.work, "a.txt", "a1\n");
      write(sb.work, "b.txt", "b1\n");
      write(sb.work, "dir/c.txt", "c1\n");
      expect((await push(sb)).code).toBe(0);
      harm(path.join(sb.state, "git"));
      write(sb.work, "a.txt", "a2\n");
      write(sb.work, "new.txt", "new\n");
      rmSync(path.join(sb.work, "b.txt"));
      const r = await push(sb);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/index in the state dir was damaged/);
      expect(Object.fromEntries(remoteFiles(sb.remote))).toEqual({
        "a.txt": "a2\n",
        "dir/c.txt": "c1\n",
        "new.txt": "new\n",
      });
    });
  }

  for (const files of [2, 80]) {
    it(`a full state-dir disk (${files} new files): a clear exit 4, no temp objects left; the next push lands once there is room`, async (ctx) => {
      const notRoot = needs("root"); // mounting a tmpfs needs root
      ctx.skip(notRoot !== undefined, notRoot);
      const sb = sandbox();
      const mnt = path.join(tempDir("ms-tmpfs-"), "state");
      mkdirSync(mnt);
      try {
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt]);
      } catch (err) {
        ctx.skip(true, `cannot mount a tmpfs here: ${(err as Error).message}`);
      }
      defer(() => void execFileSync("umount", ["-l", mnt]));
      const env = { ...sb.env, MIRRORSHADE_STATE_DIR: path.join(mnt, "s") };
      write(sb.work, "small.txt", "small\n");
      expect((await push(sb, [], env)).code).toBe(0);

      // Fill the disk, leaving a little room (the lock file and an index fit; a big blob does not).
      const filler = path.join(mnt, "filler");
      try {
        execFileSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=4k"], { stdio: "ignore" });
      } catch {
        // dd stops at "No space left on device"
      }
      truncateSync(filler, readFileSync(filler).length - 48 * 1024);
      // A few files become loose objects, many become one pack: both ways fill the disk.
      for (let i = 0; i < files - 1; i++)
        writeFileSync(path.join(sb.work, `big-${i}.bin`), randomBytes(400_000 / files));
      write(sb.work, "small2.txt", "small2\n");

      const full = await push(sb, ["--retry-for", "2s"], env);
      expectCleanError(full, 4, /disk .* is full/);
      const objects = path.join(mnt, "s", "git", "objects");
      const temps = readdirSync(objects, { recursive: true }).filter((p) => /tmp_/.test(String(p)));
      expect(temps).toEqual([]);
      expect(readdirSync(path.join(mnt, "s", "git")).filter((n) => n.startsWith("fast_import_crash"))).toEqual([]);

      rmSync(filler);
      const after = await push(sb, [], env);
      expect(after.code, after.stderr).toBe(0);
      const remote = remoteFiles(sb.remote);
      expect(remote.get("small2.txt")).toBe("small2\n");
      expect([...remote.keys()].filter((p) => p.startsWith("big-"))).toHaveLength(files - 1);
    });
  }
});
