/**
 * Talking to the remote: ls-remote (cached briefly), fetch, push, the write probe, creating
 * a local remote; credentials are read fresh for every call and git's failures translated.
 * Every call has a deadline: it is stopped (with the ssh or git-remote-https under it)
 * when silent too long, or past what is left of --retry-for, and that is a TransientError.
 */
import { existsSync, mkdirSync } from "node:fs";
import { ConfigError, NotFoundError, TransientError } from "../../src/errors";
import { credentialEnv } from "../../src/credentials";
import { timeLeft } from "../../src/deadline";
import { GitFailure, GitTimeout, translate } from "../../src/git";
import { schemeOf } from "../../src/remote";
import { stripCredentials, stripUserinfo } from "../../src/redact";
import type { Repo } from "./repo";
import { localPath } from "./util";

/**
 * A network call that prints nothing for this long is given up. Transfers print progress
 * (`--progress`); http also gives up below 1 KB/s for a minute, ssh after 45 s without an
 * answer to its keepalives (src/git.ts, src/credentials.ts).
 */
const SILENCE_MS = 120_000;

export interface RemoteInfo {
  /** The branch the remote's HEAD names. */
  head?: string;
  refs: Map<string, string>;
}

export class Remote {
  private lsCache: { at: number; info: RemoteInfo } | undefined;

  constructor(private readonly repo: Repo) {}

  /**
   * Prove we may push without pushing: a dry-run deletion of a branch that does not exist
   * talks to the server's receive-pack (which checks write access) and then stops.
   */
  async probePush(): Promise<void> {
    const { repo } = this;
    await repo.ensureRepo();
    const target = repo.laptop ? repo.remote : stripCredentials(repo.url!);
    try {
      await this.exec(["push", "--dry-run", "--porcelain", target, `:refs/heads/mirrorshade/probe-${process.pid}`]);
    } catch (err) {
      if (!(err instanceof GitFailure)) throw err;
      if (/remote ref does not exist|unable to delete/i.test(err.stderr + err.stdout)) return;
      throw translate(err, repo.url ?? repo.remote);
    }
  }

  async create(): Promise<void> {
    const { repo } = this;
    const local = localPath(repo.url);
    if (!local) {
      throw new ConfigError(
        `cannot create ${stripUserinfo(repo.url ?? "the remote")}: only local remotes are created`,
        {
          hint: "create the repository on the git server, then run again",
        },
      );
    }
    mkdirSync(local, { recursive: true });
    await repo.gitAt(local).run(["init", "--bare", `--initial-branch=${repo.branch ?? "main"}`, local]);
    repo.ctx.log.info(`created a bare git repository at ${local}`);
  }

  /** The remote's refs, and the branch its HEAD names; `fresh`: never the answer cached for restore. */
  async lsRemote(opts: { fresh?: boolean } = {}): Promise<RemoteInfo> {
    // check() then restore() at start ask the same question: one round trip (~0.4 s over ssh).
    const cached = this.lsCache;
    this.lsCache = undefined;
    if (cached && !opts.fresh && Date.now() - cached.at < 2000) return cached.info;
    const info = await this.lsRemoteUncached();
    this.lsCache = { at: Date.now(), info };
    return info;
  }

  private async lsRemoteUncached(): Promise<RemoteInfo> {
    const { repo } = this;
    const local = localPath(repo.url);
    if (local && !existsSync(local)) {
      throw new NotFoundError(`remote ${local} does not exist`, {
        hint: "pass --create to make a bare repository there",
      });
    }
    // By URL, not by name: check() must work before the state dir exists.
    const target = repo.laptop ? repo.remote : stripCredentials(repo.url!);
    const out = await this.network(["ls-remote", "--symref", target, "HEAD", "refs/heads/*"]);
    const refs = new Map<string, string>();
    let head: string | undefined;
    for (const line of out.split("\n")) {
      const sym = /^ref: refs\/heads\/(\S+)\tHEAD$/.exec(line);
      if (sym) head = sym[1];
      const ref = /^([0-9a-f]{40,64})\t(refs\/heads\/\S+)$/.exec(line);
      if (ref) refs.set(ref[2]!, ref[1]!);
    }
    if (!head && refs.size === 0 && local) {
      // An empty local repo does not advertise its unborn HEAD; read it, so we do not
      // create a branch its HEAD does not name.
      const r = await repo.gitAt(local).run(["symbolic-ref", "--short", "HEAD"], {
        okCodes: [1, 128],
        env: { GIT_DIR: local },
      });
      if (r.code === 0) head = r.stdout.trim() || undefined;
    }
    return { head, refs };
  }

