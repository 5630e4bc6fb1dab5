/**
 * `watch` under faults: killed mid-push, stopped right after a write, restarted, the remote
 * away for a while or moved by another writer, the work dir emptied.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  cloneRemote,
  commitAndPush,
  commitCount,
  defer,
  git,
  isAlive,
  killAll,
  processTree,
  remoteFiles,
  remotePaths,
  sandbox,
  startWatch,
  stop,
  waitFor,
  write,
  writeSaved,
  type RunResult,
  type Running,
  type Sandbox,
} from "../helpers";

/**
 * A pre-receive hook that holds every push to the bare remote until `release()`: a push
 * in progress, deterministically. The hook gives up (declines) after ~60 s, and is
 * released after the test in any case, so no git process outlives the test.
 */
function holdPushes(sb: Sandbox): { held(): number[]; release(): void } {
  const entered = path.join(sb.root, "hook-entered");
  const releaseFile = path.join(sb.root, "hook-release");
  mkdirSync(entered);
  writeFileSync(
    path.join(sb.remote, "hooks", "pre-receive"),
    `#!/bin/sh
touch "${entered}/$$"
i=0
while [ ! -e "${releaseFile}" ]; do
  i=$((i + 1))
  if [ $i -gt 600 ]; then echo "held too long" >&2; exit 1; fi
  sleep 0.1
done
cat >/dev/null
exit 0
`,
    { mode: 0o755 },
  );
  const held = () => readdirSync(entered).map(Number);
  const release = () => writeFileSync(releaseFile, "");
  defer(async () => {
    release();
    // Before the sandbox goes: hooks still polling would never see the release file.
    await waitFor("held pushes to end", () => held().every((pid) => !isAlive(pid)), 5_000).catch(() => {
      killAll(held());
    });
  });
  return { held, release };
}

/** A watch whose first push (of a.txt) is held in the remote's hook: the moment to kill it. */
async function midPush(): Promise<{ sb: Sandbox; hook: ReturnType<typeof holdPushes>; w1: Running }> {
  const sb = sandbox();
  const hook = holdPushes(sb);
  const w1 = await startWatch(sb);
  write(sb.work, "a.txt", "precious\n");
  await waitFor("the push to reach the remote's hook", () => hook.held().length === 1);
  return { sb, hook, w1 };
}

/** Restart the watch after the kill, let both pushes through, wait for a.txt; then stop it. */
async function restartAndRelease(sb: Sandbox, hook: ReturnType<typeof holdPushes>): Promise<RunResult> {
  const w2 = await startWatch(sb);
  await waitFor("the restarted watch to push", () => hook.held().length === 2);
  hook.release();
  await waitFor("a.txt at the remote", () => remoteFiles(sb.remote).get("a.txt") === "precious\n");
  return stop(w2);
}

/** 25 files under data/ and keep.txt, saved: a work dir to empty. */
async function twentySixSaved(sb: Sandbox): Promise<void> {
  for (let i = 0; i < 25; i++) write(sb.work, `data/f${i}.txt`, `${i}\n`);
  write(sb.work, "keep.txt", "keep\n");
  await waitFor("26 files at the remote", () => remotePaths(sb.remote).length === 26);
}

