import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Backend, ChangeSet, PathFilter, PlanEntry, SaveMeta, SavePlan, SaveReport } from "../../backends/types";
import type { Settings } from "../../src/config";
import { buildMeta, describeEntries, makeFilter, saveOnce } from "../../src/engine/save";
import { Git } from "../../src/git";
import { configureLog, setLogSink } from "../../src/log";
import { beginProfile, now, recordSpan } from "../../src/profile";
import { cleanEnv } from "../helpers";
import { fixture } from "../helpers/notebooks";

let dir: string;
const logs: string[] = [];

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "ms-unit-save-"));
  logs.length = 0;
  setLogSink((line) => logs.push(line));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  setLogSink((line) => process.stderr.write(line + "\n"));
});

/** Settings for a save (other fields, such as credentials, do not matter here). */
function settings(over: Partial<Settings> = {}): Settings {
  return {
    command: "push",
    dir,
    stateDir: path.join(dir, "..", "state-not-used"),
    create: false,
    retryFor: 0,
    logLevel: "info",
    debounce: 2000,
    maxDelay: 30_000,
    shutdownTimeout: 20_000,
    restore: true,
    message: "mirrorshade: {files}",
    trailer: [],
    maxFileSize: 1000,
    allowMassDelete: false,
    ignore: [],
    dryRun: false,
    json: false,
    ...over,
  } as Settings;
}

const add = (p: string, size = 10): PlanEntry => ({ path: p, op: "add", size });
const mod = (p: string, size = 10): PlanEntry => ({ path: p, op: "modify", size });
const del = (p: string): PlanEntry => ({ path: p, op: "delete" });

describe("buildMeta", () => {
  it("fills every placeholder", () => {
    const entries = [add("a.txt"), mod("b.ipynb"), del("c.csv")];
    const meta = buildMeta(
      settings({
        message: "{count}|{files}|{added}|{modified}|{deleted}|{host}|{date}|{branch}",
        branch: "main",
      }),
      entries,
    );
    const [count, files, added, modified, deleted, host, date, branch] = meta.message.split("|");
    expect(count).toBe("3");
    expect(files).toBe("a.txt, b.ipynb, c.csv");
    expect([added, modified, deleted]).toEqual(["1", "1", "1"]);
    expect(host).toBe(hostname());
    expect(meta.host).toBe(hostname());
    expect(date).toBe(meta.date.toISOString());
    expect(branch).toBe("main");
  });

  it("lists files one per line with {list}", () => {
    const meta = buildMeta(settings({ message: "save\n\n{list}" }), [add("a"), del("dir/b")]);
    expect(meta.message).toBe("save\n\n- a\n- dir/b");
  });

  it("shows three files and counts the rest", () => {
    const entries = ["a", "b", "c", "d", "e"].map((p) => mod(p));
    expect(buildMeta(settings({ message: "{files}" }), entries).message).toBe("a, b, c and 2 more");
    expect(buildMeta(settings({ message: "{files}" }), entries.slice(0, 3)).message).toBe("a, b, c");
    expect(buildMeta(settings({ message: "{files}" }), entries.slice(0, 4)).message).toBe("a, b, c and 1 more");
  });

  it("says 'nothing new' for no entries and an empty {branch} when unset", () => {
    const meta = buildMeta(settings({ message: "{files}/{count}/{branch}/" }), []);
    expect(meta.message).toBe("nothing new/0//");
  });

  it("leaves unknown placeholders as they are", () => {
    const meta = buildMeta(settings({ message: "{nope} { count } {count}{" }), [add("a")]);
    expect(meta.message).toBe("{nope} { count } 1{");
  });

  it("fills trailers and passes the author through", () => {
    const meta = buildMeta(
      settings({ trailer: ["Host: {host}", "Files: {count}", "Plain: yes"], author: "Bot <bot@example.org>" }),
      [add("a"), add("b")],
    );
    expect(meta.trailers).toEqual([`Host: ${hostname()}`, "Files: 2", "Plain: yes"]);
    expect(meta.author).toBe("Bot <bot@example.org>");
  });
});

