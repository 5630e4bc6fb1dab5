import { mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createS3Backend } from "../../backends/s3";
import { resolveSettings } from "../../src/config";
import { log } from "../../src/log";
import { backendContract } from "../contract/backend";
import { defer, tempDir } from "../helpers";
import { createBucket, s3Env, startProxy, startS3rver } from "../helpers/s3";

// The SDK reads credentials and region from the environment, as users set them for MinIO.
const { MIRRORSHADE_S3_ENDPOINT: _endpoint, ...awsEnv } = s3Env("");
Object.assign(process.env, awsEnv);

let n = 0;
const bucket = () => `b${process.pid}-${++n}`;

function target(opts: { conditional: boolean }) {
  let endpoint = "";
  return {
    async remote() {
      const server = await startS3rver({ buckets: [] });
      endpoint = opts.conditional
        ? (await startProxy(server.endpoint, { conditional: true })).endpoint
        : server.endpoint;
      const b = bucket();
      await createBucket(server.client, b);
      return `s3://${b}/some/prefix`;
    },
    missingRemote() {
      endpoint = ""; // a server of its own, started by open()
      return `s3://missing-${bucket()}/p`;
    },
    async open(remote: string, dir: string, stateDir: string) {
      if (!endpoint) {
        const server = await startS3rver({ buckets: [] });
        endpoint = server.endpoint;
      }
      const settings = await resolveSettings("push", dir, { remote, stateDir, s3Endpoint: endpoint }, {}, dir);
      return createS3Backend({ remote, dir, stateDir, settings, log });
    },
  };
}

backendContract("s3 (s3rver: no conditional writes)", target({ conditional: false }));
backendContract("s3 (conditional writes, as AWS has them)", target({ conditional: true }));

describe("s3 backend: a skipped path is looked at again at the next save", () => {
  it("a path skipped once (a symlink, then a file) is planned at the next save, even without an event for it", async () => {
    const server = await startS3rver({ buckets: [] });
    const b = bucket();
    await createBucket(server.client, b);
    const root = tempDir("ms-s3-skip-");
    const dir = path.join(root, "work");
    mkdirSync(dir);
    writeFileSync(path.join(dir, "a.txt"), "a");
    symlinkSync("/etc/hostname", path.join(dir, "b.txt"));
    const remote = `s3://${b}/p`;
    const settings = await resolveSettings(
      "push",
      dir,
      { remote, stateDir: path.join(root, "state"), s3Endpoint: server.endpoint },
      {},
      dir,
    );
    const backend = await createS3Backend({ remote, dir, stateDir: path.join(root, "state"), settings, log });
    defer(() => backend.close());
    const first = await backend.plan("all", async () => "save");
    expect(first.skipped).toEqual([{ path: "b.txt", reason: expect.stringMatching(/symbolic link/) }]);
    await backend.save(first, { message: "m", trailers: [], host: "h", date: new Date() });
    rmSync(path.join(dir, "b.txt"));
    writeFileSync(path.join(dir, "b.txt"), "b");
    writeFileSync(path.join(dir, "a.txt"), "a2");
    const next = await backend.plan(new Map([["a.txt", "update"]]), async () => "save");
    expect(next.entries.map((e) => `${e.op} ${e.path}`).sort()).toEqual(["add b.txt", "modify a.txt"]);
    expect(next.skipped).toEqual([]);
  });
});

describe("s3 backend: restoreAt on a bucket without versioning (s3rver)", () => {
  it("brings back what the store still has (unchanged objects, the trash), and names what it cannot", async () => {
    const server = await startS3rver({ buckets: [] });
    const b = bucket();
    await createBucket(server.client, b);
    const remote = `s3://${b}/p`;
    const open = async () => {
      const root = tempDir("ms-s3-at-");
      const dir = path.join(root, "work");
      mkdirSync(dir);
      const stateDir = path.join(root, "state");
      const settings = await resolveSettings("push", dir, { remote, stateDir, s3Endpoint: server.endpoint }, {}, dir);
      const backend = await createS3Backend({ remote, dir, stateDir, settings, log });
      defer(() => backend.close());
      return { dir, backend };
    };
    const meta = () => ({ message: "m", trailers: [], host: "h", date: new Date() });
    const a = await open();
    await a.backend.restore();
    writeFileSync(path.join(a.dir, "changed.txt"), "v1");
    writeFileSync(path.join(a.dir, "deleted.txt"), "gone later");
    writeFileSync(path.join(a.dir, "same.txt"), "same");
    await a.backend.save(await a.backend.plan("all", async () => "save"), meta());
    writeFileSync(path.join(a.dir, "changed.txt"), "v2");
    rmSync(path.join(a.dir, "deleted.txt"));
    await a.backend.save(await a.backend.plan("all", async () => "save"), meta());
    const saves = await a.backend.log!();
    expect(saves.map((s) => s.files.map((f) => `${f.op} ${f.path}`).sort())).toEqual([
      ["delete deleted.txt", "modify changed.txt"],
      ["add changed.txt", "add deleted.txt", "add same.txt"],
    ]);

    const fresh = await open();
    const r = await fresh.backend.restoreAt!({ at: { id: saves[1]!.id } });
    expect(fresh.backend.capabilities.history).toBe(false);
    expect(r.written).toEqual(["deleted.txt", "same.txt"]);
    expect(r.missing).toEqual([{ path: "changed.txt", reason: expect.stringMatching(/keeps no versions/) }]);
    expect(readFileSync(path.join(fresh.dir, "deleted.txt"), "utf8")).toBe("gone later"); // from the trash
    expect(readFileSync(path.join(fresh.dir, "same.txt"), "utf8")).toBe("same");
    expect(readdirSync(fresh.dir).sort()).toEqual(["deleted.txt", "same.txt"]);
  });
});

describe("s3 backend: a long history does not lengthen a restore's listing", () => {
  it("the listing skips <prefix>.mirrorshade/ (records, trash) once a page ends inside it", async () => {
    const server = await startS3rver({ buckets: [] });
    const proxy = await startProxy(server.endpoint);
    const b = bucket();
    await createBucket(server.client, b);
    const { PutObjectCommand } = await import("@aws-sdk/client-s3");
    const put = (key: string) => server.client.send(new PutObjectCommand({ Bucket: b, Key: key, Body: "x" }));
    const records = Array.from({ length: 2100 }, (_, i) => `p/.mirrorshade/saves/r${String(i).padStart(4, "0")}.json`);
    for (let i = 0; i < records.length; i += 25) await Promise.all(records.slice(i, i + 25).map(put));
    for (const k of ["p/-first.txt", "p/.mirrorshade0", "p/a.txt", "p/z/é.txt"]) await put(k);
    const root = tempDir("ms-s3-skip-meta-");
    const dir = path.join(root, "work");
    mkdirSync(dir);
    const remote = `s3://${b}/p`;
    const stateDir = path.join(root, "state");
    const settings = await resolveSettings("push", dir, { remote, stateDir, s3Endpoint: proxy.endpoint }, {}, dir);
    const backend = await createS3Backend({ remote, dir, stateDir, settings, log });
    defer(() => backend.close());
    proxy.requests.length = 0;
    const r = await backend.restore();
    expect(r.written).toEqual(["-first.txt", ".mirrorshade0", "a.txt", "z/é.txt"]);
    // Page 1 ends inside the 2,100 records; the next starts after them: 2 listings, not 3.
    expect(proxy.requests.filter((q) => q.method === "GET" && q.query.includes("list-type=2"))).toHaveLength(2);
  });
});
