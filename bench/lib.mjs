// Helpers for the benchmark harness (bench/run.mjs): processes we start and always stop,
// /proc sampling, the bare remote's ref, workload trees, statistics and the markdown table.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  realpathSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { Buffer } from "node:buffer";
import path from "node:path";
import { performance } from "node:perf_hooks";
import process from "node:process";
import { clearTimeout, setTimeout } from "node:timers";
import { setTimeout as sleep } from "node:timers/promises";

export { sleep };
export const now = () => performance.now();

export const ROOT = path.resolve(import.meta.dirname, "..");
const localNode = path.join(ROOT, "node_modules", ".bin", "node");
/** The project's Node (what bin/mirrorshade runs the bundle on); the one running us otherwise. */
export const NODE = existsSync(localNode) ? realpathSync(localNode) : process.execPath;
export const BUNDLE = path.join(ROOT, "dist", "mirrorshade.cjs");
export const BINARY = path.join(ROOT, "dist", "mirrorshade");
export const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

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

// ---------------------------------------------------------------------------------------
// Processes. Each long-lived child leads its own process group (detached) so that it and
// whatever it started (git, sleep, inotifywait) can be stopped by its id, even on failure.

const live = new Set();

export class Proc {
  constructor(name, cmd, args, opts = {}) {
    this.name = name;
    this.lines = [];
    this.exited = false;
    this.startedAt = now();
    this.child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? cleanEnv(),
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.pid = this.child.pid;
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

// ---------------------------------------------------------------------------------------
// /proc

function statFields(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  return s.slice(s.lastIndexOf(")") + 2).split(" ");
}

/** CPU ticks of a process: its own (all threads) plus its reaped children's. */
export function cpuTicks(pid) {
  const f = statFields(pid);
  return { self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
}

export function statusKb(pid, key) {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

/** Resident set size in MB (VmRSS; VmHWM with peak). */
export function rssMb(pid, peak = false) {
  return statusKb(pid, peak ? "VmHWM" : "VmRSS") / 1024;
}

/** Context switches summed over the threads of `pid` (each voluntary one is a sleep after a wake-up). */
export function ctxtSwitches(pid) {
  const out = { voluntary: 0, involuntary: 0, mainVoluntary: 0, threads: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let s;
    try {
      s = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
    } catch {
      continue; // the thread ended
    }
    const v = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    out.voluntary += v;
    out.involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    if (tid === String(pid)) out.mainVoluntary = v;
    out.threads++;
  }
  return out;
}

/** Live processes of a process group: [{ pid, comm }]. */
export function groupMembers(pgid) {
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, "utf8");
      const comm = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      if (Number(f[2]) === pgid && f[0] !== "Z") out.push({ pid: Number(d), comm });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/**
 * Wait until a process group is quiet: no git (or sh) running in it and the leader's CPU
 * time (own + reaped children) unchanged for `quietMs`. A save in progress is not quiet.
 */
export async function waitQuiet(proc, { quietMs = 600, timeout = 300_000, busy = /^(git|sh)$|^git-/ } = {}) {
  const end = now() + timeout;
  let last = -1;
  let since = now();
  while (now() < end) {
    if (proc.exited) throw new Error(`${proc.name} exited (${proc.code ?? proc.signal})\n${proc.tail()}`);
    const members = groupMembers(proc.pid);
    const t = cpuTicks(proc.pid);
    const total = t.self + t.children;
    if (members.some((m) => m.pid !== proc.pid && busy.test(m.comm)) || total !== last) {
      last = total;
      since = now();
    } else if (now() - since >= quietMs) {
      return;
    }
    await sleep(50);
  }
  throw new Error(`${proc.name} did not go quiet within ${timeout} ms`);
}

// ---------------------------------------------------------------------------------------
// The bare remote, read cheaply: the loose ref file, else packed-refs.

export function readRef(bare, branch = "main") {
  try {
    return readFileSync(path.join(bare, "refs", "heads", branch), "utf8").trim();
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
  }
  try {
    const packed = readFileSync(path.join(bare, "packed-refs"), "utf8");
    return new RegExp(`^([0-9a-f]{40,64}) refs/heads/${branch}$`, "m").exec(packed)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Poll the ref every `interval` ms until `accept(sha)` is true for a new value; returns the
 * time the accepted value was first seen. `onChange(sha, t)` sees every new value.
 */
export async function waitRef(bare, { from, accept = () => true, onChange, timeout = 120_000, interval = 5 } = {}) {
  const end = now() + timeout;
  let last = from;
  while (now() < end) {
    const sha = readRef(bare);
    if (sha && sha !== last) {
      const t = now();
      last = sha;
      onChange?.(sha, t);
      if (accept(sha)) return { sha, t };
    }
    await sleep(interval);
  }
  throw new Error(`${bare}: no accepted new commit within ${timeout} ms (last ${last ?? "none"})`);
}

// ---------------------------------------------------------------------------------------
// git for the references: plain git with a private global config (an identity, no
// signing) and nothing from the host's config.

export function gitEnv(tmp) {
  const cfg = path.join(tmp, "gitconfig-bench");
  if (!existsSync(cfg)) {
    writeFileSync(
      cfg,
      "[user]\n\tname = bench\n\temail = bench@example.invalid\n[init]\n\tdefaultBranch = main\n[commit]\n\tgpgSign = false\n",
    );
  }
  return cleanEnv({ GIT_CONFIG_GLOBAL: cfg, GIT_CONFIG_NOSYSTEM: "1", LC_ALL: "C" });
}

export function git(env, args, opts = {}) {
  return run("git", args, { env, ...opts });
}

export function initBare(env, dir) {
  git(env, ["init", "-q", "--bare", "-b", "main", dir]);
  return dir;
}

/** A work dir with its own .git, everything committed and pushed to a new bare `remote`. */
export function rawRepo(env, dir, remote) {
  initBare(env, remote);
  git(env, ["init", "-q", "-b", "main"], { cwd: dir });
  git(env, ["remote", "add", "origin", remote], { cwd: dir });
  const r = run("sh", ["-c", "git add -A && git commit -q -m initial && git push -q origin HEAD:main"], {
    cwd: dir,
    env,
  });
  return r.ms;
}

// ---------------------------------------------------------------------------------------
// Workloads

/** A small file's content: deterministic, distinct per path, ~150 bytes. */
export function smallContent(rel, salt = "") {
  return `${rel}${salt}\n${"lorem ipsum dolor sit amet ".repeat(5)}\n`;
}

/** `count` small files in `dir`, 100 per sub-directory (d0000/f000.txt …). */
export function makeTree(dir, count, { perDir = 100, prefix = "" } = {}) {
  const rels = treePaths(count, { perDir, prefix });
  let made = "";
  for (const rel of rels) {
    const d = path.dirname(rel);
    if (d !== made) {
      mkdirSync(path.join(dir, d), { recursive: true });
      made = d;
    }
    writeFileSync(path.join(dir, rel), smallContent(rel));
  }
  return rels;
}

export function treePaths(count, { perDir = 100, prefix = "" } = {}) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const d = String(Math.floor(i / perDir)).padStart(4, "0");
    const f = String(i % perDir).padStart(3, "0");
    out.push(`${prefix}d${d}/f${f}.txt`);
  }
  return out;
}

/** A notebook-sized (~`kb` KB) nbformat 4 document; `seq` changes outputs and counts. */
export function notebook(seq, kb = 200) {
  const cells = [];
  let size = 0;
  for (let i = 0; size < kb * 1024; i++) {
    const out = `${seq}:${i} ` + "0123456789abcdef".repeat(40);
    const cell = {
      cell_type: "code",
      execution_count: seq * 1000 + i,
      id: `cell-${i}`,
      metadata: {},
      outputs: [{ name: "stdout", output_type: "stream", text: [out + "\n", out + "\n"] }],
      source: [`import numpy as np\n`, `x = np.arange(${i})\n`, `print(x.sum() + ${seq})\n`],
    };
    size += JSON.stringify(cell).length;
    cells.push(cell);
  }
  return (
    JSON.stringify(
      {
        cells,
        metadata: { kernelspec: { display_name: "Python 3", language: "python", name: "python3" } },
        nbformat: 4,
        nbformat_minor: 5,
      },
      null,
      1,
    ) + "\n"
  );
}

/**
 * Rewrite a file in place as Jupyter's contents manager does: truncate, then write the new
 * text in 64 KB pieces with a short pause between them (a slow disk), so the file is
 * briefly empty or a prefix of the new text.
 */
export async function rewriteInPlace(file, text, { chunk = 64 * 1024, pauseMs = 2 } = {}) {
  const buf = Buffer.from(text);
  const fd = openSync(file, "w");
  try {
    for (let off = 0; off < buf.length; off += chunk) {
      writeSync(fd, buf, off, Math.min(chunk, buf.length - off));
      if (off + chunk < buf.length && pauseMs) await sleep(pauseMs);
    }
  } finally {
    closeSync(fd);
  }
}

// ---------------------------------------------------------------------------------------
// Statistics and formatting

export function stats(values) {
  const v = values.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length, samples: values };
}

export function fmtNum(x, unit) {
  if (x === undefined || x === null || Number.isNaN(x)) return "—";
  if (unit === "ms") return x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`;
  if (unit === "s") return `${x.toFixed(1)} s`;
  if (unit === "MB") return `${x.toFixed(1)} MB`;
  if (unit === "%") return `${x.toFixed(3)} %`;
  if (unit === "/min") return `${x.toFixed(1)}/min`;
  return `${Number.isInteger(x) ? x : x.toFixed(2)}${unit ? ` ${unit}` : ""}`;
}

/** "median (min–max)" of a stats object. */
export function fmtStats(s, unit) {
  if (!s) return "—";
  if (s.n === 1 || s.min === s.max) return fmtNum(s.median, unit);
  return `${fmtNum(s.median, unit)} (${fmtNum(s.min, unit)}–${fmtNum(s.max, unit)})`;
}

/** A markdown table with padded columns (the form prettier leaves untouched). */
export function mdTable(header, rows) {
  const esc = (c) => String(c).replace(/\|/g, "\\|");
  const all = [header, ...rows].map((r) => r.map(esc));
  const width = header.map((_, i) => Math.max(3, ...all.map((r) => [...r[i]].length)));
  const line = (r) => `| ${r.map((c, i) => c + " ".repeat(width[i] - [...c].length)).join(" | ")} |`;
  return [line(all[0]), `| ${width.map((w) => "-".repeat(w)).join(" | ")} |`, ...all.slice(1).map(line)].join("\n");
}

/** `git` output as lines. */
export function gitLines(env, args, opts) {
  return execFileSync("git", args, { env, encoding: "utf8", maxBuffer: 256 * 1024 * 1024, ...opts })
    .split("\n")
    .filter(Boolean);
}
