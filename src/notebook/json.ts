/**
 * JSON for notebooks, byte-stable: parse keeps each number's literal (Python writes `1.0` and
 * `1e-05`, which `JSON.parse` + `JSON.stringify` would turn into `1` and `0.00001`), and
 * serialize reproduces the writer's layout (Jupyter: `json.dumps(sort_keys=True, indent=1,
 * ensure_ascii=False)` plus a final newline), so an untouched part of a notebook is written back
 * with the bytes it was read with.
 */

/** A number as its literal, so it is written back unchanged (and big integers stay exact). */
export class Num {
  constructor(readonly raw: string) {}
  get value(): number {
    return Number(this.raw);
  }
}

export type Json = null | boolean | string | Num | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/** How a side wrote its file; the merged notebook is written the way ours was. */
export interface Style {
  /** One level of indentation; `null` for a single-line file. */
  indent: string | null;
  eol: string;
  sortKeys: boolean;
  finalNewline: boolean;
}

type Reviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;

/** `JSON.parse` with numbers kept as literals. Throws `SyntaxError` like `JSON.parse`. */
export function parseJson(text: string): Json {
  // Node ≥ 21 passes the literal's source text to the reviver (TC39 "JSON.parse source text access").
  const reviver: Reviver = (_key, value, context) =>
    typeof value === "number" ? new Num(context?.source ?? String(value)) : value;
  return JSON.parse(text, reviver as (key: string, value: unknown) => unknown) as Json;
}

export function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Num);
}

/** Structural equality; key order does not matter, numbers compare by value. */
export function jsonEqual(a: Json | undefined, b: Json | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a === null || b === null) return false;
  // By value: `2.0` (Python) and `2` (a JS writer) are the same number.
  if (a instanceof Num || b instanceof Num) return a instanceof Num && b instanceof Num && a.value === b.value;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (typeof a !== "object" || typeof b !== "object") return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && jsonEqual(a[k], b[k]));
}

/** Python's `sort_keys` order: by code point (JS `<` compares UTF-16 units, which differs above U+FFFF). */
function byCodePoint(a: string, b: string): number {
  const ca = [...a];
  const cb = [...b];
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = (ca[i] as string).codePointAt(0)! - (cb[i] as string).codePointAt(0)!;
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
}

const INTEGER_KEY = /^(0|[1-9][0-9]*)$/;

/**
 * Guess a file's style from its text and parsed value. Key order is "sorted" when every object
 * lists its keys in code-point order (objects with integer-like keys are skipped: JS enumerates
 * those first whatever the file said).
 */
export function detectStyle(text: string, value: Json): Style {
  const m = /^\{(\r?\n)([ \t]*)/.exec(text);
  return {
    indent: m ? (m[2] as string) : null,
    eol: m ? (m[1] as string) : "\n",
    sortKeys: keysSorted(value),
    finalNewline: text.endsWith("\n"),
  };
}

function keysSorted(v: Json): boolean {
  if (Array.isArray(v)) return v.every(keysSorted);
  if (!isObject(v)) return true;
  const keys = Object.keys(v);
  const skip = keys.some((k) => INTEGER_KEY.test(k));
  if (!skip && keys.some((k, i) => i > 0 && byCodePoint(keys[i - 1] as string, k) > 0)) return false;
  return keys.every((k) => keysSorted(v[k] as Json));
}

/** Write `value` in `style`; `JSON.stringify` escapes strings the way Python's `ensure_ascii=False` does. */
export function serialize(value: Json, style: Style): string {
  const nl = style.indent === null ? "" : style.eol;
  const colon = style.indent === null ? ":" : ": ";
  const out: string[] = []; // one join at the end: nested concatenation would copy a big notebook per level
  const write = (v: Json, pad: string): void => {
    if (v instanceof Num) out.push(v.raw);
    else if (typeof v !== "object" || v === null) out.push(JSON.stringify(v));
    else if (Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0) out.push(Array.isArray(v) ? "[]" : "{}");
    else {
      const inner = pad + (style.indent ?? "");
      const keys = Array.isArray(v) ? undefined : Object.keys(v);
      if (keys && style.sortKeys) keys.sort(byCodePoint);
      out.push(keys ? "{" : "[");
      const n = keys ? keys.length : (v as Json[]).length;
      for (let i = 0; i < n; i++) {
        out.push(i ? `,${nl}${inner}` : nl + inner);
        if (keys) out.push(JSON.stringify(keys[i]), colon);
        write(keys ? (v as JsonObject)[keys[i] as string]! : (v as Json[])[i]!, inner);
      }
      out.push(nl + pad, keys ? "}" : "]");
    }
  };
  write(value, "");
  if (style.finalNewline) out.push(style.eol);
  return out.join("");
}
