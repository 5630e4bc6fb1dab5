/** A path that cannot be saved is named by `status` and counted in /metrics until it can be. */
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { remoteFiles, run, sandbox, startWatch, stop, waitFor, write } from "../helpers";

describe("skipped paths in status and metrics", () => {
  it("a saved notebook replaced by a FIFO is listed with its reason, and leaves the list once it is a file again", async () => {
    const sb = sandbox();
    const w = await startWatch(sb, ["--listen", "127.0.0.1:0"]);
    const line = await w.waitForLog("the listener", (l) => String(l.msg).startsWith("health and metrics on"));
    const port = Number(/:(\d+)$/.exec(String(line.msg))![1]);
    write(sb.work, "nb.ipynb", '{"cells": []}');
    await waitFor("nb.ipynb at the remote", () => remoteFiles(sb.remote).has("nb.ipynb"));

    rmSync(path.join(sb.work, "nb.ipynb"));
    execFileSync("mkfifo", [path.join(sb.work, "nb.ipynb")]);
    write(sb.work, "other.txt", "saved anyway\n");
    await waitFor("other.txt at the remote", () => remoteFiles(sb.remote).get("other.txt") === "saved anyway\n");
    const status = async () => {
      const r = await run(["status", sb.work, "--json"], { env: sb.env });
      return JSON.parse(r.stdout) as { skipped: { path: string; reason: string }[] };
    };
    const skipped = await waitFor("nb.ipynb in status", async () => {
      const s = await status();
      return s.skipped.length ? s.skipped : undefined;
    });
    expect(skipped).toEqual([{ path: "nb.ipynb", reason: expect.stringMatching(/FIFO/) }]);
    const text = (await run(["status", sb.work], { env: sb.env })).stdout;
    expect(text).toMatch(/^skipped\s+1: nb\.ipynb \(.*FIFO/m);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/^mirrorshade_skipped_paths 1$/m);

    rmSync(path.join(sb.work, "nb.ipynb"));
    write(sb.work, "nb.ipynb", '{"cells": [], "back": true}');
    await waitFor("nb.ipynb saved again", () => remoteFiles(sb.remote).get("nb.ipynb")?.includes("back"));
    await waitFor("the skipped list empty", async () => (await status()).skipped.length === 0);
    expect((await stop(w)).code).toBe(0);
  });
});
