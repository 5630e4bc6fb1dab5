/**
 * `log` and `restore --at` end to end (git, the built CLI): a first restore that fetches the
 * tip only, history fetched on demand, a past save brought back without overwriting, and the
 * shallow state living through other writers: a long history pushed meanwhile, a rewritten
 * branch, a conflict, a restart.
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  branches,
  cloneRemote,
  commitAndPush,
  elsewhere,
  git,
  isAncestor,
  remoteFiles,
  reportedError,
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
import { logText, longHistory } from "../helpers/history";

interface Saves {
  saves: { id: string; time: string; host: string; message: string; files: { path: string; op: string }[] }[];
}

const read = (dir: string, rel: string) => readFileSync(path.join(dir, rel), "utf8");
const stateGit = (sb: Sandbox, ...args: string[]) => git(sb.root, "--git-dir", path.join(sb.state, "git"), ...args);
/** Commits in our state's repo, and whether it is shallow. */
const stateDepth = (sb: Sandbox) => Number(stateGit(sb, "rev-list", "--count", "--all").trim());
const isShallow = (sb: Sandbox) => existsSync(path.join(sb.state, "git", "shallow"));

async function logJson(sb: Sandbox, ...extra: string[]): Promise<Saves["saves"]> {
  const r = await run(["log", sb.work, "--json", ...extra], { env: sb.env });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as Saves).saves;
}

const FILES = { "a.txt": "a original\n", "notes/n.ipynb": '{"cells": []}\n' };

