/**
 * The contract every backend passes. Each backend's test calls `backendContract` with a
 * way to make a fresh remote and open backends on it; the suite checks behaviour only
 * through the Backend interface (what one side saves, another side restores).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { Backend, ChangeKind, PathFilter, SaveMeta } from "../../backends/types";
import { Ancestors } from "../../backends/lib/ancestors";
import { NotFoundError } from "../../src/errors";
import { log } from "../../src/log";
import { tempDir, waitFor } from "../helpers";

export interface ContractTarget {
  /** A fresh, existing, empty remote for one test. */
  remote(): Promise<string> | string;
  /** A remote URL that does not exist (for check/create). */
  missingRemote(): string;
  open(remote: string, dir: string, stateDir: string): Promise<Backend>;
}

const saveAll: PathFilter = async () => "save";
/** A conflict copy's name (DESIGN.md "Conflict copies"). */
const COPY = /(^|\/)[^/]+\.conflict-\d{8}T\d{6}Z-[0-9a-f]{8}(\.[^./]+)?$/;
const meta = (): SaveMeta => ({ message: "contract test", trailers: [], host: "test", date: new Date() });

/** One side of a test: a work dir and a state dir of its own, on a shared remote. */
async function side(t: ContractTarget, remote: string) {
  const root = tempDir("ms-contract-");
  const dir = path.join(root, "work");
  mkdirSync(dir);
  const stateDir = path.join(root, "state");
  const backend = await t.open(remote, dir, stateDir);
  return {
    dir,
    remoteUrl: remote,
    backend,
    write(rel: string, content: string) {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), content);
    },
    read: (rel: string) => readFileSync(path.join(dir, rel), "utf8"),
    async saveAll() {
      const plan = await backend.plan("all", saveAll);
      return backend.save(plan, meta());
    },
    async pull(pending: string[] = []) {
      return backend.pull!({ pending: new Set(pending) });
    },
    remove(rel: string) {
      rmSync(path.join(dir, rel));
    },
    exists: (rel: string) => existsSync(path.join(dir, rel)),
    copies: () => listFiles(dir).filter((f) => COPY.test(f)),
    /** The bytes of a notebook as last synced, from the state dir's store (the ancestor of a later merge). */
    ancestor: (rel: string) => new Ancestors(path.join(stateDir, "ancestors"), log).get(rel)?.toString("utf8"),
    async saveChanges(changes: Record<string, ChangeKind>) {
      const plan = await backend.plan(new Map(Object.entries(changes)), saveAll);
      return backend.save(plan, meta());
    },
  };
}

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? listFiles(p, base) : [path.relative(base, p).split(path.sep).join("/")];
  });
}

