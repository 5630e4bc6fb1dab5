// The workloads the scenarios write: trees of small files, S3-sized files, a notebook, and
// a notebook rewritten in place the way Jupyter does it. Deterministic: the same sizes give
// the same bytes in every run.
import { Buffer } from "node:buffer";
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from "node:fs";
import path from "node:path";
import { sleep } from "./lib/proc.mjs";

/** A small file's content: deterministic, distinct per path, ~150 bytes. */
export function smallContent(rel, salt = "") {
  return `${rel}${salt}\n${"lorem ipsum dolor sit amet ".repeat(5)}\n`;
}

/** `count` relative paths, 100 per sub-directory (d0000/f000.txt …). */
export function treePaths(count, { perDir = 100, prefix = "" } = {}) {
  const out = [];
  for (let i = 0; i < count; i++) {
    const d = String(Math.floor(i / perDir)).padStart(4, "0");
    const f = String(i % perDir).padStart(3, "0");
    out.push(`${prefix}d${d}/f${f}.txt`);
  }
  return out;
}

/** Write each of `rels` (grouped by directory) under `dir`, with `content(rel, i)`. */
export function writeFiles(dir, rels, content = (rel) => smallContent(rel)) {
  let made = "";
  rels.forEach((rel, i) => {
    const d = path.dirname(rel);
    if (d !== made) {
      mkdirSync(path.join(dir, d), { recursive: true });
      made = d;
    }
    writeFileSync(path.join(dir, rel), content(rel, i));
  });
  return rels;
}

/** `count` small files in `dir`, 100 per sub-directory. */
export function makeTree(dir, count, opts) {
  return writeFiles(dir, treePaths(count, opts));
}

/**
 * A new work dir `<base>/work`: `count` small files, or (tree: false) a lone README.md.
 * Returns its path and the path `<base>/remote.git` for its bare remote.
 */
export function newWork(base, count, { tree = true } = {}) {
  const work = path.join(base, "work");
  mkdirSync(work, { recursive: true });
  if (tree) makeTree(work, count);
  else writeFileSync(path.join(work, "README.md"), "# bench\n");
  return { work, bare: path.join(base, "remote.git") };
}

/** `count` files of 1–10 KB (the S3 rows). */
export function makeS3Tree(dir, count) {
  return writeFiles(dir, treePaths(count), (rel, i) => {
    const size = 1024 + ((i * 7919) % 9216);
    const line = smallContent(rel);
    return line.repeat(Math.ceil(size / line.length)).slice(0, size);
  });
}

/** A notebook-sized (~`kb` KB) nbformat 4 document; `seq` changes outputs and counts. */
export function notebook(seq, kb = 200) {
  const cells = [];
  let size = 0;
  for (let i = 0; size < kb * 1024; i++) {
    const out = `${seq}:${i} ` + "0123456789abcdef".repeat(40);
    const cell = {
      cell_type: "code",
      execution_count: seq * 1000 + i,
      id: `cell-${i}`,
      metadata: {},
      outputs: [{ name: "stdout", output_type: "stream", text: [out + "\n", out + "\n"] }],
      source: [`import numpy as np\n`, `x = np.arange(${i})\n`, `print(x.sum() + ${seq})\n`],
    };
    size += JSON.stringify(cell).length;
    cells.push(cell);
  }
  return (
    JSON.stringify(
      {
        cells,
        metadata: { kernelspec: { display_name: "Python 3", language: "python", name: "python3" } },
        nbformat: 4,
        nbformat_minor: 5,
      },
      null,
      1,
    ) + "\n"
  );
}

/**
 * Rewrite a file in place as Jupyter's contents manager does: truncate, then write the new
 * text in 64 KB pieces with a short pause between them (a slow disk), so the file is
 * briefly empty or a prefix of the new text.
 */
export async function rewriteInPlace(file, text, { chunk = 64 * 1024, pauseMs = 2 } = {}) {
  const buf = Buffer.from(text);
  const fd = openSync(file, "w");
  try {
    for (let off = 0; off < buf.length; off += chunk) {
      writeSync(fd, buf, off, Math.min(chunk, buf.length - off));
      if (off + chunk < buf.length && pauseMs) await sleep(pauseMs);
    }
  } finally {
    closeSync(fd);
  }
}
