/** The safe-fs module on a real file system: what a notebook user can plant never leads outside the work dir. */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, readdirSync, renameSync, symlinkSync, writeFileSync, lstatSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { UnsafePathError, WorkDir, badName, withWorkDir } from "../../src/safefs";
import { defer, tempDir } from "../helpers";

const SECRET = "top-secret-bytes";

function setup() {
  const root = tempDir();
  const work = path.join(root, "work");
  const outside = path.join(root, "outside");
  mkdirSync(work);
  mkdirSync(outside);
  writeFileSync(path.join(outside, "secret.json"), JSON.stringify({ SECRET }));
  return { root, work, outside };
}

describe("WorkDir.read", () => {
  it("reads a regular file and its stat", async () => {
    const { work } = setup();
    mkdirSync(path.join(work, "a/b"), { recursive: true });
    writeFileSync(path.join(work, "a/b/f.txt"), "hello");
    const r = await withWorkDir(work, (wd) => wd.read("a/b/f.txt"));
    expect(r.kind).toBe("file");
    if (r.kind === "file") expect(r.bytes.toString()).toBe("hello");
  });

  it("reports a symlink with its target and never reads what it points to", async () => {
    const { work, outside } = setup();
    symlinkSync(path.join(outside, "secret.json"), path.join(work, "leak.ipynb"));
    const r = await withWorkDir(work, (wd) => wd.read("leak.ipynb"));
    expect(r).toEqual({ kind: "symlink", target: path.join(outside, "secret.json") });
  });

  it("never follows a symlink in a parent component", async () => {
    const { work, outside } = setup();
    symlinkSync(outside, path.join(work, "d"));
    const r = await withWorkDir(work, (wd) => wd.read("d/secret.json"));
    expect(r.kind).toBe("skip");
    expect(JSON.stringify(r)).not.toContain(SECRET);
  });

  it("a directory swapped for a symlink after it was opened still never leads outside", async () => {
    const { work, outside } = setup();
    mkdirSync(path.join(work, "d"));
    writeFileSync(path.join(work, "d/a"), "inside-a");
    writeFileSync(path.join(work, "d/secret.json"), "inside-b");
    const wd = new WorkDir(work);
    defer(() => wd.close());
    expect((await wd.read("d/a")).kind).toBe("file");
    renameSync(path.join(work, "d"), path.join(work, "d.old"));
    symlinkSync(outside, path.join(work, "d"));
    const r = await wd.read("d/secret.json");
    expect(JSON.stringify(r)).not.toContain(SECRET);
    // A fresh batch sees the symlink and refuses to go through it.
    const fresh = await withWorkDir(work, (w) => w.read("d/secret.json"));
    expect(fresh.kind).toBe("skip");
  });

  it("skips a FIFO at once instead of blocking on it", async () => {
    const { work } = setup();
    execFileSync("mkfifo", [path.join(work, "pipe.ipynb")]);
    const r = await withWorkDir(work, (wd) => wd.read("pipe.ipynb"));
    expect(r).toEqual({ kind: "skip", reason: expect.stringMatching(/FIFO/) });
  });

  it("skips a socket", async () => {
    const { work } = setup();
    const sock = path.join(work, "s.sock");
    const server = net.createServer().listen(sock);
    await new Promise((r) => server.once("listening", r));
    defer(() => new Promise<void>((r) => server.close(() => r())));
    const r = await withWorkDir(work, (wd) => wd.read("s.sock"));
    expect(r).toEqual({ kind: "skip", reason: expect.stringMatching(/socket/) });
  });

  it("a link to /dev/zero is a link, not an endless read", async () => {
    const { work } = setup();
    symlinkSync("/dev/zero", path.join(work, "z.ipynb"));
    expect(await withWorkDir(work, (wd) => wd.read("z.ipynb"))).toEqual({ kind: "symlink", target: "/dev/zero" });
  });

  it("checks the size cap before reading", async () => {
    const { work } = setup();
    writeFileSync(path.join(work, "big"), Buffer.alloc(4096));
    const r = await withWorkDir(work, (wd) => wd.read("big", { maxBytes: 1000 }));
    expect(r.kind).toBe("skip");
  });

  it("names that are not UTF-8 are listed and skipped with a reason", async () => {
    const { work } = setup();
    // A name with the byte 0xff, made through the shell (node strings cannot name it).
    execFileSync("sh", ["-c", `printf x > "$(printf 'bad\\377name')"`], { cwd: work });
    const wd = new WorkDir(work);
    defer(() => wd.close());
    const [ent] = wd.list("");
    expect(ent!.name).toContain("\uFFFD");
    expect(badName(ent!.name)).toMatch(/UTF-8/);
    expect(await wd.read(ent!.name)).toEqual({ kind: "skip", reason: expect.stringMatching(/UTF-8/) });
  });

  it("a path longer than the kernel takes is a reason, not an exception", async () => {
    const { work } = setup();
    const r = await withWorkDir(work, (wd) => wd.read("x".repeat(300)));
    expect(r).toEqual({ kind: "skip", reason: expect.stringMatching(/longer/) });
  });

  it("a missing file is gone", async () => {
    const { work } = setup();
    expect(await withWorkDir(work, (wd) => wd.read("nope/none"))).toEqual({ kind: "gone" });
  });
});

