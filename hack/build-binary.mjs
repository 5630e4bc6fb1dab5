// Build the single binary: a Node Single Executable Application (SEA) of the bundle, on
// the project's own Node, with @parcel/watcher's native addon carried as a SEA asset.
// Not `pkg`: vercel pkg cannot target Node >= 20, and @yao-pkg/pkg downloads its base
// binaries at build time (no offline mode). A SEA needs only the node binary we have.
// Other platforms: run this on that platform (the blob must come from the node binary it
// is injected into, and the addon is the platform's own @parcel/watcher-<os>-<arch>).
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { CHUNKS } from "./lib/chunks.mjs";

const root = path.resolve(import.meta.dirname, "..");
const dist = path.join(root, "dist");
const out = path.join(dist, `mirrorshade`);
const node = realpathSync(process.execPath);
const require = createRequire(path.join(root, "package.json"));

let addonPkg = `@parcel/watcher-${process.platform}-${process.arch}`;
if (process.platform === "linux") {
  const { familySync, MUSL } = require("detect-libc");
  addonPkg += familySync() === MUSL ? "-musl" : "-glibc";
}
const addon = path.join(path.dirname(require.resolve(`${addonPkg}/package.json`)), "watcher.node");

if (![{ file: "mirrorshade-cli.cjs" }, ...CHUNKS].every(({ file }) => existsSync(path.join(dist, file))))
  execFileSync("npm", ["run", "build"], { stdio: "inherit", cwd: root });
mkdirSync(dist, { recursive: true });
const blob = path.join(dist, "sea-prep.blob");
const config = path.join(dist, "sea-config.json");
writeFileSync(
  config,
  JSON.stringify({
    main: path.join(dist, "mirrorshade-cli.cjs"),
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    // The chunks the CLI loads on first use (src/sea.ts) travel as assets of the same name.
    assets: {
      "watcher.node": addon,
      ...Object.fromEntries(CHUNKS.map(({ file }) => [file, path.join(dist, file)])),
    },
  }),
);
execFileSync(node, ["--experimental-sea-config", config], { stdio: "inherit" });
rmSync(out, { force: true });
copyFileSync(node, out);
chmodSync(out, 0o755);
// The debug info is most of Node's size; the code is untouched.
try {
  execFileSync("strip", ["--strip-debug", out]);
} catch {
  console.warn("strip not available: the binary keeps its debug info");
}
const postject = path.join(root, "node_modules", ".bin", "postject");
execFileSync(
  postject,
  [out, "NODE_SEA_BLOB", blob, "--sentinel-fuse", "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"],
  { stdio: ["ignore", "ignore", "inherit"] },
);
rmSync(blob);
rmSync(config);
console.log(`built ${path.relative(root, out)} (${process.platform}-${process.arch}, node ${process.version})`);
