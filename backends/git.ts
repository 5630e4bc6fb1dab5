/**
 * The git backend. Sidecar mode keeps the git dir in the state dir (the notebook user never
 * sees .git/config, and .git churn is not in the watched tree); a work dir that already is
 * a git repo (a laptop) is used in place. Never force-pushes; a rejected push integrates the
 * remote's commits with a merge whose tree takes *our whole file* for every path we changed.
 */
import { existsSync, lstatSync, mkdirSync, appendFileSync, readFileSync, writeFileSync, unlinkSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { ConfigError, NotFoundError, TransientError } from "../src/errors";
import { IgnoreRules } from "../src/engine/ignore";
import { credentialEnv } from "../src/credentials";
import { Git, GitFailure, buildGitEnv, nulSplit, translate } from "../src/git";
import { schemeOf } from "../src/remote";
import { stripCredentials, stripUserinfo } from "../src/redact";
import type {
  Backend,
  BackendContext,
  BackendFactory,
  ChangeSet,
  Conflict,
  PathFilter,
  PlanEntry,
  RestoreReport,
  SaveMeta,
  SavePlan,
  SaveReport,
} from "./types";

const EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
const ZERO = "0".repeat(40);
/** Past this many paths (or bytes of them) a whole-tree status is cheaper than argv. */
const PATHSPEC_MAX = 2000;
const PATHSPEC_BYTES = 100_000;

export const createGitBackend: BackendFactory = async (ctx) => {
  const b = new GitBackend(ctx);
  await b.open();
  return b;
};

class GitBackend implements Backend {
  readonly name = "git";
  readonly capabilities = { history: true, atRestore: false, conflicts: true, integrates: true };
  private readonly laptop: boolean;
  private readonly gitDir: string;
  private git!: Git;
  /** Remote name or URL for fetch/push, its branch, and our local copy of that branch's tip. */
  private remote = "origin";
  private url: string | undefined;
  private branch: string | undefined;
  private excludes = "";

  constructor(private readonly ctx: BackendContext) {
    this.laptop = existsSync(path.join(ctx.dir, ".git"));
    this.gitDir = this.laptop ? path.join(ctx.dir, ".git") : path.join(ctx.stateDir, "git");
    if (ctx.remote !== undefined) this.url = ctx.remote;
    this.branch = ctx.settings.branch;
    if (this.branch !== undefined && !/^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]+$/.test(this.branch)) {
      throw new ConfigError(`bad branch name "${this.branch}"`, { hint: "use letters, digits, '.', '_', '-', '/'" });
    }
  }

  private get tracking(): string {
    return this.remote === "origin" || !this.laptop
      ? `refs/remotes/${this.remote}/${this.branch}`
      : `refs/mirrorshade/remote/${this.branch}`;
  }

  async open(): Promise<void> {
    const { settings, dir, stateDir } = this.ctx;
    if (this.laptop) {
      this.git = new Git(dir, buildGitEnv({ workTree: dir, stateDir }));
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
    this.git = new Git(dir, buildGitEnv({ gitDir: this.gitDir, workTree: dir, stateDir, identity }));
    // We hold the state lock, so no other mirrorshade git runs on this git dir: a lock
    // file left behind was left by a killed git.
    const stale = path.join(this.gitDir, "index.lock");
    if (existsSync(stale)) {
      this.ctx.log.warn("removing a stale index.lock left by an interrupted git");
      unlinkSync(stale);
    }
  }

  async check(opts: { write?: boolean } = {}): Promise<void> {
    await this.lsRemote();
    if (opts.write) await this.probePush();
  }

  /**
   * Prove we may push without pushing: a dry-run deletion of a branch that does not exist
   * talks to the server's receive-pack (which checks write access) and then stops.
   */
  private async probePush(): Promise<void> {
    await this.ensureRepo();
    const target = this.laptop ? this.remote : stripCredentials(this.url!);
    try {
      await this.git.out(["push", "--dry-run", "--porcelain", target, `:refs/heads/mirrorshade/probe-${process.pid}`], {
        env: this.credentials(),
      });
    } catch (err) {
      if (!(err instanceof GitFailure)) throw err;
      if (/remote ref does not exist|unable to delete/i.test(err.stderr + err.stdout)) return;
      throw translate(err, this.url ?? this.remote);
    }
  }

  async create(): Promise<void> {
    const local = localPath(this.url);
    if (!local) {
      throw new ConfigError(
        `cannot create ${stripUserinfo(this.url ?? "the remote")}: only local remotes are created`,
        {
          hint: "create the repository on the git server, then run again",
        },
      );
    }
    mkdirSync(local, { recursive: true });
    await this.gitAt(local).run(["init", "--bare", `--initial-branch=${this.branch ?? "main"}`, local]);
    this.ctx.log.info(`created a bare git repository at ${local}`);
  }

  /** Git on a local remote repo: our environment, without our own git dir and work tree. */
  private gitAt(repo: string): Git {
    const { GIT_DIR: _dir, GIT_WORK_TREE: _tree, ...env } = this.git.env;
    return new Git(repo, env);
  }

  /** The remote's refs, and the branch its HEAD names. */
  private async lsRemote(): Promise<{ head?: string; refs: Map<string, string> }> {
    // check() then restore() at start ask the same question: one round trip (~0.4 s over ssh).
    const cached = this.lsCache;
    this.lsCache = undefined;
    if (cached && Date.now() - cached.at < 2000) return cached.info;
    const info = await this.lsRemoteUncached();
    this.lsCache = { at: Date.now(), info };
    return info;
  }

  private lsCache: { at: number; info: { head?: string; refs: Map<string, string> } } | undefined;

  private async lsRemoteUncached(): Promise<{ head?: string; refs: Map<string, string> }> {
    const local = localPath(this.url);
    if (local && !existsSync(local)) {
      throw new NotFoundError(`remote ${local} does not exist`, {
        hint: "pass --create to make a bare repository there",
      });
    }
    // By URL, not by name: check() must work before the state dir exists.
    const target = this.laptop ? this.remote : stripCredentials(this.url!);
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
      const r = await this.gitAt(local).run(["symbolic-ref", "--short", "HEAD"], {
        okCodes: [1, 128],
        env: { GIT_DIR: local },
      });
      if (r.code === 0) head = r.stdout.trim() || undefined;
    }
    return { head, refs };
  }

  /** Our git dir exists and names the remote (checked once per process: each git process costs). */
  private repoReady = false;

  private async ensureRepo(): Promise<void> {
    if (this.laptop || this.repoReady) return;
    if (existsSync(path.join(this.gitDir, "HEAD"))) {
      await this.syncRemoteUrl();
      this.repoReady = true;
      return;
    }
    mkdirSync(this.gitDir, { recursive: true, mode: 0o700 });
    await this.git.run(["init", "-q"]);
    // Settings that make a big work tree cheap to scan; written directly to spare processes.
    appendFileSync(
      path.join(this.gitDir, "config"),
      "[core]\n\tuntrackedCache = true\n\tprecomposeUnicode = true\n[status]\n\tshowUntrackedFiles = all\n[gc]\n\tautoDetach = false\n" +
        // With a fetch refspec, a push also moves refs/remotes/origin/* (unpushed work is then visible to status).
        '[remote "origin"]\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n',
    );
    await this.syncRemoteUrl();
    this.repoReady = true;
  }

  private async syncRemoteUrl(): Promise<void> {
    // Never a credential in .git/config: the URL is stored without userinfo.
    const want = stripCredentials(this.url!);
    const have = await this.git.run(["config", "--get", "remote.origin.url"], { okCodes: [1] });
    if (have.stdout.trim() !== want) await this.git.run(["config", "remote.origin.url", want]);
  }

  private async setBranch(name: string): Promise<void> {
    this.branch = name;
    const cfg = path.join(this.gitDir, "config");
    if (!this.laptop && !readFileSync(cfg, "utf8").includes(`[branch "${name}"]`)) {
      // Upstream tracking makes `status --branch` report unpushed commits for free.
      appendFileSync(cfg, `[branch "${name}"]\n\tremote = origin\n\tmerge = refs/heads/${name}\n`);
      await this.git.run(["symbolic-ref", "HEAD", `refs/heads/${name}`]);
    }
  }

  private async head(): Promise<string | undefined> {
    const r = await this.git.run(["rev-parse", "-q", "--verify", "HEAD^{commit}"], { okCodes: [1, 128] });
    return r.code === 0 ? r.stdout.trim() : undefined;
  }

  async restore(): Promise<RestoreReport> {
    await this.ensureRepo();
    const report: RestoreReport = { written: [], kept: [], empty: false, resumed: false, incoming: [], conflicts: [] };
    const ours = await this.head();
    const { head, refs } = await this.lsRemote();
    const current = ours ? (await this.git.out(["symbolic-ref", "--short", "HEAD"])).trim() : undefined;
    if (current && this.branch !== undefined && this.branch !== current) {
      throw new ConfigError(`the state in ${this.ctx.stateDir} saves branch ${current}, not ${this.branch}`, {
        hint: "use the same --branch, or another --state-dir",
      });
    }
    this.branch ??= current ?? pickBranch(head, refs);
    await this.setBranch(this.branch);
    if (!refs.has(`refs/heads/${this.branch}`)) {
      report.empty = true;
      report.resumed = Boolean(ours);
      return report;
    }
    if (ours) {
      report.resumed = true;
      // The remote has not moved since we last synced, and we hold its tip: nothing to take in.
      const remoteTip = refs.get(`refs/heads/${this.branch}`);
      const tracked = await this.rev(this.tracking, true);
      if (remoteTip === tracked) {
        const mb = await this.git.run(["merge-base", ours, tracked], { okCodes: [1] });
        if (mb.stdout.trim() === tracked) return report;
      }
      await this.fetch();
      Object.assign(report, await this.integrate());
      return report;
    }
    await this.fetch();
    // First restore into this dir: the union, local first.
    const theirs = await this.rev(this.tracking);
    await this.git.run(["update-ref", "HEAD", theirs]);
    await this.git.run(["read-tree", theirs]);
    const missing = nulSplit(await this.git.out(["ls-files", "-d", "-z"]));
    report.written = await this.writeFromIndex(missing);
    report.kept = nulSplit(await this.git.out(["diff", "--name-only", "-z", "--no-renames"])).filter(
      (p) => !missing.includes(p),
    );
    for (const p of report.kept)
      this.ctx.log.warn(`kept the local ${p}: it differs from the remote (the next save commits it)`);
    return report;
  }

  async plan(changes: ChangeSet | "all", filter: PathFilter): Promise<SavePlan> {
    await this.ensureReady();
    const args = ["status", "--porcelain=v1", "-z", "--branch", "--untracked-files=all", "--no-renames"];
    const plan: SavePlan = { entries: [], skipped: [], deferred: [], total: 0, unacknowledged: 0 };
    if (changes !== "all") {
      const paths = [...changes.keys()];
      const bytes = paths.reduce((n, p) => n + p.length + 1, 0);
      if (paths.length === 0) {
        // Nothing new: only ask whether earlier commits still wait to be pushed.
        const tip = await this.rev(this.tracking, true);
        const r = await this.git.run(["rev-list", "--count", tip ? `${tip}..HEAD` : "HEAD"], { okCodes: [128] });
        plan.unacknowledged = r.code === 0 ? Number(r.stdout.trim()) : 0;
        return plan;
      }
      if (paths.length <= PATHSPEC_MAX && bytes <= PATHSPEC_BYTES) args.push("--", ...paths);
    }
    const out = nulSplit(await this.git.out(args));
    for (const rec of out) {
      if (rec.startsWith("## ")) {
        plan.unacknowledged = unpushed(rec);
        continue;
      }
      const xy = rec.slice(0, 2);
      const rel = rec.slice(3);
      if (xy === "!!") continue;
      const st = lstatOrNull(path.join(this.ctx.dir, rel));
      let entry: PlanEntry;
      if (!st) {
        if (xy === "??") continue;
        entry = { path: rel, op: "delete" };
      } else if (st.isDirectory()) {
        plan.skipped.push({ path: rel, reason: "a nested git repository (save it on its own)" });
        continue;
      } else {
        entry = { path: rel, op: xy === "??" || xy[0] === "A" ? "add" : "modify", size: st.size };
      }
      const verdict = await filter(entry);
      if (verdict === "save") plan.entries.push(entry);
      else if ("skip" in verdict) plan.skipped.push({ path: rel, reason: verdict.skip });
      else plan.deferred.push({ path: rel, reason: verdict.defer });
    }
    if (plan.entries.filter((e) => e.op === "delete").length >= 10) {
      plan.total = nulSplit(await this.git.out(["ls-files", "-z"])).length;
    }
    return plan;
  }

  async save(plan: SavePlan, meta: SaveMeta): Promise<SaveReport> {
    await this.ensureReady();
    const report: SaveReport = { saved: [], incoming: [], conflicts: [] };
    if (plan.entries.length) {
      await this.stage(plan);
      const args = ["commit", "--no-verify", "--no-edit", "--cleanup=verbatim", "-m", meta.message];
      if (meta.author) args.push(`--author=${meta.author}`);
      for (const t of meta.trailers) args.push(`--trailer=${t}`);
      const c = await this.git.run(args, { okCodes: [1] });
      if (c.code === 0) report.saved = plan.entries;
    }
    // A new commit is pushed at once (no look at refs first: each git process costs); work
    // left unpushed from before is checked against the remote-tracking ref.
    let fresh = report.saved.length > 0;
    for (let attempt = 0; ; attempt++) {
      if (!fresh) {
        const ours = await this.head();
        if (!ours) return report;
        report.id = ours;
        if ((await this.rev(this.tracking, true)) === ours) return report;
      }
      const push = await this.network(["push", "--porcelain", this.remote, `HEAD:refs/heads/${this.branch}`], true);
      if (push.rejected === false) {
        report.id = await this.head();
        if (this.laptop && this.remote !== "origin") await this.git.run(["update-ref", this.tracking, report.id!]);
        return report;
      }
      fresh = true;
      if (attempt >= 4) throw new TransientError("the remote keeps moving: push rejected 5 times in a row");
      this.ctx.log.info("the remote has new commits: integrating them");
      await this.fetch();
      const got = await this.integrate();
      report.incoming.push(...got.incoming);
      report.conflicts.push(...got.conflicts);
      report.conflictRef ??= got.conflictRef;
    }
  }

  async close(): Promise<void> {}

  /** `git add` the planned paths. A file we cannot read (another UID's 0600 file) is skipped, not fatal. */
  private async stage(plan: SavePlan): Promise<void> {
    // Checked bytes (notebooks) go in as they were checked: a re-read by `git add` could
    // catch a rewrite in progress (a truncated notebook), or die of SIGBUS on its mmap.
    for (const e of plan.entries.filter((e) => e.content)) {
      const sha = (await this.git.out(["hash-object", "-w", "--stdin"], { input: e.content })).trim();
      const exec = (lstatOrNull(path.join(this.ctx.dir, e.path))?.mode ?? 0) & 0o111 ? "100755" : "100644";
      await this.git.run(["update-index", "--add", "--verbose", "--cacheinfo", `${exec},${sha},${e.path}`]);
    }
    let rest = plan.entries.filter((e) => !e.content);
    if (!rest.length) return;
    const list = path.join(this.ctx.stateDir, "pathspec");
    for (;;) {
      writeFileSync(list, rest.map((e) => e.path).join("\0") + "\0");
      try {
        // --verbose: simple-git waits 50 ms after a git that prints nothing.
        await this.git.run(["add", "-A", "--verbose", `--pathspec-from-file=${list}`, "--pathspec-file-nul"]);
        return;
      } catch (err) {
        if (!(err instanceof GitFailure)) throw err;
        const bad = new Set(
          [...err.stderr.matchAll(/open\("(.+?)"\): Permission denied|unable to index file '(.+?)'/g)].map((m) =>
            path
              .relative(this.ctx.dir, path.resolve(this.ctx.dir, m[1] ?? m[2]!))
              .split(path.sep)
              .join("/"),
          ),
        );
        const before = rest.length;
        rest = rest.filter((e) => !bad.has(e.path));
        if (rest.length === before) throw err;
        plan.entries = plan.entries.filter((e) => !bad.has(e.path));
        for (const p of bad) plan.skipped.push({ path: p, reason: "cannot read it (permission denied)" });
        if (!rest.length) return;
      }
    }
  }

  /** Laptop mode waits while the user's own git is mid-operation; sidecar mode makes sure the repo exists. */
  private async ensureReady(): Promise<void> {
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
      if (this.branch === undefined) {
        const cur = await this.git.run(["symbolic-ref", "--short", "-q", "HEAD"], { okCodes: [1] });
        await this.setBranch(cur.stdout.trim() || "main");
      }
      this.syncExcludes(path.join(this.gitDir, "info", "exclude"), false);
      return;
    }
    for (const f of ["MERGE_HEAD", "rebase-merge", "rebase-apply", "CHERRY_PICK_HEAD", "REVERT_HEAD", "index.lock"]) {
      if (existsSync(path.join(this.gitDir, f))) {
        throw new TransientError(`waiting: a git operation is in progress in ${this.ctx.dir} (${f})`);
      }
    }
    this.syncExcludes(path.join(this.gitDir, "info", "exclude"), true);
  }

  /** Give git the same defaults the watcher ignores (info/exclude: ours in sidecar mode, a marked block on a laptop). */
  private syncExcludes(file: string, block: boolean): void {
    const want = IgnoreRules.excludeFileFor(this.ctx.dir, this.ctx.settings.ignore);
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

  private async fetch(): Promise<void> {
    await this.network(["fetch", "--no-tags", "--quiet", this.remote, `+refs/heads/${this.branch}:${this.tracking}`]);
  }

  private async rev(ref: string, optional = false): Promise<string> {
    const r = await this.git.run(["rev-parse", "-q", "--verify", `${ref}^{commit}`], {
      okCodes: optional ? [1, 128] : [],
    });
    return r.stdout.trim();
  }

  /**
   * Take the remote's commits in without rewriting anything: their paths come in, ours stay,
   * a path changed on both sides keeps our whole file (theirs stays in history), and our
   * pre-integration commits also go to a conflict branch so the exact local history is kept.
   */
  private async integrate(): Promise<{ incoming: string[]; conflicts: Conflict[]; conflictRef?: string }> {
    const ours = (await this.head())!;
    const theirs = await this.rev(this.tracking);
    const mb = await this.git.run(["merge-base", ours, theirs], { okCodes: [1] });
    const base = mb.code === 0 ? mb.stdout.trim() : EMPTY_TREE;
    if (base === theirs) return { incoming: [], conflicts: [] };
    const changed = async (from: string, to: string) =>
      new Set(nulSplit(await this.git.out(["diff", "--name-only", "-z", "--no-renames", from, to])));
    const theirChanged = await changed(base, theirs);
    const ourChanged = base === ours ? new Set<string>() : await changed(base, ours);
    // Paths edited here but not yet committed count as ours too.
    const dirty = new Set<string>();
    const candidates = [...theirChanged];
    for (let i = 0; i < candidates.length; i += 500) {
      const st = await this.git.out([
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--no-renames",
        "--",
        ...candidates.slice(i, i + 500),
      ]);
      for (const rec of nulSplit(st)) dirty.add(rec.slice(3));
    }
    const both = [...theirChanged].filter((p) => ourChanged.has(p) || dirty.has(p));
    const differ = both.length
      ? new Set(
          nulSplit(await this.git.out(["diff", "--name-only", "-z", "--no-renames", ours, theirs, "--", ...both])),
        )
      : new Set<string>();
    // An uncommitted edit conflicts only if the work tree's file differs from theirs.
    const dirtyBoth = both.filter((p) => dirty.has(p));
    const dirtyDiffer = dirtyBoth.length
      ? new Set(nulSplit(await this.git.out(["diff", "--name-only", "-z", "--no-renames", theirs, "--", ...dirtyBoth])))
      : new Set<string>();
    const conflicts: Conflict[] = both
      .filter((p) => (dirty.has(p) ? dirtyDiffer.has(p) : differ.has(p)))
      .map((p) => ({ path: p, ours, theirs }));

    let merged = theirs;
    if (base !== ours) {
      const index = path.join(this.ctx.stateDir, "integrate.index");
      const env = { GIT_INDEX_FILE: index };
      await this.git.run(["read-tree", theirs], { env });
      const ourPaths = [...ourChanged];
      const present = new Map<string, string>();
      for (let i = 0; i < ourPaths.length; i += 500) {
        const ls = await this.git.out(["ls-tree", "-z", "--full-tree", ours, "--", ...ourPaths.slice(i, i + 500)]);
        for (const rec of nulSplit(ls)) {
          const tab = rec.indexOf("\t");
          const [mode, , sha] = rec.slice(0, tab).split(" ");
          present.set(rec.slice(tab + 1), `${mode} ${sha}`);
        }
      }
      const info = ourPaths.map((p) => `${present.get(p) ?? `0 ${ZERO}`}\t${p}\0`).join("");
      if (info) await this.git.run(["update-index", "-z", "--index-info"], { env, input: info });
      const tree = (await this.git.out(["write-tree"], { env })).trim();
      const msg =
        `mirrorshade: integrate ${theirs.slice(0, 12)} from the remote` +
        (conflicts.length ? ` (${conflicts.length} conflict(s): ours kept)` : "");
      merged = (await this.git.out(["commit-tree", tree, "-p", ours, "-p", theirs, "-m", msg])).trim();
      rmQuiet(index);
    }
    // Our side of a conflict not committed yet (edited since the last save, e.g. a one-shot
    // push): snapshot those files on top of our commit, so the conflict branch holds it exactly.
    let ourSide = ours;
    const dirtyConflicts = conflicts.filter((c) => dirty.has(c.path)).map((c) => c.path);
    if (dirtyConflicts.length) {
      const env = { GIT_INDEX_FILE: path.join(this.ctx.stateDir, "conflict.index") };
      await this.git.run(["read-tree", ours], { env });
      for (let i = 0; i < dirtyConflicts.length; i += 500)
        await this.git.run(["add", "-A", "--", ...dirtyConflicts.slice(i, i + 500)], { env });
      const tree = (await this.git.out(["write-tree"], { env })).trim();
      const msg = `mirrorshade: our side of ${dirtyConflicts.length} conflict(s), before integrating ${theirs.slice(0, 12)}`;
      ourSide = (await this.git.out(["commit-tree", tree, "-p", ours, "-m", msg])).trim();
      rmQuiet(env.GIT_INDEX_FILE);
      for (const c of conflicts) if (dirty.has(c.path)) c.ours = ourSide;
    }
    await this.git.run(["reset", "-q", merged]);
    const incoming = [...theirChanged].filter((p) => !ourChanged.has(p) && !dirty.has(p));
    const inTree = incoming.length
      ? new Set(nulSplit(await this.git.out(["ls-files", "-z", "--", ...incoming])))
      : new Set();
    await this.writeFromIndex(
      incoming.filter((p) => inTree.has(p)),
      true,
    );
    for (const p of incoming.filter((p) => !inTree.has(p))) rmQuiet(path.join(this.ctx.dir, p));

    let conflictRef: string | undefined;
    if (conflicts.length) {
      const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
      conflictRef = `mirrorshade/conflict/${hostnameSafe()}-${stamp}`;
      try {
        await this.network(["push", "--porcelain", this.remote, `${ourSide}:refs/heads/${conflictRef}`]);
      } catch (err) {
        this.ctx.log.warn(
          `could not push the conflict branch ${conflictRef} (our commits stay in the merge's history)`,
          {
            error: (err as Error).message,
          },
        );
      }
    }
    return { incoming, conflicts, conflictRef };
  }

  /** Write index entries into the work dir, never through a file or symlink standing where a directory should be. */
  private async writeFromIndex(paths: string[], overwrite = false): Promise<string[]> {
    const safe = paths.filter((p) => {
      const parts = p.split("/");
      for (let i = 1; i < parts.length; i++) {
        const st = lstatOrNull(path.join(this.ctx.dir, ...parts.slice(0, i)));
        if (st && !st.isDirectory()) {
          this.ctx.log.warn(`not restoring ${p}: ${parts.slice(0, i).join("/")} is not a directory here`);
          return false;
        }
      }
      return true;
    });
    if (safe.length) {
      await this.git.run(["checkout-index", ...(overwrite ? ["-f"] : []), "-z", "--stdin"], {
        input: safe.join("\0") + "\0",
        okCodes: [1],
      });
    }
    return safe;
  }

  /** Credentials for one network call, read fresh (a rotated Secret is picked up). */
  private credentials(): Record<string, string> {
    if (this.url === undefined) return {};
    return credentialEnv(this.url, schemeOf(this.url), this.ctx.settings, this.ctx.stateDir);
  }

  /** Run a git command that talks to the remote, translating its failures. */
  private async network(args: string[]): Promise<string>;
  private async network(args: string[], push: true): Promise<{ rejected: boolean }>;
  private async network(args: string[], push = false): Promise<string | { rejected: boolean }> {
    try {
      const out = await this.git.out(args, { env: this.credentials() });
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
      throw translate(err, this.url ?? this.remote);
    }
  }
}

