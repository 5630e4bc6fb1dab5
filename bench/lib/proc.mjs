// Processes the bench starts and always stops (each leads its own process group), commands
// run to completion, and where the programs under test live.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { clearTimeout, setTimeout } from "node:timers";
import { setTimeout as sleep } from "node:timers/promises";

export { sleep };
export const now = () => performance.now();

export const ROOT = path.resolve(import.meta.dirname, "..", "..");
const localNode = path.join(ROOT, "node_modules", ".bin", "node");
/** The project's Node (what bin/mirrorshade runs the bundle on); the one running us otherwise. */
export const NODE = existsSync(localNode) ? realpathSync(localNode) : process.execPath;
export const BUNDLE = path.join(ROOT, "dist", "mirrorshade.cjs");
export const BINARY = path.join(ROOT, "dist", "mirrorshade");

/** The environment without anything that would steer git or the CLI from outside. */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k.startsWith("GIT_") || k.startsWith("MIRRORSHADE_") || k === "NODE_OPTIONS") continue;
    env[k] = v;
  }
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function which(cmd) {
  return spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" }).status === 0;
}

// Each long-lived child leads its own process group (detached) so that it and
// whatever it started (git, sleep, inotifywait) can be stopped by its id, even on failure.

const live = new Set();

/**
 * A long-lived child. `opts`: cwd, env, `stdin: "pipe"` to write to it (`send`), `onLine(line)`
 * called for each line of its output as it arrives.
 */
export class Proc {
  constructor(name, cmd, args, opts = {}) {
    this.name = name;
    this.lines = [];
    this.lineHook = opts.onLine;
    this.exited = false;
    this.startedAt = now();
    this.child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? cleanEnv(),
      detached: true,
      stdio: [opts.stdin === "pipe" ? "pipe" : "ignore", "pipe", "pipe"],
    });
    this.pid = this.child.pid;
    this.child.stdin?.on("error", () => {}); // EPIPE: it exited; its exit says so
    live.add(this);
    this.exit = new Promise((resolve) => {
      this.child.on("exit", (code, signal) => {
        this.exited = true;
        this.code = code;
        this.signal = signal;
        live.delete(this);
        resolve({ code, signal });
      });
      this.child.on("error", (err) => {
        this.exited = true;
        this.error = err;
        live.delete(this);
        resolve({ code: -1, signal: null });
      });
    });
    this.waiters = [];
    for (const [stream, label] of [
      [this.child.stdout, "out"],
      [this.child.stderr, "err"],
    ]) {
      let buf = "";
      stream.setEncoding("utf8");
      stream.on("data", (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          this.onLine(label, buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    }
  }

  onLine(stream, text) {
    const line = { t: now(), stream, text };
    try {
      if (text.startsWith("{")) line.json = JSON.parse(text);
    } catch {
      // not a JSON log line
    }
    this.lines.push(line);
    this.lineHook?.(line);
    for (const w of [...this.waiters]) if (w.test(line)) w.done(line);
  }

  /** The first line (from index `from`) matching `test`; rejects on exit or timeout. */
  waitLine(test, { timeout = 60_000, from = 0 } = {}) {
    const seen = this.lines.slice(from).find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        test,
        done: (line) => {
          clearTimeout(timer);
          this.waiters.splice(this.waiters.indexOf(w), 1);
          resolve(line);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.name}: no matching output within ${timeout} ms\n${this.tail()}`));
      }, timeout);
      this.waiters.push(w);
      void this.exit.then(() => {
        if (!this.waiters.includes(w)) return;
        clearTimeout(timer);
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(
          new Error(`${this.name} exited (${this.code ?? this.signal}) before the expected output\n${this.tail()}`),
        );
      });
    });
  }

  /** Write `text` to its stdin (started with stdin: "pipe"); a no-op once it exited. */
  send(text) {
    if (!this.exited) this.child.stdin.write(text);
  }

  /** A JSON log line whose msg matches `re`. */
  waitLog(re, opts) {
    return this.waitLine((l) => l.json && re.test(String(l.json.msg)), opts);
  }

  logs(re) {
    return this.lines.filter((l) => l.json && re.test(String(l.json.msg)));
  }

  tail(n = 15) {
    return this.lines
      .slice(-n)
      .map((l) => `  ${this.name}> ${l.text}`)
      .join("\n");
  }

  /** Signal the process (or, with group, its whole process group). */
  kill(signal, group = false) {
    if (this.exited) return;
    try {
      process.kill(group ? -this.pid : this.pid, signal);
    } catch {
      // gone already
    }
  }

  /** Stop: `signal` to the process (or its group), then SIGKILL to the group after `timeout`. */
  async stop({ signal = "SIGTERM", group = false, timeout = 20_000 } = {}) {
    if (!this.exited) {
      this.kill(signal, group);
      const done = await Promise.race([this.exit.then(() => true), sleep(timeout).then(() => false)]);
      if (!done) this.kill("SIGKILL", true);
    }
    await this.exit;
    // Whatever it left behind in its group (a sleep of gitwatch.sh, a git of a killed save).
    try {
      process.kill(-this.pid, "SIGKILL");
    } catch {
      // the group is empty
    }
    return { code: this.code, signal: this.signal };
  }
}

/** Stop every child still running (on failure or a signal). */
export async function stopAll() {
  await Promise.all([...live].map((p) => p.stop({ group: true, timeout: 3000 })));
}

/** Run a command to completion; `ms` is its wall time. */
export function run(cmd, args, opts = {}) {
  const t0 = now();
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env ?? cleanEnv(),
    encoding: "utf8",
    input: opts.input,
    maxBuffer: 256 * 1024 * 1024,
    timeout: opts.timeout ?? 600_000,
  });
  const ms = now() - t0;
  if (r.error) throw r.error;
  if (r.status !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.status ?? r.signal}: ${(r.stderr || r.stdout).trim()}`);
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms };
}

/** The last non-empty line of a command's output. */
export function lastLine(s) {
  return (s ?? "").trim().split("\n").filter(Boolean).at(-1) ?? "";
}
