/**
 * Test helpers: temp dirs that always go away, real git, the built CLI as a parameter
 * (MIRRORSHADE_CLI, default: the bundle on the project's Node), and waiting for conditions
 * instead of sleeping.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach } from "vitest";

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

/** The test runner's env without variables that would change git or mirrorshade. */
export function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("GIT_") && !k.startsWith("MIRRORSHADE_")) env[k] = v;
  }
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
    list = git(bare, "ls-tree", "-r", "-z", "--name-only", branch);
  } catch {
    return files; // no commits yet
  }
  for (const p of list.split("\0").filter(Boolean)) files.set(p, git(bare, "show", `${branch}:${p}`));
  return files;
}

export function commitCount(bare: string, branch = "main"): number {
  try {
    return Number(git(bare, "rev-list", "--count", branch).trim());
  } catch {
    return 0;
  }
}

export function write(dir: string, rel: string, content: string): void {
  const p = path.join(dir, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
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

/** Run the CLI to completion. */
export function run(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<RunResult> {
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
export function start(
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Running {
  const [cmd, ...pre] = cliCommand();
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
  const logs = () =>
    err
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          return {};
        }
      });
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    logs,
    exited,
    waitForLog: (what, match, timeoutMs) => waitFor(what, () => logs().find(match), timeoutMs),
  };
}

/** Start `watch` and wait until it watches. */
export async function startWatch(sb: Sandbox, extra: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const w = start(["watch", sb.work, "--debounce", "200ms", ...extra], { env: { ...sb.env, ...env } });
  await Promise.race([
    w.waitForLog("watch to start", (l) => String(l.msg).startsWith("watching ")),
    w.exited.then((r) => {
      throw new Error(`watch exited early (${r.code}): ${r.stderr}`);
    }),
  ]);
  return w;
}
