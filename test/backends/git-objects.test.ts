/** Blobs in and out of a real git repo without git reading the work dir, and the index check. */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { indexIsSound, inspectIndex } from "../../backends/git/heal";
import { FastImport, LooseObjects, blobId, catBlobs, sweepFailedWrites } from "../../backends/git/objects";
import { readRef } from "../../backends/git/refs";
import { Git, withoutProgress } from "../../src/git";
import { cleanEnv, tempDir } from "../helpers";

function repo(): { dir: string; git: Git; sh: (...args: string[]) => string } {
  const dir = path.join(tempDir("ms-objects-"), "repo.git");
  execFileSync("git", ["init", "-q", "--bare", dir], { env: cleanEnv() });
  const env = { ...(cleanEnv() as Record<string, string>), GIT_DIR: dir };
  const sh = (...args: string[]) => execFileSync("git", args, { env, encoding: "utf8" });
  return { dir, git: new Git(dir, env), sh };
}

describe("blobs", () => {
  it("blobId is git's id for the same bytes", () => {
    for (const bytes of [Buffer.alloc(0), Buffer.from("hello\n"), randomBytes(70_000)]) {
      const id = execFileSync("git", ["hash-object", "--stdin"], { input: bytes, env: cleanEnv(), encoding: "utf8" });
      expect(blobId(bytes)).toBe(id.trim());
    }
  });

  it("loose objects are what git reads; writing twice is harmless; no temp file is left", async () => {
    const { dir, sh } = repo();
    const objects = new LooseObjects(path.join(dir, "objects"));
    const big = randomBytes(2 << 20); // deflated off the event loop
    const ids = [
      await objects.write(Buffer.from("a\n")),
      await objects.write(big),
      await objects.write(Buffer.from("a\n")),
    ];
    await objects.close();
    expect(ids[0]).toBe(ids[2]);
    expect(sh("cat-file", "-p", ids[0]!)).toBe("a\n");
    expect(sh("cat-file", "-s", ids[1]!).trim()).toBe(String(big.length));
    const all = readdirSync(path.join(dir, "objects"), { recursive: true }).map(String);
    expect(all.filter((p) => p.includes("tmp_"))).toEqual([]);
  });

  it("fast-import stores many blobs as one pack, under the ids computed here", async () => {
    const { dir, git, sh } = repo();
    const sink = new FastImport(git);
    const blobs = Array.from({ length: 300 }, (_, i) => Buffer.from(`blob ${i}\n`.repeat(i % 7)));
    const ids = await Promise.all(blobs.map((b) => sink.write(b)));
    await sink.close();
    expect(readdirSync(path.join(dir, "objects", "pack")).filter((n) => n.endsWith(".pack"))).toHaveLength(1);
    for (const i of [0, 1, 150, 299]) expect(sh("cat-file", "-p", ids[i]!)).toBe(blobs[i]!.toString());
  });

  it("cat-file --batch streams blobs back in order, a missing one as undefined, a big one whole", async () => {
    const { dir, git } = repo();
    const objects = new LooseObjects(path.join(dir, "objects"));
    const big = randomBytes(5 << 20);
    const small = Buffer.from("small\n");
    const ids = [await objects.write(small), "0".repeat(40), await objects.write(big), await objects.write(small)];
    const got: (Buffer | undefined)[] = [];
    await catBlobs(git, ids, (_id, bytes) => got.push(bytes && Buffer.from(bytes)));
    expect(got).toHaveLength(4);
    expect(got[0]).toEqual(small);
    expect(got[1]).toBeUndefined();
    expect(got[2]!.equals(big)).toBe(true);
    expect(got[3]).toEqual(small);
  });

  it("the sweep removes what a failed write left and nothing else", async () => {
    const { dir, sh } = repo();
    const objects = new LooseObjects(path.join(dir, "objects"));
    const id = await objects.write(Buffer.from("kept\n"));
    writeFileSync(path.join(dir, "objects", id.slice(0, 2), "tmp_obj_abc"), "x");
    writeFileSync(path.join(dir, "objects", "pack", "tmp_pack_abc"), "x");
    writeFileSync(path.join(dir, "fast_import_crash_123"), "x");
    expect(sweepFailedWrites(dir)).toBe(3);
    expect(sh("cat-file", "-p", id)).toBe("kept\n");
  });
});

