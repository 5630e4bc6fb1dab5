/** The ignore and attribute files git opens wherever it meets them, checked before it does. */
import { IGNORE_FILE } from "../../src/ignore";
import { TransientError } from "../../src/errors";
import type { WorkDir } from "../../src/safefs";

/** Files git (and our ignore rules) open with a blocking open wherever they are met. */
const RULE_FILES = new Set([".gitignore", ".gitattributes", IGNORE_FILE]);

/**
 * Git reads every `.gitignore` and `.gitattributes` it meets with a blocking open: a FIFO
 * there would hang it, and every save after it. Look first (the directories above `paths`,
 * or the whole tree), and fail clearly instead: a TransientError naming the file, retried
 * until it is gone. (Git cannot be told to skip one.) A whole-tree look returns the other
 * FIFOs, sockets and devices it met: git never lists a new one, and each must be reported.
 */
export function guardRuleFiles(wd: WorkDir, paths?: string[]): string[] {
  const bad: string[] = [];
  const specials: string[] = [];
  const check = (rel: string) => {
    const st = wd.stat(rel);
    if (st?.kind === "other") bad.push(rel);
  };
  if (paths) {
    const dirs = new Set<string>([""]);
    for (const p of paths) {
      const parts = p.split("/");
      for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join("/")); // a path may be a dir
    }
    for (const d of dirs) for (const name of RULE_FILES) check(d ? `${d}/${name}` : name);
  } else {
    const walk = (dir: string) => {
      let ents: ReturnType<WorkDir["list"]>;
      try {
        ents = wd.list(dir);
      } catch {
        return;
      }
      for (const e of ents) {
        const rel = dir ? `${dir}/${e.name}` : e.name;
        if (e.kind === "dir" && e.name !== ".git") walk(rel);
        else if (e.kind === "other") (RULE_FILES.has(e.name) ? bad : specials).push(rel);
      }
    };
    walk("");
  }
  if (bad.length) {
    throw new TransientError(
      `${bad[0]} is not a regular file: git would wait forever reading it, so nothing is saved`,
      {
        hint: `remove or replace ${bad.join(", ")} (a FIFO, socket or device); saving resumes by itself`,
      },
    );
  }
  return specials;
}
