import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { askWatch } from "../../src/commands/common";
import type { Settings } from "../../src/config";
import { AuthError } from "../../src/errors";
import { serveControl } from "../../src/state";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.splice(0).reverse()) fn();
});

function stateDir(): string {
  const root = realpathSync(mkdtempSync(path.join(tmpdir(), "ms-unit-ask-")));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, "state");
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

async function serve(socket: string, answer: () => Promise<unknown>): Promise<void> {
  const server = serveControl(socket, answer);
  cleanups.push(() => server.close());
  // "listening" comes on a later tick than serveControl's return (which is when it lets go of the dir fd).
  await new Promise<void>((resolve) => server.once("listening", () => resolve()));
}

describe("asking the running watch", () => {
  it("gives its error back typed, with its exit code and hint", async () => {
    const socket = path.join(stateDir(), "control.sock");
    await serve(socket, () => Promise.reject(new AuthError("the remote refused the token", { hint: "renew it" })));
    const settings = { retryFor: 5000 } as Settings;
    const err: unknown = await askWatch(socket, "save", settings, 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).message).toBe("the remote refused the token");
    expect((err as AuthError).hint).toBe("renew it");
  });
});
