/**
 * Help a person reads: each command's --help is short and shows its own options; the
 * backend options (ssh, https, S3) and env names are one --help-all away; no stale or
 * generated-nonsense lines.
 */
import { hostname } from "node:os";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { envName, flagName, optionsFor, type CommandName } from "../../src/options";
import { ROOT, cleanEnv, git, run, sandbox, write } from "../helpers";

const COMMANDS: CommandName[] = ["init", "restore", "watch", "push", "status"];
const BACKEND_FLAG = /--(ssh-|token-|ca-file|s3-)/;

async function help(...args: string[]): Promise<string> {
  const r = await run(args, { env: cleanEnv() });
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

/** The flags a help text lists in its option columns. */
function listedFlags(text: string): string[] {
  return [...text.matchAll(/^ {2}(--[a-z0-9-]+)/gm)].map((m) => m[1]!);
}

describe("help", () => {
  it.each(COMMANDS)(
    "%s --help: under 45 lines of at most 80 columns, only its own options, no backend options",
    async (cmd) => {
      const text = await help(cmd, "--help");
      const lines = text.trimEnd().split("\n");
      expect(lines.length, text).toBeLessThanOrEqual(45);
      expect(Math.max(...lines.map((l) => l.length)), text).toBeLessThanOrEqual(80);
      const takes = new Set(optionsFor(cmd).flatMap(([k]) => [`--${flagName(k)}`, `--no-${flagName(k)}`]));
      for (const flag of listedFlags(text)) {
        if (flag === "--help" || flag === "--help-all") continue;
        expect(takes.has(flag), `${cmd} --help lists ${flag}, which it does not take`).toBe(true);
        expect(flag).not.toMatch(BACKEND_FLAG);
      }
      expect(text).toMatch(/--help-all/);
      expect(text).toMatch(/Exit status: 0 ok/);
    },
  );

  it("status --help lists what status uses, not what saving commands use", async () => {
    const flags = listedFlags(await help("status", "--help"));
    for (const f of ["--create", "--retry-for", "--remote", "--branch", "--in-place", "--message"]) {
      expect(flags).not.toContain(f);
    }
    for (const f of ["--state-dir", "--json"]) expect(flags).toContain(f);
  });

  it.each(COMMANDS)(
    "%s --help-all: every option it takes, backend ones under their heading, with env names",
    async (cmd) => {
      const text = await help(cmd, "--help-all");
      const flags = listedFlags(text);
      for (const [key] of optionsFor(cmd)) {
        expect(flags, `--${flagName(key)}`).toContain(`--${flagName(key)}`);
        expect(text).toContain(envName(key));
      }
      expect(text).toMatch(/^ssh remotes.*:$/m);
      expect(text).toMatch(/^S3 remotes.*:$/m);
      expect(text.indexOf("--s3-endpoint")).toBeGreaterThan(text.indexOf("S3 remotes"));
      // A negation is described, not generated ("--no-s3-path-style  do not s3-path-style").
      expect(text).not.toMatch(/--no-([a-z-]+)\s+do not \1/);
      expect(text).toMatch(/--no-s3-path-style\s+virtual-hosted/);
    },
  );

  it("the top-level help names both backends and no plan; so does the image's label", async () => {
    const text = await help("--help");
    expect(text).toMatch(/git or S3/);
    expect(text).not.toMatch(/S3 next/);
    for (const code of [0, 1, 2, 3, 4, 5, 6, 7, 8]) expect(text).toMatch(new RegExp(`^\\s+${code}\\s+\\S`, "m"));
    const label = /org\.opencontainers\.image\.description="([^"]*)"/.exec(
      readFileSync(path.join(ROOT, "Dockerfile"), "utf8"),
    );
    expect(label?.[1]).toMatch(/S3/);
  });

  it("--author's help names the default a commit really gets", async () => {
    expect(await help("push", "--help")).toMatch(/commit author \(default: mirrorshade\s+<mirrorshade@HOST>/);
    const sb = sandbox();
    write(sb.work, "a.txt", "a\n");
    const r = await run(["push", sb.work], { env: sb.env });
    expect(r.code, r.stderr).toBe(0);
    expect(git(sb.remote, "log", "-1", "--format=%an <%ae>", "main").trim()).toBe(
      `mirrorshade <mirrorshade@${hostname()}>`,
    );
  });
});
