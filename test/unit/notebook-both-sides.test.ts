/**
 * backends/lib/notebooks.ts: the one decision both backends take when both sides changed a
 * notebook (merge by cell, or the conflict copy as before), and its write into the work dir
 * (atomic, only over the very file that was merged).
 */
import { chmodSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { decide, mergeBothSides, readOurs, remoteForm, writeMerged } from "../../backends/lib/notebooks";
import type { Logger } from "../../src/log";
import { stripOutputs } from "../../src/notebook/strip";
import { WorkDir } from "../../src/safefs";
import { tempDir } from "../helpers";
import { fixture, parse, replaceOnce, sources, validate, type Obj } from "../helpers/notebooks";

const base = fixture("v4.5-ids.ipynb");
const b = (s: string) => Buffer.from(s);

const ours = replaceOnce(base, '"1 + 1"', '"1 + 2"');
const theirs = replaceOnce(base, '"1 / 0"', '"1 / 2"');
const both = replaceOnce(ours, '"1 / 0"', '"1 / 2"');
const outputsOf = (text: string) =>
  parse(text).cells.flatMap((c) => (c.cell_type === "code" ? [c.outputs as Obj[], c.execution_count] : []));

describe("decide", () => {
  it("different cells edited on each side: merged, both edits, the same bytes for the work dir and the remote", () => {
    const d = decide("a/nb.ipynb", b(base), b(ours), b(theirs), { strip: false });
    expect(d.kind).toBe("merged");
    if (d.kind !== "merged") return;
    expect(d.local.toString()).toBe(both);
    expect(d.remote).toBe(d.local);
    expect(validate(d.local.toString())).toEqual([]);
  });

  it("the same cell edited differently: a conflict naming the cell", () => {
    const d = decide("nb.ipynb", b(base), b(ours), b(replaceOnce(base, '"1 + 1"', '"1 + 3"')), { strip: false });
    expect(d).toMatchObject({ kind: "conflict", reason: expect.stringMatching(/source changed differently/) });
  });

  it("what is not a notebook is a conflict: another extension, a half-written side, bytes that are not UTF-8", () => {
    expect(decide("nb.json", b(base), b(ours), b(theirs), { strip: false }).kind).toBe("conflict");
    expect(decide("nb.ipynb", b(base), b(ours.slice(0, 500)), b(theirs), { strip: false })).toMatchObject({
      kind: "conflict",
      reason: expect.stringMatching(/^ours: not JSON/),
    });
    expect(decide("nb.ipynb", b(base), b('{"v": 1}'), b('{"v": 2}'), { strip: false })).toMatchObject({
      kind: "conflict",
    });
    const latin1 = Buffer.concat([b(ours.slice(0, -3)), Buffer.from([0xe9]), b("\n}\n")]);
    expect(decide("nb.ipynb", b(base), latin1, b(theirs), { strip: false })).toEqual({
      kind: "conflict",
      reason: "not UTF-8 text",
    });
  });

  it("no ancestor: a conflict unless the sides differ by outputs alone, then ours with its outputs", () => {
    expect(decide("nb.ipynb", undefined, b(ours), b(theirs), { strip: false }).kind).toBe("conflict");
    const stripped = b(stripOutputs(ours)!);
    const d = decide("nb.ipynb", undefined, b(ours), stripped, { strip: false });
    expect(d).toMatchObject({ kind: "merged" });
    if (d.kind === "merged") expect(d.local.toString()).toBe(ours);
  });

  it("--strip-outputs: the remote gets the merge without outputs, the work dir keeps ours's outputs", () => {
    // Theirs was saved stripped (the other side strips too); both last agreed on the stripped base.
    const d = decide("nb.ipynb", b(stripOutputs(base)!), b(ours), b(stripOutputs(theirs)!), { strip: true });
    expect(d.kind).toBe("merged");
    if (d.kind !== "merged") return;
    expect(sources(d.local.toString())).toEqual(sources(both));
    expect(outputsOf(d.local.toString())).toEqual(outputsOf(ours));
    expect(d.remote.toString()).toBe(stripOutputs(d.local.toString()));
    expect(outputsOf(d.remote.toString()).every((o) => o === null || (Array.isArray(o) && !o.length))).toBe(true);
  });

  it("--strip-outputs: a remote version equal to ours minus outputs changes nothing here", () => {
    const d = decide("nb.ipynb", b(stripOutputs(base)!), b(ours), b(stripOutputs(ours)!), { strip: true });
    expect(d.kind).toBe("merged");
    if (d.kind !== "merged") return;
    expect(d.local.toString()).toBe(ours);
    expect(d.remote.toString()).toBe(stripOutputs(ours));
  });
});

describe("remoteForm (--strip-outputs)", () => {
  it("is the notebook as the remote holds it, the very bytes when there is nothing to strip; undefined otherwise", () => {
    const stripped = stripOutputs(base)!;
    expect(remoteForm("nb.ipynb", b(base))?.toString()).toBe(stripped);
    const same = b(stripped);
    expect(remoteForm("nb.ipynb", same)).toBe(same);
    expect(remoteForm("nb.ipynb", b(base.slice(0, 400)))).toBeUndefined();
    expect(remoteForm("notes.json", b(base))).toBeUndefined();
  });
});

/** A logger that keeps its lines. */
function memoryLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (msg: string) => void lines.push(`${level} ${msg}`);
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") } as Logger & {
    lines: string[];
  };
}