describe("makeFilter", () => {
  const nb = (name: string, text: string) => {
    writeFileSync(path.join(dir, name), text);
    return name;
  };

  it("always saves a deletion", async () => {
    const f = makeFilter(settings({ maxFileSize: 1 }), {});
    expect(await f(del("gone.ipynb"))).toBe("save");
  });

  it("skips a file over the size cap, with the sizes in the reason", async () => {
    const f = makeFilter(settings({ maxFileSize: 1024 }), {});
    const v = await f(add("big.bin", 5 * 1024 * 1024));
    expect(v).toEqual({ skip: expect.stringContaining("--max-file-size") });
    expect((v as { skip: string }).skip).toContain("5.0 MiB");
    expect((v as { skip: string }).skip).toContain("1.0 KiB");
    expect(await f(mod("edge.bin", 1024))).toBe("save");
    expect(await f({ path: "unknown-size", op: "add" })).toBe("save");
  });

  it("skips an oversized notebook before looking at it", async () => {
    const f = makeFilter(settings({ maxFileSize: 5 }), {});
    expect(await f(mod(nb("big.ipynb", '{"cells": []}'), 5000))).toEqual({ skip: expect.any(String) });
  });

  it("defers a notebook that is not valid JSON, or empty", async () => {
    const f = makeFilter(settings(), {});
    expect(await f(mod(nb("half.ipynb", '{"cells": [')))).toEqual({ defer: expect.stringContaining("JSON") });
    expect(await f(mod(nb("empty.ipynb", "  \n")))).toEqual({ defer: expect.any(String) });
  });

  it("saves an invalid notebook when forced", async () => {
    const name = nb("half.ipynb", "{");
    expect(await makeFilter(settings(), { forceInvalid: true })(mod(name))).toBe("save");
    const only = makeFilter(settings(), { forceInvalid: (rel) => rel === "half.ipynb" });
    expect(await only(mod(name))).toBe("save");
    nb("other.ipynb", "{");
    expect(await only(mod("other.ipynb"))).toEqual({ defer: expect.any(String) });
    expect(logs.join("\n")).toContain("half.ipynb");
  });

  it("hands the backend the exact bytes of a notebook it checked", async () => {
    const text = '{"cells": [], "nbformat": 4}';
    const entry = mod(nb("checked.ipynb", text));
    expect(await makeFilter(settings(), {})(entry)).toBe("save");
    expect(entry.content?.toString("utf8")).toBe(text);
    expect(entry.size).toBe(Buffer.byteLength(text));
    // Rewritten afterwards: what was checked is what gets saved, not the new state.
    nb("checked.ipynb", "{");
    expect(entry.content?.toString("utf8")).toBe(text);
  });

  it("saves a valid notebook, a vanished one, and any other file", async () => {
    const f = makeFilter(settings(), {});
    expect(await f(mod(nb("ok.ipynb", '{"cells": [], "nbformat": 4}')))).toBe("save");
    expect(await f(mod("vanished.ipynb"))).toBe("save");
    expect(await f(mod(nb("broken.json", "{")))).toBe("save");
    expect(await f(add(nb("notes.txt", "hi")))).toBe("save");
  });
});

describe("makeFilter with --strip-outputs", () => {
  const nb = (name: string, text: string) => {
    writeFileSync(path.join(dir, name), text);
    return name;
  };
  const withOutputs = fixture("v4.5-ids.ipynb");
  const strip = () => settings({ stripOutputs: true, maxFileSize: 1e7 });

  it("hands the backend the notebook without outputs (the bytes Jupyter writes for it); the file keeps them", async () => {
    const entry = mod(nb("nb.ipynb", withOutputs));
    expect(await makeFilter(strip(), {})(entry)).toBe("save");
    expect(entry.content?.toString("utf8")).toBe(fixture("v4.5-ids.stripped.ipynb"));
    expect(entry.size).toBe(entry.content!.length);
    expect(readFileSync(path.join(dir, "nb.ipynb"), "utf8")).toBe(withOutputs);
  });

  it("a half-written notebook waits, and when forced (shutdown, push) is skipped, never sent with its outputs", async () => {
    const name = nb("half.ipynb", withOutputs.slice(0, 3000));
    expect(await makeFilter(strip(), {})(mod(name))).toEqual({ defer: expect.stringContaining("JSON") });
    const forced = mod(name);
    expect(await makeFilter(strip(), { forceInvalid: true })(forced)).toEqual({
      skip: expect.stringContaining("--strip-outputs"),
    });
    expect(forced.content).toBeUndefined();
  });

  it("JSON that is not an nbformat 4 notebook cannot be stripped: it waits, and when forced is skipped", async () => {
    const name = nb("odd.ipynb", '{"cells": [{"outputs": ["secret"]}], "nbformat": 4}');
    expect(await makeFilter(strip(), {})(mod(name))).toEqual({ defer: expect.stringContaining("nbformat 4") });
    expect(await makeFilter(strip(), { forceInvalid: true })(mod(name))).toEqual({
      skip: expect.stringContaining("nbformat 4"),
    });
    // Without --strip-outputs it is saved as it is, as before.
    expect(await makeFilter(settings(), {})(mod(name))).toBe("save");
  });
});

