import { describe, expect, it } from "vitest";
import { mergeNotebooks, type MergeResult } from "../../src/notebook/merge";
import { stripOutputs } from "../../src/notebook/strip";
import {
  ALL_OPS,
  clone,
  edit,
  fixture,
  Gen,
  jupyter,
  parse,
  randomCell,
  randomNotebook,
  replaceOnce,
  sources,
  src,
  validate,
  variant,
  type Nb,
  type Obj,
  type Op,
} from "../helpers/notebooks";

function merged(result: MergeResult): string {
  if (result.kind !== "merged") throw new Error(`expected a merge, got ${result.kind}: ${result.reason}`);
  expect(validate(result.text)).toEqual([]);
  return result.text;
}

const cellBySource = (nb: Nb, text: string) => nb.cells.find((c) => src(c) === text) as Obj;

describe.each([
  { name: "v4.5-ids.ipynb", ids: true },
  { name: "v4.4-no-ids.ipynb", ids: false },
])("mergeNotebooks on $name", ({ name, ids }) => {
  const base = fixture(name);
  const reformatted = jupyter(parse(base)); // same notebook, floats written the JS way (2.0 → 2)

  it("identity laws hold byte for byte: merge(b, a, a) = a, merge(b, b, a) = a, merge(b, a, b) = a", () => {
    const a = replaceOnce(base, '"1 + 1"', '"1 + 2"');
    expect(merged(mergeNotebooks(base, a, a))).toBe(a);
    expect(merged(mergeNotebooks(base, base, a))).toBe(a);
    expect(merged(mergeNotebooks(base, a, base))).toBe(a);
    expect(merged(mergeNotebooks(base, base, base))).toBe(base);
  });

  it("different cells edited on each side: both edits, no conflict, every other byte as it was", () => {
    const ours = replaceOnce(base, '"1 + 1"', '"1 + 2"');
    const theirs = replaceOnce(base, '"1 / 0"', '"1 / 2"');
    // The expected bytes: the fixture (written by Python's json, floats 2.0 and 1e-05, \u001b
    // escapes, non-ASCII) with both edits; any layout difference of the merge would show.
    expect(merged(mergeNotebooks(base, ours, theirs))).toBe(replaceOnce(ours, '"1 / 0"', '"1 / 2"'));
  });

  it("the same cell edited differently on both sides is a conflict naming that cell", () => {
    const result = mergeNotebooks(
      base,
      replaceOnce(base, '"1 + 1"', '"1 + 2"'),
      replaceOnce(base, '"1 + 1"', '"1 + 3"'),
    );
    expect(result).toMatchObject({ kind: "conflict", cells: [ids ? "a7c4e2f1" : "#3"] });
    expect((result as { reason: string }).reason).toMatch(/source changed differently/);
  });

  it("the same edit on both sides is no conflict", () => {
    const a = replaceOnce(base, '"1 + 1"', '"1 + 2"');
    const b = variant(a, (nb) => (nb.metadata.title = "x"));
    expect(sources(merged(mergeNotebooks(base, a, b)))).toEqual(sources(a));
  });

  it("cells added on both sides at different places are both kept, in order", () => {
    const newCell = (text: string): Obj => ({
      cell_type: "markdown",
      metadata: {},
      source: [text],
      ...(ids ? { id: text } : {}),
    });
    const ours = variant(base, (nb) => nb.cells.splice(1, 0, newCell("ours-new")));
    const theirs = variant(base, (nb) => nb.cells.splice(7, 0, newCell("theirs-new")));
    const got = sources(merged(mergeNotebooks(reformatted, ours, theirs)));
    const want = sources(reformatted);
    want.splice(7, 0, "theirs-new");
    want.splice(1, 0, "ours-new");
    expect(got).toEqual(want);
  });

  it("cells added at the same place: both kept, ours first; an identical addition once", () => {
    const cell = (text: string, id: string): Obj => ({
      cell_type: "raw",
      metadata: {},
      source: text,
      ...(ids ? { id } : {}),
    });
    const ours = variant(base, (nb) => nb.cells.splice(2, 0, cell("both", "b1"), cell("ours", "o1")));
    const theirs = variant(base, (nb) => nb.cells.splice(2, 0, cell("theirs", "t1"), cell("both", "b2")));
    const got = sources(merged(mergeNotebooks(reformatted, ours, theirs)));
    // Between the same two cells: theirs's "theirs" came before the shared "both" on its side.
    expect(got.slice(2, 5)).toEqual(["theirs", "both", "ours"]);
    expect(got).toHaveLength(parse(base).cells.length + 3);
  });

  it("a cell moved on one side and edited on the other ends up moved and edited", () => {
    const ours = variant(base, (nb) => nb.cells.unshift(...nb.cells.splice(4, 1)));
    const theirs = replaceOnce(base, '"1 / 0"', '"1 / 2"');
    const got = parse(merged(mergeNotebooks(base, ours, theirs)));
    expect(src(got.cells[0] as Obj)).toBe("1 / 2");
    expect(got.cells).toHaveLength(parse(base).cells.length);
  });

  it("deletions: gone when the other side left the cell alone or only re-ran it; a conflict when it edited it", () => {
    const deleted = variant(base, (nb) => nb.cells.splice(2, 1));
    const untouched = replaceOnce(base, '"1 / 0"', '"1 / 2"');
    expect(sources(merged(mergeNotebooks(base, deleted, untouched)))).not.toContain("1 + 1");
    const rerun = variant(base, (nb) => {
      const cell = cellBySource(nb, "1 + 1");
      cell.execution_count = 9;
      (cell.outputs as Obj[])[0]!.execution_count = 9;
      (cell.metadata as Obj).collapsed = true;
    });
    expect(sources(merged(mergeNotebooks(base, rerun, deleted)))).not.toContain("1 + 1");
    const edited = replaceOnce(base, '"1 + 1"', '"1 + 2"');
    expect(mergeNotebooks(base, edited, deleted)).toMatchObject({ kind: "conflict", cells: [ids ? "a7c4e2f1" : "#3"] });
    expect(mergeNotebooks(base, deleted, edited)).toMatchObject({ kind: "conflict" });
  });

  it("metadata merges key by key; the same key changed differently is a conflict; language_info is ours", () => {
    const ours = variant(reformatted, (nb) => {
      nb.metadata.title = "mine";
      (cellBySource(nb, "1 + 1").metadata as Obj).tags = ["ours"];
      (nb.metadata.language_info as Obj).version = "3.12.1";
    });
    const theirs = variant(reformatted, (nb) => {
      (nb.metadata.kernelspec as Obj).display_name = "Python 3.12";
      cellBySource(nb, "1 + 1").source = ["1 + 2"];
      (nb.metadata.language_info as Obj).version = "3.12.2";
    });
    const got = parse(merged(mergeNotebooks(reformatted, ours, theirs)));
    expect(got.metadata.title).toBe("mine");
    expect((got.metadata.kernelspec as Obj).display_name).toBe("Python 3.12");
    expect((got.metadata.language_info as Obj).version).toBe("3.12.1");
    expect(cellBySource(got, "1 + 2").metadata).toMatchObject({ tags: ["ours"] });

    const conflicting = variant(reformatted, (nb) => (nb.metadata.title = "theirs"));
    const result = mergeNotebooks(reformatted, ours, conflicting);
    expect(result).toMatchObject({ kind: "conflict", cells: [] });
    expect((result as { reason: string }).reason).toMatch(/metadata\.title/);
  });

  describe("outputs and execution counts never conflict", () => {
    const rerun = (text: string, at: string, out: string, count: number) =>
      variant(text, (nb) => {
        const cell = cellBySource(nb, at);
        cell.execution_count = count;
        cell.outputs = [{ output_type: "stream", name: "stdout", text: [out] }];
      });

    it("an edit without a run and a re-run: the edited source with the new outputs", () => {
      const got = parse(
        merged(
          mergeNotebooks(
            reformatted,
            replaceOnce(reformatted, '"1 + 1"', '"1 + 2"'),
            rerun(reformatted, "1 + 1", "t", 7),
          ),
        ),
      );
      expect(cellBySource(got, "1 + 2")).toMatchObject({ execution_count: 7, outputs: [{ text: ["t"] }] });
    });

    it("both re-ran the same source: ours's outputs; theirs edited and re-ran: theirs's outputs with its source", () => {
      const ours = rerun(reformatted, "1 + 1", "o", 5);
      const got = parse(merged(mergeNotebooks(reformatted, ours, rerun(reformatted, "1 + 1", "t", 7))));
      expect(cellBySource(got, "1 + 1")).toMatchObject({ execution_count: 5, outputs: [{ text: ["o"] }] });
      const theirs = rerun(replaceOnce(reformatted, '"1 + 1"', '"1 + 2"'), "1 + 2", "t", 7);
      const got2 = parse(merged(mergeNotebooks(reformatted, ours, theirs)));
      expect(cellBySource(got2, "1 + 2")).toMatchObject({ execution_count: 7, outputs: [{ text: ["t"] }] });
    });

    it("a stripped side's empty outputs never beat the other side's outputs", () => {
      const stripped = stripOutputs(base) as string;
      expect(merged(mergeNotebooks(base, base, stripped))).toBe(base);
      expect(merged(mergeNotebooks(base, stripped, base))).toBe(base);
      // The remote keeps stripped notebooks: base and theirs stripped, ours with outputs.
      const theirs = stripOutputs(replaceOnce(base, '"1 / 0"', '"1 / 2"')) as string;
      const ours = replaceOnce(base, '"1 + 1"', '"1 + 2"');
      expect(merged(mergeNotebooks(stripped, ours, theirs))).toBe(replaceOnce(ours, '"1 / 0"', '"1 / 2"'));
      expect(merged(mergeNotebooks(base, ours, theirs))).toBe(replaceOnce(ours, '"1 / 0"', '"1 / 2"'));
    });

    it("both sides stripped: a stripped merge with both edits", () => {
      const stripped = stripOutputs(base) as string;
      const ours = replaceOnce(stripped, '"1 + 1"', '"1 + 2"');
      const theirs = replaceOnce(stripped, '"1 / 0"', '"1 / 2"');
      expect(merged(mergeNotebooks(base, ours, theirs))).toBe(replaceOnce(ours, '"1 / 0"', '"1 / 2"'));
    });
  });

  it("a cell type changed on one side wins over a re-run and conflicts with an edit", () => {
    const toMarkdown = variant(reformatted, (nb) => {
      const cell = cellBySource(nb, "1 + 1");
      for (const k of ["outputs", "execution_count"]) delete cell[k];
      cell.cell_type = "markdown";
    });
    const rerun = variant(reformatted, (nb) => (cellBySource(nb, "1 + 1").execution_count = 8));
    expect(cellBySource(parse(merged(mergeNotebooks(reformatted, rerun, toMarkdown))), "1 + 1").cell_type).toBe(
      "markdown",
    );
    // Without ids a type change reads as delete + add: a conflict still, as a deletion against an edit.
    expect(mergeNotebooks(reformatted, replaceOnce(reformatted, '"1 + 1"', '"1 + 2"'), toMarkdown).kind).toBe(
      "conflict",
    );
  });

  it("attachments travel with their markdown cell; changed differently on both sides, a conflict", () => {
    const attach = (png: string) => (nb: Nb) => {
      const cell = nb.cells[0] as Obj;
      cell.attachments = { ...(cell.attachments as Obj), "more.png": { "image/png": png } };
      cell.source = [...(cell.source as string[]), `\n![more](attachment:more.png)`];
    };
    const ours = variant(reformatted, attach("AAAA"));
    const theirs = replaceOnce(reformatted, '"1 / 0"', '"1 / 2"');
    const got = parse(merged(mergeNotebooks(reformatted, ours, theirs)));
    expect(got.cells[0]).toEqual(parse(ours).cells[0]);
    const result = mergeNotebooks(reformatted, ours, variant(reformatted, attach("BBBB")));
    expect(result).toMatchObject({ kind: "conflict", cells: [ids ? "0b6f3a2c" : "#1"] });
    expect((result as { reason: string }).reason).toMatch(/attachments changed differently/);
  });

  it("source keeps each cell's representation (list of lines or one string) from the side whose text won", () => {
    const theirs = variant(reformatted, (nb) => (cellBySource(nb, "x = 42\ny = x * 2").source = "x = 43\ny = x * 2"));
    const ours = replaceOnce(reformatted, '"1 + 1"', '"1 + 2"');
    const got = parse(merged(mergeNotebooks(reformatted, ours, theirs)));
    expect(cellBySource(got, "x = 43\ny = x * 2").source).toBe("x = 43\ny = x * 2");
    expect(cellBySource(got, "1 + 2").source).toEqual(["1 + 2"]);
  });

  it("no common ancestor: equal notebooks merge, equal-but-outputs keep the outputs, otherwise a conflict", () => {
    expect(merged(mergeNotebooks(undefined, base, reformatted))).toBe(base);
    expect(merged(mergeNotebooks(undefined, stripOutputs(base) as string, base))).toBe(base);
    expect(merged(mergeNotebooks(undefined, base, stripOutputs(base) as string))).toBe(base);
    const result = mergeNotebooks(undefined, base, replaceOnce(base, '"1 + 1"', '"1 + 2"'));
    expect(result).toMatchObject({ kind: "conflict", reason: "no common ancestor and the notebooks differ" });
  });
});

