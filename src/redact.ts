/**
 * The one redaction layer: every log line, error message and `--json` document passes
 * through `redact` before it leaves the process.
 */

const secrets = new Set<string>();

/** Register a secret value (a token, a password) so it is masked wherever it appears. */
export function addSecret(value: string | undefined): void {
  const v = value?.trim();
  // Very short values would mask ordinary words; real tokens are long.
  if (!v || v.length < 6) return;
  secrets.add(v);
  // As it appears inside a JSON string (a quote or backslash in it is escaped there).
  secrets.add(JSON.stringify(v).slice(1, -1));
}

// Userinfo cannot hold a quote, <, > or backslash (RFC 3986): stopping there keeps a URL in
// one JSON field from running on to an "@" in the next one.
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^/?#\s@"<>\\]*@/gi;
// A truncated key runs to the end of the text, or of its JSON string (the next quote).
const PEM = /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|(?=")|$)/g;
const AUTH_HEADER = /(authorization:\s*(?:basic|bearer|token)\s+)\S+/gi;

export function redact(text: string): string {
  let out = text.replace(PEM, "[redacted private key]").replace(USERINFO, "$1***@").replace(AUTH_HEADER, "$1***");
  for (const s of secrets) out = out.split(s).join("***");
  return out;
}

/** Redact every string inside a JSON-able value. */
export function redactDeep<T>(value: T): T {
  return JSON.parse(redact(JSON.stringify(value))) as T;
}

/** A URL without its userinfo, for display and for git config. */
export function stripUserinfo(url: string): string {
  return url.replace(USERINFO, "$1");
}

/**
 * A URL without its credentials, for git itself and for config files: like stripUserinfo,
 * but an ssh login name (`ssh://git@host/…`) stays. It is no secret, and without it ssh logs
 * in as the local user (`mirrorshade` under a random UID, `root`, …) and is rejected.
 */
export function stripCredentials(url: string): string {
  return url.replace(USERINFO, (m: string, scheme: string) =>
    /^(ssh|git\+ssh|ssh\+git):\/\/$/i.test(scheme) && !m.slice(scheme.length).includes(":") ? m : scheme,
  );
}