describe("WorkDir writes", () => {
  it("writes atomically, making parents, and leaves no temp file", () => {
    const { work } = setup();
    const wd = new WorkDir(work);
    defer(() => wd.close());
    expect(wd.write("a/b/c.txt", "x")).toBe(true);
    expect(readFileSync(path.join(work, "a/b/c.txt"), "utf8")).toBe("x");
    expect(readdirSync(path.join(work, "a/b"))).toEqual(["c.txt"]);
  });

  it("never writes through a symlinked parent", () => {
    const { work, outside } = setup();
    symlinkSync(outside, path.join(work, "d"));
    const wd = new WorkDir(work);
    defer(() => wd.close());
    expect(() => wd.write("d/new.txt", "x")).toThrow(UnsafePathError);
    expect(readdirSync(outside)).toEqual(["secret.json"]);
  });

  it("without overwrite keeps what is there; with it replaces a symlink itself, not its target", () => {
    const { work, outside } = setup();
    writeFileSync(path.join(work, "f"), "local");
    symlinkSync(path.join(outside, "secret.json"), path.join(work, "l"));
    const wd = new WorkDir(work);
    defer(() => wd.close());
    expect(wd.write("f", "remote")).toBe(false);
    expect(readFileSync(path.join(work, "f"), "utf8")).toBe("local");
    expect(wd.write("l", "remote", { overwrite: true })).toBe(true);
    expect(lstatSync(path.join(work, "l")).isFile()).toBe(true);
    expect(readFileSync(path.join(outside, "secret.json"), "utf8")).toContain(SECRET);
  });

  it("streams into a temp file, then commits or discards it", async () => {
    const { work } = setup();
    const wd = new WorkDir(work);
    defer(() => wd.close());
    const t = await wd.createTemp("dl/x.bin");
    await t.fh.write("abc");
    expect(await t.commit({ executable: true })).toBe(true);
    expect(lstatSync(path.join(work, "dl/x.bin")).mode & 0o111).not.toBe(0);
    const t2 = await wd.createTemp("dl/y.bin");
    await t2.discard();
    expect(readdirSync(path.join(work, "dl"))).toEqual(["x.bin"]);
  });

  it("unlink removes a symlink, never its target", () => {
    const { work, outside } = setup();
    symlinkSync(path.join(outside, "secret.json"), path.join(work, "l"));
    const wd = new WorkDir(work);
    defer(() => wd.close());
    expect(wd.unlink("l")).toBe(true);
    expect(wd.unlink("l")).toBe(false);
    expect(readFileSync(path.join(outside, "secret.json"), "utf8")).toContain(SECRET);
  });

  it("restores symlinks as symlinks", () => {
    const { work } = setup();
    const wd = new WorkDir(work);
    defer(() => wd.close());
    expect(wd.symlink("s/link", "../target")).toBe(true);
    expect(wd.stat("s/link")?.kind).toBe("symlink");
    expect(wd.symlink("s/link", "other")).toBe(false);
  });
});