describe("watch under faults", () => {
  it("loses nothing when killed -9 in the middle of a push (its push lives on)", async () => {
    const { sb, hook, w1 } = await midPush();
    w1.proc.kill("SIGKILL");
    expect((await w1.exited).signal).toBe("SIGKILL");
    expect(commitCount(sb.remote)).toBe(0);

    // The orphaned push still waits in the hook; the restarted watch pushes too.
    const r = await restartAndRelease(sb, hook);
    expect(r.code, r.stderr).toBe(0);
    // The commit made before the kill, pushed once: no duplicate.
    expect(commitCount(sb.remote)).toBe(1);
  });

  it("loses nothing when its whole process tree is killed -9 mid-push (a container's death)", async () => {
    const { sb, hook, w1 } = await midPush();
    const tree = processTree(w1.proc.pid!);
    expect(tree).toContain(hook.held()[0]);
    // The tree changes as it is killed: the hook's `sleep`s come and go.
    killAll(tree);
    await w1.exited;
    await waitFor("the killed tree to be gone", () => tree.every((pid) => !isAlive(pid)));
    expect(commitCount(sb.remote)).toBe(0);

    const r = await restartAndRelease(sb, hook);
    expect(r.code, r.stderr).toBe(0);
    expect(commitCount(sb.remote)).toBe(1);
  });

  it("retries while the remote is unreachable and saves once it is back", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    const away = sb.remote + ".away";
    renameSync(sb.remote, away);
    write(sb.work, "during-outage.txt", "kept\n");
    await w.waitForLog("a failed save", (l) => l.level === "error" && /^save failed/.test(String(l.msg)));
    expect(existsSync(sb.remote)).toBe(false);
    renameSync(away, sb.remote);
    // The first retry comes after 0.5–1 s of backoff.
    await waitFor("the file at the remote", () => remoteFiles(sb.remote).get("during-outage.txt") === "kept\n");
    const r = await stop(w);
    expect(r.code, r.stderr).toBe(0);
  });

  it("recovers from an index.lock left by a git that died mid-save (e.g. SIGBUS on a truncated notebook)", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    await writeSaved(sb, "first.txt", "1\n");
    // What a git killed while holding the index lock leaves behind.
    writeFileSync(path.join(sb.state, "git", "index.lock"), "");
    await writeSaved(sb, "second.txt", "2\n");
    await w.waitForLog("the stale lock warning", (l) => /index\.lock/.test(String(l.msg)));
    const r = await stop(w);
    expect(r.code, r.stderr).toBe(0);
  });

  it("refuses to save the deletion of most files (an emptied or unmounted work dir)", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    await twentySixSaved(sb);
    const before = commitCount(sb.remote);

    rmSync(path.join(sb.work, "data"), { recursive: true });
    const refusal = await w.waitForLog(
      "the mass-deletion refusal",
      (l) => l.level === "error" && /refusing to save the deletion of 25 of 26/.test(String(l.msg)),
    );
    expect(String(refusal.hint)).toMatch(/--allow-mass-delete/);
    // A later change still saves, without the refused deletions.
    await writeSaved(sb, "after.txt", "after\n");
    expect(remotePaths(sb.remote).filter((p) => p.startsWith("data/"))).toHaveLength(25);
    expect(commitCount(sb.remote)).toBe(before + 1);
    // Shutdown does not sneak the deletion in either.
    expect((await stop(w)).code).toBe(0);
    expect(remotePaths(sb.remote).filter((p) => p.startsWith("data/"))).toHaveLength(25);
  });

  it("saves a mass deletion with --allow-mass-delete", async () => {
    const sb = sandbox();
    const w = await startWatch(sb, ["--allow-mass-delete"]);
    await twentySixSaved(sb);

    rmSync(path.join(sb.work, "data"), { recursive: true });
    await waitFor("the deletion at the remote", () => {
      const p = remotePaths(sb.remote);
      return p.length === 1 && p[0] === "keep.txt";
    });
    expect(w.logs().some((l) => /refusing/.test(String(l.msg)))).toBe(false);
    expect((await stop(w)).code).toBe(0);
  });

  it("saves writes made just before SIGTERM, and exits 0", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    // First a save, so that nothing is pending (no start-up rescan) when the signal comes.
    await writeSaved(sb, "first.txt", "1\n");
    // The signal arrives before the watcher reports these writes (it batches its events).
    for (let i = 0; i < 100; i++) write(sb.work, `last${i}.txt`, `last words ${i}\n`);
    const r = await stop(w);
    expect(r.code, r.stderr).toBe(0);
    const files = remoteFiles(sb.remote);
    for (let i = 0; i < 100; i++) expect(files.get(`last${i}.txt`)).toBe(`last words ${i}\n`);
  });

  it("resumes from its state after a restart and saves what changed while it was down", async () => {
    const sb = sandbox();
    let w = await startWatch(sb);
    write(sb.work, "a.txt", "a1\n");
    write(sb.work, "b.txt", "b\n");
    write(sb.work, "c.txt", "c\n");
    await waitFor("a, b, c at the remote", () => remoteFiles(sb.remote).size === 3);
    expect((await stop(w)).code).toBe(0);
    const before = commitCount(sb.remote);

    write(sb.work, "a.txt", "a2\n");
    rmSync(path.join(sb.work, "b.txt"));
    write(sb.work, "d.txt", "d\n");
    w = await startWatch(sb);
    const want = new Map([
      ["a.txt", "a2\n"],
      ["c.txt", "c\n"],
      ["d.txt", "d\n"],
    ]);
    await waitFor("the three changes at the remote", () => {
      const f = remoteFiles(sb.remote);
      return f.size === 3 && [...want].every(([k, v]) => f.get(k) === v);
    });
    expect(commitCount(sb.remote)).toBe(before + 1);
    const msgs = w.logs().map((l) => String(l.msg));
    expect(msgs).toContain("resumed from state");
    expect(msgs.some((m) => /^restored \d+ file/.test(m))).toBe(false);
    expect((await stop(w)).code).toBe(0);
  });

  it("does not save what it took in from another writer (no save loop after integration)", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    await writeSaved(sb, "a.txt", "a\n");
    // Another writer (a laptop) pushes meanwhile; our next push is rejected and integrates it.
    commitAndPush(cloneRemote(sb.remote), { "theirs.txt": "theirs\n" });
    write(sb.work, "c.txt", "c\n");
    await waitFor("theirs.txt written here", () => existsSync(path.join(sb.work, "theirs.txt")));
    await waitFor("c.txt at the remote", () => remoteFiles(sb.remote).has("c.txt"));
    const after = commitCount(sb.remote); // a, theirs, c, and the merge
    await writeSaved(sb, "d.txt", "d\n");
    expect(commitCount(sb.remote)).toBe(after + 1);
    expect(git(sb.remote, "show", "--name-only", "--format=", "main").trim()).toBe("d.txt");
    // No empty commit anywhere (a save of what integration wrote would be one).
    for (const c of git(sb.remote, "rev-list", "--no-merges", "main").split("\n").filter(Boolean)) {
      expect(git(sb.remote, "show", "--name-only", "--format=", c).trim(), c).not.toBe("");
    }
    expect((await stop(w)).code).toBe(0);
  });
});
