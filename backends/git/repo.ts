/**
 * The repository the backend works in, and its state: which git dir (ours in the state dir,
 * or the work dir's own with --in-place), the branch, the remote-tracking ref, our config.
 * Only --in-place uses the work dir's repo: a `.git` the notebook user plants never makes
 * mirrorshade read its config or run its hooks.
 */
import { existsSync, mkdirSync, appendFileSync, readFileSync, realpathSync, writeFileSync, unlinkSync } from "node:fs";
import path from "node:path";
import { ConfigError, TransientError } from "../../src/errors";
import { IgnoreRules } from "../../src/ignore";
import { Git, buildGitEnv, inPlaceConfig } from "../../src/git";
import { schemeOf } from "../../src/remote";
import { stripCredentials } from "../../src/redact";
import type { BackendContext } from "../types";
import { inspectIndex } from "./heal";
import { sweepFailedWrites } from "./objects";
import { readRef } from "./refs";
import { hostnameSafe, parseAuthor, rmQuiet } from "./util";

/**
 * Conversions git would otherwise apply to what the work dir's `.gitattributes` names
 * (an encoding, a filter, line endings): off, so the bytes saved are the bytes read.
 */
const ATTRIBUTES = "* -text -eol -filter -working-tree-encoding -ident -diff -merge\n";
/** Our repo's own config: no hook ever runs (ours is the only repo this config reaches). */
const HARDENING = "[core]\n\thooksPath = /dev/null\n\tfsmonitor = false\n";
/** Shared parts of our split index that it no longer names go at once (healIndex: no other index is split). */
const SPLIT_INDEX = "[splitIndex]\n\tsharedIndexExpire = now\n";

export class Repo {
  /** In-place (laptop) mode: the work dir's own repo, asked for with --in-place. */
  readonly laptop: boolean;
  gitDir: string;
  git!: Git;
  /** In-place mode: the user chose their own ssh command (kept unless we have keys). */
  userSsh = false;
  /** The index was rebuilt: the next plan compares the whole tree. */
  rescan = false;
  private excludeFile: string;
  /** Remote name or URL for fetch/push, its branch, and our local copy of that branch's tip. */
  remote = "origin";
  url: string | undefined;
  branch: string | undefined;
  private excludes = "";
  /** Our git dir exists and names the remote (checked once per process: each git process costs). */
  private repoReady = false;

