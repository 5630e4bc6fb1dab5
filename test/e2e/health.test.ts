import path from "node:path";
import { describe, expect, it } from "vitest";
import { commitCount, freePort, run, sandbox, start, waitFor, waitForStart, write } from "../helpers";
import { startGitHttp } from "../helpers/githttp";

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, "m").exec(text);
  if (!m) throw new Error(`no ${name} in metrics`);
  return Number(m[1]);
}

describe("health, readiness and metrics", () => {
  it("is alive but not ready while the remote is unreachable; ready once restored; a save moves the counters", async () => {
    const sb = sandbox();
    // The git server is not up yet: watch keeps retrying, alive but not ready.
    const port0 = await freePort();
    const env = {
      ...sb.env,
      MIRRORSHADE_REMOTE: `http://127.0.0.1:${port0}/remote.git`,
      MIRRORSHADE_TOKEN: "health-token-1",
    };
    const w = start(["watch", sb.work, "--debounce", "200ms", "--listen", "127.0.0.1:0"], { env });
    const line = await w.waitForLog("the listener", (l) => String(l.msg).startsWith("health and metrics on"));
    const port = Number(/:(\d+)$/.exec(String(line.msg))![1]);
    await w.waitForLog("a failed remote check", (l) => l.level === "error");
    expect((await get(port, "/healthz")).status).toBe(200);
    expect((await get(port, "/readyz")).status).toBe(503);
    expect(metric((await get(port, "/metrics")).body, "mirrorshade_ready")).toBe(0);

    await startGitHttp({ root: path.dirname(sb.remote), token: "health-token-1", port: port0 });
    await waitFor("ready", async () => (await get(port, "/readyz")).status === 200, 60_000);
    await waitForStart(w);
    const before = metric((await get(port, "/metrics")).body, "mirrorshade_saves_total");

    write(sb.work, "a.txt", "hello\n");
    await waitFor("the commit", () => commitCount(sb.remote) >= 1);
    const after = await waitFor("the counter", async () => {
      const m = (await get(port, "/metrics")).body;
      return metric(m, "mirrorshade_saves_total") > before ? m : undefined;
    });
    expect(metric(after, "mirrorshade_last_success_timestamp_seconds")).toBeGreaterThan(0);
    expect(metric(after, "mirrorshade_save_failures_total")).toBeGreaterThanOrEqual(0);
    expect(metric(after, "mirrorshade_saved_bytes_total")).toBeGreaterThanOrEqual(6);
    expect(after).toMatch(/^mirrorshade_save_duration_seconds_count [1-9]/m);
    expect((await get(port, "/healthz")).body).toBe("ok\n");

    // `status` asks the running watch.
    const st = await run(["status", sb.work, "--json"], { env });
    expect(st.code).toBe(0);
    const report = JSON.parse(st.stdout) as Record<string, unknown>;
    expect(report.running).toBe(true);
    expect(report.ready).toBe(true);
    expect(Number(report.saves)).toBeGreaterThanOrEqual(1);

    w.proc.kill("SIGTERM");
    expect((await w.exited).code).toBe(0);
    const after2 = await run(["status", sb.work], { env });
    expect(after2.code).toBe(8);
    expect(after2.stderr).toMatch(/no watch runs/);
  });

  it("a bad --listen address is a usage error", async () => {
    const sb = sandbox();
    const r = await run(["watch", sb.work, "--listen", "nope"], { env: sb.env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad --listen address/);
  });
});
