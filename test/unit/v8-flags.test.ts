import { describe, expect, it } from "vitest";
import { collectStartupGarbage, tuneV8 } from "../../src/v8-flags";

const ALL = ["--no-turbofan", "--no-maglev", "--semi-space-growth-factor=1"];

function tune(args: string[], nodeOptions?: string, execArgv: string[] = []) {
  const applied: string[] = [];
  const flags = tuneV8(["node", "mirrorshade", ...args], { NODE_OPTIONS: nodeOptions }, execArgv, (f) =>
    applied.push(f),
  );
  return { flags, applied };
}

describe("tuneV8", () => {
  it("sets the idle-daemon flags for watch, at once", () => {
    expect(tune(["watch", "/work", "--debounce", "300ms"])).toEqual({ flags: ALL, applied: [ALL.join(" ")] });
  });

  it("leaves every other command (and help) as Node starts it", () => {
    for (const args of [["push", "/work"], ["restore"], ["status"], ["--help"], ["--version"], []])
      expect(tune(args)).toEqual({ flags: [], applied: [] });
  });

  it("leaves a flag the operator named (NODE_OPTIONS or node's command line) as they set it", () => {
    expect(tune(["watch"], "--max-semi-space-size=16").flags).toEqual(["--no-turbofan", "--no-maglev"]);
    expect(tune(["watch"], "--max_semi_space_size=16 --jitless").flags).toEqual([]);
    expect(tune(["watch"], undefined, ["--turbofan"]).flags).toEqual(["--no-maglev", "--semi-space-growth-factor=1"]);
    // Other options do not count: --require ./opt/x.js names no flag of ours.
    expect(tune(["watch"], "--require ./opt/x.js --openssl-legacy-provider").flags).toEqual(ALL);
  });
});

describe("collectStartupGarbage", () => {
  it("makes a full collection on this Node (gc is reachable after --expose-gc at run time)", () => {
    expect(collectStartupGarbage()).toBe(true);
    expect(collectStartupGarbage()).toBe(true); // twice is harmless
  });
});
