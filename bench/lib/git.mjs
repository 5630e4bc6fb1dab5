// git for the references (plain git with a private global config: an identity, no signing,
// nothing from the host's config) and the bare remote's ref, read cheaply.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { cleanEnv, now, run, sleep } from "./proc.mjs";

export function gitEnv(tmp) {
  const cfg = path.join(tmp, "gitconfig-bench");
  if (!existsSync(cfg)) {
    writeFileSync(
      cfg,
      "[user]\n\tname = bench\n\temail = bench@example.invalid\n[init]\n\tdefaultBranch = main\n[commit]\n\tgpgSign = false\n",
    );
  }
  return cleanEnv({ GIT_CONFIG_GLOBAL: cfg, GIT_CONFIG_NOSYSTEM: "1", LC_ALL: "C" });
}

export function git(env, args, opts = {}) {
  return run("git", args, { env, ...opts });
}

/** `git` output as lines. */
export function gitLines(env, args, opts) {
  return execFileSync("git", args, { env, encoding: "utf8", maxBuffer: 256 * 1024 * 1024, ...opts })
    .split("\n")
    .filter(Boolean);
}

export function initBare(env, dir) {
  git(env, ["init", "-q", "--bare", "-b", "main", dir]);
  return dir;
}

/** Raw git's save of one file, the reference for a one-file save: `sh -c` with the path as $1. */
export const RAW_SAVE_ONE = `git add -- "$1" && git commit -q -m "save $1" && git push -q origin HEAD:main`;

/** Raw git's save of the whole work dir `dir` (`git add -A && commit && push`); `ms` is its wall time. */
export function rawSaveAll(env, dir, message) {
  return run("sh", ["-c", `git add -A && git commit -q -m "$1" && git push -q origin HEAD:main`, "sh", message], {
    cwd: dir,
    env,
  });
}

/** A work dir with its own .git, everything committed and pushed to a new bare `remote`. */
export function rawRepo(env, dir, remote) {
  initBare(env, remote);
  git(env, ["init", "-q", "-b", "main"], { cwd: dir });
  git(env, ["remote", "add", "origin", remote], { cwd: dir });
  return rawSaveAll(env, dir, "initial").ms;
}

/** The bare remote's branch: the loose ref file, else packed-refs. */
export function readRef(bare, branch = "main") {
  try {
    return readFileSync(path.join(bare, "refs", "heads", branch), "utf8").trim();
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
  }
  try {
    const packed = readFileSync(path.join(bare, "packed-refs"), "utf8");
    return new RegExp(`^([0-9a-f]{40,64}) refs/heads/${branch}$`, "m").exec(packed)?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Poll the ref every `interval` ms until `accept(sha)` is true for a new value; returns the
 * time the accepted value was first seen. `onChange(sha, t)` sees every new value.
 */
export async function waitRef(bare, { from, accept = () => true, onChange, timeout = 120_000, interval = 5 } = {}) {
  const end = now() + timeout;
  let last = from;
  while (now() < end) {
    const sha = readRef(bare);
    if (sha && sha !== last) {
      const t = now();
      last = sha;
      onChange?.(sha, t);
      if (accept(sha)) return { sha, t };
    }
    await sleep(interval);
  }
  throw new Error(`${bare}: no accepted new commit within ${timeout} ms (last ${last ?? "none"})`);
}
