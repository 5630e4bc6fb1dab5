/**
 * What a save would do: `git status` compares the work tree with our index, and what git
 * does not look into, we do. Git stops at a directory holding a `.git` (a repo the notebook
 * user made, `?? sub/`), and never reports what is below it: its files are data like any
 * other, walked here through WorkDir and saved as plain files. Each candidate is looked at
 * through WorkDir, never by following a link: a FIFO, socket or device, or a name that is
 * not UTF-8, is skipped with a reason before anything opens it.
 */
import { IgnoreRules } from "../../src/ignore";
import { nulSplit } from "../../src/git";
import { WorkDir, badName, specialReason } from "../../src/safefs";
import type { ChangeSet, PathFilter, PlanEntry, SavePlan } from "../types";
import type { Repo } from "./repo";
import { guardRuleFiles } from "./rules";

/** Past this many paths (or bytes of them) a whole-tree status is cheaper than argv. */
const PATHSPEC_MAX = 2000;
const PATHSPEC_BYTES = 100_000;
/** Names that are git's own: never saved, never read by our git (one warning per path and process). */
const GIT_NAMES = new Set([".git", ".gitmodules"]);

const warned = new Set<string>();

export async function plan(repo: Repo, changes: ChangeSet | "all", filter: PathFilter): Promise<SavePlan> {
  const plan: SavePlan = { entries: [], skipped: [], deferred: [], total: 0, unacknowledged: 0 };
  const wd = new WorkDir(repo.ctx.dir);
  try {
    // Before anything reads the tree (ensureReady reads .mirrorshadeignore).
    let specials = guardRuleFiles(wd, changes === "all" ? undefined : [...changes.keys()]);
    await repo.ensureReady();
    if (repo.rescan) {
      if (changes !== "all") specials = guardRuleFiles(wd);
      changes = "all";
      repo.rescan = false;
    }
    if (changes !== "all" && changes.size === 0) {
      // Nothing new: only ask whether earlier commits still wait to be pushed.
      const tip = await repo.rev(repo.tracking, true);
      const r = await repo.git.run(["rev-list", "--count", tip ? `${tip}..HEAD` : "HEAD"], { okCodes: [128] });
      plan.unacknowledged = r.code === 0 ? Number(r.stdout.trim()) : 0;
      return plan;
    }
    const candidates = await new Scan(repo, wd).run(changes, plan, specials);
    for (const entry of candidates) {
      const verdict = await filter(entry);
      if (verdict === "save") plan.entries.push(entry);
      else if ("skip" in verdict) plan.skipped.push({ path: entry.path, reason: verdict.skip });
      else plan.deferred.push({ path: entry.path, reason: verdict.defer });
    }
  } finally {
    wd.close();
  }
  if (plan.entries.filter((e) => e.op === "delete").length >= 10) {
    plan.total = 0;
    await eachRecord(repo, ["ls-files", "-z"], () => plan.total++);
  }
  return plan;
}

class Scan {
  private readonly out: PlanEntry[] = [];
  private rules: IgnoreRules | undefined;

  constructor(
    private readonly repo: Repo,
    private readonly wd: WorkDir,
  ) {}

  /** `specials`: the FIFOs, sockets and devices of a whole-tree look (guardRuleFiles). */
  async run(changes: ChangeSet | "all", plan: SavePlan, specials: string[]): Promise<PlanEntry[]> {
    const { repo } = this;
    const args = ["status", "--porcelain=v1", "-z", "--branch", "--untracked-files=all", "--no-renames"];
    args.push("--ignore-submodules=all");
    let paths: string[] | undefined;
    if (changes !== "all") {
      paths = [...changes.keys()];
      const bytes = paths.reduce((n, p) => n + p.length + 1, 0);
      if (paths.length > PATHSPEC_MAX || bytes > PATHSPEC_BYTES) paths = undefined;
    }
    const records = nulSplit(await repo.git.out(paths ? [...args, "--", ...paths] : args));
    const seen = new Set<string>();
    for (const rec of records) {
      if (rec.startsWith("## ")) {
        plan.unacknowledged = unpushed(rec);
        continue;
      }
      seen.add(rec.slice(3).replace(/\/$/, ""));
      this.record(rec.slice(0, 2), rec.slice(3), plan);
    }
    if (paths) {
      // Git reports nothing for a path below a repo it does not look into: ask about that repo's top.
      const tops = new Set<string>();
      for (const p of paths) {
        const top = this.unseenRepoTop(p, seen);
        if (top !== undefined) tops.add(top);
      }
      if (tops.size) {
        for (const rec of nulSplit(await repo.git.out([...args, "--", ...tops]))) {
          if (!rec.startsWith("## ")) this.record(rec.slice(0, 2), rec.slice(3), plan);
        }
      }
    }
    // Git lists no FIFO, socket or device it does not track: what the watcher named or the
    // whole-tree look met, and git did not report, is said here (never dropped in silence).
    for (const rel of paths ?? (changes === "all" ? specials : [])) {
      if (seen.has(rel) || plan.skipped.some((s) => s.path === rel) || this.ignored(rel)) continue;
      const st = this.wd.stat(rel);
      if (st?.kind === "other") this.candidate(rel, "add", plan);
    }
    if (changes === "all" && !repo.laptop) await this.gitlinks(plan);
    this.warnPlanted(".git");
    this.warnPlanted(".gitmodules");
    return this.out;
  }

