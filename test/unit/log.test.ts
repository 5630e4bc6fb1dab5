import { describe, expect, it } from "vitest";
import { canAnimate, inForeground } from "../../src/log";

/** A /proc/<pid>/stat line: pid (comm) state ppid pgrp session tty_nr tpgid … */
const stat = (comm: string, pgrp: number, tpgid: number) =>
  `4242 (${comm}) S 1 ${pgrp} ${pgrp} 34816 ${tpgid} 4194304 123 0 0 0 5 2 0 0 20 0 11 0 987654 1024 0\n`;

describe("terminal discipline", () => {
  it("in the foreground when our process group is the terminal's (fields 5 and 8)", () => {
    expect(inForeground(stat("node", 4242, 4242))).toBe(true);
    expect(inForeground(stat("node", 4242, 4300))).toBe(false); // `watch &`
    expect(inForeground(stat("node", 4242, -1))).toBe(false); // no controlling terminal
  });

  it("reads the fields after the last ')': a command name may hold spaces and parens", () => {
    expect(inForeground(stat("a) S 1 7 7 0 7 (b", 4242, 4242))).toBe(true);
    expect(inForeground(stat("a) S 1 7 7 0 7 (b", 4242, 7))).toBe(false);
  });

  it("never animates on a pipe, a 0x0 terminal, TERM=dumb or in CI", () => {
    const tty = (columns: number, rows: number) => ({ isTTY: true, columns, rows }) as unknown as NodeJS.WriteStream;
    expect(canAnimate({ isTTY: false } as unknown as NodeJS.WriteStream)).toBe(false);
    expect(canAnimate(tty(0, 0))).toBe(false);
    expect(canAnimate(tty(80, 0))).toBe(false);
    const saved = { TERM: process.env.TERM, CI: process.env.CI };
    try {
      delete process.env.CI;
      process.env.TERM = "dumb";
      expect(canAnimate(tty(80, 24))).toBe(false);
      process.env.TERM = "xterm";
      process.env.CI = "true";
      expect(canAnimate(tty(80, 24))).toBe(false);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