describe("mergeNotebooks across nbformat minors and ids", () => {
  const v44 = fixture("v4.4-no-ids.ipynb");

  it("4.4 ours and theirs upgraded to 4.5: minor 5, theirs's ids, a new id for ours's new cell, both edits", () => {
    const ours = variant(replaceOnce(v44, '"1 + 1"', '"1 + 2"'), (nb) =>
      nb.cells.push({ cell_type: "raw", metadata: {}, source: "new" }),
    );
    const theirs = variant(v44, (nb) => {
      nb.nbformat_minor = 5;
      nb.cells.forEach((c, i) => (c.id = `up-${i}`));
      cellBySource(nb, "1 / 0").source = ["1 / 2"];
    });
    const got = parse(merged(mergeNotebooks(v44, ours, theirs)));
    expect(got.nbformat_minor).toBe(5);
    expect(got.cells.map((c) => c.id)).toEqual([
      ...parse(theirs).cells.map((c) => c.id),
      expect.stringMatching(/^[0-9a-f]{8}$/),
    ]);
    expect(sources(jupyter(got))).toEqual(sources(replaceOnce(ours, '"1 / 0"', '"1 / 2"')));
  });

  it("a duplicate id gets a new nbformat-shaped id; a 4.4 result gets no ids", () => {
    const v45 = fixture("v4.5-ids.ipynb");
    const ours = variant(v45, (nb) => nb.cells.push({ cell_type: "raw", id: "dup", metadata: {}, source: "o" }));
    const theirs = variant(v45, (nb) => {
      nb.cells.unshift({ cell_type: "raw", id: "dup", metadata: {}, source: "t" });
    });
    const oldIds = new Set(parse(v45).cells.map((c) => c.id));
    const got = parse(merged(mergeNotebooks(v45, ours, theirs)));
    const fresh = got.cells.filter((c) => !oldIds.has(c.id)).map((c) => [src(c), c.id]);
    expect(fresh).toEqual([
      ["t", "dup"],
      ["o", expect.stringMatching(/^[0-9a-f]{8}$/)],
    ]);
    const noId = mergeNotebooks(
      v44,
      v44,
      variant(v44, (nb) => nb.cells.push({ cell_type: "raw", metadata: {}, source: "t" })),
    );
    expect(parse(merged(noId)).cells.every((c) => !("id" in c))).toBe(true);
  });

  it("writes the result in ours's layout: indent, key order, line ends, final newline", () => {
    const base = jupyter(parse(v44));
    const unsorted = (text: string) => {
      const nb = parse(text);
      const reordered = {
        nbformat: nb.nbformat,
        nbformat_minor: nb.nbformat_minor,
        metadata: nb.metadata,
        cells: nb.cells,
      };
      return JSON.stringify(reordered, null, 2).replace(/\n/g, "\r\n");
    };
    const ours = unsorted(replaceOnce(base, '"1 + 1"', '"1 + 2"'));
    const theirs = replaceOnce(base, '"1 / 0"', '"1 / 2"');
    const want = unsorted(replaceOnce(replaceOnce(base, '"1 + 1"', '"1 + 2"'), '"1 / 0"', '"1 / 2"'));
    expect(merged(mergeNotebooks(base, ours, theirs))).toBe(want);
  });
});

