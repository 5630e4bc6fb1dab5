import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ChangeKind } from "../../backends/types";
import { Scheduler, type SaveResult, type SchedulerOptions } from "../../src/engine/scheduler";
import { setLogSink } from "../../src/log";

interface Call {
  at: number;
  paths: Record<string, ChangeKind>;
  force: (rel: string) => boolean;
  /** force() of a few paths, asked during the call (its answer may change afterwards). */
  forced: Record<string, boolean>;
}

const PROBES = ["nb.ipynb", "other.ipynb", "a"];

/** A save function that records its calls; `behave` decides each call's outcome. */
function fakeSave(behave: (call: Call, n: number) => Promise<SaveResult> | SaveResult = () => ({ deferred: [] })) {
  const calls: Call[] = [];
  let active = 0;
  let maxActive = 0;
  const save: SchedulerOptions["save"] = async (changes, force) => {
    const forced = Object.fromEntries(PROBES.map((p) => [p, force(p)]));
    const call = { at: Date.now() - t0, paths: Object.fromEntries(changes), force, forced };
    calls.push(call);
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      return await behave(call, calls.length);
    } finally {
      active--;
    }
  };
  return { save, calls, maxActive: () => maxActive };
}

/** A promise to settle from outside. */
function gate<T = SaveResult>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

let t0 = 0;
const logs: string[] = [];

beforeEach(() => {
  vi.useFakeTimers();
  t0 = Date.now();
  logs.length = 0;
  setLogSink((line) => logs.push(line));
});

afterEach(() => {
  vi.useRealTimers();
  setLogSink((line) => process.stderr.write(line + "\n"));
});

const advance = (ms: number) => vi.advanceTimersByTimeAsync(ms);

describe("Scheduler timing", () => {
  it("saves once the debounce passed without events", async () => {
    const f = fakeSave();
    const s = new Scheduler({ debounce: 500, maxDelay: 2000, save: f.save });
    s.notify("a.txt", "create");
    await advance(499);
    expect(f.calls).toHaveLength(0);
    await advance(1);
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]!.paths).toEqual({ "a.txt": "create" });
    expect(f.calls[0]!.at).toBe(500);
    expect(s.pending.size).toBe(0);
  });

  it("restarts the quiet period on each event", async () => {
    const f = fakeSave();
    const s = new Scheduler({ debounce: 500, maxDelay: 10_000, save: f.save });
    s.notify("a", "create");
    await advance(400);
    s.notify("b", "create");
    await advance(400);
    expect(f.calls).toHaveLength(0);
    await advance(100);
    expect(f.calls.map((c) => c.at)).toEqual([900]);
    expect(f.calls[0]!.paths).toEqual({ a: "create", b: "create" });
  });

  it("saves a file written continuously by max-delay", async () => {
    const f = fakeSave();
    const s = new Scheduler({ debounce: 500, maxDelay: 2000, save: f.save });
    s.notify("nb.ipynb", "update");
    const writer = setInterval(() => s.notify("nb.ipynb", "update"), 100);
    try {
      await advance(1999);
      expect(f.calls).toHaveLength(0);
      await advance(101);
      expect(f.calls).toHaveLength(1);
      expect(f.calls[0]!.at).toBeGreaterThanOrEqual(2000);
      expect(f.calls[0]!.at).toBeLessThanOrEqual(2100);
      // and again about max-delay later while the writes go on
      await advance(2200);
      expect(f.calls).toHaveLength(2);
      expect(f.calls[1]!.at - f.calls[0]!.at).toBeGreaterThanOrEqual(2000);
      expect(f.calls[1]!.at - f.calls[0]!.at).toBeLessThanOrEqual(2200);
    } finally {
      clearInterval(writer);
    }
  });

  it("runs one save at a time; events during a save go to the next one", async () => {
    const first = gate();
    const f = fakeSave((_c, n) => (n === 1 ? first.promise : { deferred: [] }));
    const s = new Scheduler({ debounce: 500, maxDelay: 2000, save: f.save });
    s.notify("a", "create");
    await advance(500);
    expect(f.calls).toHaveLength(1);
    expect(s.busy).toBe(true);

    s.notify("b", "update");
    s.notify("a", "update");
    await advance(10_000); // well past debounce and max-delay
    expect(f.calls).toHaveLength(1);

    first.resolve({ deferred: [] });
    await advance(0);
    expect(s.busy).toBe(false);
    await advance(500);
    expect(f.calls).toHaveLength(2);
    expect(f.calls[1]!.paths).toEqual({ a: "update", b: "update" });
    expect(f.maxActive()).toBe(1);
  });
});

