// Bundle the CLI into ONE CommonJS file (what a Node single executable needs), a tiny
// launcher in front of it for `node dist/mirrorshade.cjs` (answers --version at once), and
// the chunks the CLI loads on first use (hack/lib/chunks.mjs: the AWS SDK).
import { build } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { CHUNKS } from "./lib/chunks.mjs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const common = {
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node22",
  define: { MIRRORSHADE_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning",
  legalComments: "none",
};

const root = path.resolve(import.meta.dirname, "..");

/** An import of a chunk's module becomes its exports, loaded when the import runs (src/sea.ts). */
const chunkImports = {
  name: "chunks",
  setup(b) {
    for (const { file, modules } of CHUNKS) {
      const filter = new RegExp(`^(${modules.map((m) => m.replace(/[/.]/g, "\\$&")).join("|")})$`);
      b.onResolve({ filter }, () => ({ path: file, namespace: "chunk" }));
    }
    b.onLoad({ filter: /.*/, namespace: "chunk" }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(path.join(root, "src", "sea.ts"))}).loadChunk(${JSON.stringify(args.path)});`,
      resolveDir: root,
      loader: "js",
    }));
  },
};

// The watcher's native addon is loaded by src/engine/native.ts: from node_modules here,
// from a SEA asset in the single binary.
const cli = await build({
  ...common,
  entryPoints: ["src/main.ts"],
  outfile: "dist/mirrorshade-cli.cjs",
  sourcemap: "linked",
  plugins: [chunkImports],
  metafile: true,
});
// A static import of a chunk's package (or of something only it uses) would put it back.
const leaked = Object.keys(cli.metafile.inputs).filter((f) => /node_modules\/(@aws-sdk|@smithy)\//.test(f));
if (leaked.length) throw new Error(`the AWS SDK is in the CLI bundle (it belongs in its chunk): ${leaked[0]}`);
asciiOnly("dist/mirrorshade-cli.cjs");
for (const { file, modules } of CHUNKS) {
  await build({
    ...common,
    stdin: { contents: modules.map((m) => `export * from ${JSON.stringify(m)};`).join("\n"), resolveDir: root },
    outfile: path.join("dist", file),
  });
  asciiOnly(path.join("dist", file));
}
await build({
  ...common,
  entryPoints: ["src/launcher.ts"],
  outfile: "dist/mirrorshade.cjs",
  external: ["./mirrorshade-cli.cjs"],
});

/**
 * V8 keeps a script's whole source in memory for as long as the process runs, at two bytes
 * per character if a single character is not Latin-1 (a running watch held 4.5 MB instead of
 * 2.3 MB for one "…"). esbuild escapes non-ASCII in code (its default charset) but not in the
 * comments it keeps: escape what is left. Only comments remain, so no mapping shifts.
 */
function asciiOnly(file) {
  const text = readFileSync(file, "utf8");
  // eslint-disable-next-line no-control-regex -- the test is for anything outside ASCII
  const escaped = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  if (escaped !== text) writeFileSync(file, escaped);
}
