/**
 * Helpers for the credential tests: the shape of a clean CLI error, a Kubernetes Secret
 * volume on disk (the `..data` symlink layout, rotated atomically) or one of its files, and
 * file scans.
 */
import {
  chmodSync,
  chownSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { expect } from "vitest";
import { traversable } from "./as-uid";
import { reportedError, tempDir, type RunResult } from "./index";

/** Exit `code`, one line starting with "mirrorshade:" (a hint may follow), no stack trace; returns that line. */
export function expectCleanError(r: RunResult, code: number, mention?: RegExp): string {
  expect(r.code, r.stderr).toBe(code);
  const lines = reportedError(r.stderr);
  expect(lines[0], r.stderr).toMatch(/^mirrorshade: \S/);
  expect(
    lines.filter((l) => l.startsWith("mirrorshade:")),
    r.stderr,
  ).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/unexpected error/);
  if (mention) expect(lines[0], r.stderr).toMatch(mention);
  return lines[0]!;
}

export interface SecretMount {
  /** The volume's mount point. */
  dir: string;
  /** `dir/<key>`: the path a pod is given (a symlink through `..data`). */
  path(key: string): string;
  /** Swap in new content the way the kubelet does: a new `..<timestamp>` dir, then `..data` renamed over. */
  rotate(files: Record<string, string>): void;
}

export interface SecretMountOptions {
  /** defaultMode (default 0644 for secretMount, 0440 for secretFile). */
  mode?: number;
  /** Owner of the files (default root:root). */
  uid?: number;
  gid?: number;
}

/**
 * A Secret volume: `dir/..2026_…/<key>` files, `dir/..data -> ..2026_…`, `dir/<key> -> ..data/<key>`.
 * The mount point is traversable by any UID; the files get `mode` and the owner asked for.
 */
export function secretMount(files: Record<string, string>, opts: SecretMountOptions = {}): SecretMount {
  const dir = path.join(tempDir("ms-secret-"), "secret");
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(path.dirname(dir), 0o755);
  chmodSync(dir, 0o755);
  let generation = 0;
  const rotate = (content: Record<string, string>) => {
    generation++;
    const stamp = `..2026_01_0${generation}_00_00_00.${String(generation).padStart(9, "0")}`;
    const target = path.join(dir, stamp);
    mkdirSync(target, { mode: 0o755 });
    chmodSync(target, 0o755);
    for (const [key, value] of Object.entries(content)) {
      const file = path.join(target, key);
      // Written then chmod'ed: the umask must not decide the mode under test.
      writeFileAs(file, value, opts.mode ?? 0o644, opts.uid ?? 0, opts.gid ?? 0);
      const link = path.join(dir, key);
      try {
        symlinkSync(path.join("..data", key), link);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
    }
    const old = readdirSync(dir).filter((n) => n.startsWith("..2026") && n !== stamp);
    const tmp = path.join(dir, "..data_tmp");
    symlinkSync(stamp, tmp);
    renameSync(tmp, path.join(dir, "..data")); // atomic, like the kubelet's AtomicWriter
    for (const o of old) rmSync(path.join(dir, o), { recursive: true, force: true });
  };
  rotate(files);
  return { dir, path: (key) => path.join(dir, key), rotate };
}

/**
 * One key of a Secret as a file (`dir/<key>`, without the `..data` layout): root:root 0440 by
 * default, read through group 0, in a dir any UID can traverse. Returns its path.
 */
export function secretFile(key: string, content: string, opts: SecretMountOptions = {}): string {
  const dir = tempDir("ms-secret-");
  traversable(dir);
  return writeFileAs(path.join(dir, key), content, opts.mode ?? 0o440, opts.uid ?? 0, opts.gid ?? 0);
}

/** Write a file with exactly this mode and owner. */
export function writeFileAs(file: string, content: string, mode: number, uid = 0, gid = 0): string {
  rmSync(file, { force: true });
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  chownSync(file, uid, gid);
  chmodSync(file, mode);
  return file;
}

/** Every regular file below `dir` (following no symlinks), relative path → content. */
export function filesBelow(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.set(path.relative(dir, p), readFileSync(p));
    }
  };
  walk(dir);
  return out;
}
