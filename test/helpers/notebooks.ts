/**
 * Notebooks for tests, built and checked independently of src/notebook: plain `JSON.parse`, a
 * Jupyter-style writer of its own, an nbformat 4 validator, and a seeded generator of random
 * notebooks and edit scripts for the property tests.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "vitest";

export type J = null | boolean | number | string | J[] | { [k: string]: J };
export type Obj = { [k: string]: J };
export type Nb = Obj & { cells: Obj[]; metadata: Obj; nbformat: number; nbformat_minor: number };

export function fixture(name: string): string {
  return readFileSync(path.join(__dirname, "..", "fixtures", "notebooks", name), "utf8");
}

/** What nbformat writes: keys sorted, indent 1, non-ASCII as is, a final newline. */
export function jupyter(nb: J): string {
  const sorted = (v: J): J => {
    if (Array.isArray(v)) return v.map(sorted);
    if (v === null || typeof v !== "object") return v;
    return Object.fromEntries(
      Object.keys(v)
        .sort()
        .map((k) => [k, sorted(v[k] as J)]),
    );
  };
  return JSON.stringify(sorted(nb), null, 1) + "\n";
}

export const parse = (text: string): Nb => JSON.parse(text) as Nb;
export const clone = <T>(v: T): T => structuredClone(v);
export const src = (cell: Obj): string => (Array.isArray(cell.source) ? cell.source.join("") : (cell.source as string));
export const sources = (text: string): string[] => parse(text).cells.map(src);

/** `text` with `from` (which must occur exactly once) replaced: an edit as a text editor makes it, layout kept. */
export function replaceOnce(text: string, from: string, to: string): string {
  expect(text.split(from).length, `${from} occurs once`).toBe(2);
  return text.replace(from, () => to);
}

/** A notebook changed through its parsed form, written the way Jupyter writes it. */
export function variant(text: string, change: (nb: Nb) => void): string {
  const nb = parse(text);
  change(nb);
  return jupyter(nb);
}

const CELL_KEYS: Record<string, { required: string[]; optional: string[] }> = {
  code: { required: ["cell_type", "metadata", "source", "outputs", "execution_count"], optional: [] },
  markdown: { required: ["cell_type", "metadata", "source"], optional: ["attachments"] },
  raw: { required: ["cell_type", "metadata", "source"], optional: ["attachments"] },
};
const OUTPUT_KEYS: Record<string, string[]> = {
  stream: ["output_type", "name", "text"],
  display_data: ["output_type", "data", "metadata"],
  execute_result: ["output_type", "data", "metadata", "execution_count"],
  error: ["output_type", "ename", "evalue", "traceback"],
};

const isObj = (v: J | undefined): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const isText = (v: J | undefined) =>
  typeof v === "string" || (Array.isArray(v) && v.every((x) => typeof x === "string"));
const isCount = (v: J | undefined) => v === null || (Number.isInteger(v) && (v as number) >= 0);

function exactKeys(o: Obj, required: string[], optional: string[], where: string, errors: string[]) {
  for (const k of required) if (!(k in o)) errors.push(`${where}: missing ${k}`);
  for (const k of Object.keys(o))
    if (!required.includes(k) && !optional.includes(k)) errors.push(`${where}: extra ${k}`);
}