describe("Scheduler failures", () => {
  it("keeps the changes of a failed save and retries them later with backoff", async () => {
    const results: boolean[] = [];
    const f = fakeSave((_c, n) => {
      if (n === 1) throw new Error("remote down");
      return { deferred: [] };
    });
    const s = new Scheduler({
      debounce: 500,
      maxDelay: 2000,
      save: f.save,
      onResult: (ok) => results.push(ok),
    });
    s.notify("a", "create");
    s.notify("b", "delete");
    await advance(500);
    expect(f.calls).toHaveLength(1);
    expect(s.failing).toBe(1);
    expect(s.pending.size).toBe(2);

    // the first retry waits between half and all of one second
    await advance(499);
    expect(f.calls).toHaveLength(1);
    await advance(501);
    expect(f.calls).toHaveLength(2);
    expect(f.calls[1]!.paths).toEqual({ a: "create", b: "delete" });
    expect(f.calls[1]!.at - f.calls[0]!.at).toBeGreaterThanOrEqual(500);
    expect(results).toEqual([false, true]);
    expect(s.failing).toBe(0);
    expect(s.pending.size).toBe(0);
    expect(logs.join("\n")).toContain("remote down");
  });

  it("never drops changes, however often the save fails, and backs off further each time", async () => {
    const failTimes = 6;
    const f = fakeSave((_c, n) => {
      if (n <= failTimes) throw new Error(`fail ${n}`);
      return { deferred: [] };
    });
    const s = new Scheduler({ debounce: 100, maxDelay: 1000, maxBackoff: 60_000, save: f.save });
    s.notify("keep.txt", "update");
    await advance(100);
    s.notify("later.txt", "create"); // arrives while failing: joins the retry
    await advance(120_000);
    expect(f.calls).toHaveLength(failTimes + 1);
    for (const c of f.calls.slice(1)) expect(c.paths).toEqual({ "keep.txt": "update", "later.txt": "create" });
    const gaps = f.calls.slice(1).map((c, i) => c.at - f.calls[i]!.at);
    // attempt k waits in [2^(k-2), 2^(k-1)] s: the last gap is much longer than the first
    expect(gaps.at(-1)!).toBeGreaterThanOrEqual(16_000);
    expect(gaps[0]!).toBeLessThanOrEqual(1000);
    expect(s.pending.size).toBe(0);
  });

  it("merges a failed save's changes under newer events for the same path", async () => {
    const blocker = gate<void>();
    const f = fakeSave(async (_c, n) => {
      if (n === 1) {
        await blocker.promise;
        throw new Error("down");
      }
      return { deferred: [] };
    });
    const s = new Scheduler({ debounce: 100, maxDelay: 1000, save: f.save });
    s.notify("a", "create");
    await advance(100);
    s.notify("a", "delete"); // newer than the failing save's "create"
    blocker.resolve();
    await advance(5000);
    expect(f.calls).toHaveLength(2);
    expect(f.calls[1]!.paths).toEqual({ a: "delete" });
  });
});

