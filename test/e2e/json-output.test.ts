/**
 * --json for scripts and CI: every exit writes exactly one JSON object on stdout (ok,
 * exitCode, and on failure error {code, message, hint}); with the JSON log format the error
 * is a JSON log line on stderr too. And `push` reports the truth, whoever saved.
 */
import { chmodSync, existsSync, rmSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  cloneRemote,
  commitAndPush,
  commitCount,
  git,
  plainLines,
  remoteFiles,
  run,
  sandbox,
  start,
  startWatch,
  stop,
  tempDir,
  waitFor,
  write,
  type RunResult,
  type Sandbox,
} from "../helpers";

interface Doc {
  ok: boolean;
  exitCode: number;
  error?: { code: string; message: string; hint?: string };
  [key: string]: unknown;
}

/** stdout is exactly one JSON object, with ok and exitCode matching the process's exit. */
function oneJson(r: RunResult): Doc {
  const lines = r.stdout.split("\n").filter((l) => l.trim() !== "");
  expect(lines, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).toHaveLength(1);
  const doc = JSON.parse(lines[0]!) as Doc;
  expect(doc.exitCode).toBe(r.code);
  expect(doc.ok).toBe(r.code === 0);
  if (r.code !== 0) {
    expect(doc.error?.code).toMatch(/^[a-z_]+$/);
    expect(doc.error?.message).toBeTruthy();
  } else {
    expect(doc.error).toBeUndefined();
  }
  return doc;
}

