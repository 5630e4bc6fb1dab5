/**
 * The one place that builds the environment of every git child process, and runs git.
 * Sidecar mode isolates git from the host (private global config, no system config,
 * git dir in the state dir); laptop mode uses the user's own git and ssh setup.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { simpleGit, type SimpleGitOptions } from "simple-git";
import { AuthError, MirrorshadeError, NotFoundError, TransientError } from "./errors";
import { redact, stripUserinfo } from "./redact";

export interface GitEnvOptions {
  /** Our private git dir (sidecar mode); undefined = git discovers it in `cwd` (laptop mode). */
  gitDir?: string;
  workTree: string;
  stateDir: string;
  identity?: { name: string; email: string };
}

/** Keys mirrorshade sets itself; simple-git strips or refuses any other GIT_* variable. */
const OWN_KEYS = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_CONFIG_GLOBAL",
  "GIT_CONFIG_NOSYSTEM",
  "GIT_TERMINAL_PROMPT",
  "GIT_LITERAL_PATHSPECS",
  "GIT_AUTHOR_NAME",
  "GIT_AUTHOR_EMAIL",
  "GIT_COMMITTER_NAME",
  "GIT_COMMITTER_EMAIL",
  "GIT_INDEX_FILE",
  // Credentials (src/credentials.ts), per network call:
  "GIT_SSH_COMMAND",
  "GIT_SSH_VARIANT",
  "GIT_CONFIG_COUNT",
  "GIT_CONFIG_KEY_0",
  "GIT_CONFIG_VALUE_0",
  "GIT_SSL_CAINFO",
];
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
    const globalConfig = path.join(opts.stateDir, "gitconfig");
    // A private global config: HOME may be "/" (unwritable) and the host's config is not ours.
    writeFileSync(
      globalConfig,
      `[safe]\n\tdirectory = ${opts.workTree}\n\tdirectory = ${opts.gitDir}\n[core]\n\tquotePath = false\n\tautocrlf = false\n[commit]\n\tgpgSign = false\n[init]\n\tdefaultBranch = main\n`,
      { mode: 0o600 },
    );
    Object.assign(env, {
      GIT_DIR: opts.gitDir,
      GIT_WORK_TREE: opts.workTree,
      GIT_CONFIG_GLOBAL: globalConfig,
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

export class Git {
  constructor(
    readonly cwd: string,
    readonly env: Record<string, string>,
  ) {}

  async run(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const env = opts.env ? { ...this.env, ...opts.env } : this.env;
    let failure: GitFailure | undefined;
    const options: Partial<SimpleGitOptions> = {
      baseDir: this.cwd,
      trimmed: false,
      allowEnvironment: [...OWN_KEYS, ...LAPTOP_PASSTHROUGH].filter((k) => k in env),
      unsafe: {
        // Exactly what buildGitEnv sets: a private global config path and the user's own ssh command.
        allowUnsafeConfigPaths: "GIT_CONFIG_GLOBAL" in env,
        allowUnsafeSshCommand: "GIT_SSH_COMMAND" in env || "GIT_SSH" in env,
        // One entry (an http.<origin>.extraHeader carrying the token), set by credentialEnv.
        allowUnsafeConfigEnvCount: "GIT_CONFIG_COUNT" in env,
      },
      // Every non-zero exit becomes a GitFailure carrying the code and both outputs.
      errors: (error, result) => {
        if (result.exitCode === 0) return error;
        failure = new GitFailure(
          args,
          result.exitCode,
          Buffer.concat(result.stdOut).toString("utf8"),
          Buffer.concat(result.stdErr).toString("utf8"),
        );
        return failure;
      },
      ...(opts.input !== undefined ? { input: () => opts.input } : {}),
    };
    try {
      const stdout = await simpleGit(options).env(env).raw(args);
      return { stdout, code: 0 };
    } catch (err) {
      const f = failure ?? (err instanceof GitFailure ? err : undefined);
      if (f && opts.okCodes?.includes(f.code)) return { stdout: f.stdout, code: f.code };
      if (f) throw f;
      // spawn failed (git missing) or simple-git refused
      throw err;
    }
  }

  async out(args: string[], opts?: RunOptions): Promise<string> {
    return (await this.run(args, opts)).stdout;
  }
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
