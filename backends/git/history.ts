/**
 * The saves in git's terms: each commit of the branch is one save (`log`), and a past point
 * (`restore --at`) is a commit, by id or as the newest one at or before a time. A shallow
 * state fetches older history on demand (shallow.ts). A boundary commit of a shallow state
 * is never shown: its parents are missing, so it would look like "every file added".
 */
import { ConfigError, NotFoundError } from "../../src/errors";
import type { LogOptions, Op, SavePoint, SaveRecord } from "../types";
import type { Remote } from "./remote";
import type { Repo } from "./repo";
import { fetchTip, openBranch } from "./restore";
import { Deepener, boundaries } from "./shallow";

/** Our repo on the branch, with what the remote holds now; the revs whose history is the saves (none: no saves yet). */
export async function openHistory(repo: Repo, remote: Remote): Promise<string[]> {
  const { ours, refs, branch } = await openBranch(repo, remote);
  const revs: string[] = ours ? ["HEAD"] : [];
  if (refs.has(`refs/heads/${branch}`)) {
    await fetchTip(repo, remote);
    revs.push(repo.tracking);
  }
  return revs;
}

const OPS: Record<string, Op> = { A: "add", M: "modify", T: "modify", D: "delete" };

/** The saves, newest first: every commit but integration merges (mirrorshade's bookkeeping, not a save). */
export async function log(repo: Repo, remote: Remote, opts: LogOptions = {}): Promise<SaveRecord[]> {
  const revs = await openHistory(repo, remote);
  if (!revs.length) return [];
  const deepener = new Deepener(repo, remote, opts.progress, opts.limit);
  for (;;) {
    const shallow = await boundaries(repo);
    const args = [
      "log",
      "--no-merges",
      "--no-renames",
      "-z",
      "--name-status",
      "--format=%x1e%H%x1f%ct%x1f%an%x1f%ae%x1f%B",
    ];
    if (opts.since) args.push(`--since=${Math.floor(opts.since.getTime() / 1000)}`);
    if (opts.limit && !shallow.size) args.push(`--max-count=${opts.limit}`);
    args.push(...revs, "--", ...(opts.paths ?? []));
    const all = parseLog(await repo.git.out(args)).filter((r) => !shallow.has(r.id));
    if (!shallow.size) return all;
    // Commits older than a boundary may be missing (its ancestors are not here): what is newer
    // than every boundary is complete.
    const edge = await newestTime(repo, shallow);
    const sure = all.filter((r) => Date.parse(r.time) > edge);
    if (opts.limit && sure.length >= opts.limit) return sure.slice(0, opts.limit);
    if (opts.since && opts.since.getTime() > edge) return sure;
    if (!(await deepener.step())) return opts.limit ? all.slice(0, opts.limit) : all;
  }
}

/** The newest commit time (ms) among `ids`. */
async function newestTime(repo: Repo, ids: Set<string>): Promise<number> {
  const out = await repo.git.out(["show", "-s", "--format=%ct", ...ids]);
  return Math.max(
    ...out
      .split("\n")
      .filter(Boolean)
      .map((t) => Number(t) * 1000),
  );
}

/** `git log -z --name-status` in the format above, as records. */
export function parseLog(out: string): SaveRecord[] {
  const records: SaveRecord[] = [];
  for (const chunk of out.split("\x1e")) {
    if (!chunk) continue;
    const [id, ct, name, email, rest = ""] = chunk.split("\x1f");
    const nul = rest.indexOf("\0");
    const message = (nul < 0 ? rest : rest.slice(0, nul)).trim();
    const status =
      nul < 0
        ? []
        : rest
            .slice(nul + 1)
            .replace(/^\n/, "")
            .split("\0");
    const files: SaveRecord["files"] = [];
    for (let i = 0; i + 1 < status.length; i += 2) {
      const op = OPS[status[i]!.charAt(0)];
      if (op && status[i + 1]) files.push({ path: status[i + 1]!, op });
    }
    records.push({
      id: id!,
      time: new Date(Number(ct) * 1000).toISOString(),
      host: hostOf(name!, email!),
      message,
      files,
    });
  }
  return records;
}

/** mirrorshade commits as `mirrorshade <mirrorshade@HOST>` unless told otherwise: the host, else the author's name. */
function hostOf(name: string, email: string): string {
  const m = /^mirrorshade@(.+)$/.exec(email);
  return m ? m[1]! : name;
}

/** The commit a SavePoint names, fetching older history as needed; NotFoundError when none does. */
export async function resolvePoint(
  repo: Repo,
  remote: Remote,
  at: SavePoint,
  progress?: (msg: string) => void,
): Promise<{ id: string; time: Date }> {
  const revs = await openHistory(repo, remote);
  if (!revs.length) throw new NotFoundError("the remote has no saves yet", { hint: "nothing to restore" });
  const deepener = new Deepener(repo, remote, progress);
  let fetchedById = false;
  for (;;) {
    let id: string | undefined;
    if ("id" in at) {
      const r = await repo.git.run(["rev-parse", "-q", "--verify", `${at.id}^{commit}`], { okCodes: [1, 128] });
      if (/ambiguous/i.test(r.stdout)) {
        throw new ConfigError(`the save id ${at.id} is ambiguous`, { hint: "give more of its characters" });
      }
      id = r.code === 0 ? r.stdout.trim() : undefined;
      if (!id && !fetchedById && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(at.id) && (await boundaries(repo)).size) {
        // A whole id, in a shallow state: the remote hands that one commit over (protocol v2),
        // whatever the depth. A complete history already holds every save; fetching `--depth=1`
        // there would make it shallow (a laptop checkout is the user's own).
        fetchedById = true;
        if (await remote.fetchCommit(at.id)) continue;
      }
    } else {
      const r = await repo.git.out(["rev-list", "-1", `--before=${Math.floor(at.time.getTime() / 1000)}`, ...revs]);
      id = r.trim() || undefined;
    }
    if (id) {
      const ct = await repo.git.out(["show", "-s", "--format=%ct", id]);
      return { id, time: new Date(Number(ct.trim()) * 1000) };
    }
    if (!(await deepener.step())) break;
  }
  if ("id" in at) {
    throw new NotFoundError(`no save ${at.id} in the history of branch ${repo.branch}`, {
      hint: "see the saves with: mirrorshade log",
    });
  }
  const first = await repo.git.out(["log", "--format=%cI", "--reverse", "--max-parents=0", ...revs]);
  throw new NotFoundError(`no save at or before ${at.time.toISOString()}`, {
    hint: `the first save is from ${first.split("\n")[0]}; see them with: mirrorshade log`,
  });
}
