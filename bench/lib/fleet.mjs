// A simulated fleet of sidecars for the scale scenario: the writer that changes one small
// file per pod on a fixed schedule, the raw reference loops that save on each write, the
// watcher of bare repos' refs, and the arithmetic from writes and server-side saves to
// latencies. Times here are epoch milliseconds with sub-ms precision (`wall()`), so that a
// server process's timestamps and ours compare directly.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { watch, writeFileSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { clearInterval, setInterval, setTimeout } from "node:timers";
import { promisify } from "node:util";
import { readRef } from "./git.mjs";
import { Proc, now, sleep } from "./proc.mjs";

const execFileP = promisify(execFile);

export const wall = () => performance.timeOrigin + performance.now();

/** The file each pod's writer changes, at the root of its work dir. */
export const PULSE = "pulse.txt";

/** What write `seq` of pod `pod` puts in the pulse file: small, and distinct per write. */
export const pulseText = (pod, seq) => `seq ${seq} pod ${pod}\n`;

export const md5 = (text) => createHash("md5").update(text).digest("hex");

/** The p-quantile (0–1) of `values`, nearest rank; undefined when empty. */
export function quantile(values, p) {
  const v = [...values].sort((a, b) => a - b);
  if (!v.length) return undefined;
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))];
}

/**
 * Write each pod's pulse file every `intervalMs` for `windowMs`, pods spread evenly over the
 * interval (a steady load, not N writes at once). Write `seq` (from 1) goes to `works[i]`,
 * then `onWrite(i, seq)` runs. Returns the writes per pod: [{ seq, t }], t just before the write.
 */
export async function driveWrites(works, { intervalMs, windowMs, onWrite = () => {} }) {
  const n = works.length;
  const plan = [];
  for (let i = 0; i < n; i++) {
    for (let at = (i / n) * intervalMs, seq = 1; at < windowMs; at += intervalMs, seq++) plan.push({ at, i, seq });
  }
  plan.sort((a, b) => a.at - b.at);
  const writes = works.map(() => []);
  const t0 = now();
  for (const { at, i, seq } of plan) {
    const wait = t0 + at - now();
    if (wait > 0) await sleep(wait);
    writes[i].push({ seq, t: wall() });
    writeFileSync(path.join(works[i], PULSE), pulseText(i, seq));
    onWrite(i, seq);
  }
  return writes;
}

/**
 * A raw reference loop: one bash per pod that runs `cmd` (its save: `git add && commit &&
 * push`, a curl PUT) each time it is asked, one at a time. `write(seq)` asks for a save
 * unless one runs; a write during a save is saved by the next one, a failed save is retried
 * after a second. CPU ticks of the bash include the reaped git/curl it ran.
 */
export class RawLoop {
  constructor(name, cmd, { cwd, env }) {
    this.latest = 0;
    this.sent = 0;
    this.busy = false;
    this.failures = 0;
    this.saves = 0;
    const loop = 'while read -r _; do "$@" >/dev/null; echo "done $?"; done';
    this.proc = new Proc(name, "bash", ["-c", loop, "raw-loop", ...cmd], {
      cwd,
      env,
      stdin: "pipe",
      onLine: (l) => this.onLine(l),
    });
    this.pid = this.proc.pid;
  }

  get name() {
    return this.proc.name;
  }

  get exited() {
    return this.proc.exited;
  }

  get lines() {
    return this.proc.lines;
  }

  tail(n) {
    return this.proc.tail(n);
  }

  write(seq) {
    this.latest = seq;
    if (!this.busy) this.kick();
  }

  kick() {
    this.busy = true;
    this.sent = this.latest;
    this.proc.send("save\n");
  }

  onLine({ stream, text }) {
    const m = stream === "out" && /^done (\d+)$/.exec(text);
    if (!m) return;
    this.busy = false;
    if (m[1] === "0") {
      this.saves++;
      if (this.latest > this.sent) this.kick();
    } else {
      this.failures++;
      setTimeout(() => !this.busy && this.kick(), 1000).unref();
    }
  }

  stop() {
    return this.proc.stop({ group: true, timeout: 5000 });
  }
}

/**
 * Record every new tip of the `main` branch of each bare repo, with the time it was seen:
 * inotify on refs/heads (git renames main.lock over main), and a slow poll in case an
 * event was missed. `tips[i]` = [{ sha, t }] in order; `close()` ends it.
 */
export function watchRefs(bares, { pollMs = 250 } = {}) {
  const tips = bares.map(() => []);
  const last = bares.map((b) => readRef(b));
  const check = (i) => {
    const sha = readRef(bares[i]);
    if (sha && sha !== last[i]) {
      last[i] = sha;
      tips[i].push({ sha, t: wall() });
    }
  };
  const watchers = bares.map((b, i) => watch(path.join(b, "refs", "heads"), () => check(i)));
  const timer = setInterval(() => bares.forEach((_, i) => check(i)), pollMs);
  return {
    tips,
    close() {
      clearInterval(timer);
      for (const w of watchers) w.close();
    },
  };
}

/** The seq in a pulse file's text (0 for anything else). */
const seqOf = (text) => Number(/^\+?seq (\d+) /m.exec(text)?.[1] ?? 0);

/** The seq of the pulse file on the tip of `bare`'s main (undefined while there is none). */
export async function tipSeq(env, bare) {
  try {
    const { stdout } = await execFileP("git", ["-C", bare, "show", `main:${PULSE}`], { env });
    return seqOf(stdout);
  } catch {
    return undefined;
  }
}

/**
 * The saves that landed in `bare` after commit `from`, as [{ seq, t }]: each commit's pulse
 * content, visible from the first observed tip that is it or a descendant (linear history:
 * one writer per repo) — a commit pushed together with a later one is visible with it.
 */
export async function gitSaves(env, bare, from, tips) {
  const range = from ? `${from}..main` : "main";
  const { stdout } = await execFileP(
    "git",
    ["-C", bare, "log", "--reverse", "--no-color", "--format=commit %H", "-p", "--unified=0", range, "--", PULSE],
    { env, maxBuffer: 64 * 1024 * 1024 },
  );
  const commits = [];
  for (const line of stdout.split("\n")) {
    if (line.startsWith("commit ")) commits.push({ sha: line.slice(7), seq: 0 });
    else if (line.startsWith("+seq ") && commits.length) commits.at(-1).seq = seqOf(line);
  }
  const index = new Map(commits.map((c, j) => [c.sha, j]));
  return commits.map((c, j) => ({ seq: c.seq, t: tips.find((tip) => (index.get(tip.sha) ?? -1) >= j)?.t }));
}

/**
 * Latency of each write: from the write to the first save (seq ≥ its seq) seen at the server,
 * less `minus` (the debounce); `unsaved` writes never reached it.
 */
export function writeLatencies(writes, saves, minus = 0) {
  const ms = [];
  let unsaved = 0;
  for (const w of writes) {
    const s = saves.find((x) => x.t !== undefined && x.seq >= w.seq && x.t >= w.t);
    if (s) ms.push(s.t - w.t - minus);
    else unsaved++;
  }
  return { ms, unsaved };
}