describe("mergeNotebooks: cells rewritten on both sides beyond recognition", () => {
  /** `n` code cells without ids (nbformat 4.4-style matching by content), each source tagged. */
  const wide = (tag: string, n: number) =>
    jupyter({
      cells: Array.from({ length: n }, (_, i) => ({
        cell_type: "code",
        execution_count: null,
        metadata: {},
        outputs: [],
        source: [`print("${tag} ${i}")\n`, `# ${"x".repeat(200)}\n`],
      })),
      metadata: {},
      nbformat: 4,
      nbformat_minor: 4,
    });

  it.each([5, 21, 200])(
    "%i cells edited differently on both sides: a conflict, never both sides' cells side by side",
    (n) => {
      const result = mergeNotebooks(wide("base", n), wide("ours", n), wide("theirs", n));
      expect(result).toMatchObject({ kind: "conflict" });
    },
  );

  it("the same rewrite on both sides, read as deletions and additions, merges once", () => {
    const result = merged(mergeNotebooks(wide("base", 30), wide("both", 30), wide("both", 30)));
    expect(sources(result)).toEqual(sources(wide("both", 30)));
  });

  it("a cell both deleted, with a new cell added there by one side only, merges", () => {
    const base = wide("base", 3);
    const nb = parse(base);
    const ours = jupyter({ ...nb, cells: [nb.cells[0]!, randomlessCell("ours new"), nb.cells[2]!] });
    const theirs = jupyter({ ...nb, cells: [nb.cells[0]!, nb.cells[2]!] });
    expect(sources(merged(mergeNotebooks(base, ours, theirs)))).toEqual([
      src(nb.cells[0]!),
      "ours new",
      src(nb.cells[2]!),
    ]);
  });
});

