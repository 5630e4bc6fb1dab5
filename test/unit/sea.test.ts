import { writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadChunk } from "../../src/sea";
import { tempDir } from "../helpers";

describe("loadChunk (outside the single binary)", () => {
  it("loads the chunk file beside the bundle, once, with Node's built-ins available to it", () => {
    const dir = tempDir("ms-chunk-");
    writeFileSync(
      path.join(dir, "demo.cjs"),
      'globalThis.__chunkLoads = (globalThis.__chunkLoads ?? 0) + 1;\nexports.sep = require("node:path").sep;\nexports.answer = 42;\n',
    );
    const a = loadChunk("demo.cjs", dir) as { sep: string; answer: number };
    const b = loadChunk("demo.cjs", dir);
    expect(a).toMatchObject({ sep: "/", answer: 42 });
    expect(b).toBe(a);
    expect((globalThis as { __chunkLoads?: number }).__chunkLoads).toBe(1);
  });

  it("a missing chunk fails like a missing module (the caller says what to install)", () => {
    const dir = tempDir("ms-chunk-");
    expect(() => loadChunk("none.cjs", dir)).toThrow(/Cannot find module/);
  });
});