  /**
   * State saved by older versions may hold gitlinks (a committed nested repo `git add`ed as a
   * submodule, its files never saved): replace each by the files it stands for. Looked for
   * at each whole-tree plan (start, push, shutdown): one `ls-files`.
   */
  private async gitlinks(plan: SavePlan): Promise<void> {
    const links: string[] = [];
    await eachRecord(this.repo, ["ls-files", "-s", "-z"], (rec) => {
      if (rec.toString("latin1", 0, 7) === "160000 ") links.push(rec.toString("utf8", rec.indexOf(9) + 1));
    });
    for (const rel of links) {
      this.out.push({ path: rel, op: "delete" });
      if (this.wd.stat(rel)?.kind === "dir") this.walk(rel, plan);
    }
  }

  /** One `git status` record. */
  private record(xy: string, rel: string, plan: SavePlan): void {
    if (xy === "!!") return;
    if (rel.endsWith("/")) {
      // Untracked and holding a .git: a repo git does not look into. In place, it is the
      // user's own nested clone; in a shared work dir, its files are data like any other.
      if (this.repo.laptop) plan.skipped.push({ path: rel, reason: "a nested git repository (save it on its own)" });
      else this.walk(rel.slice(0, -1), plan);
      return;
    }
    this.candidate(rel, xy === "??" ? "add" : xy[0] === "A" ? "add" : "modify", plan);
  }

  /** Classify one path as the work dir holds it now. */
  private candidate(rel: string, op: "add" | "modify", plan: SavePlan): void {
    const bad = badName(rel);
    if (bad) {
      plan.skipped.push({ path: rel, reason: bad });
      return;
    }
    const st = this.wd.stat(rel);
    if (!st || st.kind === "dir") {
      // Gone, below a link now, or a directory where the file was: the saved file is deleted.
      if (op !== "add") this.out.push({ path: rel, op: "delete" });
      return;
    }
    if (st.kind === "other") {
      plan.skipped.push({ path: rel, reason: specialReason(st.mode) });
      return;
    }
    this.out.push({ path: rel, op, size: st.size });
  }

  /** Everything below `dir` (which git did not look into) is new to us. */
  private walk(dir: string, plan: SavePlan): void {
    let ents: ReturnType<WorkDir["list"]>;
    try {
      ents = this.wd.list(dir);
    } catch {
      return; // gone, or a link now
    }
    for (const ent of ents) {
      const rel = `${dir}/${ent.name}`;
      if (GIT_NAMES.has(ent.name)) {
        warnOnce(this.repo, rel);
        continue;
      }
      if (this.ignored(rel, ent.kind === "dir")) continue;
      if (ent.kind === "dir") this.walk(rel, plan);
      else this.candidate(rel, "add", plan);
    }
  }

  private ignored(rel: string, isDir = false): boolean {
    this.rules ??= new IgnoreRules(this.repo.ctx.dir, this.repo.ctx.settings.ignore);
    return this.rules.ignores(rel, isDir);
  }

  /** The outermost directory holding a .git above `rel`, when git reported nothing at or above it. */
  private unseenRepoTop(rel: string, seen: Set<string>): string | undefined {
    const parts = rel.split("/");
    for (let i = 1; i < parts.length; i++) {
      const dir = parts.slice(0, i).join("/");
      if (seen.has(dir)) return undefined;
      if (this.wd.stat(`${dir}/.git`)) return dir;
    }
    return undefined;
  }

  /** Sidecar mode: a planted `.git` or `.gitmodules` at the top is said once, then left alone. */
  private warnPlanted(name: string): void {
    if (this.repo.laptop || !this.wd.stat(name)) return;
    warnOnce(this.repo, name);
  }
}

/**
 * Each NUL-terminated record git prints, as it comes: a listing of the whole index (10k–100k
 * records) is never one string, which an idle watch would hold until V8's next full collection.
 */
async function eachRecord(repo: Repo, args: string[], fn: (rec: Buffer) => void): Promise<void> {
  let rest = Buffer.alloc(0);
  await repo.git.exec(args, {
    onStdout: (chunk) => {
      const buf = rest.length ? Buffer.concat([rest, chunk]) : chunk;
      let start = 0;
      for (let nul = buf.indexOf(0); nul >= 0; nul = buf.indexOf(0, start)) {
        if (nul > start) fn(buf.subarray(start, nul));
        start = nul + 1;
      }
      rest = Buffer.from(buf.subarray(start));
    },
  });
}

function warnOnce(repo: Repo, rel: string): void {
  if (warned.has(rel)) return;
  warned.add(rel);
  const what = rel.endsWith(".gitmodules") ? "submodule config" : "a git repository";
  repo.ctx.log.warn(
    `ignoring ${rel} in the work dir: ${what} there is data, never read by mirrorshade's git, and not saved` +
      (rel === ".git" ? " (--in-place uses the work dir's own repo)" : ""),
  );
}

/** How many commits wait to be pushed, from `status --branch`'s header. */
function unpushed(header: string): number {
  const ahead = /\[ahead (\d+)/.exec(header);
  if (ahead) return Number(ahead[1]);
  if (/^## No commits yet/.test(header)) return 0;
  // Commits but nothing at the remote yet ("[gone]", or no upstream part).
  return /\.\.\.\S+ \[gone\]|^## [^.\s]+$/.test(header) ? 1 : 0;
}
