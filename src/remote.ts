/**
 * Remote URLs: which backend a remote names. A leaf module (no imports from the rest of
 * mirrorshade), so the registry and the backends can both read a URL without importing
 * each other.
 */

/** The URL's scheme; `ssh` for scp-like `[user@]host:path` (git's rule: a colon before any slash); else `file`. */
export function schemeOf(remote: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(remote);
  if (m) return m[1]!.toLowerCase();
  const colon = remote.indexOf(":");
  if (colon > 0 && !remote.slice(0, colon).includes("/")) return "ssh";
  return "file";
}