describe("indexIsSound", () => {
  function withIndex(): string {
    const work = tempDir("ms-index-");
    const env = cleanEnv();
    execFileSync("git", ["init", "-q"], { cwd: work, env });
    for (const f of ["a", "b", "c"]) writeFileSync(path.join(work, f), f);
    execFileSync("git", ["add", "-A"], { cwd: work, env });
    return path.join(work, ".git", "index");
  }

  it("accepts git's own index and a missing one", () => {
    const index = withIndex();
    expect(indexIsSound(index)).toBe(true);
    expect(indexIsSound(index + ".none")).toBe(true);
  });

  it("finds the shared part of a split index (v2, v4), and checks it too", () => {
    for (const version of ["2", "4"]) {
      const index = withIndex();
      const git = (...args: string[]) =>
        execFileSync("git", args, { cwd: path.dirname(path.dirname(index)), env: cleanEnv(), encoding: "utf8" });
      expect(inspectIndex(index).shared).toBeUndefined();
      git("update-index", "--index-version", version);
      git("update-index", "--split-index");
      writeFileSync(path.join(path.dirname(path.dirname(index)), "d"), "d");
      git("add", "d");
      expect(readFileSync(index).readUInt32BE(4)).toBe(Number(version));
      const state = inspectIndex(index);
      const shared = path.join(path.dirname(index), `sharedindex.${state.shared}`);
      expect(state).toMatchObject({ sound: true, exists: true });
      expect(readFileSync(shared).toString("latin1", 0, 4)).toBe("DIRC");
      const good = readFileSync(shared);
      const flipped = Buffer.from(good);
      flipped[20]! ^= 1;
      writeFileSync(shared, flipped);
      expect(indexIsSound(index)).toBe(false);
      rmSync(shared);
      expect(indexIsSound(index)).toBe(false);
      writeFileSync(shared, good);
      expect(indexIsSound(index)).toBe(true);
    }
  });

  it("refuses a truncated, a garbage and a flipped-byte index", () => {
    const index = withIndex();
    const good = readFileSync(index);
    truncateSync(index, 40);
    expect(indexIsSound(index)).toBe(false);
    writeFileSync(index, randomBytes(good.length));
    expect(indexIsSound(index)).toBe(false);
    const flipped = Buffer.from(good);
    flipped[30]! ^= 1;
    writeFileSync(index, flipped);
    expect(indexIsSound(index)).toBe(false);
  });
});

describe("readRef", () => {
  it("reads HEAD's branch, a loose ref and a packed one as git resolves them; says nothing when unsure", () => {
    const { dir, sh } = repo();
    const empty = sh("hash-object", "-w", "-t", "tree", "/dev/null").trim();
    const commit = (msg: string) => sh("commit-tree", empty, "-m", msg).trim();
    expect(readRef(dir, "HEAD")).toBeUndefined(); // unborn: git is asked
    const a = commit("a");
    const b = commit("b");
    sh("update-ref", "refs/heads/main", a);
    sh("symbolic-ref", "HEAD", "refs/heads/main");
    sh("update-ref", "refs/remotes/origin/main", b);
    expect(readRef(dir, "HEAD")).toBe(sh("rev-parse", "HEAD").trim());
    expect(readRef(dir, "refs/remotes/origin/main")).toBe(b);
    sh("pack-refs", "--all", "--prune");
    expect(readRef(dir, "HEAD")).toBe(a);
    expect(readRef(dir, "refs/remotes/origin/main")).toBe(b);
    sh("update-ref", "refs/heads/main", b); // loose again, over the packed one
    expect(readRef(dir, "HEAD")).toBe(b);
    expect(readRef(dir, "refs/heads/none")).toBeUndefined();
    expect(readRef(dir, "main")).toBeUndefined(); // not a full name: git's rules apply
    sh("update-ref", "--no-deref", "HEAD", a); // detached: git verifies the object
    expect(readRef(dir, "HEAD")).toBeUndefined();
  });
});

describe("withoutProgress", () => {
  it("keeps the messages and drops the progress git rewrites in place", () => {
    const stderr =
      "Enumerating objects: 3, done.\nCounting objects:  33% (1/3)\rCounting objects: 100% (3/3), done.\n" +
      "Writing objects: 100% (3/3), 230 bytes | 230.00 KiB/s, done.\nTotal 3 (delta 0), reused 0 (delta 0)\n" +
      "fatal: unable to access 'https://h/x.git/': Failed to connect\n";
    expect(withoutProgress(stderr).trim()).toBe("fatal: unable to access 'https://h/x.git/': Failed to connect");
  });
});