/** The remote's default branch; on an empty remote the unborn branch its HEAD names, else main. */
function pickBranch(head: string | undefined, refs: Map<string, string>): string {
  if (head && (refs.has(`refs/heads/${head}`) || refs.size === 0)) return head;
  for (const b of ["main", "master"]) if (refs.has(`refs/heads/${b}`)) return b;
  if (refs.size === 0) return "main";
  throw new ConfigError("the remote's HEAD names no branch", { hint: "pass --branch" });
}

/** How many commits wait to be pushed, from `status --branch`'s header. */
function unpushed(header: string): number {
  const ahead = /\[ahead (\d+)/.exec(header);
  if (ahead) return Number(ahead[1]);
  if (/^## No commits yet/.test(header)) return 0;
  // Commits but nothing at the remote yet ("[gone]", or no upstream part).
  return /\.\.\.\S+ \[gone\]|^## [^.\s]+$/.test(header) ? 1 : 0;
}

function localPath(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  if (url.startsWith("file://")) return decodeURIComponent(new URL(url).pathname);
  return path.isAbsolute(url) ? url : undefined;
}

function parseAuthor(author: string | undefined): { name: string; email: string } | undefined {
  if (!author) return undefined;
  const m = /^\s*(.+?)\s*<([^>]+)>\s*$/.exec(author);
  if (!m) throw new ConfigError(`bad author "${author}"`, { hint: 'use "Name <email@example.com>"' });
  return { name: m[1]!, email: m[2]! };
}

function hostnameSafe(): string {
  return (process.env.HOSTNAME || hostname() || "host").replace(/[^A-Za-z0-9._-]/g, "-");
}

function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

function rmQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // already gone
  }
}
