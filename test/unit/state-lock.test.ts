import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { buildSync } from "esbuild";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors";
import { breakStale, read } from "../../src/lockfile";
import { StateLock } from "../../src/state";
import { tempDir } from "../helpers";

/** A pid that no process has now. */
const deadPid = () => spawnSync("true").pid!;

function stateDir(): string {
  const dir = path.join(tempDir("ms-unit-lock-"), "state");
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

const lockOf = (dir: string) => JSON.parse(readFileSync(path.join(dir, "lock"), "utf8")) as { pid: number };
const take = async (dir: string, waitMs = 0) => {
  const got = await StateLock.acquire(dir, "push", waitMs);
  if (!("lock" in got)) throw new Error("a watcher answered");
  return got.lock;
};
/** A lock its holder left when it died. */
const plantStale = (dir: string, command = "push") =>
  writeFileSync(path.join(dir, "lock"), JSON.stringify({ pid: deadPid(), command }));

/** Takes the lock at once (or within `waitMs`), as this process; releasing it leaves the dir empty. */
async function takeOver(dir: string, waitMs = 0): Promise<void> {
  const lock = await take(dir, waitMs);
  expect(lockOf(dir).pid).toBe(process.pid);
  lock.release();
  expect(readdirSync(dir)).toEqual([]);
}

const aged = (file: string, s: number) =>
  utimesSync(file, new Date(Date.now() - s * 1000), new Date(Date.now() - s * 1000));

describe("the state lock", () => {
  it("takes over a lock left by a dead process; release leaves nothing behind", async () => {
    const dir = stateDir();
    plantStale(dir, "watch");
    await takeOver(dir);
  });

  it("an unreadable lock is waited for while it may be being written, taken over once old", async () => {
    const dir = stateDir();
    const file = path.join(dir, "lock");
    writeFileSync(file, "");
    const err = await take(dir, 300).catch((e: unknown) => e);
    expect(String(err)).toMatch(/another mirrorshade is using/);
    aged(file, 10);
    await takeOver(dir);
  });

  it("a late breaker of a stale lock leaves the fresh lock taken since in place (ext4 gives it the same inode)", async () => {
    const dir = stateDir();
    const file = path.join(dir, "lock");
    plantStale(dir);
    const seenStale = read(file)!.raw; // what a second process read before the first broke it
    const lock = await take(dir);
    const fresh = read(file)!.raw;
    expect(breakStale(file, seenStale, () => true)).toBe(true);
    expect(read(file)?.raw).toBe(fresh);
    lock.release();
  });

  it("a break file left by a process that died breaking is dropped once old", async () => {
    const dir = stateDir();
    plantStale(dir);
    writeFileSync(path.join(dir, "lock.break"), "");
    aged(path.join(dir, "lock.break"), 20);
    await takeOver(dir);
  });

  it("a break file dated in the future (the clock set back) and a file left aside by a killed process go too", async () => {
    const dir = stateDir();
    plantStale(dir);
    writeFileSync(path.join(dir, "lock.break"), "");
    aged(path.join(dir, "lock.break"), -3600);
    writeFileSync(path.join(dir, "lock.0123456789ab"), "{}");
    aged(path.join(dir, "lock.0123456789ab"), 120);
    await takeOver(dir, 5000);
  });

  it("a symlink or a directory named lock: one clear error, at once", async () => {
    for (const plant of [(f: string) => symlinkSync("/nonexistent", f), (f: string) => mkdirSync(f)]) {
      const dir = stateDir();
      plant(path.join(dir, "lock"));
      const started = Date.now();
      const err = await take(dir, 60_000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect(String((err as Error).message)).toMatch(/cannot use the lock .*lock: (ELOOP|EISDIR)/);
      expect(Date.now() - started).toBeLessThan(30_000);
    }
  });

  it("release removes its own lock only, never one another process took since", async () => {
    const dir = stateDir();
    const lock = await take(dir);
    // Another process judged ours stale and took the lock (a pid reused, a clock gone wrong).
    writeFileSync(path.join(dir, "theirs"), JSON.stringify({ pid: 1, command: "watch" }));
    renameSync(path.join(dir, "theirs"), path.join(dir, "lock"));
    lock.release();
    expect(lockOf(dir).pid).toBe(1);
  });

  it(
    "processes taking turns, half of them dying as holders: never two holders at once",
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
      const go = path.join(tmp, "go");
      const procs = Array.from({ length: 6 }, () =>
        spawn(process.execPath, [holder, dir, "6", go, String(dead)], { stdio: ["ignore", "ignore", "pipe"] }),
      );
      const ends = procs.map(
        (p) =>
          new Promise<string>((resolve) => {
            let err = "";
            p.stderr!.on("data", (d) => (err += d));
            p.on("close", (code) => resolve(code === 0 ? "" : `exit ${code}: ${err.slice(0, 500)}`));
          }),
      );
      writeFileSync(go, "");
      expect((await Promise.all(ends)).filter(Boolean)).toEqual([]);
      expect(existsSync(path.join(tmp, "held"))).toBe(false);
      // No file written aside, no break file: only the lock the last one left.
      expect(readdirSync(dir).filter((f) => f !== "lock")).toEqual([]);
    },
  );
});
