/**
 * Refs read from the git dir without starting a git: a save asks for HEAD and the
 * remote-tracking ref, and each git process costs more than the whole read. Only the
 * plain layouts are read here (HEAD naming a branch, a loose ref file, packed-refs); for
 * anything else (a detached or unborn HEAD, a linked worktree, another ref storage) the
 * answer is undefined and the caller asks git.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

const ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** The id `ref` ("HEAD" or a full name under refs/) points to, when the files say so plainly. */
export function readRef(gitDir: string, ref: string): string | undefined {
  if (read(path.join(gitDir, "commondir")) !== undefined) return undefined; // a linked worktree
  let name = ref;
  if (ref === "HEAD") {
    const head = read(path.join(gitDir, "HEAD"))?.trim();
    const m = head === undefined ? null : /^ref: (refs\/\S+)$/.exec(head);
    if (!m) return undefined; // detached (git verifies the object), or unreadable
    name = m[1]!;
  } else if (!name.startsWith("refs/")) {
    return undefined;
  }
  const loose = read(path.join(gitDir, name))?.trim();
  if (loose !== undefined) return ID.test(loose) ? loose : undefined;
  const packed = read(path.join(gitDir, "packed-refs"));
  if (packed === undefined) return undefined;
  for (const line of packed.split("\n")) {
    const sp = line.indexOf(" ");
    if (sp > 0 && line.slice(sp + 1) === name && ID.test(line.slice(0, sp))) return line.slice(0, sp);
  }
  return undefined;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}
