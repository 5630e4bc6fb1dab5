import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { buildSync } from "esbuild";
import { describe, expect, it } from "vitest";
import { StateLock } from "../../src/state";
import { tempDir } from "../helpers";

/** A pid that no process has now. */
function deadPid(): number {
  return spawnSync("true").pid!;
}

function stateDir(): string {
  const dir = path.join(tempDir("ms-unit-lock-"), "state");
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

const lockOf = (dir: string) => JSON.parse(readFileSync(path.join(dir, "lock"), "utf8")) as { pid: number };

describe("the state lock", () => {
  it("takes over a lock left by a dead process, or an unreadable one", async () => {
    for (const left of [JSON.stringify({ pid: deadPid(), command: "watch" }), "", "{half"]) {
      const dir = stateDir();
      writeFileSync(path.join(dir, "lock"), left);
      const got = await StateLock.acquire(dir, "push", 0);
      expect("lock" in got).toBe(true);
      expect(lockOf(dir).pid).toBe(process.pid);
      if ("lock" in got) got.lock.release();
      expect(existsSync(path.join(dir, "lock"))).toBe(false);
    }
  });

  it("release removes its own lock only, never one another process took since", async () => {
    const dir = stateDir();
    const got = await StateLock.acquire(dir, "push", 0);
    if (!("lock" in got)) throw new Error("not taken");
    // Another process judged ours stale and took the lock (a pid reused, a clock gone wrong).
    writeFileSync(path.join(dir, "theirs"), JSON.stringify({ pid: 1, command: "watch" }));
    renameSync(path.join(dir, "theirs"), path.join(dir, "lock"));
    got.lock.release();
    expect(lockOf(dir).pid).toBe(1);
  });

  it(
    "processes racing over a stale lock, round after round: never two holders at once",
    { timeout: 120_000 },
    async () => {
      const tmp = tempDir("ms-unit-lock-race-");
      const holder = path.join(tmp, "holder.mjs");
      buildSync({
        entryPoints: [path.join(import.meta.dirname, "../helpers/lock-holder.ts")],
        bundle: true,
        platform: "node",
        format: "esm",
        outfile: holder,
        logLevel: "warning",
      });
      const dir = path.join(tmp, "state");
      mkdirSync(dir, { mode: 0o700 });
      const dead = deadPid();
      writeFileSync(path.join(dir, "lock"), JSON.stringify({ pid: dead, command: "push" }));
      const log = path.join(tmp, "log");
      const go = path.join(tmp, "go");
      const procs = Array.from({ length: 6 }, () =>
        spawn(process.execPath, [holder, dir, log, "6", go, String(dead)], { stdio: ["ignore", "ignore", "pipe"] }),
      );
      const ends = procs.map(
        (p) =>
          new Promise<string>((resolve) => {
            let err = "";
            p.stderr!.on("data", (d) => (err += d));
            p.on("close", (code) => resolve(code === 0 ? "" : `exit ${code}: ${err}`));
          }),
      );
      writeFileSync(go, "");
      expect((await Promise.all(ends)).filter(Boolean)).toEqual([]);
      const lines = readFileSync(log, "utf8").trim().split("\n");
      expect(lines).toHaveLength(6 * 6 * 2);
      // Each "in" is followed by the same process's "out": no one came in between.
      for (let i = 0; i < lines.length; i += 2) {
        expect(`${lines[i]} / ${lines[i + 1]}`).toMatch(/^in (\d+) \/ out \1$/);
      }
    },
  );
});