  /**
   * Fetch the branch into the tracking ref. `depth`: only that many commits (a first restore
   * needs the tree, not the history); `deepen`: that many more below the shallow boundary;
   * `unshallow`: all of it. Without them, what the remote gained since (a shallow state
   * stays shallow: the new commits sit on what we have).
   */
  async fetch(opts: { depth?: number; deepen?: number; unshallow?: boolean } = {}): Promise<void> {
    const { repo } = this;
    const history = opts.unshallow
      ? ["--unshallow"]
      : opts.deepen
        ? [`--deepen=${opts.deepen}`]
        : opts.depth
          ? [`--depth=${opts.depth}`]
          : [];
    await this.network([
      "fetch",
      "--no-tags",
      "--progress",
      ...history,
      repo.remote,
      `+refs/heads/${repo.branch}:${repo.tracking}`,
    ]);
  }

  /**
   * Fetch the one commit `id` (a whole id) and its tree, whatever the depth of our history:
   * a protocol v2 server hands over any commit it holds. False when it holds none such (or
   * an older server will not say).
   */
  async fetchCommit(id: string): Promise<boolean> {
    try {
      await this.exec(["fetch", "--no-tags", "--depth=1", this.repo.remote, id]);
      return true;
    } catch (err) {
      if (!(err instanceof GitFailure)) throw err;
      if (/not our ref|couldn't find remote ref|unadvertised object|no such remote ref/i.test(err.stderr)) return false;
      throw translate(err, this.repo.url ?? this.repo.remote);
    }
  }

  /** Push `src` to `ref` at the remote; `rejected` when the remote has commits we lack. */
  async push(src: string, ref: string): Promise<{ rejected: boolean }> {
    return this.network(["push", "--porcelain", "--progress", this.repo.remote, `${src}:${ref}`], true);
  }

  /** Credentials for one network call, read fresh (a rotated Secret is picked up). */
  private credentials(): Record<string, string> {
    const { repo } = this;
    if (repo.url === undefined) return {};
    return credentialEnv(repo.url, schemeOf(repo.url), repo.ctx.settings, repo.ctx.stateDir, process.env, {
      userSsh: repo.userSsh,
    });
  }

  /** One git child talking to the remote, under its deadline; a stopped one is a TransientError. */
  private async exec(args: string[]): Promise<string> {
    const { repo } = this;
    const left = timeLeft();
    try {
      const r = await repo.git.exec(args, {
        env: this.credentials(),
        deadline: { silenceMs: SILENCE_MS, at: left === undefined ? undefined : Date.now() + left },
      });
      return r.stdout.toString("utf8");
    } catch (err) {
      if (!(err instanceof GitTimeout)) throw err;
      const where = stripUserinfo(repo.url ?? repo.remote);
      throw new TransientError(
        `${where} did not ${err.silent ? "answer" : "finish"} ${args[0]} in time: stopped it after ${Math.round(err.afterMs / 1000)} s`,
        { hint: "check the host, port and network policy", cause: err },
      );
    }
  }

  /** Run a git command that talks to the remote, translating its failures. */
  private async network(args: string[]): Promise<string>;
  private async network(args: string[], push: true): Promise<{ rejected: boolean }>;
  private async network(args: string[], push = false): Promise<string | { rejected: boolean }> {
    const { repo } = this;
    try {
      const out = await this.exec(args);
      return push ? { rejected: false } : out;
    } catch (err) {
      if (!(err instanceof GitFailure)) throw err;
      if (
        push &&
        /\[rejected\]|\[remote rejected\].*(fetch first|non-fast-forward)|non-fast-forward|fetch first/.test(
          err.stdout + err.stderr,
        )
      ) {
        return { rejected: true };
      }
      throw translate(err, repo.url ?? repo.remote);
    }
  }
}
