/**
 * A process taking the state lock in turns with others (test/unit/state-lock.test.ts). Each
 * round it takes the lock and, while holding it across an await, holds `<dir>/held` too
 * (created exclusively: a second holder fails there). Then it releases, or, every other round,
 * dies as a holder would: a lock naming a dead pid replaces its own, so the others race to
 * break a stale lock.
 * argv: <state dir> <rounds> <go file> <dead pid>
 */
import { existsSync, openSync, closeSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { StateLock } from "../../src/state";

const [stateDir, rounds, go, deadPid] = process.argv.slice(2) as [string, string, string, string];
const held = path.join(stateDir, "..", "held");
while (!existsSync(go)); // start together
for (let i = 0; i < Number(rounds); i++) {
  const got = await StateLock.acquire(stateDir, "push", 120_000);
  if (!("lock" in got)) throw new Error("a watcher answered");
  closeSync(openSync(held, "wx")); // EEXIST: someone else holds the lock too
  await new Promise((r) => setTimeout(r, 5));
  rmSync(held);
  if (i % 2) {
    got.lock.release();
  } else {
    const stale = path.join(stateDir, "..", `stale.${process.pid}`);
    writeFileSync(stale, JSON.stringify({ pid: Number(deadPid), command: "push" }));
    renameSync(stale, path.join(stateDir, "lock"));
  }
}
