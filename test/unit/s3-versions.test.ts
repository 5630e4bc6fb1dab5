/**
 * The versioned-bucket path of S3 history, which no S3 server installed here has (s3rver
 * keeps no versions): the real SDK and backend against a stub store that answers with
 * responses in the form AWS gives them (GetBucketVersioning, ListObjectsV2,
 * ListObjectVersions, GetObject with versionId, PutObject with x-amz-version-id, S3's
 * NoSuchVersion error). The stub only answers the requests listed: anything else fails the test.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { createS3Backend } from "../../backends/s3";
import { resolveSettings } from "../../src/config";
import { TransientError } from "../../src/errors";
import { log } from "../../src/log";
import { defer, tempDir } from "../helpers";

Object.assign(process.env, {
  AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
  AWS_SECRET_ACCESS_KEY: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  AWS_REGION: "us-east-1",
  AWS_EC2_METADATA_DISABLED: "true",
  AWS_CONFIG_FILE: "/nonexistent",
  AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
});

const NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"';
const md5 = (s: string) => `"${createHash("md5").update(s).digest("hex")}"`;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");

interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
}
interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  body: string;
}
type Route = [method: string, path: string, query: Record<string, string>, reply: Reply | ((s: Seen) => Reply)];

/** A store that answers exactly `routes` (method, decoded path or a prefix ending in *, query params that must match). */
async function stubStore(routes: Route[]): Promise<{ endpoint: string; seen: Seen[]; unexpected: Seen[] }> {
  const seen: Seen[] = [];
  const unexpected: Seen[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, "http://stub");
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const s: Seen = {
        method: req.method!,
        path: decodeURIComponent(url.pathname),
        query: url.searchParams,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      seen.push(s);
      const route = routes.find(
        ([m, p, q]) =>
          m === s.method &&
          (p.endsWith("*") ? s.path.startsWith(p.slice(0, -1)) : p === s.path) &&
          Object.entries(q).every(([k, v]) => s.query.get(k) === v),
      );
      if (!route) {
        unexpected.push(s);
        res.writeHead(500, { "content-type": "application/xml" });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>unexpected</Message></Error>`,
        );
        return;
      }
      const r = typeof route[3] === "function" ? route[3](s) : route[3];
      const body = r.body ?? "";
      res.writeHead(r.status ?? 200, {
        "x-amz-request-id": "4442587FB7D0A2F9",
        "content-length": String(Buffer.byteLength(body)),
        ...r.headers,
      });
      res.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  defer(() => new Promise<void>((r) => server.close(() => r())));
  return { endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`, seen, unexpected };
}

const versioning: Route = [
  "GET",
  "/nbk/",
  { versioning: "" },
  {
    body: `<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration ${NS}><Status>Enabled</Status></VersioningConfiguration>`,
  },
];

function listing(prefix: string, objects: { key: string; etag: string; size: number }[]): Reply {
  const contents = objects
    .map(
      (o) =>
        `<Contents><Key>${o.key}</Key><LastModified>2026-12-01T12:00:00.000Z</LastModified><ETag>&quot;${o.etag.slice(1, -1)}&quot;</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
    )
    .join("");
  return {
    headers: { "content-type": "application/xml" },
    body: `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult ${NS}><Name>nbk</Name><Prefix>${prefix}</Prefix><KeyCount>${objects.length}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>${contents}</ListBucketResult>`,
  };
}

function object(body: string, versionId: string, lastModified = "Tue, 01 Dec 2026 10:00:00 GMT"): Reply {
  return {
    headers: {
      "content-type": "application/octet-stream",
      etag: md5(body),
      "last-modified": lastModified,
      "x-amz-version-id": versionId,
      "x-amz-meta-sha256": sha256(body),
      "x-amz-meta-mtime": "1796119200000",
      "accept-ranges": "bytes",
    },
    body,
  };
}

const recordKey = (time: string, id: string) => `/nbk/p/.mirrorshade/saves/${time.replace(/[-:]/g, "")}-${id}.json`;

async function backendOn(endpoint: string) {
  const root = tempDir("ms-s3-versions-");
  const dir = path.join(root, "work");
  mkdirSync(dir);
  const stateDir = path.join(root, "state");
  const remote = "s3://nbk/p";
  const settings = await resolveSettings(
    "push",
    dir,
    { remote, stateDir, s3Endpoint: endpoint, s3ConditionalWrites: "off" },
    {},
    dir,
  );
  const backend = await createS3Backend({ remote, dir, stateDir, settings, log });
  defer(() => backend.close());
  return { dir, backend };
}

describe("s3 history on a versioned bucket (AWS-format responses)", () => {
  const first = { time: "2026-12-01T10:00:00.000Z", id: "aaaaaaaaaaaaaaaa" };
  const second = { time: "2026-12-01T11:00:00.000Z", id: "bbbbbbbbbbbbbbbb" };
  const rec = (r: { time: string; id: string }, files: unknown[]) =>
    JSON.stringify({ v: 1, ...r, host: "pod-1", message: "mirrorshade: save", files });
  const file = (p: string, body: string, version?: string) => ({
    path: p,
    op: "add",
    sha256: sha256(body),
    etag: md5(body),
    size: body.length,
    ...(version && { version }),
  });
  const records = {
    first: rec(first, [
      file("a.txt", "a1", "va1"),
      file("gone.txt", "g1", "vg-deleted"),
      // Recorded before the bucket kept versions: no version id, found by its ETag.
      file("old.txt", "o1"),
    ]),
    second: rec(second, [{ ...file("a.txt", "a2", "va2"), op: "modify" }]),
  };
  const routes = (): Route[] => [
    versioning,
    [
      "GET",
      "/nbk/",
      { "list-type": "2", prefix: "p/.mirrorshade/saves/" },
      listing("p/.mirrorshade/saves/", [
        {
          key: recordKey(first.time, first.id).slice("/nbk/".length),
          etag: md5(records.first),
          size: records.first.length,
        },
        {
          key: recordKey(second.time, second.id).slice("/nbk/".length),
          etag: md5(records.second),
          size: records.second.length,
        },
      ]),
    ],
    ["GET", recordKey(first.time, first.id), {}, { headers: { etag: md5(records.first) }, body: records.first }],
    ["GET", recordKey(second.time, second.id), {}, { headers: { etag: md5(records.second) }, body: records.second }],
    ["GET", "/nbk/p/a.txt", { versionId: "va1" }, object("a1", "va1")],
    [
      "GET",
      "/nbk/p/gone.txt",
      { versionId: "vg-deleted" },
      {
        status: 404,
        headers: { "content-type": "application/xml" },
        body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchVersion</Code><Message>The specified version does not exist.</Message><Key>p/gone.txt</Key><VersionId>vg-deleted</VersionId></Error>`,
      },
    ],
    [
      "GET",
      "/nbk/",
      { "list-type": "2", prefix: "p/" },
      listing("p/", [
        { key: "p/a.txt", etag: md5("a2"), size: 2 },
        { key: "p/old.txt", etag: md5("o2"), size: 2 },
      ]),
    ],
    ["GET", "/nbk/", { "list-type": "2", prefix: "p/.mirrorshade/trash/" }, listing("p/.mirrorshade/trash/", [])],
    [
      "GET",
      "/nbk/",
      { "list-type": "2", prefix: "p/.mirrorshade/conflicts/" },
      listing("p/.mirrorshade/conflicts/", []),
    ],
    [
      "GET",
      "/nbk/",
      { versions: "", prefix: "p/old.txt" },
      {
        headers: { "content-type": "application/xml" },
        body:
          `<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult ${NS}><Name>nbk</Name><Prefix>p/old.txt</Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>` +
          `<Version><Key>p/old.txt</Key><VersionId>vo2</VersionId><IsLatest>true</IsLatest><LastModified>2026-12-01T12:00:00.000Z</LastModified><ETag>&quot;${md5("o2").slice(1, -1)}&quot;</ETag><Size>2</Size><Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID></Owner><StorageClass>STANDARD</StorageClass></Version>` +
          `<Version><Key>p/old.txt</Key><VersionId>vo1</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-30T09:00:00.000Z</LastModified><ETag>&quot;${md5("o1").slice(1, -1)}&quot;</ETag><Size>2</Size><Owner><ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID></Owner><StorageClass>STANDARD</StorageClass></Version>` +
          `</ListVersionsResult>`,
      },
    ],
    ["GET", "/nbk/p/old.txt", { versionId: "vo1" }, object("o1", "vo1")],
  ];

  it("restoreAt fetches the versions the records name (or find by ETag), and names a version gone since", async () => {
    const store = await stubStore(routes());
    const { dir, backend } = await backendOn(store.endpoint);
    writeFileSync(path.join(dir, "a.txt"), "a2");
    const r = await backend.restoreAt!({ at: { id: "aaaa" } });
    expect(store.unexpected.map((s) => `${s.method} ${s.path}?${s.query}`)).toEqual([]);
    expect(backend.capabilities.history).toBe(true);
    expect(r.id).toBe(first.id);
    expect(r.written).toEqual(["old.txt"]);
    const copy = `a.conflict-20261201T100000Z-${sha256("a1").slice(0, 8)}.txt`;
    expect(r.copies).toEqual([{ path: "a.txt", copy }]);
    expect(r.missing).toEqual([{ path: "gone.txt", reason: "the bucket no longer keeps that version" }]);
    expect(readFileSync(path.join(dir, copy), "utf8")).toBe("a1");
    expect(readFileSync(path.join(dir, "old.txt"), "utf8")).toBe("o1");
    expect(readFileSync(path.join(dir, "a.txt"), "utf8")).toBe("a2");
    expect(readdirSync(dir).sort()).toEqual([copy, "a.txt", "old.txt"].sort());
    // Versions were asked for by id: never the current object in their place.
    expect(store.seen.some((s) => s.path === "/nbk/p/a.txt" && !s.query.has("versionId"))).toBe(false);
  });

  it("log reads the records, newest first, without fetching versions", async () => {
    const store = await stubStore(routes());
    const { backend } = await backendOn(store.endpoint);
    const saves = await backend.log!({ paths: ["a.txt"] });
    expect(saves.map((s) => [s.id, s.time, s.host, s.files])).toEqual([
      [second.id, second.time, "pod-1", [{ path: "a.txt", op: "modify" }]],
      [first.id, first.time, "pod-1", [{ path: "a.txt", op: "add" }]],
    ]);
    expect(store.unexpected).toEqual([]);
    expect(store.seen.filter((s) => s.query.has("versionId"))).toEqual([]);
  });

  it("a save records the version id the store gave each upload", async () => {
    let recorded = "";
    const version = "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY";
    const store = await stubStore([
      versioning,
      ["GET", "/nbk/", { "list-type": "2", prefix: "p/" }, listing("p/", [])],
      ["GET", "/nbk/", { "list-type": "2", prefix: "p/.mirrorshade/saves/" }, listing("p/.mirrorshade/saves/", [])],
      ["PUT", "/nbk/p/n.txt", {}, { headers: { etag: md5("new"), "x-amz-version-id": version } }],
      [
        "PUT",
        "/nbk/p/.mirrorshade/saves/*", // the key carries the time and a random id
        {},
        (s) => {
          recorded = s.body;
          return { headers: { etag: md5(s.body), "x-amz-version-id": "rec1" } };
        },
      ],
    ]);
    const { dir, backend } = await backendOn(store.endpoint);
    writeFileSync(path.join(dir, "n.txt"), "new");
    const plan = await backend.plan("all", async () => "save");
    const date = new Date("2026-12-02T10:15:00.123Z");
    await backend.save(plan, { message: "m", trailers: [], host: "pod-2", date });
    expect(store.unexpected).toEqual([]);
    const puts = store.seen.filter((s) => s.method === "PUT").map((s) => s.path);
    expect(puts).toEqual([
      "/nbk/p/n.txt",
      expect.stringMatching(/^\/nbk\/p\/\.mirrorshade\/saves\/20261202T101500\.123Z-[0-9a-f]{16}\.json$/),
    ]);
    const rec = JSON.parse(recorded) as { time: string; host: string; files: unknown[] };
    expect(rec.time).toBe(date.toISOString());
    expect(rec.files).toEqual([
      { path: "n.txt", op: "add", sha256: sha256("new"), etag: md5("new"), size: 3, version },
    ]);
  });
});

