/**
 * The S3 plan from a synced manifest: no request to the store (the endpoint here answers
 * nothing), deletions found from the change set alone.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect, it } from "vitest";
import { createS3Backend } from "../../backends/s3";
import { resolveSettings } from "../../src/config";
import { log } from "../../src/log";
import { defer, tempDir } from "../helpers";

async function backendWith(files: string[]) {
  const root = tempDir("ms-s3-plan-");
  const dir = path.join(root, "work");
  const stateDir = path.join(root, "state");
  mkdirSync(dir);
  mkdirSync(stateDir);
  const entry = { size: 1, mtime: 1, sha256: "0".repeat(64), etag: '"e"' };
  const entries = Object.fromEntries(files.map((f) => [f, entry]));
  writeFileSync(
    path.join(stateDir, "s3-manifest.json"),
    JSON.stringify({ remote: "s3://nbk/p/", synced: true, entries }),
  );
  const remote = "s3://nbk/p";
  const settings = await resolveSettings("push", dir, { remote, stateDir, s3Endpoint: "http://127.0.0.1:9" }, {}, dir);
  const backend = await createS3Backend({ remote, dir, stateDir, settings, log });
  defer(() => backend.close());
  return backend;
}

it("a deleted directory deletes what the manifest holds below it, and nothing beside it", async () => {
  const backend = await backendWith(["d/a", "d/e/b", "d-x/c", "d.y", "dd/f", "top"]);
  const plan = await backend.plan(new Map([["d", "delete"]]), async () => "save");
  expect(plan.entries.map((e) => [e.op, e.path])).toEqual([
    ["delete", "d/a"],
    ["delete", "d/e/b"],
  ]);
});

// Speed is the bench's business, not a timed test: this one checks the large case is right.
// (A scan of the manifest per deleted path took 6–8 s here for 2,000 × 50,000; one sorted copy, 0.35 s.)
it("many deleted files in a large manifest: each planned once, the other entries left", async () => {
  const files = Array.from({ length: 50_000 }, (_, i) => `dir${i % 100}/sub/file-${i}.ipynb`);
  const backend = await backendWith(files);
  const gone = files.slice(0, 2_000);
  const plan = await backend.plan(new Map(gone.map((f) => [f, "delete"])), async () => "save");
  expect(plan.entries.map((e) => e.path).sort()).toEqual([...gone].sort());
  expect(plan.entries.every((e) => e.op === "delete")).toBe(true);
});
