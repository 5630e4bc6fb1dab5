#!/usr/bin/env node
// The dependency direction, checked: no import cycle between files, nor between folders
// (src/commands → src/engine → backends/<name> → backends/lib + src/…). Type-only imports
// count too: they are dependencies a reader follows. Usage: node hack/check-imports.mjs
// [--graph]; exit 1 and the cycles when there is one.
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "..");
const DIRS = ["src", "backends", "bench"];
const EXTS = [".ts", ".mjs", ".js"];

function files(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (EXTS.includes(path.extname(name)) && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Relative imports of one file, resolved to files of the tree. */
function importsOf(file, known) {
  const text = readFileSync(file, "utf8");
  const specs = [
    ...text.matchAll(/(?:import|export)\s[^'"]*?from\s+["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g),
  ];
  const out = new Set();
  for (const m of specs) {
    const base = path.resolve(path.dirname(file), m[1] ?? m[2]);
    const hit = [base, ...EXTS.map((e) => base + e), ...EXTS.map((e) => path.join(base, "index" + e))].find((c) =>
      known.has(c),
    );
    if (hit) out.add(hit);
  }
  return [...out];
}

/** Strongly connected components with more than one member (or a self-loop): the cycles. */
function cycles(graph) {
  let index = 0;
  const idx = new Map(),
    low = new Map(),
    stack = [],
    on = new Set(),
    found = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const comp = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

const all = DIRS.flatMap((d) => files(path.join(ROOT, d)));
const known = new Set(all);
const rel = (p) => path.relative(ROOT, p);
const fileGraph = new Map(all.map((f) => [rel(f), importsOf(f, known).map(rel)]));
// A folder is a file's directory. The files right under src/, backends/ and bench/ are the
// entries and the shared leaves of their tree (main, cli, config, errors; the registry and the
// Backend types; the bench runner and its report), one node each.
const folderOf = (f) => (DIRS.includes(path.dirname(f)) ? f : path.dirname(f));
const folderGraph = new Map();
for (const [f, deps] of fileGraph) {
  const from = folderOf(f);
  const set = folderGraph.get(from) ?? new Set();
  for (const d of deps) if (folderOf(d) !== from) set.add(folderOf(d));
  folderGraph.set(from, set);
}
const folderEdges = new Map([...folderGraph].map(([k, v]) => [k, [...v]]));

if (process.argv.includes("--graph")) {
  for (const [k, v] of [...folderEdges].sort()) console.log(`${k} → ${v.sort().join(", ") || "(nothing)"}`);
}
const bad = [
  ...cycles(fileGraph).map((c) => `file cycle: ${c.join(" ⇄ ")}`),
  ...cycles(folderEdges).map((c) => `folder cycle: ${c.join(" ⇄ ")}`),
];
for (const line of bad) console.log(line);
if (bad.length) process.exit(1);
console.log(`no import cycle among ${all.length} files in ${DIRS.join(", ")}`);