describe("mergeBothSides: the work dir", () => {
  function dirWith(files: Record<string, string>): { dir: string; wd: WorkDir } {
    const dir = tempDir("ms-both-");
    for (const [rel, text] of Object.entries(files)) writeFileSync(path.join(dir, rel), text);
    return { dir, wd: new WorkDir(dir) };
  }

  it("merged: ours is replaced by a rename (a reader never sees half a file), its mode kept; the log says so", async () => {
    const { dir, wd } = dirWith({ "nb.ipynb": ours });
    chmodSync(path.join(dir, "nb.ipynb"), 0o755);
    const before = statSync(path.join(dir, "nb.ipynb")).ino;
    const log = memoryLog();
    const r = await mergeBothSides(wd, "nb.ipynb", b(base), b(theirs), { strip: false, maxBytes: 1e7, log });
    wd.close();
    expect(r).toEqual({ merged: true, remote: b(both) });
    expect(readFileSync(path.join(dir, "nb.ipynb"), "utf8")).toBe(both);
    const after = statSync(path.join(dir, "nb.ipynb"));
    expect(after.ino).not.toBe(before);
    expect(after.mode & 0o777).toBe(0o755);
    expect(log.lines).toEqual(["info merged nb.ipynb (cells from both sides)"]);
  });

  it("a conflict leaves ours untouched", async () => {
    const { dir, wd } = dirWith({ "nb.ipynb": ours });
    const r = await mergeBothSides(wd, "nb.ipynb", b(base), b(replaceOnce(base, '"1 + 1"', '"1 + 3"')), {
      strip: false,
      maxBytes: 1e7,
      log: memoryLog(),
    });
    wd.close();
    expect(r).toMatchObject({ merged: false });
    expect(readFileSync(path.join(dir, "nb.ipynb"), "utf8")).toBe(ours);
  });

  it("ours is never read through a symlink", async () => {
    const outside = tempDir("ms-both-outside-");
    writeFileSync(path.join(outside, "nb.ipynb"), ours);
    const { dir, wd } = dirWith({});
    symlinkSync(path.join(outside, "nb.ipynb"), path.join(dir, "nb.ipynb"));
    const r = await mergeBothSides(wd, "nb.ipynb", b(base), b(theirs), {
      strip: false,
      maxBytes: 1e7,
      log: memoryLog(),
    });
    wd.close();
    expect(r).toMatchObject({ merged: false });
    expect(readFileSync(path.join(outside, "nb.ipynb"), "utf8")).toBe(ours);
  });

  it("writeMerged refuses when the file changed after it was read (the user saved again): theirs then goes beside it", async () => {
    const { dir, wd } = dirWith({ "nb.ipynb": ours });
    const read = (await readOurs(wd, "nb.ipynb", 1e7))!;
    const newer = replaceOnce(ours, '"1 + 2"', '"1 + 22"');
    writeFileSync(path.join(dir, "nb.ipynb"), newer);
    expect(writeMerged(wd, "nb.ipynb", read, b(both))).toBe("it changed here while it was merged");
    wd.close();
    expect(readFileSync(path.join(dir, "nb.ipynb"), "utf8")).toBe(newer);
  });
});
