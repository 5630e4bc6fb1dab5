import { describe, expect, it } from "vitest";
import { Registry, registry, schemeOf } from "../../backends/index";
import type { Backend, BackendContext } from "../../backends/types";
import { ConfigError } from "../../src/errors";
import { log } from "../../src/log";

describe("schemeOf", () => {
  it.each([
    ["/abs/path", "file"],
    ["rel/path", "file"],
    ["./rel:with-colon", "file"],
    ["backup.git", "file"],
    ["file:///x", "file"],
    ["ssh://h/x", "ssh"],
    ["SSH://h/x", "ssh"],
    ["git@host:x.git", "ssh"],
    ["host:x", "ssh"],
    ["https://h/x", "https"],
    ["https://user:tok@h/x", "https"],
    ["http://h/x", "http"],
    ["git://h/x", "git"],
    ["s3://b/p", "s3"],
  ])("%j → %j", (remote, scheme) => {
    expect(schemeOf(remote)).toBe(scheme);
  });
});

function ctx(remote: string | undefined): BackendContext {
  return { remote, dir: "/nonexistent/work", stateDir: "/nonexistent/state", settings: {} as never, log };
}

const fakeBackend = (name: string): Backend => ({
  name,
  capabilities: { history: false, atRestore: false },
  check: async () => {},
  restore: async () => ({ written: [], kept: [], empty: true, resumed: false, incoming: [], conflicts: [] }),
  plan: async () => ({ entries: [], skipped: [], deferred: [], total: 0, unacknowledged: 0 }),
  save: async () => ({ saved: [], incoming: [], conflicts: [] }),
  close: async () => {},
});

describe("Registry", () => {
  it("refuses a scheme registered twice", () => {
    const r = new Registry().register(["a", "b"], async () => async () => fakeBackend("x"));
    expect(() => r.register(["c", "b"], async () => async () => fakeBackend("y"))).toThrow(/"b" registered twice/);
  });

  it("opens the backend of the remote's scheme, loading it only then", async () => {
    let loadedA = 0;
    let loadedB = 0;
    const seen: BackendContext[] = [];
    const r = new Registry()
      .register(["a"], async () => {
        loadedA++;
        return async (c) => {
          seen.push(c);
          return fakeBackend("A");
        };
      })
      .register(["file", "ssh"], async () => {
        loadedB++;
        return async () => fakeBackend("B");
      });
    expect(r.schemes).toEqual(["a", "file", "ssh"]);
    expect(loadedA + loadedB).toBe(0);
    const a = await r.open(ctx("a://bucket/p"));
    expect(a.name).toBe("A");
    expect(seen[0]!.remote).toBe("a://bucket/p");
    expect(loadedB).toBe(0);
    expect((await r.open(ctx("/srv/x.git"))).name).toBe("B");
    expect((await r.open(ctx("git@h:x.git"))).name).toBe("B");
    // no remote: the file backend (a work tree's own upstream)
    expect((await r.open(ctx(undefined))).name).toBe("B");
    expect(loadedA).toBe(1);
  });

  it("refuses an unknown scheme with a ConfigError that does not show the URL's userinfo", async () => {
    const r = new Registry().register(["file"], async () => async () => fakeBackend("f"));
    const err = await r.open(ctx("ftp://user:secret@h/x")).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    const e = err as ConfigError;
    expect(e.message).toContain('"ftp"');
    expect(e.message).toContain("ftp://h/x");
    expect(e.message).not.toContain("secret");
    expect(e.message).not.toContain("user");
    expect(e.hint).toContain("file://");
    expect(e.exitCode).toBe(2);
  });

  it("the default registry serves git's schemes and not (yet) unknown ones", async () => {
    for (const s of ["file", "ssh", "git", "http", "https"]) expect(registry.schemes).toContain(s);
    await expect(registry.open(ctx("ftp://user:secret@h/x"))).rejects.toBeInstanceOf(ConfigError);
  });
});
