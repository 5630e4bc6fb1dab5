/**
 * mirrorshade in a real terminal (a pty, an interactive bash with job control) and behind
 * closed pipes: what a person sees, what the kernel's job control does to it.
 */
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  ROOT,
  cleanEnv,
  commitCount,
  defer,
  freePort,
  remoteFiles,
  sandbox,
  startWatch,
  stop,
  tempDir,
  waitFor,
  write,
  type Sandbox,
} from "../helpers";
import { CLI, cpuTicks, procState, ptyMissing, shq, startPty, terminalEnv } from "../helpers/pty";

const missing = ptyMissing();
const SPINNER_FRAME = /[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/;
/** Cursor and line control a spinner writes (hide cursor, erase line, synchronized output). */
// eslint-disable-next-line no-control-regex -- ESC is what is looked for
const CURSOR_CODES = /\x1b\[(\?25[lh]|\d*[GK]|\?2026[hl])/;

const watchArgs = (sb: Sandbox, ...extra: string[]) =>
  ["watch", sb.work, "--remote", sb.remote, "--state-dir", sb.state, ...extra].map(shq).join(" ");

/** Watches `pid` from now on; the returned check fails if job control ever stopped it (state T). */
function neverStopped(pid: number): () => void {
  let seen = procState(pid);
  const timer = setInterval(() => {
    if (procState(pid) === "T") seen = "T";
  }, 50);
  defer(() => clearInterval(timer));
  return () => {
    if (procState(pid) === "T") seen = "T";
    expect(seen, `pid ${pid} was stopped by job control`).not.toBe("T");
  };
}

describe.skipIf(missing)("in a real terminal", () => {
  it("the README demo (hack/demo.sh) saves commits; Ctrl-C makes the final save and shows them", async () => {
    const home = tempDir("ms-demo-");
    const demoDir = path.join(home, "demo");
    const state = path.join(home, "data", "state");
    const remote = path.join(home, "data", "remote.git");
    const env = terminalEnv({
      ...cleanEnv(),
      DEMO_DIR: demoDir,
      DEMO_HOME: path.join(home, "data"),
      DEMO_PORT: String(await freePort()),
    });
    if (process.env.MIRRORSHADE_CLI) env.MIRRORSHADE_CLI = process.env.MIRRORSHADE_CLI;
    const t = startPty(`cd ${shq(ROOT)} && bash hack/demo.sh; echo "DEMO_EXIT=$?"`, { env });
    defer(() => killLockHolder(state));
    await t.waitFor("the demo to run", /demo running/, 60_000);
    const pid = lockHolder(state);
    expect(pid, "the demo's watch holds its state dir").toBeDefined();
    const check = neverStopped(pid!);
    await waitFor("two commits at the demo remote", () => commitCount(remote) >= 2, 45_000);
    check();
    expect(remoteFiles(remote).has("notebook.ipynb")).toBe(true);
    t.type("\x03"); // Ctrl-C, as the demo says
    await t.waitFor("the demo's end", /DEMO_EXIT=(\d+)/, 45_000);
    expect(t.output()).toMatch(/mirrorshade exited with 0/);
    expect(t.output()).toMatch(/\(\d+ commits; see them all/);
    expect(t.output()).toMatch(/DEMO_EXIT=0/);
  });

  it("watch in the foreground: a spinner while restoring; Ctrl-C saves what is left and exits 0", async () => {
    const sb = sandbox();
    const t = startPty(
      `sh -c 'echo PID=$$; exec "$@"' sh ${CLI} ${watchArgs(sb, "--debounce", "30s", "--max-delay", "60s")}\necho "EXIT=$?"`,
      { env: terminalEnv(sb.env) },
    );
    const pid = await t.pid();
    await t.waitFor("watching", /watching /);
    // The foreground gets the spinner (and its final ✔ line): terminal output is not simply off.
    expect(t.output()).toMatch(SPINNER_FRAME);
    // eslint-disable-next-line no-control-regex -- ora colours the symbol
    expect(t.output()).toMatch(/✔(\x1b\[\d+m)? the remote is empty/);
    // The terminal is left as it was: never put in raw mode.
    expect(procState(pid)).not.toBe("T");
    write(sb.work, "late.txt", "written just before Ctrl-C\n");
    t.type("\x03");
    await t.waitFor("the exit", /EXIT=(\d+)/);
    expect(t.output()).toMatch(/EXIT=0/);
    expect(t.output()).toMatch(/SIGINT: saving what is left/);
    expect(remoteFiles(sb.remote).get("late.txt")).toBe("written just before Ctrl-C\n");
  });

  it("watch & in an interactive shell: not stopped, no cursor codes, saves; kill ends it", async () => {
    const sb = sandbox();
    const t = startPty(
      `${CLI} ${watchArgs(sb, "--debounce", "200ms")} &\necho "PID=$!"\nread -r _\nwait $!\necho "EXIT=$?"`,
      {
        env: terminalEnv(sb.env),
      },
    );
    const pid = await t.pid();
    const check = neverStopped(pid);
    await t.waitFor("watching", /watching /);
    write(sb.work, "bg.txt", "saved from the background\n");
    await waitFor("bg.txt at the remote", () => remoteFiles(sb.remote).get("bg.txt"));
    check();
    // A background job draws nothing: its restore line is a plain line.
    expect(t.output()).not.toMatch(SPINNER_FRAME);
    expect(t.output()).not.toMatch(CURSOR_CODES);
    expect(t.output()).toMatch(/the remote is empty: nothing to restore/);
    process.kill(pid, "SIGTERM");
    t.type("\n");
    await t.waitFor("the exit", /EXIT=(\d+)/);
    expect(t.output()).toMatch(/EXIT=0/);
  });

  it("a 0x0 terminal: no spinner, no CPU spin, saves, SIGTERM ends it", async () => {
    const sb = sandbox();
    const t = startPty(
      `sh -c 'echo PID=$$; exec "$@"' sh ${CLI} ${watchArgs(sb, "--debounce", "200ms")}\necho "EXIT=$?"`,
      {
        env: terminalEnv(sb.env),
        size: "0x0",
      },
    );
    const pid = await t.pid();
    await t.waitFor("watching", /watching /);
    write(sb.work, "a.txt", "one\n");
    await waitFor("a.txt at the remote", () => remoteFiles(sb.remote).has("a.txt"));
    write(sb.work, "b.txt", "two\n");
    await waitFor("b.txt at the remote", () => remoteFiles(sb.remote).has("b.txt"));
    // A spin would show while nothing happens: CPU time over 2 s of idle wall time (clock
    // ticks are 1/100 s). Saves and start-up are busy by right, so they stay out of the window.
    const ticks0 = cpuTicks(pid);
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 2000));
    const busy = (cpuTicks(pid) - ticks0) / 100 / ((Date.now() - t0) / 1000);
    expect(busy).toBeLessThan(0.25);
    expect(t.output()).not.toMatch(SPINNER_FRAME);
    expect(t.output().length).toBeLessThan(20_000); // no stream of cursor codes
    process.kill(pid, "SIGTERM");
    await t.waitFor("the exit", /EXIT=(\d+)/);
    expect(t.output()).toMatch(/EXIT=0/);
  });
});

describe("closed pipes (| head, | true)", () => {
  /** Run a bash pipeline; the exit code of its first command and everything on stderr. */
  function pipeline(cmd: string, env: NodeJS.ProcessEnv = cleanEnv()): Promise<{ code: number; stderr: string }> {
    return new Promise((resolve) => {
      const p = spawn("bash", ["-c", `${cmd}; echo "rc=\${PIPESTATUS[0]}"`], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      p.stdout.on("data", (d) => (out += d));
      p.stderr.on("data", (d) => (err += d));
      p.on("close", () => resolve({ code: Number(/rc=(\d+)/.exec(out)?.[1] ?? -1), stderr: err }));
    });
  }

  it("watch --help | head -c 1, and | true (the reader is gone before the help is written): exit 0, no stack", async () => {
    for (const cmd of [
      `${CLI} watch --help | head -c 1 >/dev/null`,
      `${CLI} watch --help | true`,
      `${CLI} --help | true`,
    ]) {
      const r = await pipeline(cmd);
      expect(r.stderr, cmd).toBe("");
      expect(r.code, cmd).toBe(0);
    }
  });

  it("status | true with a watch running: exit 0, no stack", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    const r = await pipeline(`${CLI} status ${shq(sb.work)} --log-format text | true`, sb.env);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect((await stop(w)).code).toBe(0);
  });

  it("an error written to a closed stderr: the command's own exit code, quietly", async () => {
    const sb = sandbox();
    const r = await pipeline(`${CLI} push ${shq(path.join(sb.root, "nope"))} 2>&1 >/dev/null | true`, sb.env);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("");
  });
});

/** The pid in a state dir's lock (the watch that holds it). */
function lockHolder(state: string): number | undefined {
  const file = path.join(state, "lock");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as { pid: number }).pid : undefined;
}

function killLockHolder(state: string): void {
  const pid = lockHolder(state);
  if (!pid) return;
  try {
    process.kill(pid, "SIGCONT");
    process.kill(pid, "SIGKILL");
  } catch {
    // gone
  }
}
