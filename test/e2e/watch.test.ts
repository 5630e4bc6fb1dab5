import { describe, expect, it } from "vitest";
import { remoteFiles, sandbox, startWatch, waitFor, write } from "../helpers";

describe("watch", () => {
  it("saves a written file to the remote", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    write(sb.work, "notes/a.txt", "hello\n");
    await waitFor("a.txt at the remote", () => remoteFiles(sb.remote).get("notes/a.txt") === "hello\n");
    w.proc.kill("SIGTERM");
    const r = await w.exited;
    expect(r.code).toBe(0);
  });
});
