import { describe, expect, it } from "vitest";
import { sameIgnoringOutputs, stripOutputs } from "../../src/notebook/strip";
import {
  ALL_OPS,
  clone,
  edit,
  fixture,
  Gen,
  jupyter,
  parse,
  randomNotebook,
  validate,
  type Obj,
} from "../helpers/notebooks";

describe.each(["v4.5-ids", "v4.4-no-ids"])("stripOutputs on %s", (name) => {
  const nb = fixture(`${name}.ipynb`);
  const want = fixture(`${name}.stripped.ipynb`); // written by Python's json, as nbformat writes

  it("gives the bytes Jupyter would write for the notebook without outputs", () => {
    expect(stripOutputs(nb)).toBe(want);
    expect(validate(want)).toEqual([]);
  });

  it("removes every output, execution count and run timestamp; keeps attachments, tags, view state, raw cells", () => {
    const got = parse(stripOutputs(nb) as string);
    const code = got.cells.filter((c) => c.cell_type === "code");
    expect(code.every((c) => Array.isArray(c.outputs) && c.outputs.length === 0 && c.execution_count === null)).toBe(
      true,
    );
    expect(got.cells.some((c) => "execution" in (c.metadata as Obj) || "ExecuteTime" in (c.metadata as Obj))).toBe(
      false,
    );
    expect(got.metadata.widgets).toBeUndefined();
    expect(got.cells[0]!.attachments).toEqual(parse(nb).cells[0]!.attachments);
    expect(got.cells[1]!.metadata).toMatchObject({ tags: ["setup"] });
    expect(got.cells[3]!.metadata).toMatchObject({ scrolled: true });
    expect(got.cells.map((c) => [c.cell_type, c.source, c.id])).toEqual(
      parse(nb).cells.map((c) => [c.cell_type, c.source, c.id]),
    );
    expect(got.metadata.kernelspec).toEqual(parse(nb).metadata.kernelspec);
  });

  it("is idempotent and returns the very text when there is nothing to strip", () => {
    expect(stripOutputs(want)).toBe(want);
    expect(stripOutputs(stripOutputs(nb) as string)).toBe(want);
  });

  it("keeps the file's own layout: indent, key order, CRLF, no final newline", () => {
    const reindent = (text: string) => text.replace(/\n( *)/g, (_, pad: string) => `\r\n${pad}${pad}`).trimEnd();
    expect(stripOutputs(reindent(nb))).toBe(reindent(want));
  });

  it("sameIgnoringOutputs: a notebook equals its stripped self, not a stripped edit of itself", () => {
    expect(sameIgnoringOutputs(nb, want)).toBe(true);
    expect(sameIgnoringOutputs(want, nb)).toBe(true);
    expect(sameIgnoringOutputs(nb, want.replace('"1 + 1"', '"1 + 2"'))).toBe(false);
    const tagged = jupyter({ ...parse(want), metadata: { ...parse(want).metadata, title: "x" } });
    expect(sameIgnoringOutputs(nb, tagged)).toBe(false);
  });

  it("sameIgnoringOutputs ignores layout and a source as one string instead of a list of lines", () => {
    const relaid = JSON.stringify(JSON.parse(want), null, 4);
    expect(sameIgnoringOutputs(nb, relaid)).toBe(true);
    const joined = parse(want);
    for (const c of joined.cells) if (Array.isArray(c.source)) c.source = c.source.join("");
    expect(sameIgnoringOutputs(nb, jupyter(joined))).toBe(true);
  });
});

describe("stripOutputs on what is not a notebook", () => {
  it.each([
    ["half-written", fixture("v4.5-ids.ipynb").slice(0, 2000)],
    ["not JSON", "hello"],
    ["nbformat 3", jupyter({ nbformat: 3, nbformat_minor: 0, metadata: {}, worksheets: [] })],
  ])("%s → undefined (the caller decides), never a throw", (_what, text) => {
    expect(stripOutputs(text)).toBeUndefined();
  });

  it("sameIgnoringOutputs compares anything else as bytes", () => {
    expect(sameIgnoringOutputs("x", "x")).toBe(true);
    expect(sameIgnoringOutputs("x", "y")).toBe(false);
    expect(sameIgnoringOutputs("x", fixture("v4.5-ids.ipynb"))).toBe(false);
  });
});

describe("stripOutputs properties (seeded random notebooks)", () => {
  it("valid, output-free, idempotent, and the same notebook ignoring outputs", () => {
    for (let seed = 1; seed <= 300; seed++) {
      const g = new Gen(seed);
      const nb = randomNotebook(g);
      const edited = clone(nb);
      edit(g, edited, g.int(5), ALL_OPS, "e");
      const text = jupyter(edited);
      const stripped = stripOutputs(text) as string;
      expect(validate(stripped), `seed ${seed}`).toEqual([]);
      const got = parse(stripped);
      expect(got.cells.every((c) => !(c.outputs as Obj[] | undefined)?.length && !c.execution_count)).toBe(true);
      expect(stripOutputs(stripped), `seed ${seed}`).toBe(stripped);
      expect(sameIgnoringOutputs(text, stripped), `seed ${seed}`).toBe(true);
      // The edit script changed more than outputs exactly when the stripped texts differ.
      const before = jupyter(nb);
      expect(sameIgnoringOutputs(before, text), `seed ${seed}`).toBe(stripOutputs(before) === stripped);
    }
  });
});
