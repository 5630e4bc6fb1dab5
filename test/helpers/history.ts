/**
 * Long histories for the history tests, made in one `git fast-import` (hundreds of commits in
 * well under a second): commit i appends line i to `log.txt`; the first also writes `files`;
 * `changes[i]` adds more files to commit i. Commits are `stepS` apart, the last at `endAt`.
 */
import { execFileSync } from "node:child_process";
import { cleanEnv, git } from "./index";

export interface History {
  /** Commit ids, oldest first. */
  ids: string[];
  /** Commit times (epoch seconds), oldest first. */
  times: number[];
  /** log.txt after commit i. */
  logAt(i: number): string;
}

export function logText(upTo: number, from = 0, tag = "save"): string {
  let s = "";
  for (let i = from; i <= upTo; i++) s += `${tag} ${i}\n`;
  return s;
}

/**
 * Add `commits` commits to `branch` of `repo` (bare or not), on top of what it has. Returns
 * the new commits (oldest first). `tag` names the lines this writer appends to log.txt.
 */
export function longHistory(
  repo: string,
  commits: number,
  opts: {
    files?: Record<string, string>;
    changes?: Record<number, Record<string, string>>;
    endAt?: number;
    stepS?: number;
    branch?: string;
    tag?: string;
    host?: string;
  } = {},
): History {
  const branch = opts.branch ?? "main";
  const step = opts.stepS ?? 60;
  const end = opts.endAt ?? Math.floor(Date.now() / 1000);
  const tag = opts.tag ?? "save";
  let parent: string | undefined;
  let base = "";
  try {
    parent = git(repo, "rev-parse", "-q", "--verify", `refs/heads/${branch}`).trim();
    base = git(repo, "show", `${parent}:log.txt`);
  } catch {
    parent = undefined;
  }
  const chunks: string[] = [];
  const data = (s: string) => `data ${Buffer.byteLength(s)}\n${s}\n`;
  const times: number[] = [];
  let log = base;
  const logs: string[] = [];
  for (let i = 0; i < commits; i++) {
    const t = end - (commits - 1 - i) * step;
    times.push(t);
    log += `${tag} ${i}\n`;
    logs.push(log);
    chunks.push(`commit refs/heads/${branch}\nmark :${i + 1}\n`);
    chunks.push(`committer mirrorshade <mirrorshade@${opts.host ?? "pod-history"}> ${t} +0000\n`);
    chunks.push(data(`mirrorshade: ${tag} ${i}`));
    if (i === 0 && parent) chunks.push(`from ${parent}\n`);
    const files = { ...(i === 0 ? opts.files : {}), ...opts.changes?.[i], "log.txt": log };
    for (const [p, content] of Object.entries(files)) chunks.push(`M 100644 inline ${p}\n${data(content)}`);
    chunks.push("\n");
  }
  execFileSync("git", ["fast-import", "--quiet", "--force"], {
    cwd: repo,
    env: { ...cleanEnv(), GIT_DIR: isBare(repo) ? repo : `${repo}/.git` },
    input: chunks.join(""),
    maxBuffer: 1 << 28,
  });
  const all = git(repo, "rev-list", "--reverse", `refs/heads/${branch}`).split("\n").filter(Boolean);
  return { ids: all.slice(-commits), times, logAt: (i) => logs[i]! };
}

function isBare(repo: string): boolean {
  return git(repo, "rev-parse", "--is-bare-repository").trim() === "true";
}