describe("history (git)", () => {
  it("a first restore fetches the tip only; log fetches older saves on demand and never shows the boundary as every file added", async () => {
    const sb = sandbox();
    const h = longHistory(sb.remote, 300, { files: FILES, changes: { 150: { "a.txt": "a changed\n" } } });
    const r = await run(["restore", sb.work], { env: sb.env });
    expect(r.code, r.stderr).toBe(0);
    expect(read(sb.work, "log.txt")).toBe(h.logAt(299));
    expect(isShallow(sb)).toBe(true);
    expect(stateDepth(sb)).toBe(1);

    // The newest save is the shallow boundary: its parent is fetched to show what it changed.
    const [tip] = await logJson(sb, "--limit", "1");
    expect(tip).toMatchObject({ id: h.ids[299], host: "pod-history", message: "mirrorshade: save 299" });
    expect(tip!.files).toEqual([{ path: "log.txt", op: "modify" }]);
    expect(tip!.time).toBe(new Date(h.times[299]! * 1000).toISOString());
    expect(stateDepth(sb)).toBeLessThan(300); // only as deep as asked

    const three = await logJson(sb, "--limit", "3");
    expect(three.map((s) => s.id)).toEqual([h.ids[299], h.ids[298], h.ids[297]]);
    const since = await logJson(sb, "--since", new Date((h.times[295]! - 1) * 1000).toISOString());
    expect(since.map((s) => s.id)).toEqual(h.ids.slice(295).reverse());

    // A path changed long ago: the whole history is fetched to answer.
    const a = await logJson(sb, "--", "a.txt");
    expect(a.map((s) => [s.id, s.files])).toEqual([
      [h.ids[150], [{ path: "a.txt", op: "modify" }]],
      [h.ids[0], [{ path: "a.txt", op: "add" }]],
    ]);
    expect(isShallow(sb)).toBe(false);
    const all = await logJson(sb);
    expect(all).toHaveLength(300);
    expect(
      all
        .at(-1)!
        .files.map((f) => `${f.op} ${f.path}`)
        .sort(),
    ).toEqual(["add a.txt", "add log.txt", "add notes/n.ipynb"]);

    // For a person: one line per save, then its files.
    const text = await run(["log", sb.work, "--limit", "2", "--log-format", "text"], { env: sb.env });
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout.split("\n").slice(0, 4)).toEqual([
      `${h.ids[299]!.slice(0, 12)}  ${new Date(h.times[299]! * 1000).toISOString().replace("T", " ").replace(".000Z", "Z")}  pod-history  mirrorshade: save 299`,
      "    M log.txt",
      expect.stringMatching(new RegExp(`^${h.ids[298]!.slice(0, 12)}  `)),
      "    M log.txt",
    ]);
    // log never touched the work dir or pushed.
    expect(readdirSync(sb.work).sort()).toEqual(["a.txt", "log.txt", "notes"]);
    expect(revParse(sb.remote)).toBe(h.ids[299]);
  });

  it("restore --at by id, time or age: the tree as it was into a new dir; beside the local file into one with files; --overwrite saves first", async () => {
    const sb = sandbox();
    const h = longHistory(sb.remote, 200, { files: FILES, changes: { 150: { "a.txt": "a changed\n" } } });

    // A new dir, no state: the tree of save 100 (a unique prefix of its id will do).
    const fresh = elsewhere(sb);
    const dest = path.join(fresh.root, "new", "dir");
    const byId = await run(["restore", dest, "--at", h.ids[100]!.slice(0, 10), "--json"], { env: fresh.env });
    expect(byId.code, byId.stderr).toBe(0);
    const report = JSON.parse(byId.stdout) as { id: string; written: string[]; copies: unknown[] };
    expect(report.id).toBe(h.ids[100]);
    expect(report.written.sort()).toEqual(["a.txt", "log.txt", "notes/n.ipynb"]);
    expect(read(dest, "log.txt")).toBe(h.logAt(100));
    expect(read(dest, "a.txt")).toBe("a original\n");

    // By time (the newest save at or before it) and by age (saves are a minute apart, the last now).
    const t = elsewhere(sb);
    const at = new Date((h.times[170]! + 30) * 1000).toISOString();
    const byTime = await run(["restore", t.work, "--at", at, "--", "log.txt"], { env: t.env });
    expect(byTime.code, byTime.stderr).toBe(0);
    expect(readdirSync(t.work)).toEqual(["log.txt"]);
    expect(read(t.work, "log.txt")).toBe(h.logAt(170));
    const age = elsewhere(sb);
    const byAge = await run(["restore", age.work, "--at", "2h", "--json", "--", "log.txt"], { env: age.env });
    expect(byAge.code, byAge.stderr).toBe(0);
    const ageId = (JSON.parse(byAge.stdout) as { id: string }).id;
    expect([h.ids[79], h.ids[80]]).toContain(ageId); // 120 minutes before the last (the clock moved a little)

    // A dir with files (restored at the tip): nothing overwritten, old versions beside.
    expect((await run(["restore", sb.work], { env: sb.env })).code).toBe(0);
    write(sb.work, "local.txt", "mine\n");
    const back = await run(["restore", sb.work, "--at", h.ids[100]!], { env: sb.env });
    expect(back.code, back.stderr).toBe(0);
    const stamp = new Date(h.times[100]! * 1000).toISOString().replace(/[-:]/g, "").replace(".000Z", "Z");
    const copies = readdirSync(sb.work).filter((f) => f.includes(".conflict-"));
    expect(copies.sort()).toEqual([
      expect.stringMatching(new RegExp(`^a\\.conflict-${stamp}-[0-9a-f]{8}\\.txt$`)),
      expect.stringMatching(new RegExp(`^log\\.conflict-${stamp}-[0-9a-f]{8}\\.txt$`)),
    ]);
    expect(back.stdout).toMatch(/C log\.txt -> log\.conflict-/);
    expect(read(sb.work, "log.txt")).toBe(h.logAt(199));
    expect(read(sb.work, "a.txt")).toBe("a changed\n");
    expect(
      read(
        sb.work,
        copies.find((c) => c.startsWith("log"))!,
      ),
    ).toBe(h.logAt(100));
    expect(read(sb.work, "local.txt")).toBe("mine\n");
    const again = await run(["restore", sb.work, "--at", h.ids[100]!], { env: sb.env });
    expect(again.code, again.stderr).toBe(0);
    expect(readdirSync(sb.work).filter((f) => f.includes(".conflict-"))).toHaveLength(2);
    expect(revParse(sb.remote)).toBe(h.ids[199]); // restore --at never pushes

    // --overwrite: the current version is saved first, then replaced.
    write(sb.work, "a.txt", "edited here, not saved yet\n");
    const over = await run(["restore", sb.work, "--at", h.ids[100]!, "--overwrite", "--json", "--", "a.txt"], {
      env: sb.env,
    });
    expect(over.code, over.stderr).toBe(0);
    const o = JSON.parse(over.stdout) as { replaced: string[]; savedFirst: string };
    expect(o.replaced).toEqual(["a.txt"]);
    expect(read(sb.work, "a.txt")).toBe("a original\n");
    expect(revParse(sb.remote)).toBe(o.savedFirst);
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("edited here, not saved yet\n");
  });

  it("restore --at refuses what it cannot do: exit 2 for bad usage, 6 for a save that does not exist", async () => {
    const sb = sandbox();
    longHistory(sb.remote, 5, { files: FILES });
    const cases: [string[], number, RegExp][] = [
      [["--at", "yesterday"], 2, /bad --at value "yesterday"/],
      [["--overwrite"], 2, /--overwrite go with --at only/],
      [["--", "a.txt"], 2, /paths after -- go with --at only/],
      [["--at", "1h", "--", "../outside"], 2, /not inside the work dir/],
      [["--at", "0000dead"], 6, /no save 0000dead in the history of branch main/],
      [["--at", "2001-01-01"], 6, /no save at or before 2001-01-01T/],
    ];
    for (const [args, code, said] of cases) {
      const r = await run(["restore", sb.work, ...args], { env: sb.env });
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(code);
      expect(reportedError(r.stderr).join("\n")).toMatch(said);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
    expect((await run(["push", sb.work, "--", "a.txt"], { env: sb.env })).code).toBe(2);
    expect(readdirSync(sb.work)).toEqual([]);
  });

  it("with a watch running, log and restore --at go through it, and what was brought back is saved", async () => {
    const sb = sandbox();
    const h = longHistory(sb.remote, 50, { files: FILES, changes: { 20: { "a.txt": "a changed\n" } } });
    const w = await startWatch(sb);
    const saves = await run(["log", sb.work, "--json", "--limit", "2"], { env: sb.env });
    expect(saves.code, saves.stderr).toBe(0);
    expect((JSON.parse(saves.stdout) as Saves).saves.map((s) => s.id)).toEqual([h.ids[49], h.ids[48]]);
    expect(saves.stderr).toMatch(/a watch runs on this dir: asking it/);

    const back = await run(["restore", sb.work, "--at", h.ids[10]!, "--json", "--", "a.txt"], { env: sb.env });
    expect(back.code, back.stderr).toBe(0);
    const r = JSON.parse(back.stdout) as { copies: { path: string; copy: string }[]; viaWatcher: boolean };
    expect(r.viaWatcher).toBe(true);
    expect(r.copies.map((c) => c.path)).toEqual(["a.txt"]);
    const copy = r.copies[0]!.copy;
    await waitFor("the copy saved by the watch", () => remoteFiles(sb.remote).get(copy) === "a original\n");
    expect(remoteFiles(sb.remote).get("a.txt")).toBe("a changed\n");

    // --overwrite through the watch: it saves first, replaces, then saves the old version as the new one.
    write(sb.work, "a.txt", "edited while watched\n");
    const over = await run(["restore", sb.work, "--at", h.ids[10]!, "--overwrite", "--", "a.txt"], { env: sb.env });
    expect(over.code, over.stderr).toBe(0);
    await waitFor("the old a.txt saved again", () => remoteFiles(sb.remote).get("a.txt") === "a original\n");
    expect(versionsInHistory(sb.remote, "a.txt").map((v) => v.content)).toContain("edited while watched\n");
    // A plain restore is still the watch's business.
    expect((await run(["restore", sb.work], { env: sb.env })).code).toBe(2);
    expect((await stop(w)).code).toBe(0);
  });

  it("after a shallow restore, another writer pushes a long history: the next save integrates it, fetching no older history", async () => {
    const sb = sandbox();
    longHistory(sb.remote, 200, { files: FILES });
    expect((await run(["restore", sb.work], { env: sb.env })).code).toBe(0);
    const laptop = cloneRemote(sb.remote);
    const theirs = longHistory(laptop, 150, { tag: "laptop", changes: { 0: { "theirs.txt": "from the laptop\n" } } });
    git(laptop, "push", "-q", "origin", "main");
    write(sb.work, "ours.txt", "from the pod\n");

    const r = await run(["push", sb.work, "--json"], { env: sb.env });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as { conflicts: unknown[]; incoming: string[] };
    expect(s.conflicts).toEqual([]);
    expect(s.incoming.sort()).toEqual(["log.txt", "theirs.txt"]);
    const tip = remoteFiles(sb.remote);
    expect(tip.get("ours.txt")).toBe("from the pod\n");
    expect(tip.get("theirs.txt")).toBe("from the laptop\n");
    expect(tip.get("log.txt")).toBe(theirs.logAt(149));
    expect(isAncestor(sb.remote, theirs.ids[149]!, revParse(sb.remote)!)).toBe(true);
    expect(read(sb.work, "theirs.txt")).toBe("from the laptop\n");
    // Their 150 commits came in; the 200 before our restore did not.
    expect(stateDepth(sb)).toBeLessThan(160);
    expect(r.stderr).not.toMatch(/fetching older saves/);
  });

  it("after a shallow restore, the branch was rewritten below what we have: integrating deepens until the histories meet", async () => {
    const sb = sandbox();
    const h = longHistory(sb.remote, 300, { files: FILES });
    expect((await run(["restore", sb.work], { env: sb.env })).code).toBe(0);
    // Someone resets the branch 50 saves back and force-pushes a change of their own.
    const laptop = cloneRemote(sb.remote);
    git(laptop, "reset", "-q", "--hard", h.ids[249]!);
    write(laptop, "other.txt", "rewritten history\n");
    git(laptop, "add", "other.txt");
    git(laptop, "commit", "-q", "-m", "rewrite");
    git(laptop, "push", "-q", "--force", "origin", "main");
    write(sb.work, "ours.txt", "from the pod\n");

    const r = await run(["push", sb.work, "--json"], { env: sb.env });
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { conflicts: unknown[] }).conflicts).toEqual([]);
    expect(r.stderr).toMatch(/fetching older saves/);
    const tip = remoteFiles(sb.remote);
    // Merged from where the two histories meet (save 249): our later log.txt, their other.txt.
    expect(tip.get("log.txt")).toBe(h.logAt(299));
    expect(tip.get("other.txt")).toBe("rewritten history\n");
    expect(tip.get("ours.txt")).toBe("from the pod\n");
    expect(branches(sb.remote).filter((b) => b.startsWith("mirrorshade/conflict/"))).toEqual([]);
  });

  it("a conflict after a shallow restore: exit 5, ours at the tip, theirs in history, our side on a conflict branch", async () => {
    const sb = sandbox();
    longHistory(sb.remote, 100, { files: FILES });
    expect((await run(["restore", sb.work], { env: sb.env })).code).toBe(0);
    const laptop = cloneRemote(sb.remote);
    commitAndPush(laptop, { "notes/n.ipynb": '{"cells": [], "by": "laptop"}\n' });
    write(sb.work, "notes/n.ipynb", '{"cells": [], "by": "pod"}\n');

    const r = await run(["push", sb.work, "--json"], { env: sb.env });
    expect(r.code, r.stderr).toBe(5);
    const s = JSON.parse(r.stdout) as { conflicts: { path: string }[]; conflictRef: string };
    expect(s.conflicts.map((c) => c.path)).toEqual(["notes/n.ipynb"]);
    expect(remoteFiles(sb.remote).get("notes/n.ipynb")).toBe('{"cells": [], "by": "pod"}\n');
    expect(versionsInHistory(sb.remote, "notes/n.ipynb").map((v) => v.content)).toContain(
      '{"cells": [], "by": "laptop"}\n',
    );
    expect(git(sb.remote, "show", `${s.conflictRef}:notes/n.ipynb`)).toBe('{"cells": [], "by": "pod"}\n');
    expect(stateDepth(sb)).toBeLessThan(10);
  });

  it("a restart resumes from the shallow state: no history fetched, nothing restored again", async () => {
    const sb = sandbox();
    longHistory(sb.remote, 300, { files: FILES });
    const first = await startWatch(sb);
    write(sb.work, "new.txt", "1\n");
    await waitFor("new.txt saved", () => remoteFiles(sb.remote).get("new.txt") === "1\n");
    expect((await stop(first)).code).toBe(0);
    const depth = stateDepth(sb);
    write(sb.work, "new.txt", "2\n");
    const second = await startWatch(sb);
    await waitFor("the change made while down saved", () => remoteFiles(sb.remote).get("new.txt") === "2\n");
    expect((await stop(second)).code).toBe(0);
    expect(second.stderr()).toMatch(/resumed from state/);
    expect(second.stderr()).not.toMatch(/fetching older saves/);
    expect(isShallow(sb)).toBe(true);
    expect(stateDepth(sb)).toBe(depth + 1);
    expect(read(sb.work, "log.txt")).toBe(logText(299));
  });
});
