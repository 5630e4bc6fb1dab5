/**
 * A process taking the state lock in turns with others (test/unit/state-lock.test.ts): each
 * round it takes the lock, logs "in"/"out", then dies as holder would (a lock naming a dead pid
 * replaces its own), so every round starts with the others racing over a stale lock.
 * argv: <state dir> <log file> <rounds> <go file> <dead pid>
 */
import { appendFileSync, existsSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { StateLock } from "../../src/state";

const [stateDir, logFile, rounds, go, deadPid] = process.argv.slice(2) as [string, string, string, string, string];
while (!existsSync(go)); // start together
for (let i = 0; i < Number(rounds); i++) {
  const got = await StateLock.acquire(stateDir, "push", 60_000);
  if (!("lock" in got)) throw new Error("a watcher answered");
  appendFileSync(logFile, `in ${process.pid}\n`);
  appendFileSync(logFile, `out ${process.pid}\n`);
  const stale = path.join(stateDir, `stale.${process.pid}`);
  writeFileSync(stale, JSON.stringify({ pid: Number(deadPid), command: "push" }));
  renameSync(stale, path.join(stateDir, "lock"));
}