describe("Scheduler deferred paths", () => {
  it("re-queues a deferred notebook, retries it after a quiet period and forces it after 3x max-delay", async () => {
    const maxDelay = 2000;
    const f = fakeSave((call) =>
      call.forced["nb.ipynb"] ? { deferred: [] } : { deferred: [{ path: "nb.ipynb", reason: "not valid JSON" }] },
    );
    const s = new Scheduler({ debounce: 500, maxDelay, save: f.save });
    s.notify("nb.ipynb", "update");
    s.notify("other.txt", "create");
    await advance(500);
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]!.forced["nb.ipynb"]).toBe(false);
    expect(s.pending.paths.get("nb.ipynb")).toBe("update");
    expect(s.pending.paths.has("other.txt")).toBe(false);

    await advance(3 * maxDelay + 1000);
    const forced = f.calls.findIndex((c) => c.forced["nb.ipynb"]);
    expect(forced).toBeGreaterThan(0);
    // every retry carried the notebook, and only the notebook
    for (const c of f.calls.slice(1)) expect(c.paths).toEqual({ "nb.ipynb": "update" });
    // forced only once it stayed invalid for 3 max-delays
    expect(f.calls[forced]!.at - f.calls[0]!.at).toBeGreaterThanOrEqual(3 * maxDelay);
    for (const c of f.calls.slice(0, forced)) expect(c.forced["nb.ipynb"]).toBe(false);
    expect(s.pending.size).toBe(0);
    // no busy loop: retries wait for a quiet period (debounce) each
    expect(f.calls.length).toBeLessThanOrEqual((3 * maxDelay) / 500 + 3);
    // and force is per path
    expect(f.calls[forced]!.forced["other.ipynb"]).toBe(false);
  });

  it("forgets a notebook's invalid streak once it saved", async () => {
    let invalid = true;
    const f = fakeSave((call) =>
      invalid && !call.forced["nb.ipynb"] && "nb.ipynb" in call.paths
        ? { deferred: [{ path: "nb.ipynb", reason: "not valid JSON" }] }
        : { deferred: [] },
    );
    const s = new Scheduler({ debounce: 100, maxDelay: 1000, save: f.save });
    s.notify("nb.ipynb", "update");
    await advance(2500); // stays invalid for a while
    invalid = false;
    await advance(500);
    expect(s.pending.size).toBe(0);
    await advance(2000); // idle
    const n = f.calls.length;
    invalid = true;
    s.notify("nb.ipynb", "update"); // a new streak starts now
    await advance(100);
    expect(f.calls).toHaveLength(n + 1);
    expect(f.calls[n]!.forced["nb.ipynb"]).toBe(false);
  });

  it("does not re-queue a mass deletion", async () => {
    const f = fakeSave(() => ({ deferred: [{ path: "gone.txt", reason: "mass deletion" }] }));
    const s = new Scheduler({ debounce: 100, maxDelay: 1000, save: f.save });
    s.notify("gone.txt", "delete");
    await advance(10_000);
    expect(f.calls).toHaveLength(1);
    expect(s.pending.size).toBe(0);
  });
});

describe("Scheduler.flush", () => {
  it("saves what is pending at once, forcing everything, and returns []", async () => {
    const f = fakeSave();
    const s = new Scheduler({ debounce: 5000, maxDelay: 30_000, save: f.save });
    s.notify("a", "create");
    s.notify("nb.ipynb", "update");
    const unsaved = await s.flush(1000);
    expect(unsaved).toEqual([]);
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]!.at).toBe(0);
    expect(f.calls[0]!.paths).toEqual({ a: "create", "nb.ipynb": "update" });
    expect(f.calls[0]!.forced["nb.ipynb"]).toBe(true);
    // stopped: later events are not saved
    s.notify("b", "create");
    await advance(60_000);
    expect(f.calls).toHaveLength(1);
  });

  it("returns [] without saving when nothing is pending", async () => {
    const f = fakeSave();
    const s = new Scheduler({ debounce: 500, maxDelay: 2000, save: f.save });
    expect(await s.flush(1000)).toEqual([]);
    expect(f.calls).toHaveLength(0);
  });

  it("waits for a save in progress, then saves the rest", async () => {
    const first = gate();
    const f = fakeSave((_c, n) => (n === 1 ? first.promise : { deferred: [] }));
    const s = new Scheduler({ debounce: 100, maxDelay: 1000, save: f.save });
    s.notify("a", "create");
    await advance(100);
    s.notify("b", "create");
    const done = s.flush(5000);
    await advance(50);
    expect(f.calls).toHaveLength(1);
    first.resolve({ deferred: [] });
    expect(await done).toEqual([]);
    expect(f.calls).toHaveLength(2);
    expect(f.calls[1]!.paths).toEqual({ b: "create" });
  });

  it("retries within the deadline and succeeds", async () => {
    const f = fakeSave((_c, n) => {
      if (n < 3) throw new Error("flaky");
      return { deferred: [] };
    });
    const s = new Scheduler({ debounce: 100, maxDelay: 1000, save: f.save });
    s.notify("a", "create");
    const done = s.flush(5000);
    await advance(5000);
    expect(await done).toEqual([]);
    expect(f.calls).toHaveLength(3);
    for (const c of f.calls) expect(c.paths).toEqual({ a: "create" });
  });

  it("names the unsaved paths when the save keeps failing past the deadline", async () => {
    const f = fakeSave(() => {
      throw new Error("remote down");
    });
    const s = new Scheduler({ debounce: 100, maxDelay: 1000, save: f.save });
    s.notify("a", "create");
    s.notify("dir/b", "update");
    let result: string[] | undefined;
    const done = s.flush(2000).then((r) => (result = r));
    await advance(1999);
    expect(result).toBeUndefined();
    await advance(10);
    await done;
    expect(result!.sort()).toEqual(["a", "dir/b"]);
    expect(f.calls.length).toBeGreaterThan(1); // it kept trying until the deadline
    for (const c of f.calls) expect(c.at).toBeLessThan(2000);
  });

  it("gives up at the deadline on a save that hangs", async () => {
    const f = fakeSave(() => new Promise<SaveResult>(() => {}));
    const s = new Scheduler({ debounce: 100, maxDelay: 1000, save: f.save });
    s.notify("a", "create");
    const done = s.flush(1000);
    await advance(1000);
    const unsaved = await done;
    // The paths of the hung save are named, not just "a save in progress".
    expect(unsaved).toEqual(["a"]);
  });
});

