/**
 * Conflict copies (one name, both backends), the last synced notebooks kept in the state dir,
 * and which paths a pending local change covers: the pure and file-level parts, on real files.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { Ancestors, isNotebook } from "../../backends/lib/ancestors";
import { identicalCopy, writeCopy } from "../../backends/lib/copies";
import { conflictCopyName, conflictCopyNameOf, isCopyOf } from "../../backends/lib/naming";
import { isPending } from "../../backends/lib/pending";
import { log } from "../../src/log";
import { WorkDir } from "../../src/safefs";
import { tempDir } from "../helpers";

const sha = (b: Buffer | string) => createHash("sha256").update(b).digest("hex");
const WHEN = new Date("2026-12-02T10:15:00.789Z");

describe("conflictCopyName", () => {
  const bytes = Buffer.from('{"cells": []}');
  const h = sha(bytes).slice(0, 8);
  it.each([
    ["analysis.ipynb", `analysis.conflict-20261202T101500Z-${h}.ipynb`],
    ["dir/sub/report.tar.gz", `dir/sub/report.tar.conflict-20261202T101500Z-${h}.gz`],
    [".bashrc", `.bashrc.conflict-20261202T101500Z-${h}`],
    ["Makefile", `Makefile.conflict-20261202T101500Z-${h}`],
  ])("%j → %j (UTC time of their version, sha8 of its bytes)", (rel, want) => {
    expect(conflictCopyName(rel, WHEN, bytes)).toBe(want);
    expect(conflictCopyNameOf(rel, WHEN, sha(bytes))).toBe(want);
  });

  it("recognises a copy of a path with the same bytes, whatever its time, and nothing else", () => {
    const h = sha("x");
    const name = path.posix.basename(conflictCopyNameOf("d/nb.ipynb", WHEN, h));
    expect(isCopyOf("d/nb.ipynb", name, h)).toBe(true);
    expect(isCopyOf("d/nb.ipynb", name.replace("20261202T101500Z", "20270101T000000Z"), h)).toBe(true);
    expect(isCopyOf("d/nb.ipynb", name, sha("y"))).toBe(false);
    expect(isCopyOf("d/other.ipynb", name, h)).toBe(false);
    expect(isCopyOf("d/nb.ipynb", `nb.conflict-nottime-${h.slice(0, 8)}.ipynb`, h)).toBe(false);
  });
});

describe("writeCopy: beside ours, never over anything, once per content", () => {
  function dir() {
    const root = tempDir("ms-copies-");
    mkdirSync(path.join(root, "d"));
    writeFileSync(path.join(root, "d/nb.ipynb"), "ours");
    return root;
  }

  it("writes their bytes under the copy's name; the same content met again (a later time) makes no second copy", async () => {
    const root = dir();
    const wd = new WorkDir(root);
    try {
      const first = await writeCopy(wd, "d/nb.ipynb", WHEN, Buffer.from("theirs"));
      const name = conflictCopyNameOf("d/nb.ipynb", WHEN, sha("theirs"));
      expect(first).toEqual({ path: name, written: true });
      expect(readFileSync(path.join(root, name), "utf8")).toBe("theirs");
      const again = await writeCopy(wd, "d/nb.ipynb", new Date("2027-01-01T00:00:00Z"), Buffer.from("theirs"));
      expect(again).toEqual({ path: name, written: false });
      expect(await identicalCopy(wd, "d/nb.ipynb", sha("theirs"))).toBe(name);
      const other = await writeCopy(wd, "d/nb.ipynb", WHEN, Buffer.from("theirs, later"));
      expect(other).toMatchObject({ written: true });
      expect(readdirSync(path.join(root, "d")).sort()).toHaveLength(3);
      expect(readFileSync(path.join(root, "d/nb.ipynb"), "utf8")).toBe("ours");
    } finally {
      wd.close();
    }
  });

  it("a file already at the copy's name with other bytes (the user edited the copy) is never overwritten", async () => {
    const root = dir();
    const name = conflictCopyNameOf("d/nb.ipynb", WHEN, sha("theirs"));
    writeFileSync(path.join(root, name), "edited by the user");
    const wd = new WorkDir(root);
    try {
      expect(await writeCopy(wd, "d/nb.ipynb", WHEN, Buffer.from("theirs"))).toMatchObject({
        refused: expect.stringMatching(/already/),
      });
      expect(readFileSync(path.join(root, name), "utf8")).toBe("edited by the user");
    } finally {
      wd.close();
    }
  });
});

describe("Ancestors: the notebooks as last synced, in the state dir", () => {
  it("keeps notebooks only, replaces, forgets", () => {
    const store = new Ancestors(path.join(tempDir("ms-anc-"), "ancestors"), log);
    expect(store.get("a/nb.ipynb")).toBeUndefined();
    store.set("a/nb.ipynb", Buffer.from("v1"));
    store.set("a/notes.txt", Buffer.from("not kept"));
    expect(store.get("a/nb.ipynb")?.toString()).toBe("v1");
    expect(store.get("a/notes.txt")).toBeUndefined();
    store.set("a/nb.ipynb", Buffer.from("v2"));
    expect(store.get("a/nb.ipynb")?.toString()).toBe("v2");
    expect(store.count()).toBe(1);
    store.delete("a/nb.ipynb");
    expect(store.get("a/nb.ipynb")).toBeUndefined();
    expect(isNotebook("x.ipynb")).toBe(true);
    expect(isNotebook("x.ipynb.bak")).toBe(false);
  });

  it("a write that cannot land drops the entry instead of keeping a stale one", () => {
    const root = tempDir("ms-anc-");
    const store = new Ancestors(path.join(root, "ancestors"), log);
    store.set("nb.ipynb", Buffer.from("v1"));
    // The store's directory replaced by a file: every write fails from now on.
    rmSync(path.join(root, "ancestors"), { recursive: true });
    writeFileSync(path.join(root, "ancestors"), "not a dir");
    store.set("nb.ipynb", Buffer.from("v2"));
    expect(store.get("nb.ipynb")).toBeUndefined();
  });
});

describe("isPending", () => {
  it.each([
    [["a/b.ipynb"], "a/b.ipynb", true],
    [["a"], "a/b.ipynb", true],
    [["."], "x.txt", true],
    [["a/b"], "a/bc.txt", false],
    [["ab"], "a/b.txt", false],
    [[], "a", false],
  ])("%j covers %j: %s", (pending, rel, want) => {
    expect(isPending(new Set(pending), rel)).toBe(want);
  });
});
