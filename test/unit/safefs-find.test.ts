/** The safe-fs additions the S3 backend uses: find (gone vs cannot tell), unmoved (a swapped parent), commitAs. */
import { chmodSync, mkdirSync, readFileSync, readdirSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { UnsafePathError, WorkDir, withWorkDir } from "../../src/safefs";
import { defer, tempDir } from "../helpers";

function setup() {
  const root = tempDir();
  const work = path.join(root, "work");
  const outside = path.join(root, "outside");
  mkdirSync(path.join(work, "d"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(path.join(work, "d/a.txt"), "a");
  return { work, outside };
}

describe("WorkDir.find", () => {
  it("tells a file, nothing, and a path behind a symlinked parent (nothing inside the work dir) apart", () => {
    const { work, outside } = setup();
    writeFileSync(path.join(outside, "a.txt"), "outside");
    symlinkSync(outside, path.join(work, "link"));
    const wd = new WorkDir(work);
    defer(() => wd.close());
    expect(wd.find("d/a.txt")).toMatchObject({ kind: "file", size: 1 });
    expect(wd.find("d/none")).toBeUndefined();
    expect(wd.find("link/a.txt")).toBeUndefined();
    expect(wd.find("d/a.txt/x")).toBeUndefined();
  });

  it.skipIf(process.getuid?.() === 0)(
    "says why when a parent cannot be searched (not root: root reads anything)",
    () => {
      const { work } = setup();
      chmodSync(path.join(work, "d"), 0o000);
      defer(() => chmodSync(path.join(work, "d"), 0o755));
      const found = new WorkDir(work).find("d/a.txt");
      expect(found).toEqual({ reason: expect.stringMatching(/permission denied/) });
    },
  );
});

describe("WorkDir.unmoved", () => {
  it("is false once a directory this batch opened was moved away or swapped for a symlink", async () => {
    const { work, outside } = setup();
    const wd = new WorkDir(work);
    defer(() => wd.close());
    expect(wd.find("d/a.txt")).toBeDefined();
    const t = await wd.createTemp("d/b.txt");
    expect(wd.unmoved("d")).toBe(true);
    renameSync(path.join(work, "d"), path.join(work, "d.old"));
    symlinkSync(outside, path.join(work, "d"));
    expect(wd.unmoved("d")).toBe(false);
    await t.discard();
    expect(readdirSync(path.join(work, "d.old"))).toEqual(["a.txt"]);
    expect(readdirSync(outside)).toEqual([]);
  });

  it("is true for the root and for a directory left alone", () => {
    const { work } = setup();
    const wd = new WorkDir(work);
    defer(() => wd.close());
    wd.list("d");
    expect(wd.unmoved("")).toBe(true);
    expect(wd.unmoved("d")).toBe(true);
  });
});

describe("TempFile.commitAs", () => {
  it("puts the temp file under another name in the same directory, never replacing one", async () => {
    const { work } = setup();
    await withWorkDir(work, async (wd) => {
      const t = await wd.createTemp("d/a.txt");
      await t.fh.write("theirs");
      expect(await t.commitAs("d/a.conflict.txt")).toBe(true);
      const u = await wd.createTemp("d/a.txt");
      await u.fh.write("again");
      expect(await u.commitAs("d/a.conflict.txt")).toBe(false);
    });
    expect(readFileSync(path.join(work, "d/a.conflict.txt"), "utf8")).toBe("theirs");
    expect(readFileSync(path.join(work, "d/a.txt"), "utf8")).toBe("a");
    expect(readdirSync(path.join(work, "d")).sort()).toEqual(["a.conflict.txt", "a.txt"]);
  });

  it("refuses a name in another directory and removes the temp file", async () => {
    const { work } = setup();
    await withWorkDir(work, async (wd) => {
      const t = await wd.createTemp("d/a.txt");
      await expect(t.commitAs("elsewhere.txt")).rejects.toBeInstanceOf(UnsafePathError);
    });
    expect(readdirSync(path.join(work, "d"))).toEqual(["a.txt"]);
  });
});
