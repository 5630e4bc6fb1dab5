import { describe, expect, it } from "vitest";
import { addSecret, redact, redactDeep, stripCredentials, stripUserinfo } from "../../src/redact";

// Secrets registered with addSecret live for the whole process (this test file's worker):
// each test uses its own values so the order of tests does not matter.

describe("redact: URL userinfo", () => {
  it("masks user and token", () => {
    expect(redact("https://user:tok@host/x")).toBe("https://***@host/x");
  });

  it("masks a token-only userinfo and keeps the rest of the line", () => {
    expect(redact("fatal: could not read from ssh://git@host:22/x.git (exit 128)")).toBe(
      "fatal: could not read from ssh://***@host:22/x.git (exit 128)",
    );
    expect(redact("push to https://ghp_abcdef123456@github.com/o/r.git failed")).toBe(
      "push to https://***@github.com/o/r.git failed",
    );
  });

  it("masks every URL on a line", () => {
    const out = redact("from https://a:b@h1/x to http://c:d@h2/y");
    expect(out).toBe("from https://***@h1/x to http://***@h2/y");
  });

  it("leaves URLs without userinfo and plain e-mail addresses alone", () => {
    expect(redact("https://host/x and me@example.org")).toBe("https://host/x and me@example.org");
  });
});

describe("redact: registered secrets", () => {
  it("masks a secret wherever it appears", () => {
    addSecret("s3cr3t-value-1");
    expect(redact("token=s3cr3t-value-1; again s3cr3t-value-1!")).toBe("token=***; again ***!");
    expect(redact("prefixs3cr3t-value-1suffix")).toBe("prefix***suffix");
  });

  it("trims the registered value", () => {
    addSecret("  trimmed-secret-2\n");
    expect(redact("x trimmed-secret-2 y")).toBe("x *** y");
  });

  it("ignores undefined, empty and very short values (they would mask ordinary words)", () => {
    addSecret(undefined);
    addSecret("");
    addSecret("the");
    expect(redact("the cat")).toBe("the cat");
  });
});

describe("redact: private keys and headers", () => {
  const key = [
    "-----BEGIN OPENSSH PRIVATE KEY-----",
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
    "-----END OPENSSH PRIVATE KEY-----",
  ].join("\n");

  it("masks a PEM private key block", () => {
    const out = redact(`key:\n${key}\nafter`);
    expect(out).toBe("key:\n[redacted private key]\nafter");
    expect(out).not.toContain("b3BlbnNzaC1");
  });

  it("masks an RSA key and a truncated key (no END line)", () => {
    const rsa = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----";
    expect(redact(rsa)).toBe("[redacted private key]");
    expect(redact("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq")).toBe("[redacted private key]");
  });

  it("keeps public keys and certificates", () => {
    const cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    expect(redact(cert)).toBe(cert);
  });

  it.each([
    ["Authorization: Bearer abc.def.ghi", "Authorization: Bearer ***"],
    ["authorization: basic dXNlcjpwYXNz", "authorization: basic ***"],
    ["http.extraHeader=Authorization: token ghp_x1y2z3", "http.extraHeader=Authorization: token ***"],
  ])("masks the header value in %j", (text, expected) => {
    expect(redact(text)).toBe(expected);
  });
});

describe("redactDeep", () => {
  it("redacts strings at any depth and keeps the shape", () => {
    addSecret("deep-secret-3");
    const input = {
      remote: "https://u:p@host/r.git",
      n: 3,
      ok: true,
      nested: { list: ["deep-secret-3", "plain", { s: "x deep-secret-3 y" }] },
    };
    expect(redactDeep(input)).toEqual({
      remote: "https://***@host/r.git",
      n: 3,
      ok: true,
      nested: { list: ["***", "plain", { s: "x *** y" }] },
    });
    // the input is not modified
    expect(input.remote).toBe("https://u:p@host/r.git");
  });

  it("keeps neighbouring fields intact when a URL is followed by an address", () => {
    const doc = { remote: "https://host/r.git", author: "me@example.org" };
    expect(redactDeep(doc)).toEqual(doc);
    // no path after the host: the userinfo pattern must not run on into the next field
    const bare = { error: "cannot reach https://example.com", author: "me@example.org" };
    expect(redactDeep(bare)).toEqual(bare);
  });

  it("returns valid data when a string holds a truncated private key", () => {
    const doc = { error: "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA", after: "kept" };
    expect(redactDeep(doc)).toEqual({ error: "[redacted private key]", after: "kept" });
  });
});

describe("stripUserinfo", () => {
  it.each([
    ["https://user:tok@host/x", "https://host/x"],
    ["ssh://git@host:22/x.git", "ssh://host:22/x.git"],
    ["https://host/x", "https://host/x"],
    ["/srv/backup.git", "/srv/backup.git"],
    ["git@host:x.git", "git@host:x.git"],
  ])("%j → %j", (url, expected) => {
    expect(stripUserinfo(url)).toBe(expected);
  });
});

describe("stripCredentials (what git and config files get)", () => {
  it.each([
    ["https://user:tok@host/x", "https://host/x"],
    ["http://tok@host/x", "http://host/x"],
    ["ssh://git@host:22/x.git", "ssh://git@host:22/x.git"],
    ["git+ssh://git@host/x.git", "git+ssh://git@host/x.git"],
    ["ssh://git:pw@host/x.git", "ssh://host/x.git"],
    ["https://host/x", "https://host/x"],
    ["git@host:x.git", "git@host:x.git"],
  ])("%j → %j", (url, expected) => {
    expect(stripCredentials(url)).toBe(expected);
  });
});

describe("redact: JSON log lines", () => {
  it("keeps a JSON line parseable and its fields intact", () => {
    const line = JSON.stringify({ msg: "push to https://u:p@host failed", remote: "https://host", author: "a@b.c" });
    const out = redact(line);
    expect(JSON.parse(out)).toEqual({
      msg: "push to https://***@host failed",
      remote: "https://host",
      author: "a@b.c",
    });
  });
});
