/**
 * Integrating another writer's commits when our side turned a file into a directory: the
 * merge's tree takes our paths as blobs (x/y), never a directory entry for x.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { cloneRemote, commitAndPush, git, remoteFiles, run, sandbox, write } from "../helpers";

describe("integrating the remote's commits", () => {
  it("a file that became a directory here meets their unrelated commit: both at the remote, a sound tree", async () => {
    const sb = sandbox();
    write(sb.work, "x", "a file\n");
    const first = await run(["push", sb.work], { env: sb.env });
    expect(first.code, first.stderr).toBe(0);
    commitAndPush(cloneRemote(sb.remote), { "theirs.txt": "from the laptop\n" });
    // Ours, committed by the push before it is rejected: integration merges two commits.
    write(sb.work, "ours.txt", "ours\n");
    rmSync(path.join(sb.work, "x"));
    write(sb.work, "x/y", "now a directory\n");

    const r = await run(["push", sb.work], { env: sb.env });
    expect(r.code, r.stderr).toBe(0);
    expect(Object.fromEntries(remoteFiles(sb.remote))).toEqual({
      "ours.txt": "ours\n",
      "theirs.txt": "from the laptop\n",
      "x/y": "now a directory\n",
    });
    git(sb.remote, "fsck", "--strict", "--no-progress");
  });
});
