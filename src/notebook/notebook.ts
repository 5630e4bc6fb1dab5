/**
 * Reading a notebook's text into the shape the merge and the stripper rely on (nbformat 4),
 * with a reason instead of an exception when the text is not one.
 */
import { detectStyle, isObject, Num, parseJson, type Json, type JsonObject, type Style } from "./json";

/** A cell as read: the fields checked here, every other key kept as it was. */
export interface Cell extends JsonObject {
  cell_type: "code" | "markdown" | "raw";
  source: string | string[];
  metadata: JsonObject;
}

export interface Notebook {
  /** The whole parsed document; `doc.cells` is `cells`. */
  doc: JsonObject;
  cells: Cell[];
  minor: number;
  style: Style;
}

const CELL_TYPES = new Set(["code", "markdown", "raw"]);

/**
 * Cell metadata written by a run: JupyterLab's `execution` (iopub/shell timestamps) and the
 * ExecuteTime extension's. They change on every run and travel with the outputs they describe:
 * stripped with them, never a conflict of their own.
 */
export const RUN_METADATA: ReadonlySet<string> = new Set(["execution", "ExecuteTime"]);
/** Notebook metadata written by a run: ipywidgets' saved widget state, the model behind widget outputs. */
export const WIDGETS = "widgets";

/** The notebook in `text`, or why it is not an nbformat 4 notebook. Never throws. */
export function readNotebook(text: string): Notebook | string {
  let doc: Json;
  try {
    doc = parseJson(text);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  if (!isObject(doc)) return "not a JSON object";
  if (!(doc.nbformat instanceof Num) || doc.nbformat.value !== 4) return "not nbformat 4";
  const minor = doc.nbformat_minor;
  if (!(minor instanceof Num) || !Number.isInteger(minor.value) || minor.value < 0) return "no nbformat_minor";
  if (!isObject(doc.metadata)) return "no notebook metadata";
  if (!Array.isArray(doc.cells)) return "no cells list";
  for (const [i, cell] of doc.cells.entries()) {
    const why = cellProblem(cell);
    if (why) return `cell ${i + 1}: ${why}`;
  }
  return { doc, cells: doc.cells as Cell[], minor: minor.value, style: detectStyle(text, doc) };
}

function cellProblem(cell: Json): string | undefined {
  if (!isObject(cell)) return "not an object";
  if (typeof cell.cell_type !== "string" || !CELL_TYPES.has(cell.cell_type)) return "unknown cell_type";
  if (!isText(cell.source)) return "source is not text";
  if (!isObject(cell.metadata)) return "no metadata";
  if (cell.id !== undefined && typeof cell.id !== "string") return "id is not a string";
  if (cell.cell_type === "code") {
    if (!Array.isArray(cell.outputs)) return "code cell without outputs";
    const count = cell.execution_count;
    if (count !== null && !(count instanceof Num)) return "execution_count is neither a number nor null";
  }
  return undefined;
}

/** nbformat's multiline string: one string, or a list of lines to join. */
export function isText(v: Json | undefined): v is string | string[] {
  return typeof v === "string" || (Array.isArray(v) && v.every((x) => typeof x === "string"));
}

export function sourceText(cell: Cell): string {
  return typeof cell.source === "string" ? cell.source : cell.source.join("");
}

/** How a conflict names a cell: its id where it has one, else its 1-based position. */
export function cellLabel(cell: Cell, index: number): string {
  return typeof cell.id === "string" ? cell.id : `#${index + 1}`;
}
