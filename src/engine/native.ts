/**
 * Loads @parcel/watcher's native addon. In the single binary (a Node SEA) `require` only
 * loads built-ins, so the addon travels as a SEA asset: written to a private 0700 dir,
 * `process.dlopen`ed, and deleted (the mapping outlives the file). A temp dir mounted
 * noexec cannot map it, so other places are tried.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { MUSL, familySync } from "detect-libc";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConfigError } from "../errors";
import { seaApi } from "../sea";
// The JS half of @parcel/watcher (option normalisation, ignore globs); bundled.
import { createWrapper } from "@parcel/watcher/wrapper.js";
import type ParcelWatcher from "@parcel/watcher";

export const ADDON_ASSET = "watcher.node";

export function loadParcelWatcher(): typeof ParcelWatcher {
  return createWrapper(loadBinding()) as typeof ParcelWatcher;
}

function loadBinding(): unknown {
  const sea = seaApi();
  if (sea?.isSea()) return dlopenAsset(Buffer.from(sea.getRawAsset(ADDON_ASSET)));
  const here = typeof __filename === "string" ? __filename : path.join(process.cwd(), "index.js");
  const req = createRequire(here);
  let name = `@parcel/watcher-${process.platform}-${process.arch}`;
  if (process.platform === "linux") name += familySync() === MUSL ? "-musl" : "-glibc";
  return req(name);
}

function dlopenAsset(bytes: Buffer): unknown {
  const candidates = [
    tmpdir(),
    process.env.XDG_RUNTIME_DIR,
    "/dev/shm",
    process.env.MIRRORSHADE_STATE_DIR,
    process.env.HOME,
  ];
  const errors: string[] = [];
  for (const base of candidates) {
    if (!base) continue;
    let dir: string | undefined;
    try {
      dir = mkdtempSync(path.join(base, "mirrorshade-addon-")); // 0700
      const file = path.join(dir, ADDON_ASSET);
      writeFileSync(file, bytes, { mode: 0o500 });
      const mod = { exports: {} as unknown };
      process.dlopen(mod, file);
      return mod.exports;
    } catch (err) {
      errors.push(`${base}: ${(err as Error).message}`);
    } finally {
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }
  throw new ConfigError(`cannot load the file watcher's native addon: ${errors.join("; ")}`, {
    hint: "every temp dir is noexec: point TMPDIR (or MIRRORSHADE_STATE_DIR) at a dir that allows executables",
  });
}