describe("Scheduler.exclusive", () => {
  it("blocks saves while it runs and lets them run afterwards", async () => {
    const f = fakeSave();
    const s = new Scheduler({ debounce: 100, maxDelay: 1000, save: f.save });
    const work = gate<string>();
    s.notify("a", "create");
    const result = s.exclusive(() => work.promise);
    s.notify("b", "create");
    await advance(5000);
    expect(f.calls).toHaveLength(0);
    expect(s.busy).toBe(true);
    work.resolve("plan");
    expect(await result).toBe("plan");
    await advance(0);
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]!.paths).toEqual({ a: "create", b: "create" });
  });

  it("waits for a running save before it starts", async () => {
    const first = gate();
    const f = fakeSave(() => first.promise);
    const s = new Scheduler({ debounce: 100, maxDelay: 1000, save: f.save });
    s.notify("a", "create");
    await advance(100);
    let started = false;
    const result = s.exclusive(async () => {
      started = true;
      return 7;
    });
    await advance(1000);
    expect(started).toBe(false);
    first.resolve({ deferred: [] });
    expect(await result).toBe(7);
    expect(started).toBe(true);
  });

  it("releases the lock when fn throws", async () => {
    const f = fakeSave();
    const s = new Scheduler({ debounce: 100, maxDelay: 1000, save: f.save });
    await expect(s.exclusive(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(s.busy).toBe(false);
    s.notify("a", "create");
    await advance(100);
    expect(f.calls).toHaveLength(1);
  });
});

describe("Scheduler.saveNow", () => {
  it("saves at once, pending paths plus a full scan (events may still be in flight)", async () => {
    const f = fakeSave();
    const s = new Scheduler({ debounce: 5000, maxDelay: 30_000, save: f.save });
    s.notify("a", "create");
    expect(await s.saveNow()).toBe(true);
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]!.paths).toEqual({ a: "create", ".": "update" });
  });

  it("with nothing pending, asks for a full scan ('.')", async () => {
    const f = fakeSave();
    const s = new Scheduler({ debounce: 5000, maxDelay: 30_000, save: f.save });
    expect(await s.saveNow()).toBe(true);
    expect(f.calls[0]!.paths).toEqual({ ".": "update" });
  });

  it("reports failure and keeps the changes", async () => {
    const f = fakeSave(() => {
      throw new Error("no");
    });
    const s = new Scheduler({ debounce: 5000, maxDelay: 30_000, save: f.save });
    s.notify("a", "create");
    expect(await s.saveNow()).toBe(false);
    expect(s.pending.paths.get("a")).toBe("create");
  });
});
