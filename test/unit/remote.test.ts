import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../src/errors";
import { branchNameProblem } from "../../src/refname";
import { parseRemote } from "../../src/remote";

function refused(remote: string): ConfigError {
  let err: unknown;
  try {
    parseRemote(remote);
  } catch (e) {
    err = e;
  }
  expect(err, remote).toBeInstanceOf(ConfigError);
  const e = err as ConfigError;
  expect(e.message).not.toContain("\n");
  return e;
}

describe("parseRemote: refused", () => {
  it.each([
    ["fd::3", /fd::/],
    ["ext::sh -c touch% /tmp/pwned", /ext::/],
    ["foo::https://host/x.git", /foo::/],
    ["--upload-pack=touch /tmp/pwned;:", /option/],
    ["-oProxyCommand=x", /option/],
    ["https://[bad", /not a valid URL/],
    ["file://%zz/x.git", /not a valid URL/],
    ["file:///srv/x%zz.git", /percent-encoding/],
    ["file://otherhost/srv/x.git", /no other host/],
    ["ssh://-oProxyCommand=touch%20x/y.git", /starts with '-'/],
    ["ssh://-u@host/y.git", /starts with '-'/],
    ["-host:x.git", /option/],
    ["git@-oProxyCommand=x:y.git", /starts with '-'/],
    ["host:", /no path/],
    ["", /empty/],
    [" /srv/x.git", /space/],
    ["/srv/x.git\n[core]\n\thooksPath = /tmp", /control character/],
    ["s3://", /s3:\/\/bucket|not a valid URL/],
    ["s3://b/../x", /segment|bucket name/],
    ["s3://bucket/a//b", /segment/],
  ])("%j", (remote, why) => {
    expect(refused(remote).message).toMatch(why);
  });

  it("never echoes credentials in its message", () => {
    const e = refused("https://alice:s3cretTok@[bad");
    expect(e.message).not.toContain("s3cretTok");
  });

  it("throws nothing but ConfigError, whatever the input", () => {
    const alphabet = [
      "a",
      "/",
      ":",
      "@",
      "[",
      "]",
      "%",
      "z",
      "-",
      ".",
      "::",
      "://",
      "s3",
      "file",
      "ssh",
      "%2",
      " ",
      "\0",
    ];
    let seed = 42;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      let s = "";
      for (let j = rnd(12); j >= 0; j--) s += alphabet[rnd(alphabet.length)];
      try {
        parseRemote(s);
      } catch (err) {
        expect(err, JSON.stringify(s)).toBeInstanceOf(ConfigError);
      }
    }
  });
});

describe("parseRemote: accepted", () => {
  it.each([
    ["/srv/backup.git", "file", "file"],
    ["backup.git", "file", "file"],
    ["./rel:with-colon", "file", "file"],
    ["file:///srv/backup.git", "file", "file"],
    ["file://localhost/srv/backup.git", "file", "file"],
    ["ssh://git@host/x.git", "ssh", "ssh"],
    ["SSH://git@host:2222/x.git", "ssh", "ssh"],
    ["git@host:x.git", "ssh", "ssh"],
    ["host:x.git", "ssh", "ssh"],
    ["[::1]:x.git", "ssh", "ssh"],
    ["git@[::1]:x.git", "ssh", "ssh"],
    ["https://host/x.git", "https", "https"],
    ["https://user:tok@host/x.git", "https", "https"],
    ["http://127.0.0.1:8080/x.git", "http", "http"],
    ["git://host/x.git", "git", "git"],
    ["s3://bucket/some/prefix", "s3", undefined],
    ["ftp://host/x", "ftp", undefined],
  ])("%j: scheme %j, git transport %j", (remote, scheme, transport) => {
    const p = parseRemote(remote);
    expect(p.scheme).toBe(scheme);
    expect(p.transport).toBe(transport);
    expect(p.url).toBe(remote);
  });

  it("decodes a file:// path and splits an S3 remote", () => {
    expect(parseRemote("file:///srv/my%20backup.git").path).toBe("/srv/my backup.git");
    expect(parseRemote("s3://bucket/a/b/")).toMatchObject({ bucket: "bucket", prefix: "a/b" });
    expect(parseRemote("s3://bucket")).toMatchObject({ bucket: "bucket", prefix: "" });
  });
});

/**
 * git's own verdict on a branch name: check-ref-format on refs/heads/<name>, plus the rules of
 * `git branch` (no leading '-', not HEAD), plus ours: "@" alone, which git reads as HEAD.
 */
function gitAccepts(name: string): boolean {
  if (name.startsWith("-") || name === "HEAD" || name === "@") return false;
  const r = spawnSync("git", ["check-ref-format", `refs/heads/${name}`], { stdio: "ignore" });
  return r.status === 0;
}

describe("branchNameProblem agrees with git check-ref-format", () => {
  const names = [
    "main",
    "notes/backup",
    "feature-1.2",
    "a_b",
    "@x",
    "x@y",
    "x.lock",
    "a/x.lock/b",
    "a//b",
    ".hidden",
    "a/.hidden",
    "trailing/",
    "/leading",
    "-x",
    "a..b",
    "a@{b",
    "@",
    "HEAD",
    "end.",
    "a b",
    "tab\tname",
    "bell\x07",
    "del\x7f",
    "a~1",
    "a^2",
    "a:b",
    "a?b",
    "a*b",
    "a[b",
    "a\\b",
    "",
    "ünïcödé",
    "x.lockfile",
    "a/b/c",
  ];
  it.each(names)("%j", (name) => {
    const ours = branchNameProblem(name) === undefined;
    expect(ours, `${JSON.stringify(name)}: ours ${ours ? "accepts" : "refuses"}`).toBe(gitAccepts(name));
  });
});
