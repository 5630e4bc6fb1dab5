/**
 * The S3 remote end to end: the built CLI against a real S3-compatible server (s3rver) on
 * loopback, configured as users configure it for MinIO (endpoint, path style, keys in env).
 */
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  cleanEnv,
  elsewhere,
  reportedError,
  run,
  start,
  startWatch,
  stop,
  tempDir,
  waitFor,
  write,
  type Sandbox,
} from "../helpers";
import {
  BUCKET,
  getText,
  head,
  keys,
  objects,
  putText,
  s3Sandbox,
  startProxy,
  startS3rver,
  type S3rver,
} from "../helpers/s3";

/** The prefix of s3Sandbox's remote, s3://test/notes. */
const PREFIX = "notes";

const push = (sb: Sandbox, ...extra: string[]) => run(["push", sb.work, "--json", ...extra], { env: sb.env });
const restore = (sb: Sandbox, ...extra: string[]) => run(["restore", sb.work, "--json", ...extra], { env: sb.env });

function listFiles(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => {
      const p = path.join(dir, e.name);
      return e.isDirectory() ? listFiles(p, base) : [path.relative(base, p).split(path.sep).join("/")];
    })
    .sort();
}

const under = (prefix: string) => (k: string) => k.startsWith(prefix);

describe("s3 remote", () => {
  it("push then restore elsewhere: nested, unicode, space-containing and empty files, byte for byte", async () => {
    const server = await startS3rver();
    // The standard AWS variable for a custom endpoint, as the aws CLI reads it.
    const sb = s3Sandbox("", { MIRRORSHADE_S3_ENDPOINT: undefined, AWS_ENDPOINT_URL_S3: server.endpoint });
    const files: Record<string, string> = {
      "top.txt": "top\n",
      "nested/deeper/n.ipynb": '{"cells": []}',
      "with space/ünïcødé ✓ + & ? #.md": "unicode\n",
      "empty.txt": "",
    };
    for (const [p, c] of Object.entries(files)) write(sb.work, p, c);
    write(sb.work, ".ipynb_checkpoints/n-checkpoint.ipynb", "{}");
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { ok: boolean; saved: { path: string; op: string }[] };
    expect(summary.saved.map((e) => `${e.op} ${e.path}`).sort()).toEqual(
      Object.keys(files)
        .map((p) => `add ${p}`)
        .sort(),
    );
    const remote = await objects(server.client, PREFIX + "/");
    expect([...remote.keys()]).toEqual(
      Object.keys(files)
        .map((p) => `${PREFIX}/${p}`)
        .sort(),
    );
    for (const [p, c] of Object.entries(files)) expect(remote.get(`${PREFIX}/${p}`)).toBe(c);

    const other = elsewhere(sb);
    const rr = await restore(other);
    expect(rr.code, rr.stderr).toBe(0);
    expect(listFiles(other.work)).toEqual(Object.keys(files).sort());
    for (const [p, c] of Object.entries(files)) expect(readFileSync(path.join(other.work, p), "utf8")).toBe(c);
  });

  it(
    "2,000 files (paginated listings): a no-change push makes no PUT and no HEAD; 10 changed files make 10 PUTs",
    { timeout: 240_000 },
    async () => {
      const server = await startS3rver();
      const proxy = await startProxy(server.endpoint);
      const sb = s3Sandbox(proxy.endpoint);
      for (let i = 0; i < 2000; i++) write(sb.work, `d${i % 20}/f${i}.txt`, `file ${i}\n`.repeat(1 + (i % 7)));
      const first = await push(sb);
      expect(first.code, first.stderr).toBe(0);
      expect((await keys(server.client, PREFIX + "/")).length).toBe(2000);

      proxy.requests.length = 0;
      const again = await push(sb);
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout).saved).toEqual([]);
      expect(proxy.count("PUT")).toBe(0);
      expect(proxy.count("HEAD")).toBe(0);
      // check + a listing of three pages (2,000 files and the first save's record under .mirrorshade/)
      expect(proxy.count("GET")).toBeLessThanOrEqual(4);

      for (let i = 0; i < 10; i++) write(sb.work, `d${i % 20}/f${i}.txt`, `changed ${i}\n`);
      proxy.requests.length = 0;
      const ten = await push(sb);
      expect(ten.code, ten.stderr).toBe(0);
      const record = (k: string) => k.includes("/.mirrorshade/saves/");
      expect(proxy.count("PUT", (k) => !record(k))).toBe(10);
      expect(proxy.count("PUT", record)).toBe(1); // the save's record: what log and restore --at read
      expect(proxy.count("HEAD")).toBe(0);
      expect(await getText(server.client, `${PREFIX}/d3/f3.txt`)).toBe("changed 3\n");

      // The listing runs past 1,000 keys: a fresh restore gets every file.
      const other = elsewhere(sb);
      const rr = await restore(other);
      expect(rr.code, rr.stderr).toBe(0);
      expect(listFiles(other.work)).toHaveLength(2000);
      expect(readFileSync(path.join(other.work, "d3/f3.txt"), "utf8")).toBe("changed 3\n");
    },
  );

  it("a file over the multipart threshold uploads in parts and restores byte for byte", async () => {
    const server = await startS3rver();
    const proxy = await startProxy(server.endpoint);
    const sb = s3Sandbox(proxy.endpoint, { MIRRORSHADE_S3_MULTIPART_THRESHOLD: "1m", MIRRORSHADE_S3_PART_SIZE: "5m" });
    const big = Buffer.alloc(12 * 1024 * 1024 + 123);
    for (let i = 0; i < big.length; i += 4096) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    mkdirSync(path.join(sb.work, "data"));
    writeFileSync(path.join(sb.work, "data/big.bin"), big);
    write(sb.work, "small.txt", "small\n");
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    const parts = proxy.requests.filter((q) => q.key === `${PREFIX}/data/big.bin`);
    expect(parts.filter((q) => q.method === "POST" && q.query.includes("uploads")).length).toBe(1);
    expect(parts.filter((q) => q.method === "PUT" && q.query.includes("partNumber")).length).toBe(3);
    const other = elsewhere(sb);
    expect((await restore(other)).code).toBe(0);
    const back = readFileSync(path.join(other.work, "data/big.bin"));
    expect(sha(back)).toBe(sha(big));
  });

  it("deletions: the default trash keeps the object outside the mirrored tree; mirror deletes it", async () => {
    const server = await startS3rver();
    const sb = s3Sandbox(server.endpoint);
    write(sb.work, "keep.txt", "k");
    write(sb.work, "old/gone.txt", "the deleted one");
    expect((await push(sb)).code).toBe(0);
    rmSync(path.join(sb.work, "old"), { recursive: true });
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).saved).toEqual([{ path: "old/gone.txt", op: "delete" }]);
    const all = await objects(server.client, PREFIX + "/");
    const trashed = [...all.keys()].filter(under(`${PREFIX}/.mirrorshade/trash/`));
    expect(trashed).toHaveLength(1);
    expect(trashed[0]).toMatch(/^notes\/\.mirrorshade\/trash\/\d{8}T\d{6}Z-[^/]+\/old\/gone\.txt$/);
    expect(all.get(trashed[0]!)).toBe("the deleted one");
    expect(all.has(`${PREFIX}/old/gone.txt`)).toBe(false);
    // The trash is never restored.
    const other = elsewhere(sb);
    expect((await restore(other)).code).toBe(0);
    expect(listFiles(other.work)).toEqual(["keep.txt"]);

    rmSync(path.join(sb.work, "keep.txt"));
    expect((await push(sb, "--s3-delete-policy", "mirror")).code).toBe(0);
    expect(await keys(server.client, PREFIX + "/")).toEqual([trashed[0]]);
  });

  it("a crash between the upload and the manifest update loses nothing and re-uploads nothing", async () => {
    const server = await startS3rver();
    const proxy = await startProxy(server.endpoint, { conditional: true });
    const sb = s3Sandbox(proxy.endpoint);
    write(sb.work, "a.txt", "a\n");
    expect((await push(sb)).code).toBe(0);
    write(sb.work, "b.txt", "b\n");
    write(sb.work, "c.txt", "c\n");
    // The store takes b.txt, but the acknowledgement never reaches mirrorshade: kill -9 meanwhile.
    const held = proxy.hold((q) => q.method === "PUT" && q.key === `${PREFIX}/b.txt`);
    const p = start(["push", sb.work], { env: sb.env });
    await held.reached;
    p.proc.kill("SIGKILL");
    await p.exited;
    held.release();
    expect(await getText(server.client, `${PREFIX}/b.txt`)).toBe("b\n");

    proxy.requests.length = 0;
    const r = await push(sb);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).conflicts).toEqual([]);
    expect(proxy.count("PUT", (k) => k === `${PREFIX}/b.txt`)).toBe(0);
    const all = await objects(server.client, PREFIX + "/");
    expect(Object.fromEntries(all)).toEqual({ "notes/a.txt": "a\n", "notes/b.txt": "b\n", "notes/c.txt": "c\n" });
  });

  it("the server stopped and restarted during a watch: nothing is lost", { timeout: 120_000 }, async () => {
    const server = await startS3rver();
    const sb = s3Sandbox(server.endpoint);
    const w = await startWatch(sb, ["--max-delay", "1s"]);
    write(sb.work, "before.txt", "before\n");
    await waitFor("before.txt saved", async () =>
      (await keys(server.client, PREFIX + "/")).includes("notes/before.txt"),
    );
    await server.stop();
    write(sb.work, "during.txt", "during\n");
    await w.waitForLog("a failed save", (l) => l.level === "error" && /save failed/.test(String(l.msg)), 60_000);
    await server.start();
    await waitFor(
      "during.txt saved after the restart",
      async () => (await keys(server.client, PREFIX + "/")).includes("notes/during.txt"),
      90_000,
    );
    const r = await stop(w);
    expect(r.code, r.stderr).toBe(0);
    expect(await getText(server.client, `${PREFIX}/during.txt`)).toBe("during\n");
  });

  it("hostile keys (.., absolute, a/../../x, .git, through a symlink) are refused with a warning; nothing is written outside", async () => {
    const server = await startS3rver();
    const proxy = await startProxy(server.endpoint, {
      injectKeys: [`${PREFIX}/../x`, `${PREFIX}//abs`, `${PREFIX}/a/../../y`, `${PREFIX}/.git/hooks/post-checkout`],
    });
    await putText(server.client, `${PREFIX}/ok.txt`, "ok");
    await putText(server.client, `${PREFIX}/link/evil.txt`, "evil");
    const sb = s3Sandbox(proxy.endpoint);
    const outside = tempDir("ms-outside-");
    symlinkSync(outside, path.join(sb.work, "link"));
    const r = await restore(sb);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(sb.work, "ok.txt"), "utf8")).toBe("ok");
    expect(readdirSync(outside)).toEqual([]);
    expect(listFiles(sb.root).filter((f) => /(^|\/)(x|y|abs|evil\.txt|post-checkout)$/.test(f))).toEqual([]);
    expect(existsSync("/abs")).toBe(false);
    const warned = r.stderr.split("\n").filter((l) => /not restoring/.test(l));
    expect(warned.join("\n")).toMatch(/\.\.\/x.*climbs out/);
    expect(warned.join("\n")).toMatch(/\/\/abs.*(absolute|empty)/);
    expect(warned.join("\n")).toMatch(/a\/\.\.\/\.\.\/y/);
    expect(warned.join("\n")).toMatch(/\.git/);
    expect(warned.join("\n")).toMatch(/link\/evil\.txt.*symbolic link/);
  });

  it("an object caught mid-write (no bytes, an empty ETag, as s3rver answers then) is never restored as an empty file", async () => {
    const server = await startS3rver();
    const proxy = await startProxy(server.endpoint, { midWrite: [`${PREFIX}/nb.ipynb`] });
    await putText(server.client, `${PREFIX}/nb.ipynb`, '{"cells": []}\n');
    await putText(server.client, `${PREFIX}/ok.txt`, "ok");
    const sb = s3Sandbox(proxy.endpoint);
    const r = await restore(sb, "--retry-for", "30s");
    expect(r.code, r.stderr).toBe(0);
    // The empty answer was refused and asked again: the whole object, not an empty file.
    expect(proxy.count("GET", (k) => k === `${PREFIX}/nb.ipynb`)).toBeGreaterThanOrEqual(2);
    expect(readFileSync(path.join(sb.work, "nb.ipynb"), "utf8")).toBe('{"cells": []}\n');
    expect(readFileSync(path.join(sb.work, "ok.txt"), "utf8")).toBe("ok");
  });

  it("a symlink to a file outside the work dir is not uploaded (skipped with a warning)", async () => {
    const server = await startS3rver();
    const sb = s3Sandbox(server.endpoint);
    const outside = tempDir("ms-outside-");
    writeFileSync(path.join(outside, "secret.txt"), "TOP SECRET");
    mkdirSync(path.join(outside, "dir"));
    writeFileSync(path.join(outside, "dir/inner.txt"), "TOP SECRET TOO");
    symlinkSync(path.join(outside, "secret.txt"), path.join(sb.work, "secret-link"));
    symlinkSync(path.join(outside, "dir"), path.join(sb.work, "dir-link"));
    write(sb.work, "real.txt", "real");
    const r = await run(["push", sb.work], { env: sb.env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^- secret-link \(skipped: a symbolic link/m);
    expect(r.stdout).toMatch(/^- dir-link \(skipped: a symbolic link/m);
    const all = await objects(server.client);
    expect([...all.keys()]).toEqual([`${PREFIX}/real.txt`]);
    expect([...all.values()].join()).not.toMatch(/SECRET/);
  });

  it("restore over differing local files keeps them, writes the remote's version beside them, and is idempotent", async () => {
    const server = await startS3rver();
    await putText(server.client, `${PREFIX}/nb.ipynb`, '{"remote": 1}');
    await putText(server.client, `${PREFIX}/same.txt`, "same");
    await putText(server.client, `${PREFIX}/only-remote.txt`, "r");
    const sb = s3Sandbox(server.endpoint);
    write(sb.work, "nb.ipynb", '{"local": 1}');
    write(sb.work, "same.txt", "same");
    const r = await restore(sb);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { kept: string[]; written: string[] };
    expect(report.kept).toEqual(["nb.ipynb"]);
    expect(report.written).toEqual(["only-remote.txt"]);
    // Named by the time the store wrote their version and the first 8 hex of its sha256.
    const stamp = (await head(server.client, `${PREFIX}/nb.ipynb`))
      .LastModified!.toISOString()
      .replace(/[-:]/g, "")
      .replace(/\.\d+Z$/, "Z");
    const copy = `nb.conflict-${stamp}-${sha(Buffer.from('{"remote": 1}')).slice(0, 8)}.ipynb`;
    expect(listFiles(sb.work)).toEqual([copy, "nb.ipynb", "only-remote.txt", "same.txt"]);
    expect(readFileSync(path.join(sb.work, "nb.ipynb"), "utf8")).toBe('{"local": 1}');
    expect(readFileSync(path.join(sb.work, copy), "utf8")).toBe('{"remote": 1}');
    expect(r.stderr).toMatch(new RegExp(`kept the local nb\\.ipynb.*${copy.replace(/\./g, "\\.")}`));

    const again = await restore(sb);
    expect(JSON.parse(again.stdout).written).toEqual([]);
    expect(listFiles(sb.work)).toHaveLength(4);
    // The next save makes the local version the remote's; the remote's old one is kept as the copy.
    expect((await push(sb)).code).toBe(0);
    const all = await objects(server.client, PREFIX + "/");
    expect(all.get(`${PREFIX}/nb.ipynb`)).toBe('{"local": 1}');
    expect(all.get(`${PREFIX}/${copy}`)).toBe('{"remote": 1}');
  });

  it("a file deleted at the remote is deleted here only when unchanged here; changed here, it is kept and saved again", async () => {
    const server = await startS3rver();
    const sb = s3Sandbox(server.endpoint);
    write(sb.work, "unchanged.txt", "u\n");
    write(sb.work, "changed.txt", "c\n");
    expect((await push(sb)).code).toBe(0);
    // Someone else deletes both; here one of them changes meanwhile.
    for (const k of ["unchanged.txt", "changed.txt"])
      await server.client.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${k}` }));
    write(sb.work, "changed.txt", "changed here\n");
    const r = await push(sb);
    // Changed here and deleted there is a conflict (ours kept; there is no copy of a deletion).
    expect(r.code, r.stderr).toBe(5);
    expect(JSON.parse(r.stdout).conflicts).toEqual([
      { path: "changed.txt", ours: expect.any(String), theirs: "deleted" },
    ]);
    expect(existsSync(path.join(sb.work, "unchanged.txt"))).toBe(false);
    expect(readFileSync(path.join(sb.work, "changed.txt"), "utf8")).toBe("changed here\n");
    const all = await objects(server.client, PREFIX + "/");
    expect([...all.keys()].filter((k) => !k.includes("/.mirrorshade/"))).toEqual([`${PREFIX}/changed.txt`]);
    expect(all.get(`${PREFIX}/changed.txt`)).toBe("changed here\n");
    // A first restore never deletes: a fresh state dir over the same files keeps them all.
    const fresh = { ...sb, env: { ...sb.env, MIRRORSHADE_STATE_DIR: path.join(sb.root, "fresh-state") } };
    write(sb.work, "local-only.txt", "l\n");
    expect((await restore(fresh)).code).toBe(0);
    expect(readFileSync(path.join(sb.work, "local-only.txt"), "utf8")).toBe("l\n");
  });

  it("watch saves with credentials from files, re-read on use (a rotated Secret); the secret is never printed", async () => {
    const server = await startS3rver();
    const proxy = await startProxy(server.endpoint);
    const secrets = tempDir("ms-secret-");
    const idFile = path.join(secrets, "id");
    const keyFile = path.join(secrets, "key");
    const tokenFile = path.join(secrets, "token");
    // s3rver takes only the key id S3RVER (and checks no signature): the session token, sent
    // in clear in a header, shows which credentials signed each request.
    writeFileSync(idFile, "S3RVER\n");
    writeFileSync(keyFile, "secret-from-file-0123456789\n");
    writeFileSync(tokenFile, "token-from-file-ONE\n");
    const sb = s3Sandbox(proxy.endpoint, {
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      MIRRORSHADE_S3_ACCESS_KEY_ID_FILE: idFile,
      MIRRORSHADE_S3_SECRET_ACCESS_KEY_FILE: keyFile,
      MIRRORSHADE_S3_SESSION_TOKEN_FILE: tokenFile,
      MIRRORSHADE_LOG_LEVEL: "debug",
    });
    const w = await startWatch(sb);
    write(sb.work, "one.txt", "1");
    await waitFor("one.txt saved", () => proxy.requests.some((q) => q.method === "PUT" && q.key === "notes/one.txt"));
    writeFileSync(keyFile, "secret-from-file-rotated-987\n");
    writeFileSync(tokenFile, "token-from-file-TWO\n");
    write(sb.work, "two.txt", "2");
    await waitFor("two.txt saved", () => proxy.requests.some((q) => q.method === "PUT" && q.key === "notes/two.txt"));
    expect(proxy.requests.find((q) => q.key === "notes/one.txt")?.sessionToken).toBe("token-from-file-ONE");
    expect(proxy.requests.find((q) => q.key === "notes/two.txt")?.sessionToken).toBe("token-from-file-TWO");
    const r = await stop(w);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/secret-from-file|token-from-file/);
  });

  it("HTTP_PROXY is used (the SDK alone ignores it), and NO_PROXY bypasses it", async () => {
    const server = await startS3rver();
    const proxy = await startProxy(server.endpoint);
    const sb = s3Sandbox(server.endpoint, { HTTP_PROXY: proxy.endpoint, NO_PROXY: "" });
    write(sb.work, "a.txt", "a");
    expect((await push(sb)).code).toBe(0);
    expect(proxy.count("PUT", (k) => k === "notes/a.txt")).toBe(1);
    write(sb.work, "b.txt", "b");
    const direct = { ...sb, env: { ...sb.env, NO_PROXY: "127.0.0.1" } };
    expect((await push(direct)).code).toBe(0);
    expect(proxy.count("PUT", (k) => k === "notes/b.txt")).toBe(0);
    expect(await getText(server.client, "notes/b.txt")).toBe("b");
  });

  describe("bad input: one clear line and the documented exit code", () => {
    const expectOneLine = (r: { code: number | null; stderr: string }, code: number, mention: RegExp) => {
      expect(r.code, r.stderr).toBe(code);
      const lines = reportedError(r.stderr).filter((l) => l.startsWith("mirrorshade:"));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(mention);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    };
    let server: S3rver;
    const setup = async (extra: NodeJS.ProcessEnv = {}) => {
      server = await startS3rver();
      const sb = s3Sandbox(server.endpoint, extra);
      write(sb.work, "a.txt", "a");
      return sb;
    };

    it("missing bucket: exit 6; with --create the bucket is made", async () => {
      const sb = await setup({ MIRRORSHADE_REMOTE: "s3://no-such-bucket/p" });
      expectOneLine(await run(["push", sb.work], { env: sb.env }), 6, /no-such-bucket.*does not exist/);
      const r = await run(["push", sb.work, "--create"], { env: sb.env });
      expect(r.code, r.stderr).toBe(0);
      expect(await keys(server.client, "", "no-such-bucket")).toEqual(["p/a.txt"]);
    });

    it("wrong endpoint (nothing listens): exit 4", async () => {
      const sb = await setup({ MIRRORSHADE_S3_ENDPOINT: "http://127.0.0.1:9" });
      expectOneLine(await run(["push", sb.work, "--retry-for", "0"], { env: sb.env }), 4, /cannot reach/);
    });

    it("wrong region format: exit 2", async () => {
      const sb = await setup();
      expectOneLine(await run(["push", sb.work, "--s3-region", "us east 1"], { env: sb.env }), 2, /region/);
    });

    it("no credentials anywhere: exit 3", async () => {
      const sb = await setup();
      const env = Object.fromEntries(
        Object.entries(sb.env).filter(([k]) => !/^AWS_(ACCESS|SECRET|SESSION|PROFILE)/.test(k)),
      );
      expectOneLine(await run(["push", sb.work], { env }), 3, /no S3 credentials/);
    });

    it("a malformed s3 URL: exit 2", async () => {
      const sb = await setup({ MIRRORSHADE_REMOTE: "s3://" });
      expectOneLine(await run(["push", sb.work], { env: { ...cleanEnv(), ...sb.env } }), 2, /S3 remote/);
    });
  });
});

function sha(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}
