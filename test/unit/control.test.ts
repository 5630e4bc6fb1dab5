import { mkdirSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { addSecret } from "../../src/redact";
import { askWatcher, serveControl } from "../../src/state";
import { defer, tempDir } from "../helpers";

function stateDir(extra = ""): string {
  const root = realpathSync(tempDir("ms-unit-control-"));
  const dir = path.join(root, extra);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

function serve(socket: string, answer: () => Promise<unknown>) {
  const server = serveControl(socket, answer);
  defer(() => void server.close());
  return new Promise<void>((resolve) => (server.listening ? resolve() : server.once("listening", () => resolve())));
}

describe("the control socket", () => {
  it("answers redacted like a log line: no password in a URL, no token, no auth header", async () => {
    const socket = path.join(stateDir(), "control.sock");
    addSecret("registered-secret-value");
    await serve(socket, async () => ({
      remote: "https://alice:p4ssw0rd@git.example.com/x.git",
      lastError: 'fatal: "Authorization: Basic YWxpY2U6cDRzc3cwcmQ=" refused; token registered-secret-value',
      nested: { list: ["https://bob:hunter22@h/y.git"] },
    }));
    const reply = await askWatcher<Record<string, unknown>>(socket, "status", 5000);
    const text = JSON.stringify(reply);
    for (const secret of ["p4ssw0rd", "hunter22", "YWxpY2U6cDRzc3cwcmQ=", "registered-secret-value"]) {
      expect(text).not.toContain(secret);
    }
    expect(reply.remote).toBe("https://***@git.example.com/x.git");
  });

  it("answers an error redacted too", async () => {
    const socket = path.join(stateDir(), "control.sock");
    await serve(socket, () => Promise.reject(new Error("cannot reach https://u:tok3n-value@h/x.git")));
    const reply = await askWatcher<{ error: string }>(socket, "save", 5000);
    expect(reply.error).not.toContain("tok3n-value");
  });

  it("binds in the state dir however long its path, mode 0600, and is reached there", async () => {
    const dir = stateDir(path.join("a".repeat(80), "b".repeat(80)));
    const socket = path.join(dir, "control.sock");
    expect(Buffer.byteLength(socket)).toBeGreaterThan(108);
    await serve(socket, async () => ({ ok: true }));
    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(await askWatcher(socket, "status", 5000)).toEqual({ ok: true });
  });
});
