/**
 * Test helpers: temp dirs that always go away, real git, the built CLI as a parameter
 * (MIRRORSHADE_CLI, default: the bundle on the project's Node), and waiting for conditions
 * instead of sleeping.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach } from "vitest";
import { perDirConfigFile } from "../../src/paths";

export const ROOT = path.resolve(__dirname, "../..");

/** The command that runs mirrorshade: `MIRRORSHADE_CLI="/path/to/binary"` runs the single binary instead. */
export function cliCommand(): string[] {
  const custom = process.env.MIRRORSHADE_CLI;
  if (custom) return custom.split(" ");
  return [process.execPath, path.join(ROOT, "dist", "mirrorshade.cjs")];
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Run `fn` after the current test, pass or fail. */
export function defer(fn: () => void | Promise<void>): void {
  cleanups.push(fn);
}

export function tempDir(prefix = "ms-test-"): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  defer(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A sandbox: work dir, state dir and a bare remote, all under one temp dir. */
export interface Sandbox {
  root: string;
  work: string;
  state: string;
  remote: string;
  env: NodeJS.ProcessEnv;
}

export function sandbox(opts: { remote?: "empty" | "none" } = {}): Sandbox {
  const root = tempDir();
  const work = path.join(root, "work");
  const state = path.join(root, "state");
  const remote = path.join(root, "remote.git");
  mkdirSync(work);
  if (opts.remote !== "none") git(root, "init", "-q", "--bare", "-b", "main", remote);
  const env: NodeJS.ProcessEnv = {
    ...cleanEnv(),
    MIRRORSHADE_REMOTE: remote,
    MIRRORSHADE_STATE_DIR: state,
    MIRRORSHADE_LOG_FORMAT: "json",
  };
  return { root, work, state, remote, env };
}

/**
 * Another pod on the remote of `sb`: its own empty work dir and state dir, with the env of `sb`
 * (or `env`, when the remote needs credentials `sb.env` lacks) otherwise.
 */
export function elsewhere(sb: Sandbox, env: NodeJS.ProcessEnv = sb.env): Sandbox {
  const other = sandbox({ remote: "none" });
  return { ...other, remote: sb.remote, env: { ...env, MIRRORSHADE_STATE_DIR: other.state } };
}

let configHome: string | undefined;
afterAll(() => {
  if (configHome) rmSync(configHome, { recursive: true, force: true });
  configHome = undefined;
});

/**
 * The user config dir ($XDG_CONFIG_HOME) of every CLI run from this test file: empty at
 * first, never the runner's own ~/.config (init writes there, and every command reads it).
 */
export function testConfigHome(): string {
  configHome ??= mkdtempSync(path.join(tmpdir(), "ms-config-home-"));
  return configHome;
}

/** The config `init` wrote for `dir` (in the user config dir of `env`), or undefined. */
export function initConfig(
  dir: string,
  env: NodeJS.ProcessEnv,
): { file: string; config: Record<string, unknown> } | undefined {
  const file = perDirConfigFile(dir, env);
  if (!file || !existsSync(file)) return undefined;
  return { file, config: JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown> };
}

/** The test runner's env without variables that would change git or mirrorshade. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("GIT_") && !k.startsWith("MIRRORSHADE_")) env[k] = v;
  }
  env.XDG_CONFIG_HOME = testConfigHome();
  env.GIT_CONFIG_NOSYSTEM = "1";
  env.GIT_AUTHOR_NAME = env.GIT_COMMITTER_NAME = "test";
  env.GIT_AUTHOR_EMAIL = env.GIT_COMMITTER_EMAIL = "test@example.com";
  return env;
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, env: cleanEnv(), encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Files at the tip of `branch` in a bare repo, with their content. */
export function remoteFiles(bare: string, branch = "main"): Map<string, string> {
  const files = new Map<string, string>();
  let list: string;
  try {
    list = git(bare, "ls-tree", "-r", "-z", branch);
  } catch {
    return files; // no commits yet
  }
  // "<mode> <type> <sha>\t<path>": all contents in one `cat-file --batch`, not one git per file.
  const entries = list
    .split("\0")
    .filter(Boolean)
    .map((rec) => {
      const [, type, sha] = rec.slice(0, rec.indexOf("\t")).split(" ");
      return { type, sha: sha!, path: rec.slice(rec.indexOf("\t") + 1) };
    })
    .filter((e) => e.type === "blob"); // not submodule commits
  if (!entries.length) return files;
  const out = execFileSync("git", ["cat-file", "--batch"], {
    cwd: bare,
    env: cleanEnv(),
    input: entries.map((e) => e.sha).join("\n") + "\n",
    maxBuffer: 1 << 30,
  });
  let at = 0;
  for (const e of entries) {
    const nl = out.indexOf(10, at); // "<sha> <type> <size>\n<content>\n"
    const size = Number(out.subarray(at, nl).toString("latin1").split(" ")[2]);
    files.set(e.path, out.subarray(nl + 1, nl + 1 + size).toString("utf8"));
    at = nl + 1 + size + 1;
  }
  return files;
}

/** Paths at the tip of `branch` in a bare repo, without their content (cheap for big trees). */
export function remotePaths(bare: string, branch = "main"): string[] {
  try {
    return git(bare, "ls-tree", "-r", "-z", "--name-only", branch).split("\0").filter(Boolean);
  } catch {
    return []; // no commits yet
  }
}

export function commitCount(bare: string, branch = "main"): number {
  try {
    return Number(git(bare, "rev-list", "--count", branch).trim());
  } catch {
    return 0;
  }
}

/** Commit ids on `branch` of a bare repo, newest first (empty when it has none). */
export function commits(bare: string, branch = "main"): string[] {
  try {
    return git(bare, "rev-list", branch).split("\n").filter(Boolean);
  } catch {
    return [];
  }
}

/** Every path any commit of `branch` ever held: for "never landed" assertions. */
export function pathsInHistory(bare: string, branch = "main"): Set<string> {
  const all = new Set<string>();
  for (const c of commits(bare, branch)) {
    for (const p of git(bare, "ls-tree", "-r", "-z", "--name-only", c).split("\0")) if (p) all.add(p);
  }
  return all;
}

/** The content of `rel` in every commit of `branch` that has it, newest first. */
export function versionsInHistory(bare: string, rel: string, branch = "main"): { commit: string; content: string }[] {
  const out: { commit: string; content: string }[] = [];
  for (const c of commits(bare, branch)) {
    if (!git(bare, "ls-tree", "--name-only", c, "--", rel).trim()) continue;
    out.push({ commit: c, content: git(bare, "show", `${c}:${rel}`) });
  }
  return out;
}

export function write(dir: string, rel: string, content: string): void {
  const p = path.join(dir, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
}

/** Write `rel` in the sandbox's work dir and wait until the remote has it with that content: a watch saved it. */
export async function writeSaved(sb: Sandbox, rel: string, content: string): Promise<void> {
  write(sb.work, rel, content);
  await waitFor(`${rel} at the remote`, () => remoteFiles(sb.remote).get(rel) === content);
}

export async function waitFor<T>(
  what: string,
  fn: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** The command line that runs mirrorshade, instead of cliCommand() (e.g. behind setpriv). */
  command?: string[];
}

/** Run the CLI to completion. */
export function run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const p = start(args, opts);
  return p.exited;
}

export interface Running {
  proc: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** JSON log lines seen so far. */
  logs(): Record<string, unknown>[];
  exited: Promise<RunResult>;
  waitForLog(
    what: string,
    match: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

/** Start the CLI; it is killed after the test if still running. */
export function start(args: string[], opts: RunOptions = {}): Running {
  const [cmd, ...pre] = opts.command ?? cliCommand();
  const proc = spawn(cmd!, [...pre, ...args], {
    cwd: opts.cwd,
    env: opts.env ?? cleanEnv(),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (err += d));
  const timeout = setTimeout(() => proc.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
  const exited = new Promise<RunResult>((resolve) =>
    proc.on("close", (code, signal) => {
      clearTimeout(timeout);
      resolve({ code, signal, stdout: out, stderr: err });
    }),
  );
  defer(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGKILL");
      await exited;
    }
  });
  const logs = () => jsonLogs(err);
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    logs,
    exited,
    waitForLog: (what, match, timeoutMs) => waitFor(what, () => logs().find(match), timeoutMs),
  };
}

/** The JSON log lines in a process's stderr (other lines skipped). */
export function jsonLogs(stderr: string): Record<string, unknown>[] {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return {};
      }
    });
}