/** A backend whose plan is given by the test; it runs the filter like a real one. */
function fakeBackend(candidates: PlanEntry[], opts: { total?: number; unacknowledged?: number } = {}) {
  const saves: { plan: SavePlan; meta: SaveMeta }[] = [];
  const plans: (ChangeSet | "all")[] = [];
  const backend: Backend = {
    name: "fake",
    capabilities: { history: false, atRestore: false },
    check: async () => {},
    restore: async () => ({ written: [], kept: [], empty: true, resumed: false, incoming: [], conflicts: [] }),
    async plan(changes, filter: PathFilter) {
      plans.push(changes);
      const plan: SavePlan = {
        entries: [],
        skipped: [],
        deferred: [],
        total: opts.total ?? candidates.length,
        unacknowledged: opts.unacknowledged ?? 0,
      };
      for (const e of candidates) {
        const v = await filter(e);
        if (v === "save") plan.entries.push(e);
        else if ("skip" in v) plan.skipped.push({ path: e.path, reason: v.skip });
        else plan.deferred.push({ path: e.path, reason: v.defer });
      }
      return plan;
    },
    async save(plan, meta): Promise<SaveReport> {
      saves.push({ plan: structuredClone(plan), meta });
      return { saved: plan.entries, id: "c0ffee", incoming: [], conflicts: [] };
    },
    close: async () => {},
  };
  return { backend, saves, plans };
}

describe("saveOnce", () => {
  it("plans with the filter and saves the entries with the built message", async () => {
    writeFileSync(path.join(dir, "half.ipynb"), "{");
    const fb = fakeBackend([add("a.txt"), add("big.bin", 10_000), mod("half.ipynb"), del("old.txt")]);
    const changes = new Map([["a.txt", "create" as const]]);
    const out = await saveOnce(fb.backend, changes, settings({ message: "save {count}: {files}" }));
    expect(fb.plans).toEqual([changes]);
    expect(fb.saves).toHaveLength(1);
    expect(fb.saves[0]!.plan.entries.map((e) => e.path)).toEqual(["a.txt", "old.txt"]);
    expect(fb.saves[0]!.meta.message).toBe("save 2: a.txt, old.txt");
    expect(out.plan.skipped.map((s) => s.path)).toEqual(["big.bin"]);
    expect(out.plan.deferred.map((d) => d.path)).toEqual(["half.ipynb"]);
    expect(out.report?.id).toBe("c0ffee");
    expect(out.ms).toBeGreaterThanOrEqual(0);
    expect(logs.join("\n")).toContain("not saving big.bin");
  });

  it("passes forceInvalid through to the filter", async () => {
    writeFileSync(path.join(dir, "half.ipynb"), "{");
    const fb = fakeBackend([mod("half.ipynb")]);
    await saveOnce(fb.backend, "all", settings(), { forceInvalid: () => true });
    expect(fb.saves[0]!.plan.entries.map((e) => e.path)).toEqual(["half.ipynb"]);
  });

  it("does not call save when there is nothing to do", async () => {
    writeFileSync(path.join(dir, "half.ipynb"), "{");
    const fb = fakeBackend([mod("half.ipynb"), add("huge", 1e9)]);
    const out = await saveOnce(fb.backend, "all", settings());
    expect(fb.saves).toHaveLength(0);
    expect(out.report).toBeUndefined();
    expect(out.plan.deferred).toHaveLength(1);
    expect(out.plan.skipped).toHaveLength(1);
  });

  it("still saves when only unacknowledged work is left (unpushed commits)", async () => {
    const fb = fakeBackend([], { unacknowledged: 2 });
    const out = await saveOnce(fb.backend, "all", settings());
    expect(fb.saves).toHaveLength(1);
    expect(out.report).toBeDefined();
  });

  it("never calls save in a dry run", async () => {
    const fb = fakeBackend([add("a"), del("b")]);
    const out = await saveOnce(fb.backend, "all", settings(), { dryRun: true });
    expect(fb.plans).toHaveLength(1);
    expect(fb.saves).toHaveLength(0);
    expect(out.report).toBeUndefined();
    expect(out.plan.entries.map((e) => e.path)).toEqual(["a", "b"]);
    expect(describeEntries(out.plan.entries)).toBe("1 added, 0 modified, 1 deleted");
  });
});

