import { hostname } from "node:os";
import path from "node:path";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  commitCount,
  git,
  isAncestor,
  pathsInHistory,
  remoteFiles,
  revParse,
  run,
  sandbox,
  seedRemote,
  write,
  type Sandbox,
} from "../helpers";

const push = (sb: Sandbox, ...extra: string[]) => run(["push", sb.work, ...extra], { env: sb.env });

describe("push", () => {
  it("--dry-run with no state yet lists the local files and changes nothing at the remote", async () => {
    const sb = sandbox();
    const seed = seedRemote(sb.remote, { "old.txt": "old\n" });
    write(sb.work, "a.txt", "a\n");
    write(sb.work, "sub/b.txt", "b\n");
    const r = await push(sb, "--dry-run");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^A a\.txt$/m);
    expect(r.stdout).toMatch(/^A sub\/b\.txt$/m);
    expect(r.stdout).toMatch(/dry run/);
    expect(commitCount(sb.remote)).toBe(1);
    expect(revParse(sb.remote)).toBe(seed);
  });

  it("--dry-run after a save lists only what changed, and pushes nothing", async () => {
    const sb = sandbox();
    write(sb.work, "a.txt", "a\n");
    expect((await push(sb)).code).toBe(0);
    const before = commitCount(sb.remote);
    write(sb.work, "a.txt", "a2\n");
    write(sb.work, "c.txt", "c\n");
    const r = await push(sb, "--dry-run", "--json");
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { dryRun: boolean; saved: { path: string; op: string }[] };
    expect(s.dryRun).toBe(true);
    expect(s.saved).toEqual(
      expect.arrayContaining([
        { path: "a.txt", op: "modify" },
        { path: "c.txt", op: "add" },
      ]),
    );
    expect(s.saved).toHaveLength(2);
    expect(commitCount(sb.remote)).toBe(before);
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("a\n");
  });

  it("--json prints one JSON object with the saved entries and the commit id", async () => {
    const sb = sandbox();
    write(sb.work, "a.txt", "a\n");
    write(sb.work, "b.txt", "b\n");
    const r = await push(sb, "--json");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
    const s = JSON.parse(r.stdout) as { ok: boolean; saved: { path: string; op: string }[]; id: string };
    expect(s.ok).toBe(true);
    expect(s.saved.map((e) => e.path).sort()).toEqual(["a.txt", "b.txt"]);
    expect(s.saved.every((e) => e.op === "add")).toBe(true);
    expect(s.id).toMatch(/^[0-9a-f]{40}$/);
    expect(s.id).toBe(revParse(sb.remote));
  });

  it("with nothing changed: exit 0 and no new commit", async () => {
    const sb = sandbox();
    write(sb.work, "a.txt", "a\n");
    expect((await push(sb)).code).toBe(0);
    const tip = revParse(sb.remote);
    const r = await push(sb, "--json");
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { saved: unknown[] }).saved).toEqual([]);
    expect(revParse(sb.remote)).toBe(tip);
    expect(commitCount(sb.remote)).toBe(1);
  });

  it("honours --message placeholders, --author and --trailer", async () => {
    const sb = sandbox();
    write(sb.work, "a.txt", "a\n");
    write(sb.work, "b.txt", "b\n");
    const r = await push(
      sb,
      "--message",
      "backup of {count}: {files} from {host}",
      "--author",
      "Ada Lovelace <ada@example.org>",
      "--trailer",
      "Signed-off-by: X <x@y>",
    );
    expect(r.code, r.stderr).toBe(0);
    const subject = git(sb.remote, "log", "-1", "--format=%s", "main").trim();
    expect(subject).toBe(`backup of 2: a.txt, b.txt from ${hostname()}`);
    expect(git(sb.remote, "log", "-1", "--format=%an <%ae>", "main").trim()).toBe("Ada Lovelace <ada@example.org>");
    const trailers = git(sb.remote, "log", "-1", "--format=%(trailers:key=Signed-off-by,valueonly)", "main").trim();
    expect(trailers).toBe("X <x@y>");
  });

  it("--max-file-size 1k skips a bigger file with a warning; it never reaches the remote", async () => {
    const sb = sandbox();
    write(sb.work, "small.txt", "small\n");
    write(sb.work, "big.bin", "x".repeat(4096));
    const r = await push(sb, "--max-file-size", "1k", "--json");
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { skipped: { path: string; reason: string }[] };
    expect(s.skipped.map((e) => e.path)).toEqual(["big.bin"]);
    const warnings = r.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: string; msg: string })
      .filter((l) => l.level === "warn" && l.msg.includes("big.bin"));
    expect(warnings).toHaveLength(1);
    expect(remoteFiles(sb.remote).get("small.txt")).toBe("small\n");
    expect(pathsInHistory(sb.remote).has("big.bin")).toBe(false);
  });

  it("CI-style from a fresh state dir into a remote with history: integrates, never force-pushes", async () => {
    const sb = sandbox();
    const old = seedRemote(sb.remote, { "theirs.txt": "from the remote\n", "dir/t2.txt": "t2\n" });
    write(sb.work, "ci-output.txt", "built\n");
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    // Remote-only files came into the work dir.
    expect(readFileSync(path.join(sb.work, "theirs.txt"), "utf8")).toBe("from the remote\n");
    expect(readFileSync(path.join(sb.work, "dir/t2.txt"), "utf8")).toBe("t2\n");
    const tip = remoteFiles(sb.remote);
    expect(Object.fromEntries(tip)).toEqual({
      "theirs.txt": "from the remote\n",
      "dir/t2.txt": "t2\n",
      "ci-output.txt": "built\n",
    });
    const newTip = revParse(sb.remote)!;
    expect(newTip).not.toBe(old);
    expect(isAncestor(sb.remote, old, newTip)).toBe(true);
  });
});
