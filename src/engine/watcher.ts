/**
 * The file watcher: @parcel/watcher (inotify on Linux, FSEvents on macOS), with the
 * directory ignores handed to it and the finer rules applied here. When inotify limits
 * are exhausted it says so and falls back to periodic scanning.
 */
import path from "node:path";
import type { ChangeKind } from "../../backends/types";
import { log } from "../log";
import { IgnoreRules, WATCHER_IGNORES } from "./ignore";

export interface Watcher {
  close(): Promise<void>;
  /** "inotify" (or the platform's native watcher) or "polling". */
  readonly mode: string;
}

export type OnChange = (rel: string, kind: ChangeKind) => void;

export async function startWatcher(
  dir: string,
  rules: IgnoreRules,
  onChange: OnChange,
  opts: { pollEvery: number },
): Promise<Watcher> {
  const { subscribe } = await import("@parcel/watcher");
  const handle = (abs: string, kind: ChangeKind) => {
    const rel = path.relative(dir, abs).split(path.sep).join("/");
    if (!rel || rel.startsWith("..")) return;
    if (IgnoreRules.isRuleFile(rel)) rules.invalidate(rel);
    if (rules.ignores(rel)) return;
    onChange(rel, kind);
  };
  try {
    const sub = await subscribe(
      dir,
      (err, events) => {
        if (err) {
          log.error(`watcher error: ${err.message}; rescanning the whole dir`);
          onChange(".", "update");
          return;
        }
        for (const e of events) handle(e.path, e.type);
      },
      { ignore: WATCHER_IGNORES },
    );
    return {
      mode: "native",
      async close() {
        // Can reject ("Invalid argument") when the tree is being deleted under it.
        await sub.unsubscribe().catch(() => {});
      },
    };
  } catch (err) {
    const msg = (err as Error).message;
    if (!/no space left|too many open files|inotify/i.test(msg)) throw err;
    log.error(
      `cannot watch ${dir}: ${msg}. The inotify limits (fs.inotify.max_user_watches / max_user_instances) are ` +
        `exhausted on this node (shared by every pod of this UID). Falling back to scanning every ${opts.pollEvery / 1000}s.`,
    );
    const timer = setInterval(() => onChange(".", "update"), opts.pollEvery);
    return {
      mode: "polling",
      async close() {
        clearInterval(timer);
      },
    };
  }
}
