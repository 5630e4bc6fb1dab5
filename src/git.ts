/**
 * The one place that builds the environment of every git child process, and runs git.
 * Sidecar mode isolates git from the host (private global config, no system config,
 * git dir in the state dir); laptop mode uses the user's own git and ssh setup.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Readable } from "node:stream";
import path from "node:path";
import { AuthError, ConfigError, MirrorshadeError, NotFoundError, TransientError } from "./errors";
import { now, recordSpan } from "./profile";
import { redact, stripUserinfo } from "./redact";

export interface GitEnvOptions {
  /** Our private git dir (sidecar mode); undefined = git discovers it in `cwd` (laptop mode). */
  gitDir?: string;
  workTree: string;
  stateDir: string;
  identity?: { name: string; email: string };
  /**
   * The one transport git may use (sidecar mode): `file`, `ssh`, `https`, `http` or `git`,
   * the remote's. Every other one (`ext::`, `fd::`, …) is refused by git itself.
   */
  transport?: string;
}

/**
 * Our private global config (sidecar mode). Nothing here comes from the work dir: git reads
 * no system config, this file instead of ~/.gitconfig, and the repo config in our state dir.
 * What could run code or reach elsewhere is off: fsmonitor, every transport but the
 * remote's, submodule recursion (a gitlink would make git run in a planted repo). Hooks are
 * turned off in our repo's own config instead (see backends/git/repo.ts): this file also
 * reaches the receive-pack of a local remote, whose own hooks are its admin's business.
 * A stalled http transfer (below 1 KB/s for a minute) is abandoned.
 */
function globalConfig(opts: GitEnvOptions): string {
  const lines = [
    "[safe]",
    `\tdirectory = ${opts.workTree}`,
    `\tdirectory = ${opts.gitDir}`,
    "[core]",
    "\tquotePath = false",
    "\tautocrlf = false",
    "\tfsmonitor = false",
    "[commit]",
    "\tgpgSign = false",
    "[init]",
    "\tdefaultBranch = main",
    "[protocol]",
    "\tallow = never",
    ...(opts.transport ? [`[protocol "${opts.transport}"]`, "\tallow = always"] : []),
    "[submodule]",
    "\trecurse = false",
    "[fetch]",
    "\trecurseSubmodules = false",
    "[push]",
    "\trecurseSubmodules = no",
    "[diff]",
    "\tignoreSubmodules = all",
    "[http]",
    `\tlowSpeedLimit = ${LOW_SPEED_LIMIT}`,
    `\tlowSpeedTime = ${LOW_SPEED_TIME}`,
  ];
  return lines.join("\n") + "\n";
}

const LOW_SPEED_LIMIT = 1000;
const LOW_SPEED_TIME = 60;

/**
 * Per-command config for in-place mode, where the repo and its config are the user's own:
 * no fsmonitor, and no hooks unless asked (`--run-hooks`); stalled http transfers are
 * abandoned as in sidecar mode. Given as `-c`: none of it is secret.
 */
export function inPlaceConfig(runHooks: boolean): string[] {
  return [
    ...(runHooks ? [] : ["-c", "core.hooksPath=/dev/null"]),
    "-c",
    "core.fsmonitor=false",
    "-c",
    `http.lowSpeedLimit=${LOW_SPEED_LIMIT}`,
    "-c",
    `http.lowSpeedTime=${LOW_SPEED_TIME}`,
  ];
}

/** The user's own ssh choice, passed through in laptop mode only. */
const LAPTOP_PASSTHROUGH = ["GIT_SSH"];

/** Ambient variables that make git run a program (editors, pagers): git here is never interactive. */
const RUNS_CODE = new Set(["EDITOR", "VISUAL", "PAGER", "PREFIX", "SSH_ASKPASS"]);

