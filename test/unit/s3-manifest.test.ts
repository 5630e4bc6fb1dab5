import path from "node:path";
import { expect, it } from "vitest";
import { Manifest } from "../../backends/s3/manifest";
import { log } from "../../src/log";
import { tempDir } from "../helpers";

it("what the store said of conditional writes outlives a restart, even with no upload after the probe", () => {
  const base = path.join(tempDir("ms-s3-manifest-"), "s3-manifest");
  const first = new Manifest(base, "s3://b/p/", log);
  first.set("a.txt", { size: 1, mtime: 1, sha256: "x", etag: '"e"' });
  first.compact();
  const second = new Manifest(base, "s3://b/p/", log);
  second.learnConditional("aws b", true);
  second.compact();
  expect(new Manifest(base, "s3://b/p/", log).conditional).toEqual({ "aws b": true });
});

it("having synced outlives a restart, even when the listing changed no entry", () => {
  const base = path.join(tempDir("ms-s3-manifest-"), "s3-manifest");
  new Manifest(base, "s3://b/p/", log).compact(); // a run that only checked the remote
  const second = new Manifest(base, "s3://b/p/", log);
  second.synced = true; // a restore of an empty prefix
  second.compact();
  expect(new Manifest(base, "s3://b/p/", log).synced).toBe(true);
});
