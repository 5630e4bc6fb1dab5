import { describe, expect, it } from "vitest";
import { conflictCopyName } from "../../backends/lib/naming";
import { compactUtc, parseWhen } from "../../src/time";

const now = new Date("2026-12-02T10:00:00.000Z");

describe("parseWhen: <when> for --at and --since", () => {
  it.each([
    ["90s", "2026-12-02T09:58:30.000Z"],
    ["30m", "2026-12-02T09:30:00.000Z"],
    ["2h", "2026-12-02T08:00:00.000Z"],
    ["3d", "2026-11-29T10:00:00.000Z"],
    ["1w", "2026-11-25T10:00:00.000Z"],
    ["2026-12-01T08:15Z", "2026-12-01T08:15:00.000Z"],
    ["2026-12-01T08:15:30.250Z", "2026-12-01T08:15:30.250Z"],
    ["2026-12-01T10:15+02:00", "2026-12-01T08:15:00.000Z"],
    ["2026-12-01 10:15:00 -0130", "2026-12-01T11:45:00.000Z"],
  ])("%s is a time", (text, iso) => {
    expect(parseWhen(text, now)).toEqual({ time: new Date(iso) });
  });

  it("a time without a zone is local time (as git reads it)", () => {
    expect(parseWhen("2026-12-01T08:15", now)).toEqual({ time: new Date(2026, 11, 1, 8, 15) });
    expect(parseWhen("2026-12-01", now)).toEqual({ time: new Date(2026, 11, 1) });
  });

  it.each(["3fa2c1d0", "3FA2C1D04E5B", "0123456789abcdef0123456789abcdef01234567"])("%s is a save id", (text) => {
    expect(parseWhen(text, now)).toEqual({ id: text.toLowerCase() });
  });

  it.each([
    "",
    "yesterday",
    "2h ago",
    "-2h",
    "2026-02-31",
    "2026-13-01",
    "2026-12-01T25:00Z",
    "abc",
    "3fa2c1d0x",
    "1.5h",
  ])("%j is refused", (text) => {
    expect(parseWhen(text, now)).toBeUndefined();
  });

  it("--since takes no ids", () => {
    expect(parseWhen("3fa2c1d0", now, { ids: false })).toBeUndefined();
    expect(parseWhen("2h", now, { ids: false })).toEqual({ time: new Date("2026-12-02T08:00:00.000Z") });
  });
});

describe("conflict copy names (DESIGN.md, Conflict copies)", () => {
  it("<stem>.conflict-<UTC time>-<sha8 of the bytes><ext>, in the same directory", () => {
    const when = new Date("2026-12-02T10:15:00.789Z");
    expect(compactUtc(when)).toBe("20261202T101500Z");
    const name = conflictCopyName("notes/analysis.ipynb", when, Buffer.from("{}"));
    expect(name).toBe("notes/analysis.conflict-20261202T101500Z-44136fa3.ipynb");
    expect(conflictCopyName("README", when, Buffer.from("{}"))).toBe("README.conflict-20261202T101500Z-44136fa3");
    expect(conflictCopyName("a/.env", when, Buffer.from("{}"))).toBe("a/.env.conflict-20261202T101500Z-44136fa3");
  });
});