export function buildGitEnv(opts: GitEnvOptions, base: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(base)) {
    // Our own variables (a token among them) are no business of git's.
    if (v !== undefined && !k.startsWith("GIT_") && !k.startsWith("MIRRORSHADE_") && !RUNS_CODE.has(k)) env[k] = v;
  }
  Object.assign(env, {
    LC_ALL: "C",
    LANGUAGE: "C",
    GIT_TERMINAL_PROMPT: "0",
    // Paths we pass are file names, never globs.
    GIT_LITERAL_PATHSPECS: "1",
  });
  if (opts.gitDir) {
    const file = path.join(opts.stateDir, "gitconfig");
    // A private global config: HOME may be "/" (unwritable) and the host's config is not ours.
    // Written only when it changes: a full disk must not stop a restart.
    const text = globalConfig(opts);
    if (readOrEmpty(file) !== text) writeFileSync(file, text, { mode: 0o600 });
    Object.assign(env, {
      GIT_DIR: opts.gitDir,
      GIT_WORK_TREE: opts.workTree,
      GIT_CONFIG_GLOBAL: file,
      GIT_CONFIG_NOSYSTEM: "1",
    });
  } else {
    for (const k of [...LAPTOP_PASSTHROUGH, "GIT_SSH_COMMAND", "GIT_SSH_VARIANT"]) if (base[k]) env[k] = base[k]!;
  }
  if (opts.identity) {
    Object.assign(env, {
      GIT_AUTHOR_NAME: opts.identity.name,
      GIT_AUTHOR_EMAIL: opts.identity.email,
      GIT_COMMITTER_NAME: opts.identity.name,
      GIT_COMMITTER_EMAIL: opts.identity.email,
    });
  }
  return env;
}

function readOrEmpty(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}

export class GitFailure extends Error {
  constructor(
    readonly args: readonly string[],
    readonly code: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(redact(`git ${args[0]} exited ${code}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`));
  }
}

export interface RunOptions {
  /** Written to git's stdin. */
  input?: string | Buffer;
  /** Exit codes that are answers, not failures (e.g. 1 for `diff --quiet`). */
  okCodes?: number[];
  /** Extra variables for this call only (GIT_INDEX_FILE). */
  env?: Record<string, string>;
}

export interface RunResult {
  stdout: string;
  code: number;
}

export interface ExecOptions extends Omit<RunOptions, "input"> {
  /** Written to git's stdin: all at once, or streamed (a `fast-import` fed as files are read). */
  input?: string | Buffer | Readable;
  /** Receives stdout as it comes (a `cat-file --batch` stream); `stdout` is then empty. */
  onStdout?: (chunk: Buffer) => void;
  /** For calls that talk to the remote: when to give up (see NetworkDeadline). */
  deadline?: NetworkDeadline;
}

/**
 * When a network call is given up: it is stopped once it has been silent for `silenceMs`
 * (a live transfer prints progress), and once `at` has passed (what is left of --retry-for)
 * unless it is printing progress right now, so a slow but moving first push is not cut off.
 */
export interface NetworkDeadline {
  at?: number;
  silenceMs: number;
}

export interface ExecResult {
  stdout: Buffer;
  stderr: string;
  code: number;
}

/** A git child that outlived its deadline: it and every process it started were killed. */
export class GitTimeout extends Error {
  constructor(
    readonly args: readonly string[],
    readonly afterMs: number,
    readonly silent: boolean,
  ) {
    super(`git ${args[0]} stopped after ${Math.round(afterMs / 1000)} s${silent ? " without an answer" : ""}`);
  }
}

/** Process groups of our running git children, killed if we exit first (they are detached). */
const running = new Set<number>();
let exitHook = false;

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

export class Git {
  /** `config` is `-c` arguments put before every command (in-place mode's hardening, see inPlaceConfig). */
  constructor(
    readonly cwd: string,
    readonly env: Record<string, string>,
    readonly config: readonly string[] = [],
  ) {}

