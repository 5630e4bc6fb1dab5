/**
 * The state dir and the control socket are the sidecar's: keyed by the work dir's real path,
 * never inside the work dir (through a symlink either), never in a shared temp dir, and a
 * missing ready marker does not stop saving. Real watches, a second UID through setpriv.
 */
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  statSync,
  symlinkSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { asUid, asUidUnavailable, traversable } from "../helpers/as-uid";
import { expectCleanError } from "../helpers/credentials";
import {
  commitCount,
  jsonLogs,
  remoteFiles,
  run,
  sandbox,
  start,
  startWatch,
  stop,
  tempDir,
  waitFor,
  waitForStart,
  write,
} from "../helpers";

const OTHER_UID = 1000650000;

describe("the state dir and its lock, keyed by the work dir's real path", () => {
  it("a second watch through a symlink with another name is refused; the first keeps saving", async () => {
    const sb = sandbox();
    const { MIRRORSHADE_STATE_DIR: _, ...env } = sb.env;
    const stateHome = tempDir("ms-state-home-");
    const xenv = { ...env, XDG_STATE_HOME: stateHome };
    const link = path.join(sb.root, "another-name");
    symlinkSync(sb.work, link);

    const first = start(["watch", sb.work, "--debounce", "200ms"], { env: xenv });
    await waitForStart(first);
    const second = await run(["watch", link, "--debounce", "200ms"], { env: xenv, timeoutMs: 30_000 });
    expectCleanError(second, 2, /already runs/);
    // One state dir for both names, named after the real dir.
    expect(readdirSync(path.join(stateHome, "mirrorshade"))).toEqual([
      expect.stringMatching(/^work-[0-9a-f]{12}$/) as unknown as string,
    ]);

    write(sb.work, "a.md", "still saved\n");
    await waitFor("a.md saved", () => remoteFiles(sb.remote).get("a.md") === "still saved\n");
    const r = await stop(first);
    expect(r.code, r.stderr).toBe(0);
  });

  it("--state-dir link/state, link pointing into the work dir: exit 2, nothing created or committed", async () => {
    const sb = sandbox();
    symlinkSync(sb.work, path.join(sb.root, "link"));
    write(sb.work, "notes.md", "x\n");
    const r = await run(["watch", sb.work, "--state-dir", "link/state"], { cwd: sb.root, env: sb.env });
    expectCleanError(r, 2, /inside the work dir/);
    expect(readdirSync(sb.work)).toEqual(["notes.md"]);
    expect(commitCount(sb.remote)).toBe(0);
  });
});

describe("the per-UID temp fallback for the state dir (HOME=/, nothing else writable)", () => {
  /** HOME=/ and no XDG_STATE_HOME: the state goes to $TMPDIR/mirrorshade-<uid>. */
  function fallback() {
    const sb = sandbox();
    const tmp = realpathSync(tempDir("ms-tmpdir-"));
    const { MIRRORSHADE_STATE_DIR: _, ...env } = sb.env;
    const base = path.join(tmp, `mirrorshade-${process.getuid!()}`);
    write(sb.work, "notes.md", "x\n");
    return { sb, base, env: { ...env, HOME: "/", TMPDIR: tmp } };
  }

  it("is created 0700 and used when missing", async () => {
    const { sb, base, env } = fallback();
    const r = await run(["push", sb.work], { env });
    expect(r.code, r.stderr).toBe(0);
    expect(statSync(base).mode & 0o777).toBe(0o700);
    expect(remoteFiles(sb.remote).get("notes.md")).toBe("x\n");
  });

  it.each([
    ["a symlink", /symlink/],
    ["mode 0777", /mode is 777/],
    ["another UID's", /belongs to uid/],
  ])("is refused when it is %s: exit 2, nothing written there", async (kind, why) => {
    const { sb, base, env } = fallback();
    const target = tempDir("ms-elsewhere-");
    if (kind === "a symlink") symlinkSync(target, base);
    else {
      mkdirSync(base);
      chmodSync(base, kind === "mode 0777" ? 0o777 : 0o700);
      if (kind === "another UID's") chownSync(base, OTHER_UID, 0);
    }
    const r = await run(["push", sb.work], { env });
    expectCleanError(r, 2, why);
    expect(readdirSync(kind === "a symlink" ? target : base)).toEqual([]);
    expect(commitCount(sb.remote)).toBe(0);
  });
});