export function backendContract(name: string, t: ContractTarget): void {
  describe(`backend contract: ${name}`, () => {
    it("check() reports a missing remote as NotFoundError; create() makes it", async () => {
      const remote = t.missingRemote();
      const a = await side(t, remote);
      await expect(a.backend.check()).rejects.toBeInstanceOf(NotFoundError);
      if (!a.backend.create) return;
      await a.backend.create();
      await expect(a.backend.check()).resolves.toBeUndefined();
    });

    it("restores an empty remote as empty, writing nothing", async () => {
      const a = await side(t, await t.remote());
      a.write("local.txt", "mine");
      const r = await a.backend.restore();
      expect(r.empty).toBe(true);
      expect(listFiles(a.dir)).toEqual(["local.txt"]);
    });

    it("round-trips files: what one side saves, another restores byte for byte", async () => {
      const remote = await t.remote();
      const a = await side(t, remote);
      await a.backend.restore();
      const files: Record<string, string> = {
        "top.txt": "top\n",
        "nested/deeper/n.ipynb": '{"cells": []}',
        "with space/ünïcødé ✓.md": "unicode\n",
        "empty.txt": "",
      };
      for (const [p, c] of Object.entries(files)) a.write(p, c);
      const report = await a.saveAll();
      expect(report.saved.map((e) => e.path).sort()).toEqual(Object.keys(files).sort());
      const b = await side(t, remote);
      const r = await b.backend.restore();
      expect(r.written.sort()).toEqual(Object.keys(files).sort());
      for (const [p, c] of Object.entries(files)) expect(b.read(p)).toBe(c);
    });

    it("saves a change set: modifications and deletions reach the remote", async () => {
      const remote = await t.remote();
      const a = await side(t, remote);
      await a.backend.restore();
      a.write("keep.txt", "1");
      a.write("gone.txt", "1");
      await a.saveAll();
      a.write("keep.txt", "2");
      a.remove("gone.txt");
      const report = await a.saveChanges({ "keep.txt": "update", "gone.txt": "delete" });
      expect(report.saved.map((e) => `${e.op} ${e.path}`).sort()).toEqual(["delete gone.txt", "modify keep.txt"]);
      const b = await side(t, remote);
      await b.backend.restore();
      expect(listFiles(b.dir)).toEqual(["keep.txt"]);
      expect(b.read("keep.txt")).toBe("2");
    });

    it("plan() writes nothing; filter verdicts are obeyed", async () => {
      const remote = await t.remote();
      const a = await side(t, remote);
      await a.backend.restore();
      a.write("ok.txt", "ok");
      a.write("big.bin", "x".repeat(100));
      a.write("later.ipynb", "{");
      const filter: PathFilter = async (e) =>
        e.path === "big.bin" ? { skip: "too big" } : e.path === "later.ipynb" ? { defer: "half-written" } : "save";
      const plan = await a.backend.plan("all", filter);
      expect(plan.entries.map((e) => e.path)).toEqual(["ok.txt"]);
      expect(plan.skipped.map((e) => e.path)).toEqual(["big.bin"]);
      expect(plan.deferred.map((e) => e.path)).toEqual(["later.ipynb"]);
      const b = await side(t, remote);
      expect((await b.backend.restore()).empty).toBe(true); // the plan saved nothing
      await a.backend.save(plan, meta());
      const c = await side(t, remote);
      await c.backend.restore();
      expect(listFiles(c.dir)).toEqual(["ok.txt"]);
    });

    it("restore is the union, local first: never deletes or overwrites a local file", async () => {
      const remote = await t.remote();
      const a = await side(t, remote);
      await a.backend.restore();
      a.write("both.txt", "remote version");
      a.write("remote-only.txt", "r");
      await a.saveAll();
      const b = await side(t, remote);
      b.write("both.txt", "local version");
      b.write("local-only.txt", "l");
      const r = await b.backend.restore();
      expect(b.read("both.txt")).toBe("local version");
      expect(b.read("local-only.txt")).toBe("l");
      expect(b.read("remote-only.txt")).toBe("r");
      expect(r.kept).toEqual(["both.txt"]);
      expect(r.written).toEqual(["remote-only.txt"]);
      // Idempotent.
      const again = await b.backend.restore();
      expect(again.written).toEqual([]);
      expect(b.read("both.txt")).toBe("local version");
      // The next save makes the local version the remote's.
      await b.saveAll();
      const c = await side(t, remote);
      await c.backend.restore();
      expect(c.read("both.txt")).toBe("local version");
    });

    /** A and B both restore the same empty remote, then each saves, A first; C restores the result. */
    async function twoWriters() {
      const remote = await t.remote();
      const a = await side(t, remote);
      const b = await side(t, remote);
      await a.backend.restore();
      await b.backend.restore();
      a.write("shared.txt", "from a\n");
      a.write("a.txt", "a");
      await a.saveAll();
      b.write("shared.txt", "from b\n");
      b.write("b.txt", "b");
      const report = await b.saveAll();
      const c = await side(t, remote);
      await c.backend.restore();
      return { b, c, report };
    }

    it("two writers: different files both survive; the same file keeps the later saver's whole file", async () => {
      const { b, c } = await twoWriters();
      const copies = listFiles(c.dir).filter((f) => COPY.test(f));
      expect(
        listFiles(c.dir)
          .filter((f) => !COPY.test(f))
          .sort(),
      ).toEqual(["a.txt", "b.txt", "shared.txt"]);
      expect(c.read("shared.txt")).toBe("from b\n");
      // Where the backend noticed the other writer, its version is at the remote too, as the conflict copy.
      if (b.backend.capabilities.conflicts) {
        expect(copies).toHaveLength(1);
        expect(c.read(copies[0]!)).toBe("from a\n");
        expect(listFiles(b.dir).filter((f) => COPY.test(f))).toEqual(copies);
      } else expect(copies).toEqual([]);
    });

    it("two writers: the path saved on both sides is reported as a conflict [capability: conflicts]", async (ctx) => {
      const { b, report } = await twoWriters();
      // Known only once the backend met the remote (S3 learns at its first save whether the store has conditional writes).
      ctx.skip(
        !b.backend.capabilities.conflicts,
        `${b.backend.name}: this remote cannot tell another writer's version from ours (last writer wins)`,
      );
      expect(report.conflicts.map((c) => c.path)).toEqual(["shared.txt"]);
    });

    it("two writers: the other writer's files come into the work dir on save [capability: integrates]", async (ctx) => {
      const probe = await side(t, await t.remote());
      ctx.skip(
        !probe.backend.capabilities.integrates,
        `${probe.backend.name}: another writer's files arrive at the next restore, not on save`,
      );
      const { b } = await twoWriters();
      expect(existsSync(path.join(b.dir, "a.txt"))).toBe(true);
    });

    /** A saves a base, B restores it: two synced sides of one remote, for the pull cases. */
    async function synced(files: Record<string, string>, ctx: { skip: (cond: boolean, note: string) => void }) {
      const remote = await t.remote();
      const a = await side(t, remote);
      const b = await side(t, remote);
      ctx.skip(!b.backend.capabilities.pulls || !b.backend.pull, `${b.backend.name}: no pull while watching`);
      await a.backend.restore();
      for (const [p, c] of Object.entries(files)) a.write(p, c);
      await a.saveAll();
      await b.backend.restore();
      return { a, b };
    }

    it("pull: a change, a new file and a deletion made only there come in; nothing new is nothing [capability: pulls]", async (ctx) => {
      const { a, b } = await synced({ "x.txt": "x1", "gone.txt": "g", "keep.txt": "k" }, ctx);
      expect(await b.pull()).toMatchObject({ incoming: [], deleted: [], conflicts: [], waiting: [] });
      a.write("x.txt", "x2");
      a.write("sub/new.ipynb", '{"cells": []}');
      a.remove("gone.txt");
      await a.saveAll();
      const r = await b.pull();
      expect([...r.incoming].sort()).toEqual(["gone.txt", "sub/new.ipynb", "x.txt"]);
      expect(r.deleted).toEqual(["gone.txt"]);
      expect(r.conflicts).toEqual([]);
      expect(listFiles(b.dir).sort()).toEqual(["keep.txt", "sub/new.ipynb", "x.txt"]);
      expect(b.read("x.txt")).toBe("x2");
      // Its own writes make nothing to save.
      expect((await b.backend.plan("all", saveAll)).entries).toEqual([]);
      expect((await b.pull()).incoming).toEqual([]);
    });

    it("pull: deleted there and changed here keeps ours, and the next save saves it [capability: pulls]", async (ctx) => {
      const { a, b } = await synced({ "doc.txt": "base" }, ctx);
      a.remove("doc.txt");
      await a.saveAll();
      b.write("doc.txt", "changed here");
      const r = await b.pull();
      expect(r.deleted).toEqual([]);
      expect(r.conflicts.map((c) => [c.path, c.copy])).toEqual([["doc.txt", undefined]]);
      expect(b.read("doc.txt")).toBe("changed here");
      await b.saveAll();
      const c = await side(t, a.remoteUrl);
      await c.backend.restore();
      expect(c.read("doc.txt")).toBe("changed here");
    });

    it("pull: changed on both sides keeps ours in place, theirs beside it as a copy, once [capability: pulls]", async (ctx) => {
      const { a, b } = await synced({ "nb.ipynb": '{"v": "base"}' }, ctx);
      a.write("nb.ipynb", '{"v": "theirs"}');
      await a.saveAll();
      b.write("nb.ipynb", '{"v": "ours"}');
      const r = await b.pull();
      expect(r.conflicts).toHaveLength(1);
      const copy = r.conflicts[0]!.copy!;
      expect(copy).toMatch(/^nb\.conflict-\d{8}T\d{6}Z-[0-9a-f]{8}\.ipynb$/);
      expect(b.read("nb.ipynb")).toBe('{"v": "ours"}');
      expect(b.read(copy)).toBe('{"v": "theirs"}');
      // Met again: no second copy.
      const again = await b.pull();
      expect(again.conflicts.filter((c) => c.copy && c.copy !== copy)).toEqual([]);
      expect(b.copies()).toEqual([copy]);
      // The next save puts ours at the path, and the copy beside it, at the remote.
      await b.saveAll();
      const c = await side(t, a.remoteUrl);
      await c.backend.restore();
      expect(c.read("nb.ipynb")).toBe('{"v": "ours"}');
      expect(c.read(copy)).toBe('{"v": "theirs"}');
    });

    /** A notebook of two cells (nbformat 4.5, ids), each cell's source given. */
    const twoCells = (first: string, second: string) =>
      JSON.stringify(
        {
          cells: [
            { cell_type: "markdown", id: "c1", metadata: {}, source: [first] },
            { cell_type: "code", execution_count: null, id: "c2", metadata: {}, outputs: [], source: [second] },
          ],
          metadata: {},
          nbformat: 4,
          nbformat_minor: 5,
        },
        null,
        1,
      ) + "\n";

    it("pull: a notebook edited in different cells on both sides merges by cell: no copy, saved by the next save [capability: pulls]", async (ctx) => {
      const { a, b } = await synced({ "nb.ipynb": twoCells("# base", "x = 1") }, ctx);
      a.write("nb.ipynb", twoCells("# theirs", "x = 1"));
      await a.saveAll();
      b.write("nb.ipynb", twoCells("# base", "x = 2"));
      const r = await b.pull();
      expect(r.conflicts).toEqual([]);
      expect(r.merged).toEqual(["nb.ipynb"]);
      expect(b.read("nb.ipynb")).toBe(twoCells("# theirs", "x = 2"));
      expect(b.copies()).toEqual([]);
      await b.saveAll();
      const c = await side(t, a.remoteUrl);
      await c.backend.restore();
      expect(c.read("nb.ipynb")).toBe(twoCells("# theirs", "x = 2"));
      // The merged notebook is what both sides now agree on: the next merge's ancestor.
      expect(b.ancestor("nb.ipynb")).toBe(twoCells("# theirs", "x = 2"));
    });

    it("save: another writer's notebook, edited in other cells, merges by cell instead of a conflict [capability: conflicts]", async (ctx) => {
      const { a, b } = await synced({ "nb.ipynb": twoCells("# base", "x = 1") }, ctx);
      a.write("nb.ipynb", twoCells("# theirs", "x = 1"));
      await a.saveAll();
      b.write("nb.ipynb", twoCells("# base", "x = 2"));
      const r = await b.saveAll();
      ctx.skip(!b.backend.capabilities.conflicts, `${b.backend.name}: this remote cannot tell another writer's save`);
      expect(r.conflicts).toEqual([]);
      expect(r.merged).toEqual(["nb.ipynb"]);
      expect(b.read("nb.ipynb")).toBe(twoCells("# theirs", "x = 2"));
      expect(b.copies()).toEqual([]);
      const c = await side(t, a.remoteUrl);
      await c.backend.restore();
      expect(c.read("nb.ipynb")).toBe(twoCells("# theirs", "x = 2"));
    });

    it("keeps each notebook's bytes as last synced in the state dir, the common ancestor of both sides [capability: pulls]", async (ctx) => {
      const { a, b } = await synced({ "nb.ipynb": '{"v": 1}', "notes.txt": "not a notebook" }, ctx);
      expect(a.ancestor("nb.ipynb")).toBe('{"v": 1}');
      expect(b.ancestor("nb.ipynb")).toBe('{"v": 1}');
      expect(b.ancestor("notes.txt")).toBeUndefined();
      a.write("nb.ipynb", '{"v": 2}');
      await a.saveAll();
      expect(a.ancestor("nb.ipynb")).toBe('{"v": 2}');
      await b.pull();
      expect(b.ancestor("nb.ipynb")).toBe('{"v": 2}');
      // Changed on both sides: the ancestor stays what both last agreed on, until ours is saved.
      a.write("nb.ipynb", '{"v": "3a"}');
      await a.saveAll();
      b.write("nb.ipynb", '{"v": "3b"}');
      expect((await b.pull()).conflicts.map((c) => c.path)).toEqual(["nb.ipynb"]);
      expect(b.ancestor("nb.ipynb")).toBe('{"v": 2}');
      await b.saveAll();
      expect(b.ancestor("nb.ipynb")).toBe('{"v": "3b"}');
      b.remove("nb.ipynb");
      await b.saveAll();
      expect(b.ancestor("nb.ipynb")).toBeUndefined();
    });

    it("pull never touches a path with a pending local change [capability: pulls]", async (ctx) => {
      const { a, b } = await synced({ "busy.txt": "base", "idle.txt": "base" }, ctx);
      a.write("busy.txt", "theirs");
      a.write("idle.txt", "theirs");
      await a.saveAll();
      b.write("busy.txt", "being written");
      const r = await b.pull(["busy.txt"]);
      expect(r.waiting).toContain("busy.txt");
      expect(r.conflicts).toEqual([]);
      expect(b.read("busy.txt")).toBe("being written");
      expect(b.copies()).toEqual([]);
      // Git takes the remote's commits whole (idle.txt waits too); S3 path by path.
      expect(["base", "theirs"]).toContain(b.read("idle.txt"));
    });

    it("saves the bytes the filter checked (PlanEntry.content), not the file as it is by then", async () => {
      const remote = await t.remote();
      const a = await side(t, remote);
      await a.backend.restore();
      const checked = '{"cells": [], "checked": true}';
      a.write("nb.ipynb", checked);
      const filter: PathFilter = async (e) => {
        if (e.path === "nb.ipynb") e.content = Buffer.from(checked);
        return "save";
      };
      const plan = await a.backend.plan("all", filter);
      // A writer rewrites the notebook in place between the check and the upload.
      a.write("nb.ipynb", '{"cells": [');
      await a.backend.save(plan, meta());
      const b = await side(t, remote);
      await b.backend.restore();
      expect(b.read("nb.ipynb")).toBe(checked);
    });

    it("a symlink is never followed: what it points to never reaches the remote", async () => {
      const remote = await t.remote();
      const a = await side(t, remote);
      await a.backend.restore();
      const outside = path.join(tempDir("ms-outside-"), "secret.json");
      writeFileSync(outside, '{"secret": "contract-secret-5d1e"}');
      mkdirSync(path.join(a.dir, "d"));
      symlinkSync(outside, path.join(a.dir, "leak.ipynb"));
      symlinkSync(path.dirname(outside), path.join(a.dir, "d", "linked-dir"));
      a.write("ok.txt", "ok");
      await a.saveAll();
      const b = await side(t, remote);
      await b.backend.restore();
      expect(b.read("ok.txt")).toBe("ok");
      // Saved as a link (git) or not at all (S3): never the target's bytes as a file or a dir.
      for (const rel of ["leak.ipynb", "d/linked-dir"]) {
        const p = path.join(b.dir, rel);
        const st = existsSync(p) ? lstatSync(p) : undefined;
        const files = st?.isFile() ? [p] : st?.isDirectory() ? listFiles(p).map((f) => path.join(p, f)) : [];
        for (const f of files) expect(readFileSync(f, "utf8"), f).not.toContain("contract-secret");
      }
    });

    it("a FIFO does not stop the save of the other files", async () => {
      const remote = await t.remote();
      const a = await side(t, remote);
      await a.backend.restore();
      a.write("ok.txt", "ok");
      execFileSync("mkfifo", [path.join(a.dir, "pipe.ipynb")]);
      const plan = await a.backend.plan("all", saveAll);
      expect(plan.entries.map((e) => e.path)).toEqual(["ok.txt"]);
      // Reported with its reason, never dropped in silence (git lists no new FIFO: looked for
      // apart), never saved, never waited on; the same when the watcher names it.
      const fifo = { path: "pipe.ipynb", reason: expect.stringMatching(/FIFO/) };
      expect(plan.skipped).toEqual([fifo]);
      const named = await a.backend.plan(
        new Map([
          ["pipe.ipynb", "update"],
          ["ok.txt", "update"],
        ]),
        saveAll,
      );
      expect(named.skipped).toEqual([fifo]);
      await a.backend.save(plan, meta());
      const b = await side(t, remote);
      await b.backend.restore();
      expect(listFiles(b.dir)).toEqual(["ok.txt"]);
    });

    it("nothing to save is not an error and saves nothing", async () => {
      const a = await side(t, await t.remote());
      await a.backend.restore();
      const plan = await a.backend.plan("all", saveAll);
      expect(plan.entries).toEqual([]);
      const report = await a.backend.save(plan, meta());
      expect(report.saved).toEqual([]);
    });

    /** Three saves on one remote (a.txt 1 → 2, b.txt added then deleted, c.txt added), a second apart. */
    async function history() {
      const remote = await t.remote();
      const a = await side(t, remote);
      await a.backend.restore();
      const tick = async () => {
        // Saves are told apart by time to the second (git's commit time): start each in a new second.
        const second = Math.floor(Date.now() / 1000);
        await waitFor("the next second", () => Math.floor(Date.now() / 1000) > second);
      };
      a.write("a.txt", "a1\n");
      a.write("b.txt", "b1\n");
      a.write("sub/d.txt", "d1\n");
      await a.saveAll();
      await tick();
      a.write("a.txt", "a2\n");
      a.write("c.txt", "c1\n");
      await a.saveChanges({ "a.txt": "update", "c.txt": "create" });
      await tick();
      rmSync(path.join(a.dir, "b.txt"));
      await a.saveChanges({ "b.txt": "delete" });
      const saves = await a.backend.log!();
      return { remote, a, saves };
    }

    it("log lists the saves, newest first, with the files each changed [capability: atRestore]", async (ctx) => {
      const probe = await side(t, await t.remote());
      ctx.skip(!probe.backend.capabilities.atRestore, `${probe.backend.name}: no history of saves`);
      const { remote, saves } = await history();
      expect(saves.map((r) => r.files.map((f) => `${f.op} ${f.path}`).sort())).toEqual([
        ["delete b.txt"],
        ["add c.txt", "modify a.txt"],
        ["add a.txt", "add b.txt", "add sub/d.txt"],
      ]);
      for (const r of saves) {
        expect(r.id).toMatch(/^[0-9a-f]{4,}$/);
        expect(new Date(r.time).toISOString()).toBe(r.time);
        expect(r.host).not.toBe("");
      }
      expect(Date.parse(saves[0]!.time)).toBeGreaterThan(Date.parse(saves[2]!.time));
      // Another side with no state of its own sees the same saves; filters apply.
      const b = await side(t, remote);
      expect((await b.backend.log!()).map((r) => r.id)).toEqual(saves.map((r) => r.id));
      expect((await b.backend.log!({ paths: ["a.txt"] })).map((r) => r.id)).toEqual([saves[1]!.id, saves[2]!.id]);
      expect((await b.backend.log!({ paths: ["sub"] })).map((r) => r.id)).toEqual([saves[2]!.id]);
      expect((await b.backend.log!({ limit: 1 })).map((r) => r.id)).toEqual([saves[0]!.id]);
      expect((await b.backend.log!({ since: new Date(saves[1]!.time) })).map((r) => r.id)).toEqual(
        saves.slice(0, 2).map((r) => r.id),
      );
      expect(listFiles(b.dir)).toEqual([]); // log reads only
    });

    it("log of a remote with no saves is empty [capability: atRestore]", async (ctx) => {
      const a = await side(t, await t.remote());
      ctx.skip(!a.backend.capabilities.atRestore, `${a.backend.name}: no history of saves`);
      expect(await a.backend.log!()).toEqual([]);
    });

    it("restoreAt into an empty dir brings back the tree of that save [capability: history]", async (ctx) => {
      const { remote, a, saves } = await history();
      ctx.skip(!a.backend.capabilities.history, `${a.backend.name}: this remote keeps no earlier versions`);
      const first = saves[2]!;
      const b = await side(t, remote);
      const r = await b.backend.restoreAt!({ at: { id: first.id } });
      expect(r.id).toBe(first.id);
      expect(r.written.sort()).toEqual(["a.txt", "b.txt", "sub/d.txt"]);
      expect(listFiles(b.dir).sort()).toEqual(["a.txt", "b.txt", "sub/d.txt"]);
      expect([b.read("a.txt"), b.read("b.txt")]).toEqual(["a1\n", "b1\n"]);
      // By time: the newest save at or before it; a unique prefix of an id works too.
      const c = await side(t, remote);
      const byTime = await c.backend.restoreAt!({ at: { time: new Date(Date.parse(saves[1]!.time) + 999) } });
      expect(byTime.id).toBe(saves[1]!.id);
      expect(listFiles(c.dir).sort()).toEqual(["a.txt", "b.txt", "c.txt", "sub/d.txt"]);
      expect(c.read("a.txt")).toBe("a2\n");
      const d = await side(t, remote);
      await d.backend.restoreAt!({ at: { id: first.id.slice(0, 8) }, paths: ["b.txt"] });
      expect(listFiles(d.dir)).toEqual(["b.txt"]);
    });

    it("restoreAt never overwrites: a differing file gets the old version beside it, once [capability: history]", async (ctx) => {
      const { a, saves } = await history();
      ctx.skip(!a.backend.capabilities.history, `${a.backend.name}: this remote keeps no earlier versions`);
      a.write("local.txt", "only here\n");
      const first = saves[2]!;
      const r = await a.backend.restoreAt!({ at: { id: first.id } });
      const stamp = new Date(first.time)
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d+Z$/, "Z");
      const sha8 = createHash("sha256").update("a1\n").digest("hex").slice(0, 8);
      expect(r.copies).toEqual([{ path: "a.txt", copy: `a.conflict-${stamp}-${sha8}.txt` }]);
      expect(r.written).toEqual(["b.txt"]);
      expect(r.unchanged).toBe(1); // sub/d.txt
      expect(a.read("a.txt")).toBe("a2\n");
      expect(a.read(`a.conflict-${stamp}-${sha8}.txt`)).toBe("a1\n");
      expect(a.read("b.txt")).toBe("b1\n");
      expect(listFiles(a.dir).sort()).toEqual(
        ["a.txt", `a.conflict-${stamp}-${sha8}.txt`, "b.txt", "c.txt", "local.txt", "sub/d.txt"].sort(),
      );
      const again = await a.backend.restoreAt!({ at: { id: first.id } });
      expect(again.copies).toEqual(r.copies);
      expect(listFiles(a.dir)).toHaveLength(6); // no second copy
      // With overwrite it replaces what is saved (a.txt), never what is not (c.txt edited since).
      a.write("c.txt", "not saved\n");
      const o = await a.backend.restoreAt!({ at: { id: saves[1]!.id }, paths: ["a.txt", "c.txt"], overwrite: true });
      expect(o.replaced).toEqual([]); // a.txt is as it was there; c.txt is not saved
      expect(o.copies.map((c) => c.path)).toEqual(["c.txt"]);
      expect(a.read("c.txt")).toBe("not saved\n");
      const o1 = await a.backend.restoreAt!({ at: { id: first.id }, paths: ["a.txt"], overwrite: true });
      expect(o1.replaced).toEqual(["a.txt"]);
      expect(a.read("a.txt")).toBe("a1\n");
    });

    it("restoreAt of a save that does not exist is NotFoundError [capability: atRestore]", async (ctx) => {
      const { a, saves } = await history();
      ctx.skip(!a.backend.capabilities.atRestore, `${a.backend.name}: no history of saves`);
      await expect(a.backend.restoreAt!({ at: { id: "0000dead" } })).rejects.toBeInstanceOf(NotFoundError);
      const before = new Date(Date.parse(saves[2]!.time) - 60_000);
      await expect(a.backend.restoreAt!({ at: { time: before } })).rejects.toBeInstanceOf(NotFoundError);
      const empty = await side(t, await t.remote());
      await expect(empty.backend.restoreAt!({ at: { time: new Date() } })).rejects.toBeInstanceOf(NotFoundError);
    });

    it("restored files are readable and writable by the group", async () => {
      const remote = await t.remote();
      const a = await side(t, remote);
      await a.backend.restore();
      a.write("f.txt", "x");
      await a.saveAll();
      const old = process.umask(0o002);
      try {
        const b = await side(t, remote);
        await b.backend.restore();
        expect(statSync(path.join(b.dir, "f.txt")).mode & 0o060).toBe(0o060);
      } finally {
        process.umask(old);
      }
    });
  });
}
