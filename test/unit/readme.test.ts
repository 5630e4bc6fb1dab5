/**
 * README and docs/ stay true to the code and readable: docs/configuration.md has one row per
 * option of src/options.ts (flag, env, default) and no row for an option that is gone;
 * docs/troubleshooting.md and README name every exit code; README stays short with no line a
 * terminal wraps (outside tables); every relative link and #anchor leads somewhere.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import type { Deployment } from "kubernetes-types/apps/v1";
import type { Container } from "kubernetes-types/core/v1";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { EXIT_CODES } from "../../src/errors";
import { OPTIONS, envName, flagName, type OptionKey, type OptionSpec } from "../../src/options";

const ROOT = path.join(__dirname, "../..");
const read = (rel: string) => readFileSync(path.join(ROOT, rel), "utf8");
const README = read("README.md");
const DOCS = readdirSync(path.join(ROOT, "docs"))
  .filter((f) => f.endsWith(".md"))
  .map((f) => `docs/${f}`);
const CONFIGURATION = read("docs/configuration.md");

/** Table rows as cells (trimmed), skipping header separators. */
function rows(markdown: string): string[][] {
  return markdown
    .split("\n")
    .filter((l) => l.startsWith("|") && !/^\|[\s:|-]+\|$/.test(l))
    .map((l) =>
      l
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

/** The option rows of docs/configuration.md: [flag cell, env cell, default cell, meaning]. */
const OPTION_ROWS = rows(CONFIGURATION).filter((r) => /^`MIRRORSHADE_\w+`$/.test(r[1] ?? ""));

describe("docs/configuration.md stays true to the option table (src/options.ts)", () => {
  it.each(Object.keys(OPTIONS))("has a row for %s: flag, env and default", (key) => {
    const spec = OPTIONS[key as OptionKey] as OptionSpec;
    const row = OPTION_ROWS.find((r) => r[1] === `\`${envName(key)}\``);
    expect(row, `a row with ${envName(key)}`).toBeDefined();
    expect(row![0]).toMatch(new RegExp(`\`--${flagName(key)}[\` <]`));
    if (spec.negatable) expect(row![0]).toContain(`--no-${flagName(key)}`);
    const def = row![2]!;
    if (spec.default !== undefined) expect(def).toContain(`\`${String(spec.default)}\``);
    // A plain switch is off unless given; a negatable one without a default decides by itself.
    else if (spec.type === "boolean" && !spec.negatable) expect(def).toBe("false");
    else expect(def).not.toBe("");
  });

  it("has no row for an option that does not exist", () => {
    const known = new Set(Object.keys(OPTIONS).map(envName));
    const stale = OPTION_ROWS.map((r) => r[1]!.slice(1, -1)).filter((env) => !known.has(env));
    expect(stale).toEqual([]);
    expect(OPTION_ROWS.length).toBe(Object.keys(OPTIONS).length);
  });
});

describe("exit codes", () => {
  const troubleshooting = read("docs/troubleshooting.md");
  it.each(Object.entries(EXIT_CODES))("%s (%i) has its cause and fix in docs/troubleshooting.md", (_, code) => {
    const section = new RegExp(`^### ${code} — [^\\n]+\\n([\\s\\S]*?)(?=^##|(?![\\s\\S]))`, "m").exec(troubleshooting);
    expect(section, `a "### ${code} — …" section`).not.toBeNull();
    expect(section![0]).toMatch(/\*\*Fix\*\*/);
  });

  it("README lists every exit code", () => {
    const list = /^## Exit codes\n([\s\S]*?)^## /m.exec(README)![1]!;
    for (const code of Object.values(EXIT_CODES)) expect(list).toMatch(new RegExp(`(^|\\D)${code}(\\D|$)`));
  });
});

describe("README reads well", () => {
  const lines = README.split("\n");
  it("is short: at most 250 lines", () => {
    expect(lines.length).toBeLessThanOrEqual(250);
  });

  it("has no line over 120 characters outside tables", () => {
    const long = lines.filter((l) => !l.startsWith("|") && l.length > 120);
    expect(long).toEqual([]);
  });

  it("shows the sidecar as hack/k8s/jupyter-sidecar.yaml has it", () => {
    const block = /^## In a pod[\s\S]*?```yaml\n([\s\S]*?)```/m.exec(README)![1]!;
    const shown = (parse(block) as { initContainers: Container[] }).initContainers[0]!;
    const manifest = parse(read("hack/k8s/jupyter-sidecar.yaml")) as Deployment;
    const real = manifest.spec!.template.spec!.initContainers!.find((c) => c.name === shown.name)!;
    const { env, volumeMounts, ...rest } = shown;
    expect(real).toMatchObject(rest);
    for (const e of env ?? []) expect(real.env).toContainEqual(e);
    for (const m of volumeMounts ?? []) expect(real.volumeMounts).toContainEqual(m);
  });

  it("names the optional system packages the full test suite uses", () => {
    for (const pkg of ["openssh-server", "libnss-wrapper", "inotify-tools", "rclone", "podman"])
      expect(README).toContain(pkg);
  });
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of markdown.replace(/```[\s\S]*?```/g, "").matchAll(/^#{1,6} (.+)$/gm)) {
    const base = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n ? `${base}-${n}` : base);
  }
  return out;
}

describe.each(["README.md", ...DOCS])("%s: links", (file) => {
  it("every relative link and anchor leads somewhere", () => {
    const text = read(file).replace(/```[\s\S]*?```/g, "");
    const broken: string[] = [];
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
      const [rel, anchor] = target.split("#") as [string, string | undefined];
      const dest = rel ? path.join(path.dirname(path.join(ROOT, file)), rel) : path.join(ROOT, file);
      if (!existsSync(dest)) {
        broken.push(target);
        continue;
      }
      if (anchor && dest.endsWith(".md") && !anchors(readFileSync(dest, "utf8")).has(anchor)) broken.push(target);
    }
    expect(broken).toEqual([]);
  });
});