/** The nbformat 4 schema's rules that a merge could break; [] when the text is a valid notebook. */
export function validate(text: string): string[] {
  let nb: J;
  try {
    nb = JSON.parse(text) as J;
  } catch (err) {
    return [`not JSON: ${(err as Error).message}`];
  }
  const errors: string[] = [];
  if (!isObj(nb)) return ["not an object"];
  exactKeys(nb, ["cells", "metadata", "nbformat", "nbformat_minor"], [], "notebook", errors);
  if (nb.nbformat !== 4) errors.push("nbformat is not 4");
  const minor = nb.nbformat_minor;
  if (!Number.isInteger(minor) || (minor as number) < 0) errors.push("bad nbformat_minor");
  if (!isObj(nb.metadata)) errors.push("metadata is not an object");
  if (!Array.isArray(nb.cells)) return [...errors, "cells is not a list"];
  const ids = new Set<string>();
  nb.cells.forEach((cell, i) => {
    const at = `cell ${i + 1}`;
    if (!isObj(cell)) return errors.push(`${at}: not an object`);
    const shape = CELL_KEYS[cell.cell_type as string];
    if (!shape) return errors.push(`${at}: bad cell_type`);
    const optional = shape.optional;
    if ((minor as number) >= 5) {
      exactKeys(cell, [...shape.required, "id"], optional, at, errors);
      const id = cell.id;
      if (typeof id !== "string" || !/^[a-zA-Z0-9_-]{1,64}$/.test(id)) errors.push(`${at}: bad id`);
      else if (ids.has(id)) errors.push(`${at}: duplicate id ${id}`);
      else ids.add(id);
    } else exactKeys(cell, shape.required, optional, at, errors); // an id before 4.5 is an extra key
    if (!isText(cell.source)) errors.push(`${at}: source is not text`);
    if (!isObj(cell.metadata)) errors.push(`${at}: metadata is not an object`);
    if ("attachments" in cell && !isObj(cell.attachments)) errors.push(`${at}: attachments is not an object`);
    if (cell.cell_type !== "code") return;
    if (!isCount(cell.execution_count)) errors.push(`${at}: bad execution_count`);
    if (!Array.isArray(cell.outputs)) return errors.push(`${at}: outputs is not a list`);
    cell.outputs.forEach((out, k) => {
      const where = `${at} output ${k + 1}`;
      if (!isObj(out)) return errors.push(`${where}: not an object`);
      const keys = OUTPUT_KEYS[out.output_type as string];
      if (!keys) return errors.push(`${where}: bad output_type`);
      exactKeys(out, keys, [], where, errors);
      if ("data" in out && !isObj(out.data)) errors.push(`${where}: data is not an object`);
      if ("text" in out && !isText(out.text)) errors.push(`${where}: text is not text`);
      if ("execution_count" in out && !isCount(out.execution_count)) errors.push(`${where}: bad execution_count`);
    });
  });
  return errors;
}

/** A seeded generator (mulberry32): the same seed, the same notebooks and edits. */
export class Gen {
  private state: number;
  private serial = 0;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  /** A token no other call returns, nor contains: marks a cell or an edit so a test can find it. */
  unique(prefix: string): string {
    return `${prefix}${this.serial++}_`; // the "_" ends it: c2_ is not found inside c22_
  }
}

const WORDS = ["df", "plot", "x", "np.mean", "import", "pandas", "= 1", "for i in", "range(10)", "print", "# note"];

function lines(g: Gen, extra?: string): string {
  const n = 1 + g.int(3);
  const ls = Array.from({ length: n }, () => Array.from({ length: 2 + g.int(4) }, () => g.pick(WORDS)).join(" "));
  if (extra) ls.push(extra);
  return ls.join("\n");
}

/** nbformat writes sources as lists of lines; other writers as one string. Both occur. */
function asSource(g: Gen, text: string): J {
  return g.chance(0.8) ? (text.match(/[^\n]*\n|[^\n]+$/g) ?? []) : text;
}

function randomOutputs(g: Gen, count: number): Obj[] {
  return Array.from({ length: g.int(3) }, (): Obj => {
    switch (g.int(4)) {
      case 0:
        return { output_type: "stream", name: g.pick(["stdout", "stderr"]), text: [`${g.unique("out")}\n`] };
      case 1:
        return {
          output_type: "execute_result",
          execution_count: count,
          data: { "text/plain": [g.unique("r")] },
          metadata: {},
        };
      case 2:
        return {
          output_type: "display_data",
          data: { "image/png": `iVBORw0KGgo${g.unique("png")}AAAA`, "text/plain": ["<Figure>"] },
          metadata: { "image/png": { width: 640, height: 480 } },
        };
      default:
        return {
          output_type: "error",
          ename: "ValueError",
          evalue: g.unique("e"),
          traceback: ["\u001b[0;31mValueError\u001b[0m"],
        };
    }
  });
}

