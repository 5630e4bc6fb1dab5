import { describe, expect, it } from "vitest";
import { fold, parseKey, recordKey, type SaveRec } from "../../backends/s3/records";
import type { S3Ctx } from "../../backends/s3/context";

const rec = (time: string, files: SaveRec["files"], base = false): SaveRec => ({
  v: 1,
  id: "0123456789abcdef",
  time,
  host: "h",
  message: "m",
  base,
  files,
});
const add = (path: string, etag: string) => ({ path, op: "add" as const, etag });

describe("S3 save records", () => {
  it("a record's key orders it by time and says its id and kind without reading it", () => {
    const c = { prefix: "p/" } as S3Ctx;
    const key = recordKey(c, { time: "2026-12-02T10:15:00.123Z", id: "0123456789abcdef" });
    expect(key).toBe("p/.mirrorshade/saves/20261202T101500.123Z-0123456789abcdef.json");
    expect(parseKey(c, key)).toEqual({
      key,
      time: Date.parse("2026-12-02T10:15:00.123Z"),
      id: "0123456789abcdef",
      base: false,
    });
    expect(
      parseKey(c, recordKey(c, { time: "2026-12-02T10:15:00.123Z", id: "0123456789abcdef", base: true }))?.base,
    ).toBe(true);
    expect(parseKey(c, "p/.mirrorshade/saves/junk.json")).toBeUndefined();
    expect(parseKey(c, "p/.mirrorshade/saves/20261202T101500.123Z-0123456789abcdef.json.tmp")).toBeUndefined();
  });

  it("folding gives each path's last recorded content; a deletion removes it; a later add brings it back", () => {
    const tree = fold([
      rec("t1", [add("a", "a1"), add("b", "b1")]),
      rec("t2", [
        { path: "a", op: "modify", etag: "a2" },
        { path: "b", op: "delete" },
      ]),
      rec("t3", [add("c", "c1")]),
      rec("t4", [{ path: "c", op: "delete" }]),
      rec("t5", [add("c", "c2")]),
    ]);
    expect(Object.fromEntries([...tree].map(([p, f]) => [p, f.etag]))).toEqual({ a: "a2", c: "c2" });
  });

  it("a base record fills only paths no earlier save recorded (a writer's stale view never wins)", () => {
    const tree = fold([
      rec("t1", [
        { path: "shared", op: "modify", etag: "theirs-newer" },
        { path: "gone", op: "delete" },
      ]),
      rec("t2", [add("shared", "stale"), add("gone", "stale"), add("old", "o1")], true),
      rec("t3", [add("mine", "m1")]),
    ]);
    expect(Object.fromEntries([...tree].map(([p, f]) => [p, f.etag]))).toEqual({
      shared: "theirs-newer",
      old: "o1",
      mine: "m1",
    });
  });
});
