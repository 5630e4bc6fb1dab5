// Bundle the CLI into ONE CommonJS file (what a Node single executable needs), and a tiny
// launcher in front of it for `node dist/mirrorshade.cjs` (answers --version at once).
import { build } from "esbuild";
import { readFileSync } from "node:fs";

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

// The watcher's native addon is loaded by src/engine/native.ts: from node_modules here,
// from a SEA asset in the single binary.
await build({ ...common, entryPoints: ["src/main.ts"], outfile: "dist/mirrorshade-cli.cjs", sourcemap: "linked" });
await build({
  ...common,
  entryPoints: ["src/launcher.ts"],
  outfile: "dist/mirrorshade.cjs",
  external: ["./mirrorshade-cli.cjs"],
});