function randomlessCell(text: string): Obj {
  return { cell_type: "markdown", metadata: {}, source: [text] };
}

describe("mergeNotebooks on what is not a notebook", () => {
  const nb = fixture("v4.5-ids.ipynb");
  const cases: [string, string][] = [
    ["empty file", ""],
    ["half-written", nb.slice(0, nb.length / 2)],
    ["a JSON array", "[]"],
    ["nbformat 3", jupyter({ nbformat: 3, nbformat_minor: 0, metadata: {}, worksheets: [] })],
    ["cells not a list", jupyter({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells: {} })],
    [
      "a cell without source",
      jupyter({ nbformat: 4, nbformat_minor: 4, metadata: {}, cells: [{ cell_type: "code", metadata: {} }] }),
    ],
    [
      "an unknown cell type",
      jupyter({ nbformat: 4, nbformat_minor: 4, metadata: {}, cells: [{ cell_type: "x", metadata: {}, source: "" }] }),
    ],
  ];
  it.each(cases)("%s → not-notebook naming the side, never a throw", (_what, text) => {
    expect(mergeNotebooks(nb, text, nb)).toMatchObject({
      kind: "not-notebook",
      reason: expect.stringMatching(/^ours: /),
    });
    expect(mergeNotebooks(nb, nb, text)).toMatchObject({
      kind: "not-notebook",
      reason: expect.stringMatching(/^theirs: /),
    });
    expect(mergeNotebooks(text, nb, nb)).toMatchObject({
      kind: "not-notebook",
      reason: expect.stringMatching(/^base: /),
    });
  });
});

