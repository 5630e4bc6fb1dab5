/**
 * The work dir is hostile input (issue 9, the git side): what the notebook user can plant in
 * it never runs as the sidecar, never leaks a secret, never blocks the save of the rest.
 * Through the built CLI, with the work dir as the current directory, as in a container.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { expectCleanError, filesBelow } from "../helpers/credentials";
import { startGitHttp } from "../helpers/githttp";
import {
  cleanEnv,
  elsewhere,
  git,
  remoteFiles,
  run,
  sandbox,
  start,
  stop,
  tempDir,
  waitFor,
  waitForStart,
  write,
  type RunResult,
  type Sandbox,
} from "../helpers";

const SECRET = "outside-secret-7f3a9c";

interface Hostile extends Sandbox {
  /** A directory outside the work dir holding secret.json. */
  outside: string;
  /** Where planted commands leave a trace if they ever run. */
  marks: string;
}

function hostile(): Hostile {
  const sb = sandbox();
  const outside = path.join(sb.root, "outside");
  const marks = path.join(sb.root, "marks");
  mkdirSync(outside);
  mkdirSync(marks);
  writeFileSync(path.join(outside, "secret.json"), JSON.stringify({ key: SECRET }));
  return { ...sb, outside, marks };
}

/** `push --json` from inside the work dir; a hung push is killed and shows as code null. */
function push(sb: Sandbox, extra: string[] = [], env: NodeJS.ProcessEnv = sb.env): Promise<RunResult> {
  return run(["push", "--json", ...extra], { cwd: sb.work, env, timeoutMs: 40_000 });
}

function summary(r: RunResult): { skipped: { path: string; reason: string }[]; saved: { path: string }[] } {
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as never;
}

/** path → "<mode> <type>" at the tip of main. */
function remoteModes(bare: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const rec of git(bare, "ls-tree", "-r", "-z", "main").split("\0").filter(Boolean)) {
    const [mode, type] = rec.slice(0, rec.indexOf("\t")).split(" ");
    out.set(rec.slice(rec.indexOf("\t") + 1), `${mode} ${type}`);
  }
  return out;
}

/** Every object the bare repo holds, as text: "no byte of it anywhere at the remote". */
function everyObject(bare: string): string {
  return execFileSync("git", ["cat-file", "--batch-all-objects", "--batch"], {
    cwd: bare,
    env: cleanEnv(),
    maxBuffer: 1 << 28,
  }).toString("latin1");
}

/**
 * A script that leaves a mark (and the environment it saw) when run: planted as an fsmonitor,
 * every hook git knows, and an ext:: transport.
 */
function evil(sb: Hostile, name: string): string {
  const file = path.join(sb.work, ".evil", name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `#!/bin/sh\nenv > "${sb.marks}/${name}-$$"\nexit 1\n`, { mode: 0o755 });
  return file;
}

const HOOKS = ["pre-push", "post-commit", "pre-commit", "reference-transaction", "post-index-change", "post-checkout"];

/** Plant config and hooks in the git dir `gitDir` that would run code if any git of ours read them. */
function armRepo(sb: Hostile, gitDir: string, remoteUrl: string): void {
  const cfg = (...args: string[]) => git(sb.work, "--git-dir", gitDir, "config", ...args);
  cfg("core.fsmonitor", evil(sb, "fsmonitor"));
  cfg("core.hooksPath", path.join(gitDir, "hooks"));
  cfg("protocol.ext.allow", "always");
  cfg(`url.ext::${evil(sb, "ext")} %S x.insteadOf`, remoteUrl);
  cfg("credential.helper", `!${evil(sb, "credential")}`);
  cfg("core.sshCommand", evil(sb, "ssh"));
  mkdirSync(path.join(gitDir, "hooks"), { recursive: true });
  for (const hook of HOOKS) {
    writeFileSync(path.join(gitDir, "hooks", hook), readFileSync(evil(sb, hook)), { mode: 0o755 });
  }
}

function expectNoMarks(sb: Hostile): void {
  expect(readdirSync(sb.marks)).toEqual([]);
}

