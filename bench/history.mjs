// A bare repo with a long autosave history, built by one `git fast-import` (thousands of
// commits in seconds): the first commit holds `files` small files, a big notebook and a
// small one; each later commit rewrites the small notebook and one small file, and every
// `bigEvery`-th commit also the big notebook (one cell of it: as a notebook changes). The
// small notebook carries a fresh `imageKb` image output each time (a plot: base64 that does
// not deltify), which is what makes a real autosave history heavy to clone.
// Deterministic: the same sizes give the same repo. Commits are `stepS` seconds apart,
// the last one at `endAt` (epoch seconds).
import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { once } from "node:events";
import { smallContent, treePaths } from "./workloads.mjs";
import { initBare } from "./lib/git.mjs";

/** `kb` KB of base64 that differs per `seq` and does not compress (a plot's PNG). */
function image(kb, seq) {
  const parts = [];
  for (let i = 0; i * 32 < kb * 768; i++) parts.push(createHash("sha256").update(`${seq}/${i}`).digest());
  return Buffer.concat(parts).toString("base64");
}

/**
 * A notebook of ~`kb` KB whose cell `seq % cells` carries `seq` (one cell changes per
 * version), plus an image output of `imageKb` KB.
 */
export function cellNotebook(kb, seq, imageKb = 0) {
  const cell = (i, v) =>
    JSON.stringify({
      cell_type: "code",
      execution_count: i,
      id: `cell-${i}`,
      metadata: {},
      outputs: [{ name: "stdout", output_type: "stream", text: [`${v}:${i} ${"0123456789abcdef".repeat(60)}\n`] }],
      source: [`x = ${i}\n`, `print(x * ${v})\n`],
    });
  const n = Math.max(1, Math.round((kb * 1024) / cell(0, 0).length));
  const cells = [];
  for (let i = 0; i < n; i++) cells.push(cell(i, i === seq % n ? seq : 0));
  if (imageKb) {
    const png = { data: { "image/png": image(imageKb, seq) }, metadata: {}, output_type: "display_data" };
    cells.push(
      JSON.stringify({ cell_type: "code", execution_count: n, id: "plot", metadata: {}, outputs: [png], source: [] }),
    );
  }
  return `{"cells": [\n${cells.join(",\n")}\n], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}\n`;
}

/**
 * Build `bare` (a new bare repo, branch main) with `commits` commits. Returns the paths of the
 * tree's files and the time of each commit (oldest first, epoch seconds).
 */
export async function buildHistory(
  env,
  bare,
  {
    commits,
    files = 2000,
    bigKb = 4096,
    smallKb = 40,
    imageKb = 16,
    bigEvery = 100,
    stepS = 10,
    endAt = 1_790_000_000,
  },
) {
  initBare(env, bare);
  const rels = treePaths(files);
  const p = spawn("git", ["fast-import", "--quiet", "--done"], {
    cwd: bare,
    env: { ...env, GIT_DIR: bare },
    stdio: ["pipe", "ignore", "pipe"],
  });
  let err = "";
  p.stderr.on("data", (d) => (err += d));
  const exited = once(p, "close");
  const put = async (text) => {
    if (!p.stdin.write(text)) await once(p.stdin, "drain");
  };
  const inline = (rel, body) => `M 100644 inline ${rel}\ndata ${Buffer.byteLength(body)}\n${body}\n`;
  const times = [];
  for (let c = 0; c < commits; c++) {
    const t = endAt - (commits - 1 - c) * stepS;
    times.push(t);
    const msg = `mirrorshade: save ${c}\n`;
    let body = `commit refs/heads/main\ncommitter mirrorshade <mirrorshade@bench-pod> ${t} +0000\ndata ${Buffer.byteLength(msg)}\n${msg}`;
    if (c === 0) {
      await put(body);
      for (const rel of rels) await put(inline(rel, smallContent(rel)));
      await put(inline("big.ipynb", cellNotebook(bigKb, 0)));
      await put(inline("autosave.ipynb", cellNotebook(smallKb, 0, imageKb)));
      await put("\n");
      continue;
    }
    body += inline("autosave.ipynb", cellNotebook(smallKb, c, imageKb));
    const rel = rels[(c * 7919) % rels.length];
    body += inline(rel, smallContent(rel, ` v${c}`));
    if (c % bigEvery === 0) body += inline("big.ipynb", cellNotebook(bigKb, c));
    await put(body + "\n");
  }
  await put("done\n");
  p.stdin.end();
  const [code] = await exited;
  if (code !== 0) throw new Error(`git fast-import exited ${code}: ${err.slice(-500)}`);
  return { rels: [...rels, "big.ipynb", "autosave.ipynb"], times };
}
