/**
 * `restore --at` with a whole commit id against a complete history: the id is fetched from the
 * remote only to fill in a shallow state. A complete one (a laptop checkout, --in-place) already
 * holds every save of the branch, so a commit it lacks is no save of it: exit 6, and the user's
 * repository is never made shallow by a `fetch --depth=1` of a commit on another branch.
 */
import { existsSync, rmSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { git, reportedError, run, sandbox } from "../helpers";
import { longHistory } from "../helpers/history";

describe("restore --at on a complete history", () => {
  it("--in-place: a whole id on another branch is no save of ours (exit 6), and the checkout stays complete", async () => {
    const sb = sandbox();
    longHistory(sb.remote, 3, { files: { "a.txt": "a\n" } });
    const other = longHistory(sb.remote, 1, { branch: "other", tag: "elsewhere" }).ids[0]!;
    rmSync(sb.work, { recursive: true });
    // --no-local: a local clone copies every object, the other branch's too.
    git(sb.root, "clone", "-q", "--no-local", "--single-branch", "-b", "main", sb.remote, sb.work);
    const env = { ...sb.env };
    delete env.MIRRORSHADE_REMOTE;

    const r = await run(["restore", sb.work, "--in-place", "--at", other], { env });
    expect(existsSync(path.join(sb.work, ".git", "shallow"))).toBe(false);
    expect(r.code, r.stderr).toBe(6);
    expect(reportedError(r.stderr).join("\n")).toMatch(/no save [0-9a-f]{40} in the history of branch main/);
    expect(git(sb.work, "rev-list", "--count", "HEAD").trim()).toBe("3");
  });
});