/** The JSON log lines on stderr. */
function jsonLogs(stderr: string): Record<string, unknown>[] {
  return stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const push = (sb: Sandbox, ...extra: string[]) => run(["push", sb.work, ...extra], { env: sb.env });

/** Keys of a successful `push --json` document (the shape every mode shares). */
const PUSH_KEYS = [
  "conflictRef",
  "conflicts",
  "deferred",
  "dir",
  "dryRun",
  "exitCode",
  "id",
  "incoming",
  "merged",
  "ms",
  "ok",
  "remote",
  "saved",
  "skipped",
  "viaWatcher",
];

describe("--json: one object on stdout, whatever the exit", () => {
  it("a usage error from the command line (--json given): exit 2, error.code usage", async () => {
    const sb = sandbox();
    const doc = oneJson(await push(sb, "--frobnicate", "--json"));
    expect(doc).toMatchObject({ ok: false, exitCode: 2, error: { code: "usage" } });
    expect(doc.error!.message).toMatch(/frobnicate/);
    expect(doc.error!.hint).toMatch(/--help/);
  });

  it("a usage error with MIRRORSHADE_JSON=1 and no flag; and for a command without --json", async () => {
    const sb = sandbox();
    const viaEnv = await run(["push", sb.work, "--frobnicate"], { env: { ...sb.env, MIRRORSHADE_JSON: "1" } });
    expect(oneJson(viaEnv).error?.code).toBe("usage");
    const init = await run(["init", sb.work, "--json"], { env: sb.env });
    expect(oneJson(init)).toMatchObject({ exitCode: 2, error: { code: "usage" } });
  });

  it("a configuration error (no remote anywhere): exit 2, usage", async () => {
    const sb = sandbox();
    const env = { ...sb.env };
    delete env.MIRRORSHADE_REMOTE;
    const r = await run(["push", sb.work, "--json"], { env, cwd: tempDir() });
    expect(oneJson(r)).toMatchObject({ exitCode: 2, error: { code: "usage" } });
  });

  it("a missing remote: exit 6, not_found", async () => {
    const sb = sandbox({ remote: "none" });
    expect(oneJson(await push(sb, "--json"))).toMatchObject({ exitCode: 6, error: { code: "not_found" } });
  });

  it("an unreachable remote: exit 4, unreachable; the hint says it gave up after --retry-for, not 'it is retried'", async () => {
    const sb = sandbox({ remote: "none" });
    const r = await push(sb, "--remote", "http://127.0.0.1:1/x.git", "--retry-for", "1s", "--json");
    const doc = oneJson(r);
    expect(doc).toMatchObject({ exitCode: 4, error: { code: "unreachable" } });
    expect(doc.error!.hint).toMatch(/gave up after --retry-for 1(\.0)?s/);
    expect(doc.error!.hint).not.toMatch(/it is retried|cluster/);
    // The JSON log format: the error is a JSON log line too, and nothing on stderr is plain text.
    expect(plainLines(r.stderr)).toEqual([]);
    const line = jsonLogs(r.stderr).find((l) => l.level === "error" && l.code === "unreachable");
    expect(line, r.stderr).toMatchObject({ exitCode: 4, msg: doc.error!.message, hint: doc.error!.hint });
  });

  it("the text format: the error's last line says it gave up after --retry-for", async () => {
    const sb = sandbox({ remote: "none" });
    const r = await push(sb, "--remote", "http://127.0.0.1:1/x.git", "--retry-for", "1s", "--log-format", "text");
    expect(r.code).toBe(4);
    const lines = plainLines(r.stderr);
    expect(lines.filter((l) => l.startsWith("mirrorshade:"))).toHaveLength(1);
    expect(lines.at(-1)).toMatch(/gave up after --retry-for 1(\.0)?s/);
    expect(r.stderr).not.toMatch(/it is retried|cluster/);
  });

  it("a conflict: exit 5, one object holding the push summary and error.code conflict", async () => {
    const sb = sandbox();
    write(sb.work, "notes.txt", "base\n");
    expect((await push(sb)).code).toBe(0);
    commitAndPush(cloneRemote(sb.remote), { "notes.txt": "theirs\n" });
    write(sb.work, "notes.txt", "ours\n");
    const doc = oneJson(await push(sb, "--json"));
    expect(doc).toMatchObject({ exitCode: 5, ok: false, error: { code: "conflict" } });
    expect(Object.keys(doc).sort()).toEqual([...PUSH_KEYS, "error"].sort());
    expect((doc.conflicts as { path: string }[]).map((c) => c.path)).toEqual(["notes.txt"]);
  });

  it("a mass deletion refused: exit 7, guard, the summary lists what was held back", async () => {
    const sb = sandbox();
    for (let i = 0; i < 20; i++) write(sb.work, `f${i}.txt`, `${i}\n`);
    expect((await push(sb)).code).toBe(0);
    for (let i = 0; i < 15; i++) rmSync(path.join(sb.work, `f${i}.txt`));
    const doc = oneJson(await push(sb, "--json"));
    expect(doc).toMatchObject({ exitCode: 7, error: { code: "guard" } });
    expect((doc.deferred as { reason: string }[]).filter((d) => d.reason === "mass deletion")).toHaveLength(15);
  });

  it("restore --json: one object with ok and exitCode", async () => {
    const sb = sandbox();
    expect(oneJson(await run(["restore", sb.work, "--json"], { env: sb.env }))).toMatchObject({
      ok: true,
      exitCode: 0,
    });
  });
});

describe("push --json: the same keys in every mode, and the truth about what was saved", () => {
  it("by itself, through a running watch (save and --dry-run), and in place: the same keys", async () => {
    const sb = sandbox();
    write(sb.work, "a.txt", "a\n");
    const direct = oneJson(await push(sb, "--json"));
    expect(Object.keys(direct).sort()).toEqual(PUSH_KEYS);
    expect(direct).toMatchObject({ viaWatcher: false, remote: sb.remote, saved: [{ path: "a.txt", op: "add" }] });

    const w = await startWatch(sb, ["--debounce", "30s", "--max-delay", "60s"]);
    write(sb.work, "b.txt", "b\n");
    const plan = oneJson(await push(sb, "--json", "--dry-run"));
    expect(Object.keys(plan).sort()).toEqual(PUSH_KEYS);
    expect(plan).toMatchObject({ viaWatcher: true, dryRun: true, saved: [{ path: "b.txt", op: "add" }] });
    const viaWatch = oneJson(await push(sb, "--json"));
    expect(Object.keys(viaWatch).sort()).toEqual(PUSH_KEYS);
    expect(viaWatch).toMatchObject({ viaWatcher: true, remote: sb.remote, saved: [{ path: "b.txt", op: "add" }] });
    expect((await stop(w)).code).toBe(0);

    // In place: the dir is a checkout; no --remote, its branch's upstream is where it saves.
    const checkout = cloneRemote(sb.remote);
    git(checkout, "config", "user.name", "laptop");
    git(checkout, "config", "user.email", "laptop@example.com");
    write(checkout, "c.txt", "c\n");
    const env: NodeJS.ProcessEnv = { ...sb.env, MIRRORSHADE_STATE_DIR: path.join(tempDir(), "state") };
    delete env.MIRRORSHADE_REMOTE;
    const inPlace = oneJson(await run(["push", checkout, "--in-place", "--json"], { env }));
    expect(Object.keys(inPlace).sort()).toEqual(PUSH_KEYS);
    expect(inPlace).toMatchObject({ remote: sb.remote, saved: [{ path: "c.txt", op: "add" }] });
    expect(remoteFiles(sb.remote).get("c.txt")).toBe("c\n");
  });

  it("answered by a watch in the middle of a save: reports the files that save saved", async () => {
    const sb = sandbox();
    // The remote holds the watch's first push until the test says go.
    const marks = tempDir("ms-marks-");
    const hook = path.join(sb.remote, "hooks", "pre-receive");
    write(
      path.dirname(hook),
      "pre-receive",
      `#!/bin/sh\ntouch '${marks}/started'\nwhile [ ! -f '${marks}/go' ]; do sleep 0.05; done\ncat >/dev/null\n`,
    );
    chmodSync(hook, 0o755);
    const w = await startWatch(sb, ["--debounce", "200ms"]);
    write(sb.work, "one.txt", "1\n");
    write(sb.work, "two.txt", "2\n");
    await waitFor("the save to reach the remote", () => existsSync(path.join(marks, "started")));
    const p = start(["push", sb.work, "--json"], { env: sb.env });
    await w.waitForLog("the push's request", (l) => /a push asked/.test(String(l.msg)));
    write(marks, "go", "");
    const r = await p.exited;
    const doc = oneJson(r);
    expect(doc.viaWatcher).toBe(true);
    expect((doc.saved as { path: string }[]).map((s) => s.path).sort()).toEqual(["one.txt", "two.txt"]);
    expect(doc.id).toBe(git(sb.remote, "rev-parse", "main").trim());
    expect((await stop(w)).code).toBe(0);
  });

  it("--dry-run with a watch running asks it for a plan: never says it saves, saves nothing", async () => {
    const sb = sandbox();
    const w = await startWatch(sb, ["--debounce", "30s", "--max-delay", "60s"]);
    write(sb.work, "draft.txt", "not yet\n");
    const before = commitCount(sb.remote);
    const r = await run(["push", sb.work, "--dry-run"], { env: { ...sb.env, MIRRORSHADE_LOG_FORMAT: "text" } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/to save|saving/);
    expect(r.stderr).toMatch(/what it would save/);
    expect(r.stdout).toMatch(/^A draft\.txt$/m);
    expect(r.stdout).toMatch(/dry run: would save 1 added/);
    expect(commitCount(sb.remote)).toBe(before);
    expect((await stop(w)).code).toBe(0);
  });
});
