import { describe, expect, it } from "vitest";
import { formatDuration, formatSize, parseDuration, parseSize } from "../../src/units";

describe("parseDuration", () => {
  it.each([
    ["500ms", 500],
    ["2s", 2000],
    ["1.5m", 90_000],
    ["1h", 3_600_000],
    ["0", 0],
    ["0s", 0],
    [" 2 s ", 2000],
    ["10S", 10_000],
  ])("parses %j as %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["2", "2x", "", " ", "s", "-1s", "1.s", "2 sec", "1e3ms", "1s2"])("rejects %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe("parseSize", () => {
  it.each([
    ["100", 100],
    ["100b", 100],
    ["512k", 512 * 1024],
    ["512KiB", 512 * 1024],
    ["50m", 50 * 1024 ** 2],
    ["50MB", 50 * 1024 ** 2],
    ["2g", 2 * 1024 ** 3],
    ["1.5k", 1536],
    ["0", 0],
  ])("parses %j as %d bytes", (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(["", "k", "12x", "-1", "1t", "5 m b b"])("rejects %j", (text) => {
    expect(parseSize(text)).toBeUndefined();
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0ms"],
    [250, "250ms"],
    [1500, "1.5s"],
    [2000, "2.0s"],
    [12_000, "12s"],
    [90_000, "2m"],
    [3_600_000, "60m"],
  ])("formats %d ms as %j", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("round-trips through parseDuration for whole units", () => {
    for (const ms of [250, 1500, 12_000, 120_000]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});

describe("formatSize", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1.0 KiB"],
    [1536, "1.5 KiB"],
    [50 * 1024 ** 2, "50 MiB"],
    [3 * 1024 ** 3, "3.0 GiB"],
    [2048 * 1024 ** 3, "2048 GiB"],
  ])("formats %d bytes as %j", (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });
});