describe("the control socket", () => {
  it("with a state dir path too long for a Unix socket: in the state dir, 0600, reached by push; another UID cannot connect", async (ctx) => {
    const sb = sandbox();
    // A state dir others may traverse (made by hand, say): the socket's own mode must keep them out.
    const state = path.join(sb.root, "s".repeat(60), "t".repeat(60));
    mkdirSync(state, { recursive: true, mode: 0o755 });
    chmodSync(state, 0o755);
    expect(Buffer.byteLength(path.join(state, "control.sock"))).toBeGreaterThan(108);
    const socketsBefore = tempSockets();

    const w = await startWatch({ ...sb, state }, [], { MIRRORSHADE_STATE_DIR: state });
    const socket = path.join(state, "control.sock");
    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(tempSockets()).toEqual(socketsBefore); // never a shared temp dir

    write(sb.work, "via-watch.md", "asked the watch\n");
    const p = await run(["push", sb.work, "--json"], { env: { ...sb.env, MIRRORSHADE_STATE_DIR: state } });
    expect(p.code, p.stderr).toBe(0);
    expect((JSON.parse(p.stdout) as { viaWatcher?: boolean }).viaWatcher).toBe(true);
    expect(remoteFiles(sb.remote).get("via-watch.md")).toBe("asked the watch\n");

    const unavailable = asUidUnavailable();
    if (unavailable) {
      await stop(w);
      return ctx.skip(unavailable);
    }
    traversable(state);
    const other = asUid(OTHER_UID);
    // Another UID of group 0 opens the (traversable) state dir and connects as push would.
    const script =
      'const fs=require("fs"),net=require("net");' +
      "const fd=fs.openSync(process.argv[1],fs.constants.O_RDONLY|fs.constants.O_DIRECTORY);" +
      'const c=net.connect("/proc/self/fd/"+fd+"/control.sock");' +
      'c.on("connect",()=>{c.write(JSON.stringify({op:"status"})+"\\n");});' +
      'c.on("data",d=>{process.stdout.write("ANSWER "+d);process.exit(0)});' +
      'c.on("error",e=>{process.stdout.write("ERROR "+e.code);process.exit(0)});';
    // The probe is plain node (the CLI under test may be the single binary): a copy the UID can run.
    const bin = tempDir("ms-probe-node-");
    chmodSync(bin, 0o755);
    const node = path.join(bin, "node");
    copyFileSync(process.execPath, node);
    chmodSync(node, 0o755);
    const [setpriv, ...args] = other.command();
    const cmd = [...args.slice(0, args.indexOf(other.node)), node]; // setpriv … env -i … node -e
    const out = execFileSync(setpriv!, [...cmd, "-e", script, state], { encoding: "utf8" });
    expect(out).toBe("ERROR EACCES");
    const r = await stop(w);
    expect(r.code, r.stderr).toBe(0);
  });

  it("a ready marker that cannot be written is a warning: the watch still saves", async () => {
    const sb = sandbox();
    write(sb.state, "ready/blocker", "a directory where the marker goes\n");
    const w = await startWatch(sb);
    await w.waitForLog("the ready-marker warning", (l) => l.level === "warn" && /ready marker/.test(String(l.msg)));
    write(sb.work, "saved.md", "saved anyway\n");
    await waitFor("saved.md saved", () => remoteFiles(sb.remote).get("saved.md") === "saved anyway\n");
    const r = await stop(w);
    expect(r.code, r.stderr).toBe(0);
    expect(jsonLogs(r.stderr).filter((l) => l.level === "error")).toEqual([]);
    expect(existsSync(path.join(sb.state, "ready", "blocker"))).toBe(true);
  });
});

/** Sockets named like the old fallback in the temp dir. */
function tempSockets(): string[] {
  return readdirSync(tmpdir())
    .filter((f) => /^mirrorshade-.*\.sock$/.test(f))
    .sort();
}
