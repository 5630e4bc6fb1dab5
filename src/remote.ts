/**
 * Remote URLs: parsed once, here. Imports only leaves (errors, redact), so the registry,
 * the backends and the option checks can all read a URL without importing each other.
 *
 * A remote comes from flags, env and config files, and in-place mode from the repo's own
 * config: it is input. git would hand some forms to programs (`ext::<command>`, `fd::<n>`,
 * any `<helper>::<address>`) or read them as options (`--upload-pack=…`): those are refused
 * here, and the one transport git may use is named so the git side can allow exactly it.
 */
import { ConfigError } from "./errors";
import { stripUserinfo } from "./redact";

/** The transports git may use for a remote (`protocol.<name>.allow`). */
export type GitTransport = "file" | "ssh" | "http" | "https" | "git";

export interface ParsedRemote {
  /** The remote as given (credentials included, if any: never print it unredacted). */
  url: string;
  /** The registry's key: `file`, `ssh`, `http`, `https`, `git`, `s3`, or an unknown URL scheme. */
  scheme: string;
  /** For git remotes: the one transport git may use to reach it. */
  transport?: GitTransport;
  /** For local remotes (a path or `file://`): the path, decoded. */
  path?: string;
  /** For `s3://bucket/prefix`: the bucket and the prefix (no leading or trailing slash, may be empty). */
  bucket?: string;
  prefix?: string;
}

const GIT_SCHEMES: Record<string, GitTransport> = {
  file: "file",
  ssh: "ssh",
  http: "http",
  https: "https",
  git: "git",
};

/**
 * Parse a remote; throws only ConfigError (one line, the URL without credentials).
 * A relative local path stays relative (the caller resolves it against its base).
 */
export function parseRemote(remote: string): ParsedRemote {
  const bad = (why: string, hint = "use a path, file://, ssh://, git@host:path, https:// or s3://bucket/prefix") =>
    new ConfigError(`bad remote ${JSON.stringify(shown(remote))}: ${why}`, { hint });
  if (remote.trim() === "") throw bad("it is empty");
  // A newline would start a new line in git's config file; NUL ends a C string early.
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  if (/[\x00-\x1f\x7f]/.test(remote)) throw bad("it holds a control character");
  if (remote !== remote.trim()) throw bad("it starts or ends with a space");
  if (remote.startsWith("-")) throw bad("it looks like an option", "a remote never starts with '-'");
  // git's transport.c: `<scheme-chars>::<address>` runs the helper git-remote-<scheme> (ext:: runs a command).
  const helper = /^([A-Za-z][A-Za-z0-9+.-]*)::/.exec(remote);
  if (helper) {
    throw bad(`"${helper[1]}::" hands the address to a program`, "use a URL (https://, ssh://, file://) or a path");
  }

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(remote)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    let url: URL;
    try {
      url = new URL(remote);
    } catch {
      throw bad("it is not a valid URL");
    }
    if (scheme === "file") {
      if (url.hostname !== "" && url.hostname !== "localhost") throw bad("a file:// URL names no other host");
      let decoded: string;
      try {
        decoded = decodeURIComponent(url.pathname);
      } catch {
        throw bad("its path is not valid percent-encoding");
      }
      if (decoded.includes("\0")) throw bad("its path holds a NUL");
      return { url: remote, scheme, transport: "file", path: decoded };
    }
    if (scheme === "s3") return { url: remote, scheme, ...s3Parts(remote, bad) };
    if (scheme in GIT_SCHEMES) {
      // ssh reads a host or user starting with '-' as an option (git refuses them too).
      if (url.hostname === "") throw bad("it names no host");
      if (url.hostname.startsWith("-") || /^(-|%2d)/i.test(url.username)) {
        throw bad("its host or user starts with '-'", "a host name never starts with '-'");
      }
      return { url: remote, scheme, transport: GIT_SCHEMES[scheme] };
    }
    return { url: remote, scheme }; // the registry names the schemes it knows
  }

  // scp-like [user@]host:path: a colon before any slash (git's rule); `[host]:path` for IPv6.
  const colon = remote.indexOf(":");
  const bracketed = /^(?:[^@/]*@)?\[[^\]/]*\]:/.exec(remote);
  if (bracketed || (colon > 0 && !remote.slice(0, colon).includes("/"))) {
    const end = bracketed ? bracketed[0].length - 1 : colon;
    const login = remote.slice(0, end);
    const host = login.slice(login.lastIndexOf("@") + 1).replace(/^\[|\]$/g, "");
    const user = login.includes("@") ? login.slice(0, login.lastIndexOf("@")) : "";
    if (host === "") throw bad("it names no host");
    if (host.startsWith("-") || user.startsWith("-")) {
      throw bad("its host or user starts with '-'", "a host name never starts with '-'");
    }
    if (remote.slice(end + 1) === "") throw bad("it names no path on the host");
    return { url: remote, scheme: "ssh", transport: "ssh" };
  }
  return { url: remote, scheme: "file", transport: "file", path: remote };
}

/** The URL's scheme; `ssh` for scp-like `[user@]host:path` (git's rule: a colon before any slash); else `file`. */
export function schemeOf(remote: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(remote);
  if (m) return m[1]!.toLowerCase();
  const colon = remote.indexOf(":");
  if (colon > 0 && !remote.slice(0, colon).includes("/")) return "ssh";
  return "file";
}

/** S3's rules for `s3://bucket/prefix`: credentials never in the URL, no empty, `.` or `..` prefix segments. */
function s3Parts(remote: string, bad: (why: string, hint?: string) => ConfigError) {
  const m = /^s3:\/\/([^/@]+)(?:\/(.*))?$/i.exec(remote);
  if (!m) throw bad("an S3 remote is s3://bucket/prefix", "use s3://bucket/prefix (credentials never go in the URL)");
  const bucket = m[1]!;
  if (!/^[a-z0-9][a-z0-9._-]{1,254}$/i.test(bucket)) {
    throw bad(`"${bucket}" is not an S3 bucket name`, "3-63 lowercase letters, digits, . and -");
  }
  const prefix = (m[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (prefix !== "" && prefix.split("/").some((seg) => seg === "" || seg === "." || seg === "..")) {
    throw bad(`the prefix "${prefix}" has an empty, . or .. segment`, "use s3://bucket/some/prefix");
  }
  return { bucket, prefix };
}

/** For messages: without credentials, and short. */
function shown(remote: string): string {
  const s = stripUserinfo(remote);
  return s.length > 200 ? s.slice(0, 200) + "…" : s;
}
