/**
 * The work dir is hostile input, on the S3 backend: what the notebook user can plant there
 * (symlinks anywhere in a path, FIFOs, devices, unreadable files, names that are not UTF-8,
 * over-long paths, a parent dir swapped mid-restore) and what the store and the disk can do
 * (never answer, fill up). Through the built CLI, with the work dir as the current directory
 * as in a container. Each case: no byte of an outside secret at the remote or in any output,
 * the other files saved, the documented exit code within its deadline.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  statfsSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { blackHole, defer, run, start, waitFor, write, type RunResult, type Sandbox } from "../helpers";
import { asUid, asUidUnavailable, traversable } from "../helpers/as-uid";
import { needs } from "../helpers/needs";
import { BUCKET, getText, keys, putText, s3Sandbox, startProxy, startS3rver, type S3rver } from "../helpers/s3";

const PREFIX = "notes";
const REMOTE = `s3://${BUCKET}/${PREFIX}`;
const SECRET = `OUTSIDE-SECRET-${randomBytes(6).toString("hex")}`;
const UID = 1000660000;

interface Hostile extends Sandbox {
  /** A directory outside the work dir holding the secret. */
  outside: string;
}

/** s3Sandbox, with the secret outside the work dir. */
function hostileSandbox(endpoint: string, extraEnv: NodeJS.ProcessEnv = {}): Hostile {
  const sb = s3Sandbox(endpoint, extraEnv, REMOTE);
  const outside = path.join(sb.root, "outside");
  mkdirSync(outside);
  writeFileSync(path.join(outside, "secret.json"), JSON.stringify({ SECRET }));
  writeFileSync(path.join(outside, "name.txt"), SECRET);
  return { ...sb, outside };
}

/** `push --json` from inside the work dir, as a container runs it. */
const push = (sb: Sandbox, ...extra: string[]) =>
  run(["push", "--json", ...extra], { cwd: sb.work, env: sb.env, timeoutMs: 60_000 });

interface Summary {
  saved: { path: string; op: string }[];
  skipped: { path: string; reason: string }[];
}
const summary = (r: RunResult) => JSON.parse(r.stdout) as Summary;

/** Every key and every byte in the bucket (trash and conflict areas included). */
async function everything(server: S3rver): Promise<string> {
  let all = "";
  for (const k of await keys(server.client, "")) all += `${k}\n${await getText(server.client, k)}\n`;
  return all;
}

async function expectNoSecret(server: S3rver, ...outputs: string[]): Promise<void> {
  expect(await everything(server)).not.toContain(SECRET);
  for (const o of outputs) expect(o).not.toContain(SECRET);
}

/** A known error prints lines, never a stack. */
function expectNoStack(stderr: string): void {
  expect(stderr).not.toMatch(/^\s+at /m);
}

/** Temp files of ours anywhere below `dir`. */
function temps(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).filter((p) =>
    path.basename(p).startsWith(".~mirrorshade-"),
  );
}

