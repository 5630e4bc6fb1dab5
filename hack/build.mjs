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
  // Native addon: resolved at run time from node_modules (the single binary carries it as an asset).
  external: ["@parcel/watcher"],
  define: { MIRRORSHADE_VERSION: JSON.stringify(pkg.version) },
  logLevel: "warning",
  legalComments: "none",
});