describe("s3 history on a bucket without versions", () => {
  const save = { time: "2026-12-01T10:00:00.000Z", id: "cccccccccccccccc" };
  const file = (p: string, body: string) => ({
    path: p,
    op: "add",
    sha256: sha256(body),
    etag: md5(body),
    size: body.length,
  });
  const record = JSON.stringify({
    v: 1,
    ...save,
    host: "pod-1",
    message: "m",
    files: [file("a.txt", "a1"), file("d/b.txt", "b1")],
  });
  const key = recordKey(save.time, save.id).slice("/nbk/".length);
  // Another writer's versions, kept when ours replaced them: beside the path, and in the conflict area.
  const besideA = `p/a.conflict-20261201T103000Z-${sha256("a1").slice(0, 8)}.txt`;
  const keptB = `p/.mirrorshade/conflicts/d/b.conflict-20261201T103000Z-${sha256("b1").slice(0, 8)}.txt`;
  const routes = (): Route[] => [
    [
      "GET",
      "/nbk/",
      { versioning: "" },
      { body: `<?xml version="1.0" encoding="UTF-8"?><VersioningConfiguration ${NS}/>` },
    ],
    [
      "GET",
      "/nbk/",
      { "list-type": "2", prefix: "p/.mirrorshade/saves/" },
      listing("p/.mirrorshade/saves/", [{ key, etag: md5(record), size: record.length }]),
    ],
    ["GET", `/nbk/${key}`, {}, { headers: { etag: md5(record) }, body: record }],
    [
      "GET",
      "/nbk/",
      { "list-type": "2", prefix: "p/" },
      listing("p/", [
        { key: "p/a.txt", etag: md5("a2"), size: 2 },
        { key: besideA, etag: md5("a1"), size: 2 },
        { key: "p/d/b.txt", etag: md5("b2"), size: 2 },
      ]),
    ],
    ["GET", "/nbk/", { "list-type": "2", prefix: "p/.mirrorshade/trash/" }, listing("p/.mirrorshade/trash/", [])],
    [
      "GET",
      "/nbk/",
      { "list-type": "2", prefix: "p/.mirrorshade/conflicts/" },
      listing("p/.mirrorshade/conflicts/", [{ key: keptB, etag: md5("b1"), size: 2 }]),
    ],
    ["GET", `/nbk/${besideA}`, {}, object("a1", "null")],
    ["GET", `/nbk/${keptB}`, {}, object("b1", "null")],
  ];

  it("restoreAt finds a content replaced since in the conflict copies kept of it", async () => {
    const store = await stubStore(routes());
    const { dir, backend } = await backendOn(store.endpoint);
    const r = await backend.restoreAt!({ at: { id: "cccc" } });
    expect(store.unexpected.map((s) => `${s.method} ${s.path}?${s.query}`)).toEqual([]);
    expect(r.missing).toEqual([]);
    expect(r.written).toEqual(["a.txt", "d/b.txt"]);
    expect(readFileSync(path.join(dir, "a.txt"), "utf8")).toBe("a1");
    expect(readFileSync(path.join(dir, "d/b.txt"), "utf8")).toBe("b1");
  });

  it("restoreAt fails, never guesses, when the store does not say whether it keeps versions", async () => {
    const busy: Reply = {
      status: 503,
      headers: { "content-type": "application/xml" },
      body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`,
    };
    const store = await stubStore([["GET", "/nbk/", { versioning: "" }, busy], ...routes().slice(1)]);
    const { backend } = await backendOn(store.endpoint);
    await expect(backend.restoreAt!({ at: { id: "cccc" } })).rejects.toBeInstanceOf(TransientError);
  });
});
