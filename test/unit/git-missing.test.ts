import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors";
import { Git } from "../../src/git";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("git not on PATH", () => {
  it("is a usage error with one line and a hint, not an unexpected spawn error", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "ms-unit-nogit-"));
    dirs.push(dir);
    const git = new Git(dir, { PATH: path.join(dir, "no-bin") });
    const err: unknown = await git.run(["--version"]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).exitCode).toBe(2);
    expect((err as ConfigError).message).toMatch(/git/);
    expect((err as ConfigError).hint).toMatch(/PATH/);
  });
});