describe("saveOnce: the save's profile", () => {
  it("a step and the process it starts within the same 0.1 ms: the step first (it is recorded last, when it ends)", () => {
    const profile = beginProfile();
    const t = now();
    recordSpan("git --version", t + 0.001);
    recordSpan("plan", t);
    expect(profile.end().map((s) => s.name)).toEqual(["plan", "git --version"]);
  });

  it("logs at debug level each step and each git process, in start order, inside the save's time", async () => {
    configureLog({ level: "debug", format: "json" });
    try {
      const git = new Git(dir, cleanEnv() as Record<string, string>);
      const fb = fakeBackend([add("a.txt")]);
      const plan = fb.backend.plan.bind(fb.backend);
      fb.backend.plan = async (changes, filter) => {
        await git.run(["--version"]);
        return plan(changes, filter);
      };
      fb.backend.save = async (p) => {
        await git.exec(["--version"]);
        await git.run(["--version"]);
        return { saved: p.entries, incoming: [], conflicts: [] };
      };
      const out = await saveOnce(fb.backend, new Map([["a.txt", "update" as const]]), settings());
      const line = logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === "save profile");
      const spans = line!.spans as { name: string; at: number; ms: number }[];
      expect(spans.map((s) => s.name)).toEqual(["plan", "git --version", "save", "git --version", "git --version"]);
      for (const s of spans) expect(s.at + s.ms).toBeLessThanOrEqual((line!.ms as number) + 1);
      expect(spans[1]!.at).toBeGreaterThanOrEqual(spans[0]!.at);
      expect(out.ms).toBeGreaterThanOrEqual(spans[4]!.at + spans[4]!.ms - 1);
    } finally {
      configureLog({ level: "info" });
    }
  });
});

describe("saveOnce: mass-deletion guard", () => {
  const deletes = (n: number) => Array.from({ length: n }, (_, i) => del(`f${i}.txt`));

  it("defers the deletions when >= 10 and more than half of the saved files", async () => {
    const fb = fakeBackend([...deletes(10), add("new.txt")], { total: 19 });
    const out = await saveOnce(fb.backend, "all", settings());
    expect(fb.saves).toHaveLength(1);
    expect(fb.saves[0]!.plan.entries.map((e) => e.path)).toEqual(["new.txt"]);
    expect(out.plan.deferred).toHaveLength(10);
    expect(out.plan.deferred.every((d) => d.reason === "mass deletion")).toBe(true);
    expect(out.plan.deferred.map((d) => d.path)).toContain("f9.txt");
    expect(logs.join("\n")).toMatch(/refusing to save the deletion of 10 of 19/);
  });

  it("does not call save when the deletions were all there was", async () => {
    const fb = fakeBackend(deletes(30), { total: 30 });
    const out = await saveOnce(fb.backend, "all", settings());
    expect(fb.saves).toHaveLength(0);
    expect(out.plan.entries).toEqual([]);
    expect(out.plan.deferred).toHaveLength(30);
  });

  it("saves the deletions with allowMassDelete", async () => {
    const fb = fakeBackend(deletes(30), { total: 30 });
    const out = await saveOnce(fb.backend, "all", settings({ allowMassDelete: true }));
    expect(fb.saves).toHaveLength(1);
    expect(fb.saves[0]!.plan.entries).toHaveLength(30);
    expect(out.plan.deferred).toEqual([]);
  });

  it.each([
    [9, 9, "fewer than 10 deletions"],
    [10, 20, "exactly half"],
    [10, 100, "a small share"],
  ])("lets %d deletions of %d through (%s)", async (n, total) => {
    const fb = fakeBackend(deletes(n), { total });
    await saveOnce(fb.backend, "all", settings());
    expect(fb.saves).toHaveLength(1);
    expect(fb.saves[0]!.plan.entries).toHaveLength(n);
  });

  it("guards 11 deletions of 20", async () => {
    const fb = fakeBackend(deletes(11), { total: 20 });
    await saveOnce(fb.backend, "all", settings());
    expect(fb.saves).toHaveLength(0);
  });

  it("guards a dry run too, so it shows what a save would do", async () => {
    const fb = fakeBackend(deletes(12), { total: 12 });
    const out = await saveOnce(fb.backend, "all", settings(), { dryRun: true });
    expect(out.plan.entries).toEqual([]);
    expect(out.plan.deferred).toHaveLength(12);
  });
});
