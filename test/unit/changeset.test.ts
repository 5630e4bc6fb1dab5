import { describe, expect, it } from "vitest";
import type { ChangeKind } from "../../backends/types";
import { ChangeSet } from "../../src/engine/changeset";

function entries(cs: ChangeSet): [string, ChangeKind][] {
  return [...cs.paths.entries()].sort(([a], [b]) => a.localeCompare(b));
}

describe("ChangeSet.add coalescing", () => {
  it("create then delete is nothing", () => {
    const cs = new ChangeSet();
    cs.add("a", "create", 1);
    cs.add("a", "delete", 2);
    expect(cs.size).toBe(0);
    expect(entries(cs)).toEqual([]);
  });

  it("forgets firstAt when coalescing empties it, so a later change gets its own max-delay", () => {
    const cs = new ChangeSet();
    cs.add("tmp", "create", 1);
    cs.add("tmp", "delete", 2);
    cs.add("b", "update", 100);
    expect(cs.firstAt).toBe(100);
  });

  it("delete then create is an update", () => {
    const cs = new ChangeSet();
    cs.add("a", "delete", 1);
    cs.add("a", "create", 2);
    expect(entries(cs)).toEqual([["a", "update"]]);
  });

  it("create then update stays a create", () => {
    const cs = new ChangeSet();
    cs.add("a", "create", 1);
    cs.add("a", "update", 2);
    expect(entries(cs)).toEqual([["a", "create"]]);
  });

  it("update then delete is a delete; delete then update is an update", () => {
    const cs = new ChangeSet();
    cs.add("a", "update", 1);
    cs.add("a", "delete", 2);
    cs.add("b", "delete", 3);
    cs.add("b", "update", 4);
    expect(entries(cs)).toEqual([
      ["a", "delete"],
      ["b", "update"],
    ]);
  });

  it("keeps paths apart and records the first event time only", () => {
    const cs = new ChangeSet();
    cs.add("a", "create", 10);
    cs.add("b", "update", 20);
    cs.add("a", "update", 30);
    expect(cs.firstAt).toBe(10);
    expect(entries(cs)).toEqual([
      ["a", "create"],
      ["b", "update"],
    ]);
  });

  it("defaults the time to now", () => {
    const before = Date.now();
    const cs = new ChangeSet();
    cs.add("a", "create");
    expect(cs.firstAt).toBeGreaterThanOrEqual(before);
    expect(cs.firstAt).toBeLessThanOrEqual(Date.now());
  });
});

describe("ChangeSet.merge", () => {
  it("keeps the newer (already pending) event for a path and adds the others", () => {
    const cs = new ChangeSet();
    cs.add("a", "delete", 50);
    cs.merge(
      new Map<string, ChangeKind>([
        ["a", "update"],
        ["b", "create"],
      ]),
      10,
    );
    expect(entries(cs)).toEqual([
      ["a", "delete"],
      ["b", "create"],
    ]);
  });

  it("keeps the earliest firstAt", () => {
    const cs = new ChangeSet();
    cs.add("a", "update", 50);
    cs.merge(new Map([["b", "update"]]), 10);
    expect(cs.firstAt).toBe(10);
    cs.merge(new Map([["c", "update"]]), 99);
    expect(cs.firstAt).toBe(10);
    cs.merge(new Map([["d", "update"]]), undefined);
    expect(cs.firstAt).toBe(10);
  });

  it("takes firstAt into an empty set", () => {
    const cs = new ChangeSet();
    cs.merge(new Map([["b", "update"]]), 42);
    expect(cs.firstAt).toBe(42);
    expect(cs.size).toBe(1);
  });
});

describe("ChangeSet.take", () => {
  it("returns everything and leaves the set empty", () => {
    const cs = new ChangeSet();
    cs.add("a", "create", 5);
    cs.add("b", "delete", 6);
    const taken = cs.take();
    expect(taken.firstAt).toBe(5);
    expect([...taken.paths]).toEqual([
      ["a", "create"],
      ["b", "delete"],
    ]);
    expect(cs.size).toBe(0);
    expect(cs.firstAt).toBeUndefined();
    // the taken map is a copy: new events do not leak into it
    cs.add("c", "create", 7);
    expect(taken.paths.has("c")).toBe(false);
    expect(cs.firstAt).toBe(7);
  });
});