/** Start `watch` and wait until it watches. */
export async function startWatch(sb: Sandbox, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Running> {
  return waitForStart(start(["watch", sb.work, "--debounce", "200ms", ...extra], { env: { ...sb.env, ...env } }));
}

/** Wait for the log line `match` finds (default: "watching …"); fail at once if the process exits first. */
export async function waitForStart(
  w: Running,
  what = "watch to start",
  match: (line: Record<string, unknown>) => boolean = (l) => String(l.msg).startsWith("watching "),
): Promise<Running> {
  await Promise.race([
    w.waitForLog(what, match),
    w.exited.then((r) => {
      throw new Error(`watch exited early (${r.code}): ${r.stderr}`);
    }),
  ]);
  return w;
}

/**
 * Run any command to completion: its exit, never a throw on a non-zero one (a spawn error
 * rejects). Async, so servers running in this process (startGitHttp) keep answering.
 */
export function exec(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    p.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    p.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A port of 127.0.0.1 that was free a moment ago (a caller that binds later may lose it, and retries). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * A TCP server on loopback that accepts every connection and never says a word (a remote that
 * hangs); closed after the test. `accepted()`: the connections it took so far.
 */
export async function blackHole(): Promise<{ port: number; accepted(): number }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on("error", () => {}); // the client giving up resets it: no news
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  defer(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return { port: (server.address() as net.AddressInfo).port, accepted: () => accepted };
}

/** Send `signal` (SIGTERM: the pod's stop) and wait for the process to exit. */
export function stop(w: Running, signal: NodeJS.Signals = "SIGTERM"): Promise<RunResult> {
  w.proc.kill(signal);
  return w.exited;
}

/**
 * `pid` and every process below it (Linux, from /proc): what a container's death kills.
 * Parents come before their children.
 */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

/** Send `signal` to each pid; one that exited meanwhile (a hook's `sleep`) is no error. */
export function killAll(pids: number[], signal: NodeJS.Signals = "SIGKILL"): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ESRCH") throw err;
    }
  }
}