  constructor(readonly ctx: BackendContext) {
    this.laptop = ctx.settings.inPlace;
    this.gitDir = this.laptop ? path.join(ctx.dir, ".git") : path.join(ctx.stateDir, "git");
    this.excludeFile = path.join(this.gitDir, "info", "exclude");
    if (ctx.remote !== undefined) this.url = ctx.remote;
    if (this.url?.startsWith("-")) {
      throw new ConfigError(`bad remote "${this.url}": a remote cannot start with "-"`, {
        hint: "use a path, file://, ssh://, git@host:path or https:// URL",
      });
    }
    this.branch = ctx.settings.branch;
    if (this.branch !== undefined && !/^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]+$/.test(this.branch)) {
      throw new ConfigError(`bad branch name "${this.branch}"`, { hint: "use letters, digits, '.', '_', '-', '/'" });
    }
  }

  get tracking(): string {
    return this.remote === "origin" || !this.laptop
      ? `refs/remotes/${this.remote}/${this.branch}`
      : `refs/mirrorshade/remote/${this.branch}`;
  }

  async open(): Promise<void> {
    const { settings, dir, stateDir } = this.ctx;
    if (this.laptop) {
      this.git = new Git(dir, buildGitEnv({ workTree: dir, stateDir }), inPlaceConfig(settings.runHooks));
      const top = await this.git.run(["rev-parse", "--show-toplevel", "--absolute-git-dir"], { okCodes: [128] });
      const [tree, gitDir] = top.stdout.trim().split("\n");
      if (top.code !== 0 || !gitDir || realpathSync(tree!) !== realpathSync(dir)) {
        throw new ConfigError(`--in-place: ${dir} is not the top of a git work tree`, {
          hint: "clone the repository there first (or name its top), or drop --in-place to keep the git dir in the state dir",
        });
      }
      this.gitDir = gitDir;
      // A linked worktree keeps info/exclude in the common dir.
      this.excludeFile = path.resolve(dir, (await this.git.out(["rev-parse", "--git-path", "info/exclude"])).trim());
      const sshCommand = await this.git.run(["config", "--get", "core.sshCommand"], { okCodes: [1] });
      this.userSsh = Boolean(process.env.GIT_SSH_COMMAND || process.env.GIT_SSH || sshCommand.stdout.trim());
      this.branch ??= (await this.git.run(["symbolic-ref", "--short", "-q", "HEAD"], { okCodes: [1] })).stdout.trim();
      if (!this.branch) throw new TransientError(`${dir} has a detached HEAD; waiting for a branch to be checked out`);
      if (this.url === undefined) {
        const up = await this.git.run(["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{u}"], {
          okCodes: [128],
        });
        const m = /^([^/]+)\/(.+)$/.exec(up.stdout.trim());
        if (up.code !== 0 || !m) {
          throw new ConfigError(`branch ${this.branch} in ${dir} has no upstream to save to`, {
            hint: `pass --remote, or set one with: git -C ${dir} push -u origin ${this.branch}`,
          });
        }
        this.remote = m[1]!;
        this.branch = m[2]!;
        this.url = (await this.git.out(["remote", "get-url", this.remote])).trim();
      } else {
        this.remote = stripCredentials(this.url);
      }
      return;
    }
    if (this.url === undefined) {
      throw new ConfigError("no remote to save to", {
        hint: "pass --remote <url>, set MIRRORSHADE_REMOTE, or run: mirrorshade init --remote <url>",
      });
    }
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const identity = parseAuthor(settings.author) ?? { name: "mirrorshade", email: `mirrorshade@${hostnameSafe()}` };
    const transport = schemeOf(this.url);
    this.git = new Git(dir, buildGitEnv({ gitDir: this.gitDir, workTree: dir, stateDir, identity, transport }));
    // We hold the state lock, so no other mirrorshade git runs on this git dir: a lock
    // file left behind was left by a killed git, and temp objects by a failed write.
    const stale = path.join(this.gitDir, "index.lock");
    if (existsSync(stale)) {
      this.ctx.log.warn("removing a stale index.lock left by an interrupted git");
      unlinkSync(stale);
    }
    sweepFailedWrites(this.gitDir);
  }

  /** Where blobs go: ours in sidecar mode (in-place mode stages through git itself). */
  get objectsDir(): string {
    return path.join(this.gitDir, "objects");
  }

  /** Git on a local remote repo: our environment, without our own git dir and work tree. */
  gitAt(repo: string): Git {
    const { GIT_DIR: _dir, GIT_WORK_TREE: _tree, ...env } = this.git.env;
    return new Git(repo, env);
  }

  async ensureRepo(): Promise<void> {
    if (this.laptop || this.repoReady) return;
    if (existsSync(path.join(this.gitDir, "HEAD"))) {
      this.harden();
      await this.syncRemoteUrl();
      this.repoReady = true;
      return;
    }
    mkdirSync(this.gitDir, { recursive: true, mode: 0o700 });
    await this.git.run(["init"]);
    // Settings that make a big work tree cheap to scan; written directly to spare processes.
    appendFileSync(
      path.join(this.gitDir, "config"),
      "[core]\n\tuntrackedCache = true\n\tprecomposeUnicode = true\n[status]\n\tshowUntrackedFiles = all\n[gc]\n\tautoDetach = false\n" +
        // With a fetch refspec, a push also moves refs/remotes/origin/* (unpushed work is then visible to status).
        // Never a credential in .git/config: the URL is stored without userinfo.
        `[remote "origin"]\n\turl = ${quoted(stripCredentials(this.url!))}\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n`,
    );
    this.harden();
    this.repoReady = true;
  }

  /** Hooks and fsmonitor off in our repo's config, old shared index parts expiring, attribute conversions off (also for state from older versions). */
  private harden(): void {
    const cfg = path.join(this.gitDir, "config");
    const text = readFileSync(cfg, "utf8");
    if (!text.includes("hooksPath = /dev/null")) appendFileSync(cfg, HARDENING);
    if (!text.includes("sharedIndexExpire")) appendFileSync(cfg, SPLIT_INDEX);
    const attrs = path.join(this.gitDir, "info", "attributes");
    if (readOr(attrs) !== ATTRIBUTES) {
      mkdirSync(path.dirname(attrs), { recursive: true });
      writeFileSync(attrs, ATTRIBUTES);
    }
  }

  private async syncRemoteUrl(): Promise<void> {
    // Never a credential in .git/config: the URL is stored without userinfo.
    const want = stripCredentials(this.url!);
    const have = await this.git.run(["config", "--get", "remote.origin.url"], { okCodes: [1] });
    if (have.stdout.trim() !== want) await this.git.run(["config", "remote.origin.url", want]);
  }

  async setBranch(name: string): Promise<void> {
    this.branch = name;
    const cfg = path.join(this.gitDir, "config");
    if (!this.laptop && !readFileSync(cfg, "utf8").includes(`[branch "${name}"]`)) {
      // Upstream tracking makes `status --branch` report unpushed commits for free.
      appendFileSync(cfg, `[branch "${name}"]\n\tremote = origin\n\tmerge = refs/heads/${name}\n`);
      // A new repo's HEAD already names init.defaultBranch (main): no git needed then.
      if (readOr(path.join(this.gitDir, "HEAD")) !== `ref: refs/heads/${name}\n`) {
        await this.git.run(["symbolic-ref", "HEAD", `refs/heads/${name}`]);
      }
    }
  }

  async head(): Promise<string | undefined> {
    const known = readRef(this.gitDir, "HEAD");
    if (known) return known;
    const r = await this.git.run(["rev-parse", "-q", "--verify", "HEAD^{commit}"], { okCodes: [1, 128] });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  async rev(ref: string, optional = false): Promise<string> {
    const known = readRef(this.gitDir, ref);
    if (known) return known;
    const r = await this.git.run(["rev-parse", "-q", "--verify", `${ref}^{commit}`], {
      okCodes: optional ? [1, 128] : [],
    });
    return r.stdout.trim();
  }

  /** Laptop mode waits while the user's own git is mid-operation; sidecar mode makes sure the repo exists. */
  async ensureReady(): Promise<void> {
    if (!this.laptop) {
      await this.ensureRepo();
      // Saves run one at a time under our state lock, so no git of ours runs now: a lock
      // file here was left by a git that died (e.g. SIGBUS hashing a notebook truncated
      // under it), and would fail every later save.
      const lock = path.join(this.gitDir, "index.lock");
      if (existsSync(lock)) {
        this.ctx.log.warn("removing index.lock left by a git that died mid-save");
        rmQuiet(lock);
      }
      await this.healIndex();
      if (this.branch === undefined) {
        const cur = await this.git.run(["symbolic-ref", "--short", "-q", "HEAD"], { okCodes: [1] });
        await this.setBranch(cur.stdout.trim() || "main");
      }
      this.syncExcludes(this.excludeFile, false);
      return;
    }
    for (const f of ["MERGE_HEAD", "rebase-merge", "rebase-apply", "CHERRY_PICK_HEAD", "REVERT_HEAD", "index.lock"]) {
      if (existsSync(path.join(this.gitDir, f))) {
        throw new TransientError(`waiting: a git operation is in progress in ${this.ctx.dir} (${f})`);
      }
    }
    this.syncExcludes(this.excludeFile, true);
  }

  /**
   * A damaged index fails every git command that reads it: rebuild it from our last commit.
   * The work tree is then compared with that commit afresh, so nothing changed since is lost.
   * Our index is kept split (`update-index --split-index`): a save then writes a small file
   * beside a shared part instead of every entry again, and git checksums less (measured on
   * 10k files: update-index 14 → 7 ms, commit 50 → 31 ms). Only this index: a temporary one
   * (GIT_INDEX_FILE) stays whole, so no other index names a shared part that expires.
   */
  private async healIndex(): Promise<void> {
    const file = path.join(this.gitDir, "index");
    const state = inspectIndex(file);
    if (!state.sound) {
      rmQuiet(file);
      this.ctx.log.warn("the index in the state dir was damaged: rebuilt it from the last commit");
      if (await this.head()) await this.git.run(["read-tree", "HEAD"]);
      this.rescan = true;
    }
    if (!state.sound || !state.shared) await this.git.run(["update-index", "--split-index"]);
  }

  /** Give git the same defaults the watcher ignores (info/exclude: ours in sidecar mode, a marked block on a laptop). */
  private syncExcludes(file: string, block: boolean): void {
    // Sidecar mode: a planted .gitmodules is data, never saved (git would read it as submodule config).
    const want =
      IgnoreRules.excludeFileFor(this.ctx.dir, this.ctx.settings.ignore) + (this.laptop ? "" : ".gitmodules\n");
    if (want === this.excludes) return;
    mkdirSync(path.dirname(file), { recursive: true });
    let text = want;
    if (block) {
      const begin = "# mirrorshade: begin (managed)\n";
      const end = "# mirrorshade: end\n";
      const old = existsSync(file) ? readFileSync(file, "utf8") : "";
      const re = new RegExp(`${begin}[\\s\\S]*?${end}`);
      text = re.test(old)
        ? old.replace(re, begin + want + end)
        : old + (old && !old.endsWith("\n") ? "\n" : "") + begin + want + end;
    }
    writeFileSync(file, text);
    this.excludes = want;
  }
}

/** A git config value in double quotes: `#` and `;` inside stay literal, `"` and `\` are escaped. */
function quoted(value: string): string {
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

function readOr(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
}
