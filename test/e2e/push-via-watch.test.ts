import { rmSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { reportedError, run, sandbox, startWatch, stop, write } from "../helpers";

describe("push through a running watch whose save fails", () => {
  it("exits with the save's own error (code, message and hint), not a generic one", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    // The remote is gone after the watch started: its next save cannot succeed.
    rmSync(sb.remote, { recursive: true, force: true });
    write(sb.work, "a.md", "to save\n");
    const direct = await run(["push", sb.work], {
      env: { ...sb.env, MIRRORSHADE_STATE_DIR: `${sb.state}-direct` },
    });
    const viaWatch = await run(["push", sb.work], { env: { ...sb.env } });
    await stop(w, "SIGKILL");
    expect(viaWatch.stderr).toMatch(/a watch runs on this dir/);
    // The exit code the same push has on its own, with no watch.
    expect(viaWatch.code, viaWatch.stderr).toBe(direct.code);
    expect(direct.code, direct.stderr).toBe(6);
    // The watch's own words for it (its save met the missing remote in git), with a hint.
    const [line, hint] = reportedError(viaWatch.stderr);
    expect(line).toMatch(/^mirrorshade: repository .*remote\.git not found$/);
    expect(hint?.trim()).toMatch(/^hint: check the URL/);
  });
});

describe("a running watch knows its remote", () => {
  it("push and log on its dir need no --remote: they ask the watch", async () => {
    const sb = sandbox();
    const w = await startWatch(sb);
    try {
      write(sb.work, "b.md", "saved through the watch\n");
      const env = { ...sb.env };
      delete env.MIRRORSHADE_REMOTE; // as a user who typed `mirrorshade push ~/notes`
      const pushed = await run(["push", sb.work, "--json"], { env });
      expect(pushed.code, pushed.stderr).toBe(0);
      expect(JSON.parse(pushed.stdout)).toMatchObject({ ok: true, viaWatcher: true });
      const logged = await run(["log", sb.work, "--json"], { env });
      expect(logged.code, logged.stderr).toBe(0);
      const saves = (JSON.parse(logged.stdout) as { saves: { files: { path: string }[] }[] }).saves;
      expect(saves.flatMap((s) => s.files.map((f) => f.path))).toContain("b.md");
      // With no watch, the same push is a usage error that says what is missing.
      await stop(w, "SIGTERM");
      const alone = await run(["push", sb.work], { env });
      expect(alone.code).toBe(2);
      expect(alone.stderr).toMatch(/no remote to save to/);
    } finally {
      await stop(w, "SIGKILL");
    }
  });
});
