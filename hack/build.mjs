// Bundle the CLI into ONE CommonJS file (what a Node single executable needs).
import { build } from "esbuild";
import { readFileSync } from "node:fs";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

await build({
  entryPoints: ["src/main.ts"],
  outfile: "dist/mirrorshade.cjs",
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node22",
  sourcemap: "linked",
  // The watcher's native addon is loaded by src/engine/native.ts: from node_modules here,
  // from a SEA asset in the single binary.
  define: { MIRRORSHADE_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning",
  legalComments: "none",
});
