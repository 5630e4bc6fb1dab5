/**
 * The local changes not saved yet, as the watch's scheduler holds them: a path, a directory
 * ("rescan below it") or "." (the whole tree). A pull leaves every path they cover alone: the
 * file may be in the middle of a rewrite, and the save that follows takes it.
 */
export function isPending(pending: ReadonlySet<string>, rel: string): boolean {
  if (pending.size === 0) return false;
  if (pending.has(".") || pending.has(rel)) return true;
  for (let i = rel.indexOf("/"); i > 0; i = rel.indexOf("/", i + 1)) if (pending.has(rel.slice(0, i))) return true;
  return false;
}
