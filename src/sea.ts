/**
 * What the single binary (a Node SEA) carries besides its main script, and the code chunks:
 * parts of the CLI built as files of their own and loaded on first use (hack/build.mjs).
 * V8 keeps a loaded script's whole source, and much of what it built from it, for the life
 * of the process: the AWS SDK, most of the CLI's code, stays out of the main bundle, so a
 * watch of a git remote never holds it (measured: ~5 MB of an idle watch's RSS). Next to the
 * bundle a chunk is a file of dist/; in the single binary, an asset of the same name.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { compileFunction } from "node:vm";

export interface SeaApi {
  isSea(): boolean;
  getRawAsset(name: string): ArrayBuffer;
  getAsset(name: string, encoding: "utf8"): string;
}

/** node:sea when this Node has it (a SEA's `require` only loads built-ins: ask through the full loader). */
export function seaApi(): SeaApi | undefined {
  try {
    return createRequire(process.execPath)("node:sea") as SeaApi;
  } catch {
    return undefined; // Node without SEA support
  }
}

const loaded = new Map<string, unknown>();

/**
 * A chunk's exports. `dir`: where the chunk files are (the bundle's own dir). A chunk is a
 * CommonJS bundle that requires only Node's built-ins.
 */
export function loadChunk(file: string, dir: string = bundleDir()): unknown {
  const sea = seaApi();
  if (!sea?.isSea()) return createRequire(path.join(dir, "chunk-loader"))(`./${file}`); // cached by require
  if (loaded.has(file)) return loaded.get(file);
  const filename = path.join(path.dirname(process.execPath), file); // for stack traces only
  const params = ["exports", "require", "module", "__filename", "__dirname"];
  const wrapper = compileFunction(sea.getAsset(file, "utf8"), params, { filename });
  const module = { exports: {} as unknown };
  wrapper(module.exports, createRequire(process.execPath), module, filename, path.dirname(filename));
  loaded.set(file, module.exports);
  return module.exports;
}

function bundleDir(): string {
  return typeof __dirname === "string" ? __dirname : process.cwd();
}