  /** Run git to completion; stdout as text. A non-zero exit is a GitFailure unless `okCodes` lists it. */
  async run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const r = await this.exec(args, opts);
    return { stdout: r.stdout.toString("utf8"), code: r.code };
  }

  async out(args: string[], opts?: RunOptions): Promise<string> {
    return (await this.run(args, opts)).stdout;
  }

  /**
   * Run git, in a process group of its own: a network call past its deadline is stopped with
   * the `git-remote-https` or `ssh` under it, and none outlives us. Spawned directly: through
   * simple-git each call cost argv and environment scans (guarding arguments built here and an
   * environment only buildGitEnv makes) and a 50 ms wait after a git that printed nothing,
   * and loading it ~1 MB of an idle watch's memory (measured, docs/performance.md).
   */
  exec(args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const env = opts.env ? { ...this.env, ...opts.env } : this.env;
    if (!exitHook) {
      exitHook = true;
      process.on("exit", () => running.forEach(killGroup));
    }
    const t0 = now();
    return new Promise<ExecResult>((resolve, reject) => {
      const started = Date.now();
      const child = spawn("git", [...this.config, ...args], {
        cwd: this.cwd,
        env,
        detached: true,
        stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      });
      const pid = child.pid;
      if (pid !== undefined) running.add(pid);
      const out: Buffer[] = [];
      let err = "";
      let lastOutput = Date.now();
      let heard = false;
      let timedOut: GitTimeout | undefined;
      child.stdout!.on("data", (d: Buffer) => {
        lastOutput = Date.now();
        heard = true;
        if (opts.onStdout) opts.onStdout(d);
        else out.push(d);
      });
      child.stderr!.on("data", (d: Buffer) => {
        lastOutput = Date.now();
        heard = true;
        err += d.toString("utf8");
      });
      const timer: NodeJS.Timeout | undefined = opts.deadline
        ? setInterval(() => {
            const now = Date.now();
            const silent = now - lastOutput >= opts.deadline!.silenceMs;
            const past = opts.deadline!.at !== undefined && now >= opts.deadline!.at && now - lastOutput >= 2000;
            if (!silent && !past) return;
            clearInterval(timer);
            timedOut = new GitTimeout(args, now - started, !heard);
            if (pid !== undefined) killGroup(pid);
          }, 250)
        : undefined;
      child.on("error", (e) => {
        clearInterval(timer);
        if (pid !== undefined) running.delete(pid);
        reject(spawnError(e, this.cwd));
      });
      child.on("close", (code) => {
        clearInterval(timer);
        if (pid !== undefined) running.delete(pid);
        if (timedOut) return reject(timedOut);
        const stdout = Buffer.concat(out);
        const c = code ?? 128;
        if (c === 0 || opts.okCodes?.includes(c)) return resolve({ stdout, stderr: err, code: c });
        reject(new GitFailure(args, c, stdout.toString("utf8"), withoutProgress(err)));
      });
      if (opts.input !== undefined) {
        child.stdin!.on("error", () => {}); // git exited before reading all: its exit code says why
        if (opts.input instanceof Readable) opts.input.pipe(child.stdin!);
        else child.stdin!.end(opts.input);
      }
    }).finally(() => recordSpan(`git ${args[0]}`, t0));
  }
}

/**
 * A git that could not start. ENOENT with an existing cwd is git missing from PATH: a setup
 * error with one line and a hint, not an unexpected one with a stack (spawn says ENOENT
 * for a missing cwd too, which is left as it is).
 */
function spawnError(err: NodeJS.ErrnoException, cwd: string): Error {
  if (err.code !== "ENOENT" || !existsSync(cwd)) return err;
  return new ConfigError("git is not installed: no git program on PATH", {
    hint: "install git, or add the directory that holds it to PATH",
    cause: err,
  });
}