describe("hostile work dir, S3 backend", () => {
  it("a saved dir swapped for a symlink to a secret dir (within the debounce window) uploads nothing from outside", async () => {
    const server = await startS3rver();
    const sb = hostileSandbox(server.endpoint);
    write(sb.work, "f/name.txt", "inside v1\n");
    write(sb.work, "other.txt", "other\n");
    const w = start(["watch", "--debounce", "1s"], { cwd: sb.work, env: sb.env });
    const saves = () => w.logs().filter((l) => /^saved \d+ change/.test(String(l.msg))).length;
    await waitFor("the first save", () => saves() >= 1);
    expect(await getText(server.client, `${PREFIX}/f/name.txt`)).toBe("inside v1\n");
    // Change the file, then swap its dir: both events land in one change set, `f/name.txt` among them.
    write(sb.work, "f/name.txt", "inside v2\n");
    renameSync(path.join(sb.work, "f"), path.join(sb.work, "f.old"));
    symlinkSync(sb.outside, path.join(sb.work, "f"));
    await waitFor("the save after the swap", () => saves() >= 2);
    await waitFor("f.old saved", async () => (await keys(server.client, `${PREFIX}/f.old/`)).length === 1);
    await expectNoSecret(server, w.stdout(), w.stderr());
    expect(await getText(server.client, `${PREFIX}/f.old/name.txt`)).toBe("inside v2\n");
    expect(w.logs().some((l) => /not saving f: .*symbolic link/.test(String(l.msg)))).toBe(true);
  });

  it("a notebook symlinked to an outside secret and a link to /dev/zero are skipped with a warning; the rest is saved", async () => {
    const server = await startS3rver();
    const sb = hostileSandbox(server.endpoint);
    symlinkSync(path.join(sb.outside, "secret.json"), path.join(sb.work, "leak.ipynb"));
    symlinkSync("/dev/zero", path.join(sb.work, "z.ipynb"));
    write(sb.work, "ok.ipynb", '{"cells": []}');
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.saved.map((e) => e.path)).toEqual(["ok.ipynb"]);
    expect(s.skipped).toEqual([
      { path: "leak.ipynb", reason: expect.stringMatching(/symbolic link/) },
      { path: "z.ipynb", reason: expect.stringMatching(/symbolic link/) },
    ]);
    await expectNoSecret(server, r.stdout, r.stderr);
  });

  it("a FIFO, a socket and a device are skipped at once with their reason; the rest is saved, exit 0", async () => {
    const server = await startS3rver();
    const sb = hostileSandbox(server.endpoint);
    write(sb.work, "ok.txt", "ok\n");
    execFileSync("mkfifo", [path.join(sb.work, "pipe.ipynb"), path.join(sb.work, "pipe.txt")]);
    const sock = net.createServer().listen(path.join(sb.work, "s.sock"));
    await new Promise((r) => sock.once("listening", r));
    defer(() => new Promise<void>((r) => sock.close(() => r())));
    if (process.getuid?.() === 0) execFileSync("mknod", [path.join(sb.work, "zero"), "c", "1", "5"]);
    const started = Date.now();
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
    const s = summary(r);
    expect(s.saved.map((e) => e.path)).toEqual(["ok.txt"]);
    const reasons = Object.fromEntries(s.skipped.map((e) => [e.path, e.reason]));
    expect(reasons["pipe.ipynb"]).toMatch(/FIFO/);
    expect(reasons["pipe.txt"]).toMatch(/FIFO/);
    expect(reasons["s.sock"]).toMatch(/socket/);
    if (process.getuid?.() === 0) expect(reasons["zero"]).toMatch(/device/);
  });

  it("a name that is not UTF-8 and a path longer than the kernel takes are skipped with a reason; the rest is saved", async () => {
    const server = await startS3rver();
    const sb = hostileSandbox(server.endpoint);
    write(sb.work, "ok.txt", "ok\n");
    writeFileSync(Buffer.concat([Buffer.from(sb.work + "/bad-"), Buffer.from([0xff, 0xfe]), Buffer.from(".txt")]), "x");
    // 20 levels of 250-byte names: over PATH_MAX (4096) from the root, built with relative steps.
    const seg = "d".repeat(250);
    const deep = `const fs = require("fs"); for (let i = 0; i < 20; i++) { fs.mkdirSync(process.argv[1]); process.chdir(process.argv[1]); } fs.writeFileSync("deep.txt", "deep");`;
    execFileSync(process.execPath, ["-e", deep, seg], { cwd: sb.work });
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    const s = summary(r);
    expect(s.saved.map((e) => e.path)).toEqual(["ok.txt"]);
    expect(s.skipped.find((e) => e.path.startsWith("bad-"))?.reason).toMatch(/not valid UTF-8/);
    expect(s.skipped.find((e) => e.path.startsWith(seg))?.reason).toMatch(/over 1024 bytes|longer than/);
    expectNoStack(r.stderr);
  });

  it.skipIf(asUidUnavailable())(
    "an unreadable file and dir (EACCES, another uid's 0600) are skipped with a reason; the rest is saved, exit 0",
    async () => {
      const server = await startS3rver();
      const sb = hostileSandbox(server.endpoint);
      const u = asUid(UID);
      traversable(sb.work);
      chownSync(sb.work, UID, 0);
      execFileSync("install", ["-d", "-m", "0700", "-o", String(UID), "-g", "0", sb.state]);
      write(sb.work, "ok.txt", "ok\n");
      chownSync(path.join(sb.work, "ok.txt"), UID, 0);
      for (const f of ["locked.txt", "locked.ipynb"]) {
        writeFileSync(path.join(sb.work, f), JSON.stringify({ SECRET }));
        chmodSync(path.join(sb.work, f), 0o600); // root's, group 0 has no bit: EACCES for the uid
      }
      mkdirSync(path.join(sb.work, "private"), { mode: 0o700 });
      writeFileSync(path.join(sb.work, "private/in.txt"), SECRET);
      const vars: Record<string, string> = {};
      for (const [k, v] of Object.entries(sb.env)) if (/^(AWS_|MIRRORSHADE_)/.test(k) && v) vars[k] = v;
      const r = await run(["push", "--json"], { command: u.command(vars), cwd: sb.work, timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(0);
      const s = summary(r);
      expect(s.saved.map((e) => e.path)).toEqual(["ok.txt"]);
      const reasons = Object.fromEntries(s.skipped.map((e) => [e.path, e.reason]));
      expect(reasons["locked.txt"]).toMatch(/permission denied/);
      expect(reasons["locked.ipynb"]).toMatch(/permission denied/);
      expect(reasons["private"]).toMatch(/permission denied|EACCES/);
      expectNoStack(r.stderr);
      await expectNoSecret(server, r.stdout, r.stderr);
      // Readable again: the next save takes it.
      chownSync(path.join(sb.work, "locked.txt"), UID, 0);
      const again = await run(["push", "--json"], { command: u.command(vars), cwd: sb.work, timeoutMs: 60_000 });
      expect(again.code, again.stderr).toBe(0);
      expect(summary(again).saved.map((e) => e.path)).toEqual(["locked.txt"]);
    },
  );

  it("a parent dir swapped for a symlink mid-restore: that path is skipped with a reason, nothing written outside, no temp file left", async () => {
    const server = await startS3rver();
    const proxy = await startProxy(server.endpoint);
    const sb = hostileSandbox(proxy.endpoint);
    await putText(server.client, `${PREFIX}/f/x.txt`, "remote x\n");
    await putText(server.client, `${PREFIX}/top.txt`, "remote top\n");
    const before = readdirSync(sb.outside).sort();
    const held = proxy.hold((q) => q.method === "GET" && q.key === `${PREFIX}/f/x.txt`);
    const p = start(["restore", "--json"], { cwd: sb.work, env: sb.env, timeoutMs: 60_000 });
    await held.reached;
    renameSync(path.join(sb.work, "f"), path.join(sb.work, "f.old"));
    symlinkSync(sb.outside, path.join(sb.work, "f"));
    held.release();
    const r = await p.exited;
    expect(r.code, r.stderr).toBe(0);
    expectNoStack(r.stderr);
    expect(readFileSync(path.join(sb.work, "top.txt"), "utf8")).toBe("remote top\n");
    expect(readdirSync(sb.outside).sort()).toEqual(before);
    expect(temps(sb.work)).toEqual([]);
    expect(r.stderr).toMatch(/not restoring f\/x\.txt: /);
  });

  it("a store that accepts connections and never answers: push --retry-for 3s exits 4 within its deadline", async () => {
    const hole = await blackHole();
    const sb = hostileSandbox(`http://127.0.0.1:${hole.port}`);
    write(sb.work, "a.txt", "a\n");
    const started = Date.now();
    const r = await push(sb, "--retry-for", "3s");
    const took = Date.now() - started;
    expect(r.code, r.stderr).toBe(4);
    expect(took).toBeLessThan(20_000);
    expect(hole.accepted()).toBeGreaterThan(0); // it did reach the black hole
    expectNoStack(r.stderr);
  });
});

/** A tmpfs of `size` at `dir` (root only), unmounted after the test. */
function tmpfs(dir: string, size: string): void {
  mkdirSync(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  defer(() => {
    execFileSync("umount", ["-l", dir]);
  });
}

/** Fill the file system of `dir` until `leave` bytes are free; returns the filler's path. */
function fill(dir: string, leave: number): string {
  const filler = path.join(dir, "filler");
  const st = statfsSync(dir);
  writeFileSync(filler, Buffer.alloc(Math.max(0, st.bavail * st.bsize - leave)));
  return filler;
}

describe.skipIf(needs("root"))("a full disk (tmpfs), S3 backend", () => {
  it("the state dir full while saving: one warning, no temp file left, the manifest written once space returns", async () => {
    const server = await startS3rver();
    const proxy = await startProxy(server.endpoint);
    const sb = hostileSandbox(proxy.endpoint);
    tmpfs(sb.state, "2m");
    for (let i = 0; i < 400; i++) write(sb.work, `d/file-${i}-${"x".repeat(60)}.txt`, `${i}\n`);
    const filler = fill(sb.state, 24 * 1024);
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    expect(summary(r).saved).toHaveLength(400);
    expectNoStack(r.stderr);
    expect(r.stderr.match(/no space left in the state dir/gi)).toHaveLength(1);
    expect(readdirSync(sb.state).filter((f) => /tmp/.test(f))).toEqual([]);
    rmSync(filler);
    proxy.requests.length = 0;
    const again = await push(sb);
    expect(again.code, again.stderr).toBe(0);
    expect(proxy.count("PUT")).toBe(0);
    expect(existsSync(path.join(sb.state, "s3-manifest.json"))).toBe(true);
    expect(again.stderr).not.toMatch(/no space left/i);
    expect(readdirSync(sb.state).filter((f) => /tmp/.test(f))).toEqual([]);
  });

  it("the work dir full while restoring: exit 4 after --retry-for, no temp file left; restores once space returns", async () => {
    const server = await startS3rver();
    const sb = hostileSandbox(server.endpoint);
    tmpfs(sb.work, "1m");
    const big = randomBytes(1536 * 1024);
    await server.client.send(
      new (await import("@aws-sdk/client-s3")).PutObjectCommand({
        Bucket: BUCKET,
        Key: `${PREFIX}/big.bin`,
        Body: big,
      }),
    );
    await putText(server.client, `${PREFIX}/small.txt`, "small\n");
    const r = await run(["restore", "--retry-for", "2s"], { cwd: sb.work, env: sb.env, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(4);
    expectNoStack(r.stderr);
    expect(r.stderr).toMatch(/no space left/i);
    expect(temps(sb.work)).toEqual([]);
    execFileSync("mount", ["-o", "remount,size=4m", sb.work]);
    const again = await run(["restore"], { cwd: sb.work, env: sb.env, timeoutMs: 60_000 });
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(path.join(sb.work, "big.bin")).equals(big)).toBe(true);
    expect(temps(sb.work)).toEqual([]);
  });
});