describe("a planted repo is data, never git's configuration", () => {
  for (const kind of ["a .git dir (git init)", "a .git file (gitdir: …)"] as const) {
    it(`${kind} after the first save: no fsmonitor, hook, ext:: transport or helper runs; the token stays ours`, async () => {
      const sb = hostile();
      const token = "tok_hostile_0123456789";
      const server = await startGitHttp({ root: sb.root, token });
      const url = server.urlFor("remote.git");
      const tokenFile = path.join(tempDir("ms-token-"), "token");
      writeFileSync(tokenFile, token + "\n");
      const env = { ...sb.env, MIRRORSHADE_REMOTE: url, MIRRORSHADE_TOKEN_FILE: tokenFile };
      write(sb.work, "a.txt", "first\n");
      expect((await push(sb, [], env)).code).toBe(0);

      if (kind === "a .git dir (git init)") {
        git(sb.work, "init", "-q");
        armRepo(sb, path.join(sb.work, ".git"), url);
      } else {
        // `.git` is a file naming a git dir elsewhere in the work dir.
        git(sb.work, "init", "-q", "--separate-git-dir", ".hidden-repo");
        armRepo(sb, path.join(sb.work, ".hidden-repo"), url);
      }
      write(sb.work, "b.txt", "second\n");
      const r = await push(sb, [], env);
      expectNoMarks(sb);
      expect(r.code, r.stderr).toBe(0);
      // Saved to our remote through our state, as before the plant.
      const files = remoteFiles(sb.remote);
      expect(files.get("b.txt")).toBe("second\n");
      expect([...files.keys()].some((p) => p === ".git" || p.startsWith(".git/"))).toBe(false);
      expect(r.stderr).toMatch(/ignoring \.git in the work dir/);
      for (const [rel, bytes] of [...filesBelow(sb.work), ...filesBelow(sb.state)]) {
        expect(bytes.toString("latin1"), rel).not.toContain(token);
      }
      expect(r.stdout + r.stderr).not.toContain(token);
    });
  }

  it("nested repos, committed and uncommitted: their files reach the remote as plain files", async () => {
    const sb = hostile();
    write(sb.work, "top.txt", "top\n");
    write(sb.work, "committed/a.txt", "in a committed repo\n");
    write(sb.work, "committed/deep/b.txt", "deeper\n");
    git(path.join(sb.work, "committed"), "init", "-q");
    git(path.join(sb.work, "committed"), "add", "-A");
    git(path.join(sb.work, "committed"), "commit", "-qm", "theirs");
    write(sb.work, "fresh/c.txt", "in a repo with no commit\n");
    git(path.join(sb.work, "fresh"), "init", "-q");
    armRepo(sb, path.join(sb.work, "fresh", ".git"), sb.remote);
    const cmd = evil(sb, "submodule");
    write(
      sb.work,
      ".gitmodules",
      `[submodule "committed"]\n\tpath = committed\n\turl = ext::${cmd}\n\tupdate = !${cmd}\n`,
    );

    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    const modes = remoteModes(sb.remote);
    expect(modes.get("committed/a.txt")).toBe("100644 blob");
    expect(modes.get("committed/deep/b.txt")).toBe("100644 blob");
    expect(modes.get("fresh/c.txt")).toBe("100644 blob");
    expect(modes.get("top.txt")).toBe("100644 blob");
    expect([...modes.values()].some((m) => m.startsWith("160000"))).toBe(false);
    expect([...modes.keys()].some((p) => p.split("/").includes(".git"))).toBe(false);
    expect(remoteFiles(sb.remote).get("committed/deep/b.txt")).toBe("deeper\n");
    expect(modes.has(".gitmodules")).toBe(false);
    expect(r.stderr).toMatch(/ignoring \.gitmodules in the work dir/);
    expectNoMarks(sb);
  });

  it("a gitlink left in the state by an older version becomes the files it stood for", async () => {
    const sb = hostile();
    write(sb.work, "top.txt", "top\n");
    expect((await push(sb)).code).toBe(0);
    write(sb.work, "sub/a.txt", "lost until now\n");
    git(path.join(sb.work, "sub"), "init", "-q");
    git(path.join(sb.work, "sub"), "add", "-A");
    git(path.join(sb.work, "sub"), "commit", "-qm", "theirs");
    // What `git add -A` of older versions did: the nested repo as a gitlink, pushed.
    const ours = ["--git-dir", path.join(sb.state, "git"), "--work-tree", sb.work];
    git(sb.work, ...ours, "add", "sub");
    git(sb.work, ...ours, "commit", "-qm", "old save");
    git(sb.work, ...ours, "push", "-q", "origin", "HEAD:refs/heads/main");
    expect(remoteModes(sb.remote).get("sub")).toMatch(/^160000/);

    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    const modes = remoteModes(sb.remote);
    expect(modes.has("sub")).toBe(false);
    expect(modes.get("sub/a.txt")).toBe("100644 blob");
    expect(remoteFiles(sb.remote).get("sub/a.txt")).toBe("lost until now\n");
  });

  it("watch saves what is written inside a nested repo", async () => {
    const sb = hostile();
    write(sb.work, "top.txt", "top\n");
    const w = start(["watch", "--debounce", "200ms"], { cwd: sb.work, env: sb.env });
    await waitForStart(w);
    mkdirSync(path.join(sb.work, "sub"));
    git(path.join(sb.work, "sub"), "init", "-q");
    write(sb.work, "sub/x.txt", "x1\n");
    await waitFor("sub/x.txt at the remote", () => remoteFiles(sb.remote).get("sub/x.txt") === "x1\n");
    write(sb.work, "sub/y.txt", "y1\n");
    await waitFor("sub/y.txt at the remote", () => remoteFiles(sb.remote).get("sub/y.txt") === "y1\n");
    write(sb.work, "sub/x.txt", "x2\n");
    await waitFor("sub/x.txt changed at the remote", () => remoteFiles(sb.remote).get("sub/x.txt") === "x2\n");
    expect((await stop(w)).code).toBe(0);
  });
});

