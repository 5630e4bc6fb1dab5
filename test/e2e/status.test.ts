/**
 * `status` tells the truth: exit 8 when no watch runs on the dir (naming the state dir it
 * looked in), and never "no watch runs" while another command or a starting watch holds it.
 */
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { defer, plainLines, run, sandbox, startWatch, stop, tempDir, type Sandbox } from "../helpers";

const status = (sb: Sandbox, ...extra: string[]) =>
  run(["status", sb.work, ...extra], { env: { ...sb.env, MIRRORSHADE_LOG_FORMAT: "text" } });

/** A live process standing in for another mirrorshade command that holds the state dir's lock. */
function holdLock(state: string, command: string): number {
  const sleeper = spawn("sleep", ["120"], { stdio: "ignore" });
  defer(() => void sleeper.kill("SIGKILL"));
  mkdirSync(state, { recursive: true, mode: 0o700 });
  writeFileSync(path.join(state, "lock"), JSON.stringify({ pid: sleeper.pid, command }));
  return sleeper.pid!;
}

describe("status", () => {
  it("no watch: exit 8, naming the state dir it looked in and how to point it at another", async () => {
    const sb = sandbox();
    const r = await status(sb);
    expect(r.code).toBe(8);
    expect(r.stdout).toBe("");
    const lines = plainLines(r.stderr);
    expect(lines[0]).toBe(`mirrorshade: no watch runs on ${sb.work} (looked in state dir ${sb.state})`);
    expect(lines[1]).toMatch(/hint: .*--state-dir/);

    const json = await run(["status", sb.work, "--json"], { env: sb.env });
    expect(json.code).toBe(8);
    expect(JSON.parse(json.stdout)).toMatchObject({
      ok: false,
      exitCode: 8,
      running: false,
      stateDir: sb.state,
      error: { code: "no_watch" },
    });
  });

  it("a watch with another state dir is found with that state dir, and only with it", async () => {
    const sb = sandbox();
    const other = path.join(tempDir(), "elsewhere");
    const w = await startWatch(sb, [], { MIRRORSHADE_STATE_DIR: other });
    const missed = await status(sb);
    expect(missed.code).toBe(8);
    expect(missed.stderr).toContain(`looked in state dir ${sb.state}`);
    const found = await status(sb, "--state-dir", other);
    expect(found.code, found.stderr).toBe(0);
    expect(found.stdout).toMatch(/^ready\s+true$/m);
    expect((await stop(w)).code).toBe(0);
  });

  it("another command holds the dir: says so plainly, never 'no watch runs'", async () => {
    const sb = sandbox();
    const pid = holdLock(sb.state, "push");
    const r = await status(sb);
    expect(r.code).toBe(8);
    expect(r.stderr).toContain(`a push (pid ${pid}) is using ${sb.work}`);
    expect(r.stderr).not.toMatch(/no watch runs/);
    const json = JSON.parse((await run(["status", sb.work, "--json"], { env: sb.env })).stdout) as Record<
      string,
      unknown
    >;
    expect(json).toMatchObject({ running: false, holder: { command: "push", pid } });
  });

  it("a watch that is still restoring (no control socket yet): running, starting; exit 0", async () => {
    const sb = sandbox();
    const pid = holdLock(sb.state, "watch");
    const r = await status(sb);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`a watch (pid ${pid}) is starting on ${sb.work}`);
    expect(r.stdout + r.stderr).not.toMatch(/no watch/);
  });
});