export function randomCell(g: Gen, ids: boolean, marker?: string): Obj {
  const type = g.pick(["code", "code", "code", "markdown", "markdown", "raw"]);
  const cell: Obj = { cell_type: type, metadata: {}, source: asSource(g, lines(g, marker)) };
  if (ids) cell.id = g.unique("id-");
  if (g.chance(0.3)) (cell.metadata as Obj).tags = [g.pick(["a", "b", "skip"])];
  if (type === "code") {
    const count = g.chance(0.7) ? 1 + g.int(50) : null;
    cell.execution_count = count;
    cell.outputs = count === null ? [] : randomOutputs(g, count);
    if (count !== null && g.chance(0.3)) (cell.metadata as Obj).execution = { "iopub.status.idle": g.unique("t") };
  } else if (type === "markdown" && g.chance(0.2)) {
    cell.attachments = { "a.png": { "image/png": g.unique("b64") } };
  }
  return cell;
}

export function randomNotebook(g: Gen, opts: { ids?: boolean; unique?: boolean } = {}): Nb {
  const ids = opts.ids ?? g.chance(0.5);
  const cells = Array.from({ length: g.int(10) }, () => randomCell(g, ids, opts.unique ? g.unique("c") : undefined));
  return {
    cells,
    metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
    nbformat: 4,
    nbformat_minor: ids ? 5 : 4,
  };
}

export type Op = "source" | "meta" | "rerun" | "clear" | "delete" | "move" | "add" | "type" | "nbmeta";
export const ALL_OPS: Op[] = ["source", "meta", "rerun", "clear", "delete", "move", "add", "type", "nbmeta"];

/** What an edit script did, for the assertions. */
export interface Script {
  added: string[];
  deleted: string[];
  edited: string[];
}

/**
 * Apply `n` random edits from `ops` to `nb` (in place), touching only the cells `mine` accepts
 * (additions go anywhere). Cells are found by their source text; edits leave a unique token.
 */
export function edit(g: Gen, nb: Nb, n: number, ops: Op[], tag: string, mine: (c: Obj) => boolean = () => true) {
  const done: Script = { added: [], deleted: [], edited: [] };
  const ids = nb.nbformat_minor >= 5;
  for (let k = 0; k < n; k++) {
    const op = g.pick(ops);
    const candidates = nb.cells.filter((c) => mine(c) && !done.deleted.includes(src(c)));
    if (op === "add") {
      const marker = g.unique(`added-${tag}-`);
      nb.cells.splice(g.int(nb.cells.length + 1), 0, randomCell(g, ids, marker));
      done.added.push(marker);
      continue;
    }
    if (op === "nbmeta") {
      nb.metadata[g.unique(`key-${tag}-`)] = g.int(100);
      continue;
    }
    if (!candidates.length) continue;
    const cell = g.pick(candidates);
    const at = nb.cells.indexOf(cell);
    if (op === "source") {
      const token = g.unique(`edit-${tag}-`);
      const text = `${src(cell)}\n${token}`;
      cell.source = Array.isArray(cell.source) ? (text.match(/[^\n]*\n|[^\n]+$/g) ?? []) : text;
      done.edited.push(token);
    } else if (op === "meta") {
      (cell.metadata as Obj)[g.unique(`m-${tag}-`)] = true;
    } else if (op === "rerun" && cell.cell_type === "code") {
      cell.execution_count = 1 + g.int(99);
      cell.outputs = randomOutputs(g, cell.execution_count);
    } else if (op === "clear" && cell.cell_type === "code") {
      cell.outputs = [];
      cell.execution_count = null;
      delete (cell.metadata as Obj).execution;
    } else if (op === "delete") {
      nb.cells.splice(at, 1);
      done.deleted.push(src(cell));
    } else if (op === "move") {
      nb.cells.splice(at, 1);
      nb.cells.splice(g.int(nb.cells.length + 1), 0, cell);
    } else if (op === "type") {
      const to = cell.cell_type === "code" ? "markdown" : "code";
      for (const key of ["outputs", "execution_count", "attachments"]) delete cell[key];
      delete (cell.metadata as Obj).execution;
      cell.cell_type = to;
      if (to === "code") Object.assign(cell, { outputs: [], execution_count: null });
    }
  }
  // An addition or an edit that a later step of the script deleted is not expected in the result.
  const left = nb.cells.map(src).join("\n");
  done.added = done.added.filter((m) => left.includes(m));
  done.edited = done.edited.filter((m) => left.includes(m));
  return done;
}