describe("mergeNotebooks properties (seeded random notebooks and edit scripts)", () => {
  const SEEDS = Array.from({ length: 300 }, (_, i) => i + 1);
  const NO_CLEAR = ALL_OPS.filter((op) => op !== "clear");
  const text = (nb: Nb) => jupyter(nb);
  const outputFree = (nb: Nb) =>
    !nb.metadata.widgets &&
    nb.cells.every(
      (c) => !(c.outputs as Obj[] | undefined)?.length && c.execution_count == null && !(c.metadata as Obj).execution,
    );

  it("identity laws, byte for byte, on any edit script that does not clear outputs", () => {
    let exceptions = 0;
    for (const seed of SEEDS) {
      const g = new Gen(seed);
      const b = randomNotebook(g);
      const a = clone(b);
      edit(g, a, 1 + g.int(6), NO_CLEAR, "a");
      const [bt, at] = [text(b), text(a)];
      expect(mergeNotebooks(bt, at, at), `seed ${seed}`).toEqual({ kind: "merged", text: at });
      // The one exception, by design: a side without any output is read as stripped (below).
      if (outputFree(a) && !outputFree(b)) {
        // Everything of a but the outputs it lacks.
        exceptions++;
        expect(sources(merged(mergeNotebooks(bt, bt, at))), `seed ${seed}`).toEqual(sources(at));
        expect(sources(merged(mergeNotebooks(bt, at, bt))), `seed ${seed}`).toEqual(sources(at));
        continue;
      }
      expect(mergeNotebooks(bt, bt, at), `seed ${seed}`).toEqual({ kind: "merged", text: at });
      expect(mergeNotebooks(bt, at, bt), `seed ${seed}`).toEqual({ kind: "merged", text: at });
    }
    expect(exceptions).toBeLessThan(SEEDS.length / 5);
  });

  it("a side that is the other minus outputs changes nothing: merge(b, a, strip(a)) = a = merge(b, strip(a), a)", () => {
    for (const seed of SEEDS) {
      const g = new Gen(seed);
      const b = randomNotebook(g);
      const a = clone(b);
      edit(g, a, 1 + g.int(6), ALL_OPS, "a");
      const at = text(a);
      const stripped = stripOutputs(at) as string;
      expect(merged(mergeNotebooks(text(b), at, stripped)), `seed ${seed}`).toBe(at);
      expect(merged(mergeNotebooks(text(b), stripped, at)), `seed ${seed}`).toBe(at);
    }
  });

  it("edits to different cells always merge: every addition, edit and deletion of both sides is in the result", () => {
    for (const seed of SEEDS) {
      const g = new Gen(seed);
      const b = randomNotebook(g, { unique: true });
      const owner = new Map(b.cells.map((c) => [src(c), g.pick(["o", "t", "-"])]));
      const [o, t] = [clone(b), clone(b)];
      const ops: Op[] = ["source", "meta", "rerun", "delete", "move", "add", "nbmeta"];
      const so = edit(g, o, 1 + g.int(6), ops, "o", (c) => owner.get(src(c)) === "o");
      const st = edit(g, t, 1 + g.int(6), ops, "t", (c) => owner.get(src(c)) === "t");
      const result = mergeNotebooks(text(b), text(o), text(t));
      const got = sources(merged(result)).join("\n");
      for (const token of [...so.added, ...st.added, ...so.edited, ...st.edited])
        expect(got, `seed ${seed}`).toContain(token);
      for (const gone of [...so.deleted, ...st.deleted]) expect(got, `seed ${seed}`).not.toContain(gone);
    }
  });

  it("the same cell edited differently on both sides is a conflict", () => {
    for (const seed of SEEDS) {
      const g = new Gen(seed);
      const b = randomNotebook(g, { unique: true });
      b.cells.push(randomCell(g, b.nbformat_minor >= 5, g.unique("target")));
      const [o, t] = [clone(b), clone(b)];
      const target = (c: Obj) => src(c) === src(b.cells.at(-1) as Obj);
      edit(g, o, 1, ["source"], "o", target);
      edit(g, t, 1, ["source"], "t", target);
      edit(g, o, g.int(4), ["add", "meta", "rerun", "nbmeta"], "o", (c) => !target(c));
      expect(mergeNotebooks(text(b), text(o), text(t)).kind, `seed ${seed}`).toBe("conflict");
    }
  });

  it("any two edit scripts: never a throw, a valid notebook or a conflict, added cells kept, the same outcome both ways", () => {
    let conflicts = 0;
    for (const seed of SEEDS) {
      const g = new Gen(seed);
      const b = randomNotebook(g);
      const [o, t] = [clone(b), clone(b)];
      const so = edit(g, o, g.int(8), ALL_OPS, "o");
      const st = edit(g, t, g.int(8), ALL_OPS, "t");
      const there = mergeNotebooks(text(b), text(o), text(t));
      const back = mergeNotebooks(text(b), text(t), text(o));
      expect(back.kind, `seed ${seed}`).toBe(there.kind);
      if (there.kind === "conflict") {
        conflicts++;
        continue;
      }
      const got = merged(there);
      expect(got.endsWith("}\n") && jupyter(parse(got)) === got, `seed ${seed}: Jupyter's layout`).toBe(true);
      for (const token of [...so.added, ...st.added]) expect(got, `seed ${seed}`).toContain(token);
      const multiset = (t: string) => sources(t).sort();
      expect(multiset(merged(back)), `seed ${seed}`).toEqual(multiset(got));
    }
    // The scripts overlap often enough for both outcomes to be exercised.
    expect(conflicts).toBeGreaterThan(SEEDS.length / 10);
    expect(conflicts).toBeLessThan(SEEDS.length * 0.9);
  });

  it("never throws on mangled input: a truncated or bit-flipped notebook is not-notebook or a valid result", () => {
    for (const seed of SEEDS) {
      const g = new Gen(seed);
      const t = text(randomNotebook(g));
      const cut = t.slice(0, g.int(t.length));
      const at = g.int(t.length);
      const flipped = t.slice(0, at) + g.pick(["{", "]", '"', ",", "0", "x"]) + t.slice(at + 1);
      for (const bad of [cut, flipped]) {
        const r = mergeNotebooks(t, bad, t);
        let json = true;
        try {
          JSON.parse(bad);
        } catch {
          json = false;
        }
        if (!json) expect(r.kind, `seed ${seed}`).toBe("not-notebook");
        // Still JSON: a valid notebook merges to a valid one; anything else is passed through or refused.
        if (r.kind === "merged" && validate(bad).length === 0) expect(validate(r.text), `seed ${seed}`).toEqual([]);
      }
    }
  });
});
