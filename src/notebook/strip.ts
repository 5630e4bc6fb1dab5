/**
 * Outputs kept out of the remote (`--strip-outputs`): a notebook without what running it
 * produced, written back in the layout it was read in, so the stripped bytes of an unchanged
 * notebook are the same every time.
 */
import { jsonEqual, serialize, type JsonObject } from "./json";
import { readNotebook, RUN_METADATA, sourceText, WIDGETS, type Cell, type Notebook } from "./notebook";

/** The notebook document without outputs, execution counts and run metadata (a new object). */
export function stripDoc(nb: Notebook): JsonObject {
  const cells = nb.cells.map((cell): Cell => {
    const metadata = withoutKeys(cell.metadata, RUN_METADATA);
    if (cell.cell_type !== "code") return { ...cell, metadata };
    return { ...cell, metadata, outputs: [], execution_count: null };
  });
  return { ...nb.doc, metadata: withoutKeys(nb.doc.metadata as JsonObject, new Set([WIDGETS])), cells };
}

function withoutKeys(obj: JsonObject, keys: ReadonlySet<string>): JsonObject {
  return Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.has(k)));
}

/**
 * `text` without outputs: code cells get `outputs: []` and `execution_count: null`, run
 * metadata goes (see above); everything else, layout included, stays. The same string when
 * there was nothing to strip. `undefined` when `text` is not an nbformat 4 notebook: the
 * caller decides (a half-written notebook may hold outputs, so passing it on would leak them).
 */
export function stripOutputs(text: string): string | undefined {
  const nb = readNotebook(text);
  if (typeof nb === "string") return undefined;
  const stripped = stripDoc(nb);
  return jsonEqual(stripped, nb.doc) ? text : serialize(stripped, nb.style);
}

/**
 * Whether two notebooks are the same once outputs are stripped from both: a stripped remote
 * version that equals ours minus outputs is "unchanged". Layout and a cell's source as a list
 * of lines or one string do not count. Texts that are not both notebooks compare as bytes.
 */
export function sameIgnoringOutputs(a: string, b: string): boolean {
  if (a === b) return true;
  const [na, nb] = [readNotebook(a), readNotebook(b)];
  if (typeof na === "string" || typeof nb === "string") return false;
  const canon = (nb: Notebook) => {
    const doc = stripDoc(nb);
    return { ...doc, cells: (doc.cells as Cell[]).map((c) => ({ ...c, source: sourceText(c) })) };
  };
  return jsonEqual(canon(na), canon(nb));
}

/** Whether a notebook holds nothing `stripDoc` would remove (a stripped side of a merge). */
export function isStripped(nb: Notebook): boolean {
  return jsonEqual(stripDoc(nb), nb.doc);
}
