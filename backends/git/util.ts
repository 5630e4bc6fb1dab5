/** Small helpers the git backend's modules share. */
import { lstatSync, unlinkSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { ConfigError } from "../../src/errors";

export const EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
export const ZERO = "0".repeat(40);

/** A local remote's path (a path or file:// URL), else undefined. */
export function localPath(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  if (url.startsWith("file://")) return decodeURIComponent(new URL(url).pathname);
  return path.isAbsolute(url) ? url : undefined;
}

export function parseAuthor(author: string | undefined): { name: string; email: string } | undefined {
  if (!author) return undefined;
  const m = /^\s*(.+?)\s*<([^>]+)>\s*$/.exec(author);
  if (!m) throw new ConfigError(`bad author "${author}"`, { hint: 'use "Name <email@example.com>"' });
  return { name: m[1]!, email: m[2]! };
}

export function hostnameSafe(): string {
  return (process.env.HOSTNAME || hostname() || "host").replace(/[^A-Za-z0-9._-]/g, "-");
}

export function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

/** Remove a file, if it can be: true when it was removed (a cleanup that must not fail what it cleans up after). */
export function rmQuiet(p: string): boolean {
  try {
    unlinkSync(p);
    return true;
  } catch {
    return false;
  }
}
