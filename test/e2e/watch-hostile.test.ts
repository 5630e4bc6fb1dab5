/** `watch` against a work dir its writer made awkward for the watcher itself. */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { remoteFiles, sandbox, startWatch, stop, waitFor, write } from "../helpers";

describe("watch with hostile trees", () => {
  it("one directory path longer than inotify takes leaves the rest watched, and says why", async () => {
    const sb = sandbox();
    // 25 levels of 200-byte names: beyond PATH_MAX (4096), made step by step as no single mkdir can.
    const name = "d".repeat(200);
    execFileSync("bash", ["-c", `for i in $(seq 25); do mkdir ${name} && cd ${name} || exit 1; done; echo x > f`], {
      cwd: sb.work,
    });
    const w = await startWatch(sb);
    write(sb.work, "after.txt", "seen\n");
    await waitFor("after.txt at the remote", () => remoteFiles(sb.remote).get("after.txt") === "seen\n");
    const logs = w.logs().map((l) => String(l.msg));
    expect(logs.some((m) => /longer than the system allows/.test(m))).toBe(true);
    expect(logs.some((m) => /inotify limits|Falling back to scanning/i.test(m))).toBe(false);
    expect((await stop(w)).code).toBe(0);
  });
});
