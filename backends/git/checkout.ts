/** Writing what the index holds into the work dir. */
import path from "node:path";
import type { Repo } from "./repo";
import { lstatOrNull } from "./util";

/** Write index entries into the work dir, never through a file or symlink standing where a directory should be. */
export async function writeFromIndex(repo: Repo, paths: string[], overwrite = false): Promise<string[]> {
  const safe = paths.filter((p) => {
    const parts = p.split("/");
    for (let i = 1; i < parts.length; i++) {
      const st = lstatOrNull(path.join(repo.ctx.dir, ...parts.slice(0, i)));
      if (st && !st.isDirectory()) {
        repo.ctx.log.warn(`not restoring ${p}: ${parts.slice(0, i).join("/")} is not a directory here`);
        return false;
      }
    }
    return true;
  });
  if (safe.length) {
    await repo.git.run(["checkout-index", ...(overwrite ? ["-f"] : []), "-z", "--stdin"], {
      input: safe.join("\0") + "\0",
      okCodes: [1],
    });
  }
  return safe;
}