/** stderr without `--progress` lines (they are rewritten in place with \r). */
export function withoutProgress(stderr: string): string {
  return stderr
    .split("\n")
    .map((l) => l.split("\r").filter(Boolean).at(-1) ?? "")
    .filter(
      (l) =>
        !/^(remote: )?(Enumerating|Counting|Compressing|Writing|Receiving|Resolving|Total|Delta compression)/.test(l),
    )
    .join("\n");
}

/** Split NUL-terminated git output. */
export function nulSplit(s: string): string[] {
  return s.split("\0").filter((x) => x !== "");
}

/** A git failure as one of our typed errors, with the original kept as `cause`; the message says precisely what is wrong. */
export function translate(err: GitFailure, remote: string): MirrorshadeError {
  const text = err.stderr + err.stdout;
  const where = stripUserinfo(remote);
  const opts = (hint: string) => ({ hint, cause: err });
  const rules: [RegExp, () => MirrorshadeError][] = [
    [
      /REMOTE HOST IDENTIFICATION HAS CHANGED/i,
      () =>
        new AuthError(
          `the ssh host key of ${where} CHANGED: it does not match the one in known_hosts`,
          opts(
            "if the server was really re-keyed, update the known_hosts you provide; otherwise someone may be intercepting",
          ),
        ),
    ],
    [
      /Host key verification failed|No \S+ host key is known/i,
      () =>
        new AuthError(
          `the ssh host key of ${where} is not in known_hosts`,
          opts(
            "provide it with MIRRORSHADE_SSH_KNOWN_HOSTS_FILE (ssh-keyscan), or opt in with --ssh-accept-new-host-keys",
          ),
        ),
    ],
    [
      /No user exists for uid/i,
      () =>
        new AuthError(
          "ssh refuses to run: this uid has no passwd entry",
          opts("install libnss-wrapper in the image (mirrorshade then provides the entry)"),
        ),
    ],
    [
      /Permission denied \(publickey|Permission denied, please try again/i,
      () =>
        new AuthError(
          `${where} rejected the ssh key`,
          opts("check that the key in MIRRORSHADE_SSH_KEY_FILE is authorized for this repository"),
        ),
    ],
    [
      /marked as read only|read-only|returned error: 403|HTTP 403|not allowed to push|permission to .* denied|You are not allowed/i,
      () =>
        new AuthError(`no push permission on ${where}`, opts("give the key or token write access to the repository")),
    ],
    [
      /Authentication failed|could not read (Username|Password)|returned error: 401|HTTP 401|Invalid username or (password|token)/i,
      () =>
        new AuthError(
          `${where} rejected the token (or none was given)`,
          opts("check MIRRORSHADE_TOKEN_FILE and --token-username"),
        ),
    ],
    [
      /Could not resolve host(name)?|Name or service not known|Temporary failure in name resolution/i,
      () => new TransientError(`cannot resolve the host of ${where}`, opts("check the host name in the URL, and DNS")),
    ],
    [
      /Connection refused|Connection timed out|No route to host|Network is unreachable|Operation timed out|Failed to connect/i,
      () =>
        new TransientError(
          `cannot connect to ${where}: ${lastLine(err.stderr)}`,
          opts("check the host, the port and the network (firewall, proxy, network policy)"),
        ),
    ],
    [
      /does not appear to be a git repository|Repository not found|returned error: 404|HTTP 404|No such file or directory|not found/i,
      () =>
        new NotFoundError(`repository ${where} not found`, opts("check the URL; for a local path, --create makes one")),
    ],
    [
      /pre-receive hook declined|\[remote rejected\]|protected branch/i,
      () =>
        new AuthError(
          `${where} rejected the push: ${lastLine(err.stderr)}`,
          opts("check the branch's protection and your push rights"),
        ),
    ],
  ];
  for (const [re, make] of rules) if (re.test(text)) return make();
  return new TransientError(`cannot reach ${where}: ${lastLine(err.stderr)}`, opts("check the network and the server"));
}

function lastLine(s: string): string {
  return s.trim().split("\n").filter(Boolean).at(-1) ?? "no message";
}
