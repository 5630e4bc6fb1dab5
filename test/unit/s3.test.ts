import { mkdirSync, realpathSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { translate } from "../../backends/s3/errors";
import { unsafeKey } from "../../backends/s3/keys";
import { resolveSettings } from "../../src/config";
import { AuthError, ConfigError, NotFoundError, TransientError } from "../../src/errors";
import { tempDir } from "../helpers";

function work(): { work: string; env: NodeJS.ProcessEnv } {
  const root = realpathSync(tempDir("ms-unit-s3-"));
  mkdirSync(path.join(root, "work"));
  return { work: path.join(root, "work"), env: { HOME: root, XDG_STATE_HOME: path.join(root, "state") } };
}

describe("unsafeKey", () => {
  it.each([
    ["../x", /climbs out/],
    ["a/../../x", /climbs out/],
    ["/abs", /absolute/],
    ["a//b", /empty/],
    ["./a", /\. path segment/],
    ["a\0b", /NUL/],
    ["", /empty name/],
    [".git/hooks/post-checkout", /\.git/],
    ["x/.GIT/config", /\.git/],
    ["n".repeat(256), /255 bytes/],
  ])("refuses %j", (rel, why) => {
    expect(unsafeKey(rel)).toMatch(why);
  });

  it.each(["a.txt", "with space/ünïcødé ✓.md", "..hidden", "a/b..c/d", ".gitignore", "x\\y"])("accepts %j", (rel) => {
    expect(unsafeKey(rel)).toBeUndefined();
  });
});

describe("translate", () => {
  const svc = (name: string, status: number) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  it.each([
    [svc("NoSuchBucket", 404), NotFoundError],
    [svc("AccessDenied", 403), AuthError],
    [svc("InvalidAccessKeyId", 403), AuthError],
    [
      Object.assign(new Error("Could not load credentials from any providers"), { name: "CredentialsProviderError" }),
      AuthError,
    ],
    [svc("InternalError", 500), TransientError],
    [svc("SlowDown", 503), TransientError],
    [Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" }), TransientError],
    [svc("InvalidStorageClass", 400), ConfigError],
    [svc("PermanentRedirect", 301), ConfigError],
    // The request handler's timeouts and our per-call deadline (an aborted call).
    [
      Object.assign(new Error("socket timed out after 30000 ms of inactivity"), { name: "TimeoutError" }),
      TransientError,
    ],
    [
      Object.assign(new Error("Request aborted"), { name: "AbortError", cause: new Error("no answer within 3 s") }),
      TransientError,
    ],
  ])("%s", (err, cls) => {
    const t = translate(err, "s3://b/p/");
    expect(t).toBeInstanceOf(cls);
    expect((t as Error).cause).toBe(err);
  });

  it("passes an unknown error through (a bug, not a remote failure)", () => {
    const bug = new TypeError("x is undefined");
    expect(translate(bug, "s3://b/p/")).toBe(bug);
  });
});

describe("S3 options", () => {
  it("are named like every option: flag, MIRRORSHADE_S3_* env, and an s3 object in the config file", async () => {
    // The config file lives outside the work dir (one inside it is never read) and is found in the cwd.
    const { work: dir, env } = work();
    const cwd = path.dirname(dir);
    writeFileSync(
      path.join(cwd, ".mirrorshaderc.json"),
      JSON.stringify({
        s3: { endpoint: "http://minio:9000", pathStyle: false, concurrency: 4, deletePolicy: "mirror" },
      }),
    );
    const s = await resolveSettings("push", dir, {}, { ...env, MIRRORSHADE_S3_PART_SIZE: "6m" }, cwd);
    expect(s).toMatchObject({
      s3Endpoint: "http://minio:9000",
      s3PathStyle: false,
      s3Concurrency: 4,
      s3DeletePolicy: "mirror",
      s3PartSize: 6 * 1024 ** 2,
      s3MultipartThreshold: 16 * 1024 ** 2,
      s3ConditionalWrites: "auto",
    });
    const flag = await resolveSettings("push", dir, { s3Concurrency: "32" }, env, cwd);
    expect(flag.s3Concurrency).toBe(32);
  });

  it("refuse a secret in the config file, a bad number, and the same setting twice", async () => {
    const { work: dir, env } = work();
    const cwd = path.dirname(dir);
    const file = path.join(cwd, ".mirrorshaderc.json");
    writeFileSync(file, JSON.stringify({ s3: { secretAccessKey: "abc" } }));
    await expect(resolveSettings("push", dir, {}, env, cwd)).rejects.toThrow(/never holds secrets/);
    writeFileSync(file, JSON.stringify({ s3: { concurrency: "many" } }));
    await expect(resolveSettings("push", dir, {}, env, cwd)).rejects.toThrow(/bad number/);
    writeFileSync(file, JSON.stringify({ s3: { region: "a" }, s3Region: "b" }));
    await expect(resolveSettings("push", dir, {}, env, cwd)).rejects.toThrow(/both/);
    writeFileSync(file, JSON.stringify({ s3: { nonsense: 1 } }));
    await expect(resolveSettings("push", dir, {}, env, cwd)).rejects.toThrow(/unknown setting "s3Nonsense"/);
  });
});