describe("links, special files and odd names", () => {
  it("a notebook symlinked to a secret outside: saved as a link, no byte of the secret anywhere", async () => {
    const sb = hostile();
    write(sb.work, "ok.ipynb", '{"cells": []}');
    symlinkSync(path.join(sb.outside, "secret.json"), path.join(sb.work, "leak.ipynb"));
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    const modes = remoteModes(sb.remote);
    expect(modes.get("leak.ipynb")).toBe("120000 blob");
    expect(remoteFiles(sb.remote).get("leak.ipynb")).toBe(path.join(sb.outside, "secret.json"));
    expect(modes.get("ok.ipynb")).toBe("100644 blob");
    expect(everyObject(sb.remote)).not.toContain(SECRET);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it("a FIFO in place of a saved notebook: push returns, says why, saves the rest; watch keeps saving", async () => {
    const sb = hostile();
    write(sb.work, "nb.ipynb", '{"cells": []}');
    write(sb.work, "other.txt", "1\n");
    expect((await push(sb)).code).toBe(0);
    rmSync(path.join(sb.work, "nb.ipynb"));
    execFileSync("mkfifo", [path.join(sb.work, "nb.ipynb")]);
    write(sb.work, "other.txt", "2\n");
    const started = Date.now();
    const s = summary(await push(sb));
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(s.skipped).toContainEqual({ path: "nb.ipynb", reason: expect.stringMatching(/FIFO/) });
    expect(remoteFiles(sb.remote).get("other.txt")).toBe("2\n");
    // The saved notebook stays at the remote: a FIFO is not a deletion.
    expect(remoteFiles(sb.remote).get("nb.ipynb")).toBe('{"cells": []}');

    const w = start(["watch", "--debounce", "200ms"], { cwd: sb.work, env: sb.env });
    await waitForStart(w);
    write(sb.work, "other.txt", "3\n");
    await waitFor("other.txt saved by watch", () => remoteFiles(sb.remote).get("other.txt") === "3\n");
    const stopped = Date.now();
    expect((await stop(w)).code).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(15_000);
  });

  for (const name of [".gitignore", "sub/.gitattributes"]) {
    it(`a FIFO as ${name}: push says which file stops git, exit 4 at once; saving resumes once it is gone`, async () => {
      const sb = hostile();
      write(sb.work, "sub/a.txt", "a\n");
      execFileSync("mkfifo", [path.join(sb.work, name)]);
      const started = Date.now();
      const r = await push(sb, ["--retry-for", "1s"]);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toContain(`${name} is not a regular file`);
      rmSync(path.join(sb.work, name));
      expect((await push(sb)).code).toBe(0);
      expect(remoteFiles(sb.remote).get("sub/a.txt")).toBe("a\n");
    });
  }

  it(".gitattributes asking for working-tree-encoding=UTF-16: every file is saved byte for byte", async () => {
    const sb = hostile();
    write(sb.work, ".gitattributes", "* working-tree-encoding=UTF-16 text eol=crlf filter=evil\n");
    write(sb.work, "notes.txt", "plain ascii, not UTF-16\nline two\n");
    write(sb.work, "nb.ipynb", '{"cells": []}\n');
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    const files = remoteFiles(sb.remote);
    expect(files.get("notes.txt")).toBe("plain ascii, not UTF-16\nline two\n");
    expect(files.get("nb.ipynb")).toBe('{"cells": []}\n');
    // And back: a restore elsewhere writes the same bytes.
    const other = elsewhere(sb);
    const restored = await run(["restore", "."], { cwd: other.work, env: other.env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(readFileSync(path.join(other.work, "notes.txt"), "utf8")).toBe("plain ascii, not UTF-16\nline two\n");
  });

  it("a saved dir replaced by a symlink to outside: the link is saved as a link, nothing from outside", async () => {
    const sb = hostile();
    write(sb.work, "d/a.txt", "inside\n");
    write(sb.work, "keep.txt", "1\n");
    expect((await push(sb)).code).toBe(0);
    rmSync(path.join(sb.work, "d"), { recursive: true });
    symlinkSync(sb.outside, path.join(sb.work, "d"));
    write(sb.work, "keep.txt", "2\n");
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    const modes = remoteModes(sb.remote);
    expect(modes.get("d")).toBe("120000 blob");
    expect(modes.has("d/a.txt")).toBe(false);
    expect(remoteFiles(sb.remote).get("keep.txt")).toBe("2\n");
    expect(everyObject(sb.remote)).not.toContain(SECRET);
  });

  it("a name that is not UTF-8 is reported as skipped; the rest is saved", async () => {
    const sb = hostile();
    write(sb.work, "ok.txt", "ok\n");
    execFileSync("sh", ["-c", `printf x > "$(printf 'bad\\377name.txt')"`], { cwd: sb.work });
    const s = summary(await push(sb));
    expect(s.skipped).toContainEqual({ path: expect.stringContaining("bad"), reason: expect.stringMatching(/UTF-8/) });
    expect(remoteFiles(sb.remote).get("ok.txt")).toBe("ok\n");
  });

  it("a notebook linked to /dev/zero: saved as a link, and the push stays small", async () => {
    const sb = hostile();
    write(sb.work, "ok.txt", "ok\n");
    symlinkSync("/dev/zero", path.join(sb.work, "z.ipynb"));
    const p = start(["push", "--json"], { cwd: sb.work, env: sb.env, timeoutMs: 40_000 });
    let maxRss = 0;
    const poll = setInterval(() => {
      try {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p.proc.pid}/status`, "utf8"))?.[1] ?? 0);
        maxRss = Math.max(maxRss, kb * 1024);
        if (maxRss > 600e6) p.proc.kill("SIGKILL"); // protect the machine; the assertion below fails
      } catch {
        // exited
      }
    }, 20);
    const r = await p.exited;
    clearInterval(poll);
    expect(maxRss).toBeLessThan(300e6);
    expect(r.code, r.stderr).toBe(0);
    expect(remoteModes(sb.remote).get("z.ipynb")).toBe("120000 blob");
    expect(remoteFiles(sb.remote).get("z.ipynb")).toBe("/dev/zero");
  });
});

describe("--in-place: the work dir's own repo, only when asked", () => {
  function laptop(sb: Hostile): string {
    git(sb.root, "clone", "-q", sb.remote, sb.work + ".clone");
    rmSync(sb.work, { recursive: true });
    execFileSync("mv", [sb.work + ".clone", sb.work]);
    git(sb.work, "symbolic-ref", "HEAD", "refs/heads/main");
    const hook = path.join(sb.work, ".git", "hooks", "post-commit");
    writeFileSync(hook, `#!/bin/sh\ntouch "${sb.marks}/post-commit-$$"\n`, { mode: 0o755 });
    return hook;
  }

  it("commits in the user's repo and pushes its branch; its hooks run only with --run-hooks", async () => {
    const sb = hostile();
    laptop(sb);
    const env = { ...sb.env };
    delete env.MIRRORSHADE_REMOTE;
    git(sb.work, "config", "branch.main.remote", "origin");
    git(sb.work, "config", "branch.main.merge", "refs/heads/main");
    write(sb.work, "a.txt", "a\n");
    // The first push to an empty remote sets nothing up: push -u gives the branch its upstream.
    git(sb.work, "add", "a.txt");
    git(sb.work, "commit", "-qm", "seed", "--no-verify");
    git(sb.work, "push", "-q", "-u", "origin", "main");
    rmSync(sb.marks, { recursive: true });
    mkdirSync(sb.marks);

    write(sb.work, "b.txt", "b\n");
    const r = await push(sb, ["--in-place"], env);
    expect(r.code, r.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("b.txt")).toBe("b\n");
    expect(git(sb.work, "log", "-1", "--format=%s").trim()).toMatch(/b\.txt/);
    expectNoMarks(sb);

    write(sb.work, "c.txt", "c\n");
    const r2 = await push(sb, ["--in-place", "--run-hooks"], env);
    expect(r2.code, r2.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("c.txt")).toBe("c\n");
    expect(readdirSync(sb.marks).some((m) => m.startsWith("post-commit"))).toBe(true);
  });

  it("--in-place on a dir that is not the top of a work tree: exit 2, one line", async () => {
    const sb = hostile();
    write(sb.work, "a.txt", "a\n");
    expectCleanError(await push(sb, ["--in-place"]), 2, /not the top of a git work tree/);
    git(sb.work, "init", "-q");
    mkdirSync(path.join(sb.work, "sub"));
    const r = await run(["push", "--in-place"], { cwd: path.join(sb.work, "sub"), env: sb.env });
    expectCleanError(r, 2, /not the top of a git work tree/);
  });

  it("without --in-place a checkout is saved from the state dir; its hooks never run", async () => {
    const sb = hostile();
    laptop(sb);
    write(sb.work, "a.txt", "a\n");
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("a\n");
    expect(git(sb.work, "rev-list", "--all").trim()).toBe(""); // the user's repo is untouched
    expectNoMarks(sb);
  });
});
