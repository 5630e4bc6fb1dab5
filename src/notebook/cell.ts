/**
 * Three-way merge of one cell (and of metadata dictionaries, which the notebook level reuses).
 * A field changed on one side takes that side's value; changed the same way on both, that value;
 * changed differently on both, a conflict — except the run state and the volatile keys below,
 * which never conflict.
 */
import { isObject, jsonEqual, serialize, type Json, type JsonObject } from "./json";
import { RUN_METADATA, sourceText, type Cell } from "./notebook";

/**
 * Cell metadata that is view state (output area collapsed/scrolled, input/output hidden): a
 * difference is no reason for a conflict copy, so ours wins when both changed it.
 */
const VIEW_KEYS = new Set(["collapsed", "scrolled", "autoscroll", "jupyter"]);

/** Thrown inside a merge and caught by its caller; `where` names the field. */
export class FieldConflict extends Error {
  constructor(readonly where: string) {
    super(`${where} changed differently on both sides`);
  }
}

/** Plain three-way choice of one value; `undefined` is "absent". */
export function merge3(b: Json | undefined, o: Json | undefined, t: Json | undefined, where: string) {
  if (jsonEqual(o, t) || jsonEqual(b, t)) return o;
  if (jsonEqual(b, o)) return t;
  throw new FieldConflict(where);
}

/** Key-by-key merge, recursing into objects, so edits to different keys of one dict both land. */
export function mergeValue(b: Json | undefined, o: Json | undefined, t: Json | undefined, where: string) {
  if (isObject(o) && isObject(t) && (b === undefined || isObject(b)) && !jsonEqual(o, t)) {
    return mergeDict(b, o, t, where, () => undefined);
  }
  return merge3(b, o, t, where);
}

/** A rule for one key of a dict; `undefined` means "no special rule, merge it". */
type KeyRule = (key: string) => ((b?: Json, o?: Json, t?: Json) => Json | undefined) | undefined;

export function mergeDict(b: JsonObject | undefined, o: JsonObject, t: JsonObject, where: string, rule: KeyRule) {
  const out: JsonObject = {};
  for (const key of new Set([...Object.keys(o), ...Object.keys(t), ...Object.keys(b ?? {})])) {
    const special = rule(key);
    const v = special ? special(b?.[key], o[key], t[key]) : mergeValue(b?.[key], o[key], t[key], `${where}.${key}`);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/** Merge where a conflict resolves to ours (view state, kernel-written metadata). */
export function oursOnConflict(b?: Json, o?: Json, t?: Json): Json | undefined {
  try {
    return merge3(b, o, t, "");
  } catch {
    return o;
  }
}

/** What a cell says, without what running it or viewing it changed: the test for "edited". */
function essence(cell: Cell): JsonObject {
  const { id: _id, outputs: _o, execution_count: _e, metadata, ...rest } = cell;
  const meta = Object.fromEntries(Object.entries(metadata).filter(([k]) => !RUN_METADATA.has(k) && !VIEW_KEYS.has(k)));
  return { ...rest, source: sourceText(cell), metadata: meta };
}

/** Same cell content, ignoring id, outputs, execution count, run and view metadata, source as list or string. */
export function contentEqual(a: Cell, b: Cell): boolean {
  return jsonEqual(essence(a), essence(b));
}

/** A string that is equal for two cells exactly when `contentEqual` holds. */
export function contentKey(cell: Cell): string {
  return serialize(essence(cell), { indent: null, eol: "\n", sortKeys: true, finalNewline: false });
}

const runState = (c: Cell | undefined): Json => (c ? [c.outputs ?? [], c.execution_count ?? null] : null);
const cleared = (c: Cell) => jsonEqual(runState(c), [[], null]);

/** Sides holding no outputs at all: stripped by `--strip-outputs` (or never run, or all cleared). */
export interface Stripped {
  ours: boolean;
  theirs: boolean;
}

/**
 * Whose outputs and execution count the merged cell gets. Outputs are derived data (run the
 * cell again), so they never make a conflict. A stripped side's empty outputs are no edit: they
 * never beat the other side's outputs (losing an hour's computation is worse than keeping
 * outputs someone cleared). Otherwise three-way (clearing one cell is an edit); and when both
 * re-ran the cell, the outputs go with the side whose source won (ours when the source is the same).
 */
function runWinner(b: Cell | undefined, o: Cell, t: Cell, stripped: Stripped): Cell {
  if (jsonEqual(runState(o), runState(t))) return o;
  if (stripped.ours && cleared(o)) return t;
  if (stripped.theirs && cleared(t)) return o;
  if (jsonEqual(runState(b), runState(o))) return t;
  if (jsonEqual(runState(b), runState(t))) return o;
  const src = b === undefined ? undefined : sourceText(b);
  return sourceText(o) === src && sourceText(t) !== src ? t : o;
}

/** Ours's representation (list of lines or one string) unless the text came from theirs. */
function mergeSource(b: Cell | undefined, o: Cell, t: Cell): Json {
  const [bs, os, ts] = [b === undefined ? undefined : sourceText(b), sourceText(o), sourceText(t)];
  if (os === ts || ts === bs) return o.source;
  if (os === bs) return t.source;
  throw new FieldConflict("source");
}

/**
 * Merge one cell matched on both sides (`b` undefined for two identical additions). Returns the
 * merged cell or the reason for a conflict.
 */
export function mergeCell(b: Cell | undefined, o: Cell, t: Cell, stripped: Stripped): Cell | string {
  if (o.cell_type !== t.cell_type) {
    // A type change reshapes the cell (outputs come or go): the side that changed the type wins
    // whole if the other side changed nothing but outputs and view state.
    if (b && contentEqual(b, o)) return t;
    if (b && contentEqual(b, t)) return o;
    return "cell_type changed on one side and the cell edited on the other";
  }
  const run = o.cell_type === "code" ? runWinner(b, o, t, stripped) : o;
  const metaRule: KeyRule = (key) => {
    if (RUN_METADATA.has(key)) return () => run.metadata[key];
    return VIEW_KEYS.has(key) ? oursOnConflict : undefined;
  };
  try {
    const out: JsonObject = {};
    for (const key of new Set([...Object.keys(o), ...Object.keys(t)])) {
      let v: Json | undefined;
      if (key === "id") v = oursOnConflict(b?.id, o.id, t.id);
      else if (key === "source") v = mergeSource(b, o, t);
      else if (key === "outputs" || key === "execution_count") v = run[key];
      else if (key === "metadata") v = mergeDict(b?.metadata, o.metadata, t.metadata, "metadata", metaRule);
      else v = merge3(b?.[key], o[key], t[key], key);
      if (v !== undefined) out[key] = v;
    }
    return out as Cell;
  } catch (err) {
    if (err instanceof FieldConflict) return err.message;
    throw err;
  }
}
