import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  branches,
  cloneRemote,
  commitAndPush,
  git,
  isAncestor,
  reportedError,
  remoteFiles,
  revParse,
  run,
  sandbox,
  startWatch,
  stop,
  versionsInHistory,
  waitFor,
  write,
  type Sandbox,
} from "../helpers";

const push = (sb: Sandbox, ...extra: string[]) => run(["push", sb.work, ...extra], { env: sb.env });

const notebook = (who: string) =>
  JSON.stringify(
    {
      cells: [{ cell_type: "code", source: [`print(${JSON.stringify(who)})\n`], metadata: {}, outputs: [] }],
      metadata: { author: who },
      nbformat: 4,
      nbformat_minor: 5,
    },
    null,
    1,
  ) + "\n";

const CONFLICT_MARKERS = /^(<<<<<<<|=======|>>>>>>>)/m;

/** The conflict copy's name (DESIGN.md "Conflict copies"): their commit's committer time, sha8 of its bytes. */
function copyName(clone: string, commit: string, rel: string, content: string): string {
  const secs = Number(git(clone, "log", "-1", "--format=%ct", commit, "--", rel).trim());
  const stamp = new Date(secs * 1000)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  const ext = path.extname(rel);
  const sha8 = createHash("sha256").update(content).digest("hex").slice(0, 8);
  return `${rel.slice(0, rel.length - ext.length)}.conflict-${stamp}-${sha8}${ext}`;
}

/** Our first save, then someone else's clone of the result. */
async function savedAndCloned(sb: Sandbox, files: Record<string, string>): Promise<string> {
  for (const [rel, content] of Object.entries(files)) write(sb.work, rel, content);
  const r = await push(sb);
  expect(r.code, r.stderr).toBe(0);
  return cloneRemote(sb.remote);
}

describe("conflicts with another writer", () => {
  it("they push a different file meanwhile: both files end up at the remote and here, no force push", async () => {
    const sb = sandbox();
    const other = await savedAndCloned(sb, { "ours.txt": "v1\n" });
    const theirs = commitAndPush(other, { "theirs.txt": "from the laptop\n" });
    write(sb.work, "ours.txt", "v2\n");

    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    expect(Object.fromEntries(remoteFiles(sb.remote))).toEqual({
      "ours.txt": "v2\n",
      "theirs.txt": "from the laptop\n",
    });
    expect(readFileSync(path.join(sb.work, "theirs.txt"), "utf8")).toBe("from the laptop\n");
    expect(isAncestor(sb.remote, theirs, revParse(sb.remote)!)).toBe(true);
  });

  it("both change notes.ipynb: exit 5, one clear line, our whole file on the branch, theirs beside it and in history, a conflict branch", async () => {
    const sb = sandbox();
    const other = await savedAndCloned(sb, { "notes.ipynb": notebook("base") });
    const theirs = commitAndPush(other, { "notes.ipynb": notebook("them") });
    write(sb.work, "notes.ipynb", notebook("us"));

    const r = await push(sb);
    expect(r.code, r.stderr).toBe(5);
    const said = reportedError(r.stderr).filter((l) => l.startsWith("mirrorshade:"));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/changed here and at the remote/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    // Theirs is where the user works, beside ours, and at the remote with it.
    const copy = copyName(other, theirs, "notes.ipynb", notebook("them"));
    expect(said[0]).toContain(copy);
    expect(readdirSync(sb.work).sort()).toEqual([copy, "notes.ipynb"]);
    expect(readFileSync(path.join(sb.work, copy), "utf8")).toBe(notebook("them"));
    expect(remoteFiles(sb.remote).get(copy)).toBe(notebook("them"));

    const tip = remoteFiles(sb.remote).get("notes.ipynb")!;
    expect(tip).toBe(notebook("us"));
    expect(tip).not.toMatch(CONFLICT_MARKERS);
    expect(() => JSON.parse(tip) as unknown).not.toThrow();
    expect(readFileSync(path.join(sb.work, "notes.ipynb"), "utf8")).toBe(notebook("us"));

    expect(isAncestor(sb.remote, theirs, revParse(sb.remote)!)).toBe(true);
    expect(versionsInHistory(sb.remote, "notes.ipynb").map((v) => v.content)).toContain(notebook("them"));
    const conflictBranches = branches(sb.remote).filter((b) => b.startsWith("mirrorshade/conflict/"));
    expect(conflictBranches).toHaveLength(1);
    // The conflict branch holds our side.
    expect(git(sb.remote, "show", `${conflictBranches[0]}:notes.ipynb`)).toBe(notebook("us"));
  });

  it("both change notes.ipynb: push --json lists the conflicting path", async () => {
    const sb = sandbox();
    const other = await savedAndCloned(sb, { "notes.ipynb": notebook("base"), "other.txt": "o\n" });
    commitAndPush(other, { "notes.ipynb": notebook("them") });
    write(sb.work, "notes.ipynb", notebook("us"));

    const r = await push(sb, "--json");
    expect(r.code, r.stderr).toBe(5);
    const s = JSON.parse(r.stdout) as {
      ok: boolean;
      conflicts: { path: string; copy?: string }[];
      conflictRef?: string;
    };
    expect(s.ok).toBe(false);
    expect(s.conflicts.map((c) => c.path)).toEqual(["notes.ipynb"]);
    expect(s.conflicts[0]!.copy).toMatch(/^notes\.conflict-\d{8}T\d{6}Z-[0-9a-f]{8}\.ipynb$/);
    expect(s.conflictRef).toMatch(/^mirrorshade\/conflict\//);
    expect(branches(sb.remote)).toContain(s.conflictRef);
  });

  it("with watch running: the conflict is logged at error level, watch keeps running and saves later writes", async () => {
    const sb = sandbox();
    write(sb.work, "notes.ipynb", notebook("base"));
    const w = await startWatch(sb);
    await waitFor("the first save", () => remoteFiles(sb.remote).get("notes.ipynb") === notebook("base"));
    const other = cloneRemote(sb.remote);
    const theirs = commitAndPush(other, { "notes.ipynb": notebook("them") });

    write(sb.work, "notes.ipynb", notebook("us"));
    const line = await w.waitForLog(
      "a conflict log line",
      (l) => l.level === "error" && /conflict/i.test(String(l.msg)),
    );
    expect(line.paths).toEqual(["notes.ipynb"]);
    const copy = copyName(other, theirs, "notes.ipynb", notebook("them"));
    expect((line.conflicts as { copy?: string }[])[0]!.copy).toBe(copy);
    expect(readFileSync(path.join(sb.work, copy), "utf8")).toBe(notebook("them"));
    await waitFor("our notebook at the tip", () => remoteFiles(sb.remote).get("notes.ipynb") === notebook("us"));
    expect(remoteFiles(sb.remote).get(copy)).toBe(notebook("them"));
    expect(isAncestor(sb.remote, theirs, revParse(sb.remote)!)).toBe(true);
    expect(branches(sb.remote).some((b) => b.startsWith("mirrorshade/conflict/"))).toBe(true);

    write(sb.work, "later.txt", "after the conflict\n");
    await waitFor("a later write saved", () => remoteFiles(sb.remote).get("later.txt") === "after the conflict\n");
    expect(w.proc.exitCode).toBeNull();
    const r = await stop(w);
    expect(r.code).toBe(0);
  });
});
