import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_IGNORES, IGNORE_FILE, IgnoreRules } from "../../src/ignore";

let root: string;
beforeEach(() => {
  root = mkdtempSync(path.join(tmpdir(), "ms-unit-ignore-"));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

function write(rel: string, text: string): void {
  const file = path.join(root, rel);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

describe("IgnoreRules defaults", () => {
  it.each([
    ".ipynb_checkpoints/x",
    "sub/.ipynb_checkpoints/nb-checkpoint.ipynb",
    ".~foo.ipynb",
    "sub/.~bar.ipynb",
    "a.invalid",
    "__pycache__/x.pyc",
    "pkg/__pycache__/mod.cpython-312.pyc",
    ".git/config",
    "sub/.git/HEAD",
    "foo.swp",
    ".foo.txt.swp",
    "notes.md~",
    ".DS_Store",
    "4913",
    ".virtual_documents/x.py",
    ".Trash-1000/files/a",
    ".jupyter_ystore.db",
  ])("ignores %j", (rel) => {
    expect(new IgnoreRules(root).ignores(rel)).toBe(true);
  });

  it.each([
    "notebook.ipynb",
    "sub/analysis.ipynb",
    "data.csv",
    "README.md",
    ".gitignore",
    ".mirrorshadeignore",
    "git/config",
    "x.py",
    "a.invalid.txt",
  ])("keeps %j", (rel) => {
    expect(new IgnoreRules(root).ignores(rel)).toBe(false);
  });

  it("ignores the default directories themselves", () => {
    const rules = new IgnoreRules(root);
    expect(rules.ignores(".git", true)).toBe(true);
    expect(rules.ignores(".ipynb_checkpoints", true)).toBe(true);
    expect(rules.ignores("src", true)).toBe(false);
  });

  it("adds extra patterns", () => {
    const rules = new IgnoreRules(root, ["*.tmp", "build/"]);
    expect(rules.ignores("a.tmp")).toBe(true);
    expect(rules.ignores("build/out.js")).toBe(true);
    expect(rules.ignores("a.txt")).toBe(false);
  });

  it("puts the defaults, extras and .mirrorshadeignore in git's exclude file", () => {
    write(IGNORE_FILE, "secret/\n");
    const text = IgnoreRules.excludeFileFor(root, ["*.tmp"]);
    const lines = text.split("\n");
    for (const d of DEFAULT_IGNORES) expect(lines).toContain(d);
    expect(lines).toContain("*.tmp");
    expect(lines).toContain("secret/");
    expect(text.endsWith("\n")).toBe(true);
  });
});

describe("IgnoreRules ignore files", () => {
  it("applies a root .gitignore with a negation", () => {
    write(".gitignore", "*.log\n!keep.log\n");
    const rules = new IgnoreRules(root);
    expect(rules.ignores("debug.log")).toBe(true);
    expect(rules.ignores("sub/debug.log")).toBe(true);
    expect(rules.ignores("keep.log")).toBe(false);
    expect(rules.ignores("sub/keep.log")).toBe(false);
    expect(rules.ignores("debug.txt")).toBe(false);
  });

  it("ignores everything below an ignored directory", () => {
    write(".gitignore", "data/\n");
    const rules = new IgnoreRules(root);
    expect(rules.ignores("data", true)).toBe(true);
    expect(rules.ignores("data/a/b.csv")).toBe(true);
    expect(rules.ignores("data.csv")).toBe(false);
  });

  it("applies a nested .gitignore to its own subtree only", () => {
    write("sub/.gitignore", "*.csv\n/local-only.txt\n");
    const rules = new IgnoreRules(root);
    expect(rules.ignores("sub/a.csv")).toBe(true);
    expect(rules.ignores("sub/deeper/b.csv")).toBe(true);
    expect(rules.ignores("sub/local-only.txt")).toBe(true);
    expect(rules.ignores("sub/deeper/local-only.txt")).toBe(false);
    expect(rules.ignores("a.csv")).toBe(false);
    expect(rules.ignores("other/a.csv")).toBe(false);
  });

  it("lets a nested .gitignore re-include what a parent ignores, like git", () => {
    write(".gitignore", "*.log\n");
    write("sub/.gitignore", "!keep.log\n");
    const rules = new IgnoreRules(root);
    expect(rules.ignores("sub/keep.log")).toBe(false);
    expect(rules.ignores("sub/other.log")).toBe(true);
    expect(rules.ignores("keep.log")).toBe(true);
  });

  it("cannot re-include a file inside a directory a parent ignores, like git", () => {
    write(".gitignore", "data/\n");
    write("data/.gitignore", "!x.csv\n");
    expect(new IgnoreRules(root).ignores("data/x.csv")).toBe(true);
  });

  it("reads .mirrorshadeignore at the root", () => {
    write(IGNORE_FILE, "private/\n*.secret\n");
    const rules = new IgnoreRules(root);
    expect(rules.ignores("private/a.txt")).toBe(true);
    expect(rules.ignores("sub/x.secret")).toBe(true);
    expect(rules.ignores("public/a.txt")).toBe(false);
  });

  it("does not read .mirrorshadeignore in a subdirectory", () => {
    write(`sub/${IGNORE_FILE}`, "*.txt\n");
    expect(new IgnoreRules(root).ignores("sub/a.txt")).toBe(false);
  });

  it("sees a changed ignore file after invalidate()", () => {
    write(".gitignore", "*.log\n");
    write("sub/.gitignore", "*.csv\n");
    const rules = new IgnoreRules(root);
    expect(rules.ignores("a.log")).toBe(true);
    expect(rules.ignores("sub/a.csv")).toBe(true);

    write(".gitignore", "*.tmp\n");
    write("sub/.gitignore", "*.tsv\n");
    // cached until invalidated
    expect(rules.ignores("a.log")).toBe(true);
    rules.invalidate(".gitignore");
    expect(rules.ignores("a.log")).toBe(false);
    expect(rules.ignores("a.tmp")).toBe(true);
    // only the root's rules were forgotten
    expect(rules.ignores("sub/a.csv")).toBe(true);
    rules.invalidate("sub/.gitignore");
    expect(rules.ignores("sub/a.csv")).toBe(false);
    expect(rules.ignores("sub/a.tsv")).toBe(true);
  });

  it("sees a new ignore file after invalidate() with no argument", () => {
    const rules = new IgnoreRules(root);
    expect(rules.ignores("a/b.log")).toBe(false);
    write("a/.gitignore", "*.log\n");
    write(IGNORE_FILE, "x/\n");
    rules.invalidate();
    expect(rules.ignores("a/b.log")).toBe(true);
    expect(rules.ignores("x/y")).toBe(true);
  });

  it("recognises rule files", () => {
    expect(IgnoreRules.isRuleFile(".gitignore")).toBe(true);
    expect(IgnoreRules.isRuleFile("a/b/.gitignore")).toBe(true);
    expect(IgnoreRules.isRuleFile(IGNORE_FILE)).toBe(true);
    expect(IgnoreRules.isRuleFile("gitignore")).toBe(false);
    expect(IgnoreRules.isRuleFile("a/.gitignore.bak")).toBe(false);
  });
});

describe("ignore files the work dir's writer planted", () => {
  it("a FIFO named .gitignore reads as no rules at once, never blocking", () => {
    execFileSync("mkfifo", [path.join(root, ".gitignore")]);
    const rules = new IgnoreRules(root);
    expect(rules.ignores("anything.txt")).toBe(false);
  });

  it("a .gitignore or .mirrorshadeignore that is a symlink is not followed (not even to /dev/zero)", () => {
    write("outside/rules", "*.txt\n");
    mkdirSync(path.join(root, "work"));
    symlinkSync(path.join(root, "outside/rules"), path.join(root, "work/.gitignore"));
    symlinkSync("/dev/zero", path.join(root, "work", IGNORE_FILE));
    const rules = new IgnoreRules(path.join(root, "work"));
    expect(rules.ignores("a.txt")).toBe(false);
    expect(IgnoreRules.excludeFileFor(path.join(root, "work"), [])).not.toContain("*.txt");
  });
});
