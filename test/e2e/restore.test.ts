import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  commitCount,
  git,
  remoteFiles,
  revParse,
  run,
  sandbox,
  seedRemote,
  versionsInHistory,
  write,
  type Sandbox,
} from "../helpers";

const restore = (sb: Sandbox, ...extra: string[]) => run(["restore", sb.work, ...extra], { env: sb.env });
const read = (sb: Sandbox, rel: string) => readFileSync(path.join(sb.work, rel), "utf8");

describe("restore", () => {
  it("from a brand-new empty remote into an empty dir: exit 0 and says the remote is empty", async () => {
    const sb = sandbox();
    const r = await restore(sb);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/empty/);
    expect(readdirSync(sb.work)).toEqual([]);
    expect(commitCount(sb.remote)).toBe(0);
  });

  it("from an empty remote into a non-empty dir: keeps every local file, deletes nothing", async () => {
    const sb = sandbox();
    write(sb.work, "a.txt", "local a\n");
    write(sb.work, "sub/b.txt", "local b\n");
    const r = await restore(sb);
    expect(r.code, r.stderr).toBe(0);
    expect(read(sb, "a.txt")).toBe("local a\n");
    expect(read(sb, "sub/b.txt")).toBe("local b\n");
    expect(readdirSync(sb.work).sort()).toEqual(["a.txt", "sub"]);
    expect(commitCount(sb.remote)).toBe(0); // restore never pushes
  });

  it("from a remote with files into an empty dir: writes them, equal and group-writable", async () => {
    const sb = sandbox();
    const files = { "a.txt": "alpha\n", "dir/nested/b.md": "# beta\n", "notes.ipynb": '{"cells": []}\n' };
    seedRemote(sb.remote, files);
    const r = await restore(sb);
    expect(r.code, r.stderr).toBe(0);
    for (const [rel, content] of Object.entries(files)) {
      expect(read(sb, rel)).toBe(content);
      expect(statSync(path.join(sb.work, rel)).mode & 0o020, `${rel} group-writable`).toBe(0o020);
    }
  });

  it("into a dir with a differing local file: keeps local content, writes remote-only files; push commits ours on top", async () => {
    const sb = sandbox();
    const seed = seedRemote(sb.remote, { "shared.txt": "remote version\n", "remote-only.txt": "from remote\n" });
    write(sb.work, "shared.txt", "local version\n");
    write(sb.work, "local-only.txt", "only here\n");

    const r = await restore(sb);
    expect(r.code, r.stderr).toBe(0);
    expect(read(sb, "shared.txt")).toBe("local version\n");
    expect(read(sb, "local-only.txt")).toBe("only here\n");
    expect(read(sb, "remote-only.txt")).toBe("from remote\n");
    expect(revParse(sb.remote)).toBe(seed); // restore never pushes

    const p = await run(["push", sb.work], { env: sb.env });
    expect(p.code, p.stderr).toBe(0);
    const tip = remoteFiles(sb.remote);
    expect(tip.get("shared.txt")).toBe("local version\n");
    expect(tip.get("local-only.txt")).toBe("only here\n");
    expect(tip.get("remote-only.txt")).toBe("from remote\n");
    // On top, not instead: the seed commit is still in history with the remote's old version.
    expect(git(sb.remote, "merge-base", "--is-ancestor", seed, "main")).toBe("");
    expect(versionsInHistory(sb.remote, "shared.txt").map((v) => v.content)).toContain("remote version\n");
    expect(git(sb.remote, "log", "-p", "main", "--", "shared.txt")).toMatch(/^-remote version$/m);
  });

  it("twice is idempotent: same files, nothing written the second time, nothing pushed", async () => {
    const sb = sandbox();
    const seed = seedRemote(sb.remote, { "a.txt": "alpha\n", "b/c.txt": "gamma\n" });
    write(sb.work, "local.txt", "mine\n");
    const first = await restore(sb, "--json");
    expect(first.code, first.stderr).toBe(0);
    const snapshot = () =>
      Object.fromEntries(["a.txt", "b/c.txt", "local.txt"].map((rel) => [rel, read(sb, rel)] as const));
    const before = snapshot();

    const second = await restore(sb, "--json");
    expect(second.code, second.stderr).toBe(0);
    const report = JSON.parse(second.stdout) as { written: string[]; kept: string[] };
    expect(report.written).toEqual([]);
    expect(snapshot()).toEqual(before);
    expect(snapshot()).toEqual({ "a.txt": "alpha\n", "b/c.txt": "gamma\n", "local.txt": "mine\n" });
    expect(revParse(sb.remote)).toBe(seed);
  });

  it("into a directory that does not exist yet: creates it (as git clone does) and restores", async () => {
    const sb = sandbox();
    seedRemote(sb.remote, { "a.txt": "alpha\n", "dir/b.txt": "beta\n" });
    const dest = path.join(sb.root, "new", "deeper");
    const r = await run(["restore", dest], { env: sb.env });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(dest, "a.txt"), "utf8")).toBe("alpha\n");
    expect(readFileSync(path.join(dest, "dir/b.txt"), "utf8")).toBe("beta\n");
  });

  it("into a directory that does not exist yet, failing (no remote, no such save): leaves no dir behind, as git clone", async () => {
    const gone = sandbox({ remote: "none" });
    const dest = path.join(gone.root, "new", "deeper");
    const noRemote = await run(["restore", dest], { env: gone.env });
    expect(noRemote.code, noRemote.stderr).toBe(6);
    expect(existsSync(path.join(gone.root, "new"))).toBe(false);

    const sb = sandbox();
    seedRemote(sb.remote, { "a.txt": "alpha\n" });
    const at = path.join(sb.root, "new", "deeper");
    const noSave = await run(["restore", at, "--at", "0123456789ab"], { env: sb.env });
    expect(noSave.code, noSave.stderr).toBe(6);
    expect(noSave.stderr).toMatch(/no save 0123456789ab/);
    expect(existsSync(path.join(sb.root, "new"))).toBe(false);
    // A dir that was there before stays, even empty.
    expect((await run(["restore", sb.work, "--at", "0123456789ab"], { env: sb.env })).code).toBe(6);
    expect(readdirSync(sb.work)).toEqual([]);
  });

  it("--json prints one parseable object with written and kept arrays", async () => {
    const sb = sandbox();
    seedRemote(sb.remote, { "new.txt": "n\n", "same.txt": "remote\n" });
    write(sb.work, "same.txt", "local\n");
    const r = await restore(sb, "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const report = JSON.parse(r.stdout) as { ok: boolean; written: string[]; kept: string[] };
    expect(report.ok).toBe(true);
    expect(report.written).toEqual(["new.txt"]);
    expect(report.kept).toEqual(["same.txt"]);
    expect(existsSync(path.join(sb.work, "new.txt"))).toBe(true);
  });
});
