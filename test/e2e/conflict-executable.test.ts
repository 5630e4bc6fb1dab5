/**
 * A conflict copy for an executable file: theirs goes beside ours, executable, as for any
 * other file (the tree mode is 100755, not 100644).
 */
import { chmodSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cloneRemote, commitAndPush, git, remoteFiles, run, sandbox, write } from "../helpers";

describe("conflicts with another writer", () => {
  it("both change an executable script: theirs is beside ours, executable, and at the remote", async () => {
    const sb = sandbox();
    write(sb.work, "run.sh", "#!/bin/sh\necho base\n");
    chmodSync(path.join(sb.work, "run.sh"), 0o755);
    const first = await run(["push", sb.work], { env: sb.env });
    expect(first.code, first.stderr).toBe(0);
    expect(git(sb.remote, "ls-tree", "main", "run.sh")).toMatch(/^100755 /);
    const other = cloneRemote(sb.remote);
    commitAndPush(other, { "run.sh": "#!/bin/sh\necho them\n" });
    write(sb.work, "run.sh", "#!/bin/sh\necho us\n");

    const r = await run(["push", sb.work], { env: sb.env });
    expect(r.code, r.stderr).toBe(5);
    const copies = readdirSync(sb.work).filter((n) => /^run\.conflict-.*\.sh$/.test(n));
    expect(copies, r.stderr).toHaveLength(1);
    const copy = copies[0]!;
    expect(readFileSync(path.join(sb.work, copy), "utf8")).toBe("#!/bin/sh\necho them\n");
    expect(statSync(path.join(sb.work, copy)).mode & 0o111).not.toBe(0);
    expect(remoteFiles(sb.remote).get(copy)).toBe("#!/bin/sh\necho them\n");
    expect(remoteFiles(sb.remote).get("run.sh")).toBe("#!/bin/sh\necho us\n");
  });
});
