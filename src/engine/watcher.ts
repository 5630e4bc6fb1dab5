/**
 * The file watcher: @parcel/watcher (inotify on Linux, FSEvents on macOS), with the
 * directory ignores handed to it and the finer rules applied here. When inotify limits
 * are exhausted it says so and falls back to periodic scanning.
 */
import { readdirSync, realpathSync } from "node:fs";
import path from "node:path";
import type { AsyncSubscription, SubscribeCallback } from "@parcel/watcher";
import type { ChangeKind } from "../../backends/types";
import { log } from "../log";
import { IgnoreRules, WATCHER_IGNORES } from "../ignore";
import { loadParcelWatcher } from "./native";

/**
 * The platform's own backend, named: left to choose, @parcel/watcher first probes for
 * watchman through a shell (measured: ~0.3 s of every start).
 */
const NATIVE_BACKEND = ({ linux: "inotify", darwin: "fs-events", win32: "windows" } as const)[
  process.platform as "linux" | "darwin" | "win32"
];

export interface Watcher {
  close(): Promise<void>;
  /** "inotify" (or the platform's native watcher) or "polling". */
  readonly mode: string;
}

export type OnChange = (rel: string, kind: ChangeKind) => void;

export async function startWatcher(
  given: string,
  rules: IgnoreRules,
  onChange: OnChange,
  opts: { pollEvery: number },
): Promise<Watcher> {
  const { subscribe } = loadParcelWatcher();
  // inotify watches directories, not the symlink a work dir may be reached through
  // (@parcel/watcher fails on a link: "Not a directory"); events come back under the real path.
  const dir = realpathSync(given);
  // inotify (through @parcel/watcher) watches a new directory, but not the directories
  // already inside it when it sees it (`mkdir -p a/b/c`, `cp -r`, `unzip`, `git clone`;
  // parcel-bundler/watcher#97): nothing below them would ever be reported. Such a
  // directory renews the subscription (a fresh one scans and watches every directory),
  // then the whole tree is rescanned for what changed in between.
  const renewable = process.platform === "linux";
  const hasSubdir = (abs: string, rel: string): boolean => {
    try {
      return readdirSync(abs, { withFileTypes: true }).some(
        (d) => d.isDirectory() && !rules.ignores(`${rel}/${d.name}`, true),
      );
    } catch {
      return false; // a file, or gone already
    }
  };
  /** Pass one event on; true when it is a new directory with directories inside. */
  const handle = (abs: string, kind: ChangeKind): boolean => {
    const rel = path.relative(dir, abs).split(path.sep).join("/");
    if (!rel || rel.startsWith("..")) return false;
    if (IgnoreRules.isRuleFile(rel)) rules.invalidate(rel);
    if (rules.ignores(rel)) return false;
    onChange(rel, kind);
    return renewable && kind === "create" && hasSubdir(abs, rel);
  };
  // One over-long directory path makes inotify refuse the whole subscription: such
  // directories are left unwatched (their files cannot be saved by any backend either), once said.
  let tooLong: string[] = [];
  const subscribeAll = async (): Promise<AsyncSubscription> => {
    const opts = () => ({ ignore: [...WATCHER_IGNORES, ...tooLong], backend: NATIVE_BACKEND });
    try {
      return await subscribe(dir, callback, opts());
    } catch (err) {
      if (!/File name too long|ENAMETOOLONG/i.test((err as Error).message)) throw err;
      const found = longDirs(dir, rules).filter((d) => !tooLong.includes(d));
      if (!found.length) throw err;
      tooLong = [...tooLong, ...found];
      log.warn(
        `not watching ${found.length} dir(s) whose path is longer than the system allows (${PATH_MAX} bytes); ` +
          `files below them are not saved: ${found.map((d) => path.relative(dir, d).slice(0, 60) + "…").join(", ")}`,
      );
      return subscribeAll();
    }
  };
  let sub: AsyncSubscription;
  let closed = false;
  let renewing: Promise<void> | undefined;
  let renewAgain = false;
  let pollTimer: NodeJS.Timeout | undefined;
  const callback: SubscribeCallback = (err, events) => {
    if (err) {
      log.error(`watcher error: ${err.message}; rescanning the whole dir`);
      onChange(".", "update");
      return;
    }
    let renew = false;
    for (const e of events) if (handle(e.path, e.type)) renew = true;
    if (renew) renewSubscription();
  };
  const renewSubscription = (): void => {
    if (renewing) {
      renewAgain = true;
      return;
    }
    renewing = (async () => {
      do {
        renewAgain = false;
        await sub.unsubscribe().catch(() => {});
        if (closed) return;
        sub = await subscribeAll();
        onChange(".", "update");
      } while (renewAgain && !closed);
    })()
      .catch((err: Error) => {
        log.error(
          `cannot watch ${dir} afresh: ${err.message}. Falling back to scanning every ${opts.pollEvery / 1000}s.`,
        );
        pollTimer = setInterval(() => onChange(".", "update"), opts.pollEvery);
        onChange(".", "update");
      })
      .finally(() => (renewing = undefined));
  };
  try {
    sub = await subscribeAll();
    return {
      mode: "native",
      async close() {
        closed = true;
        clearInterval(pollTimer);
        await renewing;
        // Can reject ("Invalid argument") when the tree is being deleted under it.
        await sub.unsubscribe().catch(() => {});
      },
    };
  } catch (err) {
    const msg = (err as Error).message;
    // ENOSPC from inotify_add_watch: max_user_watches; EMFILE from inotify_init: max_user_instances.
    if (!/no space left|too many open files/i.test(msg)) throw err;
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

/** Linux's PATH_MAX, counting the final NUL: inotify_add_watch refuses a longer path. */
const PATH_MAX = 4096;

/** The top-most directories under `dir` whose absolute path inotify cannot take. */
function longDirs(dir: string, rules: IgnoreRules): string[] {
  const found: string[] = [];
  const walk = (abs: string, rel: string): void => {
    let ents;
    try {
      ents = readdirSync(abs, { withFileTypes: true });
    } catch {
      return; // gone, unreadable, or itself too long to open (its parent is reported)
    }
    for (const d of ents) {
      if (!d.isDirectory()) continue;
      const childRel = rel ? `${rel}/${d.name}` : d.name;
      if (rules.ignores(childRel, true)) continue;
      const child = path.join(abs, d.name);
      if (Buffer.byteLength(child) >= PATH_MAX - 1) found.push(child);
      else walk(child, childRel);
    }
  };
  walk(dir, "");
  return found;
}