/** Is this pid still running (a zombie counts as gone)? */
export function isAlive(pid: number): boolean {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

/** A second, ordinary git clone of a bare remote (someone else: another pod, a laptop). */
export function cloneRemote(bare: string): string {
  const dir = path.join(tempDir("ms-clone-"), "clone");
  git(path.dirname(dir), "clone", "-q", bare, dir);
  return dir;
}

/** Write files (null deletes) in a clone, commit them and push; returns the new commit id. */
export function commitAndPush(clone: string, files: Record<string, string | null>, message = "someone else"): string {
  for (const [rel, content] of Object.entries(files)) {
    if (content === null) rmSync(path.join(clone, rel), { force: true });
    else write(clone, rel, content);
  }
  git(clone, "add", "-A");
  git(clone, "commit", "-q", "-m", message);
  const branch = git(clone, "symbolic-ref", "--short", "HEAD").trim();
  git(clone, "push", "-q", "origin", `HEAD:refs/heads/${branch}`);
  return git(clone, "rev-parse", "HEAD").trim();
}

/** Give a bare remote a history: one commit holding `files`, pushed from a throwaway clone; returns its id. */
export function seedRemote(bare: string, files: Record<string, string>, message = "seed"): string {
  const clone = cloneRemote(bare);
  git(clone, "symbolic-ref", "HEAD", "refs/heads/main");
  return commitAndPush(clone, files, message);
}

/** The commit id a ref names in a repo, or undefined. */
export function revParse(repo: string, ref = "main"): string | undefined {
  try {
    return git(repo, "rev-parse", "-q", "--verify", `${ref}^{commit}`).trim();
  } catch {
    return undefined;
  }
}

/** Whether `ancestor` is reachable from `descendant` in a repo. */
export function isAncestor(repo: string, ancestor: string, descendant: string): boolean {
  try {
    git(repo, "merge-base", "--is-ancestor", ancestor, descendant);
    return true;
  } catch {
    return false;
  }
}

/** Branch names (without refs/heads/) in a repo. */
export function branches(repo: string): string[] {
  return git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/").split("\n").filter(Boolean);
}

/** stderr lines that are not JSON log lines: what a person reads. */
export function plainLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("{"));
}

/**
 * The run's final error report as a person reads it: the `mirrorshade: …` line and its hint,
 * whether it came as text or, with the JSON log format, as the JSON log line that carries the
 * error's `code` and `exitCode`.
 */
export function reportedError(stderr: string): string[] {
  const fromJson = jsonLogs(stderr)
    .filter((l) => l.level === "error" && typeof l.code === "string" && typeof l.exitCode === "number")
    .flatMap((l) => [`mirrorshade: ${String(l.msg)}`, ...(l.hint ? [`  hint: ${String(l.hint)}`] : [])]);
  return [...fromJson, ...plainLines(stderr)];
}
