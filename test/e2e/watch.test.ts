/**
 * `watch` end to end: the built CLI against a local bare remote. Faults (kill -9, outages,
 * the mass-deletion guard) are in watch-faults.test.ts.
 */
import { copyFileSync, mkdirSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  commitCount,
  git,
  pathsInHistory,
  remoteFiles,
  remotePaths,
  run,
  sandbox,
  seedRemote,
  startWatch,
  stop,
  versionsInHistory,
  waitFor,
  write,
} from "../helpers";

function notebook(source: string): string {
  return JSON.stringify(
    {
      cells: [{ cell_type: "code", metadata: {}, source: [source], outputs: [], execution_count: null }],
      metadata: {},
      nbformat: 4,
      nbformat_minor: 5,
    },
    null,
    1,
  );
}

describe("watch", () => {
  it("saves a written file to the remote", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    write(sb.work, "notes/a.txt", "hello\n");
    await waitFor("a.txt at the remote", () => remoteFiles(sb.remote).get("notes/a.txt") === "hello\n");
    const r = await stop(w);
    expect(r.code).toBe(0);
  });

  it("commits with a sane message and author", async () => {
    const sb = sandbox();
    const before = Date.now();
    const w = await startWatch(sb);
    write(sb.work, "notes/a.txt", "hello\n");
    await waitFor("a commit at the remote", () => commitCount(sb.remote) === 1);
    const [an, ae, cn, ce, at, subject, ...body] = git(
      sb.remote,
      "log",
      "-1",
      "--format=%an%n%ae%n%cn%n%ce%n%at%n%s%n%b",
      "main",
    ).split("\n");
    // No --author: mirrorshade's own identity, not the test runner's GIT_AUTHOR_* (env is isolated).
    expect(an).toBe("mirrorshade");
    expect(ae).toMatch(/^mirrorshade@[A-Za-z0-9._-]+$/);
    expect([cn, ce]).toEqual([an, ae]);
    expect(Number(at) * 1000).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(subject).toBe("mirrorshade: notes/a.txt");
    expect(body.join("").trim()).toBe("");
    expect((await stop(w)).code).toBe(0);
  });

  it("honours --author, --message and --trailer templates", async () => {
    const sb = sandbox();
    const w = await startWatch(sb, [
      "--author",
      "Ada Lovelace <ada@example.com>",
      "--message",
      "autosave {count} file(s): {files}",
      "--trailer",
      "Saved-by: mirrorshade on {host}",
    ]);
    write(sb.work, "a.txt", "a\n");
    write(sb.work, "b.txt", "b\n");
    await waitFor("a.txt and b.txt at the remote", () => remoteFiles(sb.remote).size === 2);
    const last = git(sb.remote, "log", "-1", "--format=%an <%ae>%n%B", "main");
    const [author, subject] = last.split("\n");
    expect(author).toBe("Ada Lovelace <ada@example.com>");
    // Both files may arrive in one save or two.
    expect(subject).toMatch(/^autosave (1 file\(s\): [ab]\.txt|2 file\(s\): a\.txt, b\.txt)$/);
    expect(last).toMatch(/\n\nSaved-by: mirrorshade on \S+\n/);
    expect((await stop(w)).code).toBe(0);
  });

  it("saves a burst of 1,000 files in new nested dirs in few commits", async () => {
    const sb = sandbox();
    // "A burst" is writes closer together than the debounce: 1 s, so a loaded machine's pauses
    // between writes (and the watcher renewing itself for the new nested dirs) stay inside it.
    const w = await startWatch(sb, ["--debounce", "1s"]);
    mkdirSync(path.join(sb.work, "a/b/c"), { recursive: true });
    const dirs = ["a", "a/b", "a/b/c"];
    for (let i = 0; i < 1000; i++) writeFileSync(path.join(sb.work, dirs[i % 3]!, `f${i}.txt`), `${i}\n`);
    await waitFor("1,000 files at the remote", () => remotePaths(sb.remote).length === 1000);
    const files = remoteFiles(sb.remote);
    for (let i = 0; i < 1000; i++) expect(files.get(`${dirs[i % 3]}/f${i}.txt`)).toBe(`${i}\n`);
    expect(commitCount(sb.remote)).toBeLessThanOrEqual(3);
    expect((await stop(w)).code).toBe(0);
  });

  it("saves later edits inside dirs created by mkdir -p", async () => {
    // inotify reports only the top of `mkdir -p a/b/c`; the dirs below must be watched too.
    const sb = sandbox();
    const w = await startWatch(sb);
    mkdirSync(path.join(sb.work, "x/y/z"), { recursive: true });
    write(sb.work, "x/top.txt", "1\n");
    await waitFor("x/top.txt at the remote", () => remoteFiles(sb.remote).has("x/top.txt"));
    write(sb.work, "x/y/z/deep.txt", "deep\n");
    write(sb.work, "x/y/mid.txt", "mid\n");
    await waitFor("files in x/y and x/y/z at the remote", () => {
      const f = remoteFiles(sb.remote);
      return f.get("x/y/z/deep.txt") === "deep\n" && f.get("x/y/mid.txt") === "mid\n";
    });
    expect((await stop(w)).code).toBe(0);
  });

  it("saves a directory tree moved in, and later edits deep inside it", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    const outside = path.join(sb.root, "outside");
    write(outside, "p/q/r/deep.txt", "1\n");
    renameSync(path.join(outside, "p"), path.join(sb.work, "p"));
    await waitFor("p/q/r/deep.txt at the remote", () => remoteFiles(sb.remote).get("p/q/r/deep.txt") === "1\n");
    write(sb.work, "p/q/r/deep.txt", "2\n");
    write(sb.work, "p/q/r/new.txt", "new\n");
    await waitFor("the edit and the new file at the remote", () => {
      const f = remoteFiles(sb.remote);
      return f.get("p/q/r/deep.txt") === "2\n" && f.get("p/q/r/new.txt") === "new\n";
    });
    expect((await stop(w)).code).toBe(0);
  });

  it("saves edits inside a directory renamed within the work dir", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    write(sb.work, "old/sub/f.txt", "1\n");
    await waitFor("old/sub/f.txt at the remote", () => remoteFiles(sb.remote).has("old/sub/f.txt"));
    renameSync(path.join(sb.work, "old"), path.join(sb.work, "new"));
    await waitFor("the rename at the remote", () => {
      const p = remotePaths(sb.remote);
      return p.length === 1 && p[0] === "new/sub/f.txt";
    });
    write(sb.work, "new/sub/f.txt", "2\n");
    await waitFor("the edit at the remote", () => remoteFiles(sb.remote).get("new/sub/f.txt") === "2\n");
    expect(remotePaths(sb.remote)).toEqual(["new/sub/f.txt"]);
    expect((await stop(w)).code).toBe(0);
  });

  it("saves a file written continuously within --max-delay", async () => {
    const sb = sandbox();
    const w = await startWatch(sb, ["--debounce", "1s", "--max-delay", "2s"]);
    let n = 0;
    const started = Date.now();
    // Whole-file replacements (a truncate-then-write could be caught empty, legitimately).
    const replace = () => {
      write(sb.root, "live.tmp", `v${n++}\n`);
      renameSync(path.join(sb.root, "live.tmp"), path.join(sb.work, "live.txt"));
    };
    replace();
    // Never 1 s quiet: only --max-delay can start a save.
    const writer = setInterval(replace, 100);
    let saved: Record<string, unknown>;
    try {
      saved = await w.waitForLog("a save while the writes go on", (l) => /^saved /.test(String(l.msg)));
    } finally {
      clearInterval(writer);
    }
    // When that save started (its log line comes at its end): 2 s after the first write,
    // plus the watcher's batching and a loaded machine's timer lateness.
    const saveStart = Date.parse(String(saved.time)) - Number(saved.ms);
    // Generous: the point is that it started while the writes went on, long before they stop.
    expect(saveStart - started).toBeLessThan(10_000);
    expect(commitCount(sb.remote)).toBeGreaterThanOrEqual(1);
    expect(remoteFiles(sb.remote).get("live.txt")).toMatch(/^v\d+\n$/);
    expect((await stop(w)).code).toBe(0);
  });

  it("never saves a half-written notebook, and saves it once valid", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    write(sb.work, "x.ipynb", '{"cells": [{"cell_type": "co');
    // Written after the notebook: once it landed, the save that saw the notebook ran.
    write(sb.work, "marker.txt", "1\n");
    await waitFor("marker.txt at the remote", () => remoteFiles(sb.remote).has("marker.txt"));
    expect(remoteFiles(sb.remote).has("x.ipynb")).toBe(false);

    const valid = notebook("print(1)");
    write(sb.work, "x.ipynb", valid);
    await waitFor("the valid x.ipynb at the remote", () => remoteFiles(sb.remote).get("x.ipynb") === valid);
    for (const v of versionsInHistory(sb.remote, "x.ipynb"))
      expect(() => JSON.parse(v.content), v.commit).not.toThrow();
    expect((await stop(w)).code).toBe(0);
  });

  it("saves Jupyter's atomic save without its .~ copy or the truncated state", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    const v1 = notebook("print(1)");
    write(sb.work, "x.ipynb", v1);
    await waitFor("x.ipynb v1 at the remote", () => remoteFiles(sb.remote).get("x.ipynb") === v1);

    // jupyter_server's atomic_writing: copy to .~x.ipynb, rewrite x.ipynb in place, remove the copy.
    const v2 = notebook("print(2)");
    const nb = path.join(sb.work, "x.ipynb");
    const copy = path.join(sb.work, ".~x.ipynb");
    copyFileSync(nb, copy);
    writeFileSync(nb, v2.slice(0, v2.length / 2));
    // Once marker.txt landed, a save ran while the notebook was half-written.
    write(sb.work, "marker.txt", "1\n");
    await waitFor("marker.txt at the remote", () => remoteFiles(sb.remote).has("marker.txt"));
    expect(remoteFiles(sb.remote).get("x.ipynb")).toBe(v1);
    writeFileSync(nb, v2);
    unlinkSync(copy);
    await waitFor("x.ipynb v2 at the remote", () => remoteFiles(sb.remote).get("x.ipynb") === v2);

    const ever = pathsInHistory(sb.remote);
    expect([...ever].sort()).toEqual(["marker.txt", "x.ipynb"]);
    for (const v of versionsInHistory(sb.remote, "x.ipynb"))
      expect(() => JSON.parse(v.content), v.commit).not.toThrow();
    expect((await stop(w)).code).toBe(0);
  });

  it("never saves the default ignores (checkpoints, __pycache__, .~*, swap files)", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    write(sb.work, ".ipynb_checkpoints/x-checkpoint.ipynb", "{}");
    write(sb.work, "sub/.ipynb_checkpoints/y-checkpoint.ipynb", "{}");
    write(sb.work, "__pycache__/m.cpython-312.pyc", "pyc");
    write(sb.work, "pkg/__pycache__/n.cpython-312.pyc", "pyc");
    write(sb.work, ".~foo", "tmp");
    write(sb.work, ".notes.txt.swp", "swap");
    write(sb.work, "pkg/mod.py", "x = 1\n");
    write(sb.work, "keep.txt", "keep\n");
    await waitFor("keep.txt and pkg/mod.py at the remote", () => {
      const f = remoteFiles(sb.remote);
      return f.has("keep.txt") && f.has("pkg/mod.py");
    });
    expect([...pathsInHistory(sb.remote)].sort()).toEqual(["keep.txt", "pkg/mod.py"]);
    expect((await stop(w)).code).toBe(0);
  });

  it("honours .gitignore, and saves .gitignore itself", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    write(sb.work, ".gitignore", "secret.txt\nbuild/\n");
    write(sb.work, "secret.txt", "password\n");
    write(sb.work, "build/out.bin", "bin");
    write(sb.work, "keep.txt", "keep\n");
    await waitFor("keep.txt at the remote", () => remoteFiles(sb.remote).has("keep.txt"));
    // A file ignored later than its creation is never saved either.
    write(sb.work, "late.txt", "late\n");
    write(sb.work, ".gitignore", "secret.txt\nbuild/\nlate.txt\n");
    write(sb.work, "keep2.txt", "keep\n");
    await waitFor("keep2.txt at the remote", () => remoteFiles(sb.remote).has("keep2.txt"));
    const ever = [...pathsInHistory(sb.remote)].sort();
    expect(ever).not.toContain("secret.txt");
    expect(ever).not.toContain("build/out.bin");
    expect(remoteFiles(sb.remote).get(".gitignore")).toBe("secret.txt\nbuild/\nlate.txt\n");
    expect(remoteFiles(sb.remote).has("late.txt")).toBe(false);
    expect((await stop(w)).code).toBe(0);
  });

  it("honours .mirrorshadeignore", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    write(sb.work, ".mirrorshadeignore", "*.tmp\nscratch/\n");
    write(sb.work, "data.tmp", "tmp");
    write(sb.work, "scratch/big.csv", "1,2\n");
    write(sb.work, "keep.txt", "keep\n");
    await waitFor("keep.txt at the remote", () => remoteFiles(sb.remote).has("keep.txt"));
    expect([...pathsInHistory(sb.remote)].sort()).toEqual([".mirrorshadeignore", "keep.txt"]);
    expect((await stop(w)).code).toBe(0);
  });

  it("honours --ignore", async () => {
    const sb = sandbox();
    const w = await startWatch(sb, ["--ignore", "*.log", "--ignore", "cache/"]);
    write(sb.work, "app.log", "log");
    write(sb.work, "logs/b.log", "log");
    write(sb.work, "cache/x.bin", "bin");
    write(sb.work, "keep.txt", "keep\n");
    await waitFor("keep.txt at the remote", () => remoteFiles(sb.remote).has("keep.txt"));
    expect([...pathsInHistory(sb.remote)].sort()).toEqual(["keep.txt"]);
    expect((await stop(w)).code).toBe(0);
  });

  it("delegates push to the running watch", async () => {
    const sb = sandbox();
    // A long debounce: the watch would not save on its own during the test.
    const w = await startWatch(sb, ["--debounce", "30s", "--max-delay", "60s"]);
    write(sb.work, "p.txt", "pushed\n");
    const r = await run(["push", sb.work, "--json"], { env: sb.env });
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { ok: boolean; viaWatcher?: boolean; saved: { path: string }[] };
    expect(summary.viaWatcher).toBe(true);
    expect(summary.ok).toBe(true);
    expect(summary.saved.map((s) => s.path)).toContain("p.txt");
    // push exited 0: the change is at the remote now, not eventually.
    expect(remoteFiles(sb.remote).get("p.txt")).toBe("pushed\n");
    expect((await stop(w)).code).toBe(0);
  });

  it("does not save its own restore writes (no save loop, no empty commits)", async () => {
    const sb = sandbox();
    const seed: Record<string, string> = {};
    for (let i = 0; i < 20; i++) seed[`dir${i % 4}/f${i}.txt`] = `${i}\n`;
    seed["nb.ipynb"] = notebook("print(0)");
    seedRemote(sb.remote, seed);
    const seeded = commitCount(sb.remote);

    const w = await startWatch(sb);
    await w.waitForLog("the restore", (l) => /^restored 21 file/.test(String(l.msg)));
    write(sb.work, "mine.txt", "mine\n");
    await waitFor("mine.txt at the remote", () => remoteFiles(sb.remote).has("mine.txt"));
    // Exactly one commit: the user's file. The restored files caused none before or with it.
    expect(commitCount(sb.remote)).toBe(seeded + 1);
    expect(git(sb.remote, "show", "--name-only", "--format=", "main").trim()).toBe("mine.txt");
    expect((await stop(w)).code).toBe(0);
  });
});
