/**
 * The state dir: mirrorshade's private directory, one per work dir, never inside it.
 *   lock          who runs on this work dir now (pid, process start time, command, a nonce);
 *                 made and broken as src/lockfile.ts says (`lock.break`, `lock.<random>` briefly)
 *   control.sock  the running `watch` answers `push` here, so push never touches its index (0600;
 *                 a path too long for a Unix socket is reached through /proc/self/fd/<dir fd>/)
 *   ready         written once the restore finished (an exec startup probe can test it)
 *   git/          the git dir (sidecar mode); other backends keep their manifest here
 */
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import path from "node:path";
import { ConfigError, TransientError } from "./errors";
import { log } from "./log";
import { isInside, tempStateBase } from "./paths";
import * as lockfile from "./lockfile";
import { redact } from "./redact";
import { sleep } from "./retry";

export interface LockInfo {
  pid: number;
  start?: string;
  command: string;
  socket?: string;
  /** Random: this lock's bytes are its own, whatever pid or inode comes again. */
  nonce?: string;
}

function parseLock(raw: string): LockInfo | undefined {
  try {
    const info = JSON.parse(raw) as LockInfo;
    return Number.isInteger(info?.pid) && info.pid > 0 ? info : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A lock whose holder is dead; or whose bytes do not parse and that is not being written now
 * (with no hard links, a lock is created empty, then written; or a process died mid-write).
 */
function isStale(found: lockfile.Found): boolean {
  const info = parseLock(found.raw);
  return info ? !alive(info) : lockfile.settled(found.age, 5000);
}

export function prepareStateDir(stateDir: string, workDir: string): void {
  if (isInside(stateDir, workDir)) {
    throw new ConfigError(`state dir ${stateDir} is inside the work dir`, {
      hint: "put --state-dir outside it: the work dir is shared with a less trusted writer",
    });
  }
  if (path.dirname(path.resolve(stateDir)) === tempStateBase()) checkPrivateBase(tempStateBase());
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new ConfigError(`cannot create state dir ${stateDir}: ${(err as Error).message}`, {
      hint: "set --state-dir (MIRRORSHADE_STATE_DIR) to a writable place",
    });
  }
}

/**
 * The temp dir is shared: `<tmp>/mirrorshade-<uid>` is used only when it is ours, a real
 * directory (not a link) and private, else anyone could read or plant our state.
 */
function checkPrivateBase(base: string): void {
  const uid = process.getuid?.();
  let st;
  try {
    st = lstatSync(base);
  } catch {
    try {
      mkdirSync(base, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new ConfigError(`cannot create ${base}: ${(err as Error).message}`, {
          hint: "set --state-dir (MIRRORSHADE_STATE_DIR) to a writable place",
        });
      }
    }
    st = lstatSync(base);
  }
  const refuse = (why: string) =>
    new ConfigError(`refusing to keep state in ${base}: ${why}`, {
      hint: "the temp dir is shared: remove it if it is not yours, or set --state-dir (MIRRORSHADE_STATE_DIR)",
    });
  if (st.isSymbolicLink()) throw refuse("it is a symlink");
  if (!st.isDirectory()) throw refuse("it is not a directory");
  if (uid !== undefined && st.uid !== uid) throw refuse(`it belongs to uid ${st.uid}, not ${uid}`);
  if ((st.mode & 0o077) !== 0) throw refuse(`its mode is ${(st.mode & 0o777).toString(8)}, not 700`);
}

/** Linux: a pid's start time tells a live owner from a reused pid (a restarted container reuses pids). */
function startTime(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ")[19];
  } catch {
    return undefined;
  }
}

function alive(info: LockInfo): boolean {
  if (info.pid === process.pid) return false;
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const now = startTime(info.pid);
  return info.start === undefined || now === undefined || now === info.start;
}

/** A watch's socket exists once its restore is done: from then on it answers. */
function watchSocket(info: LockInfo): string | undefined {
  return info.command === "watch" && info.socket && existsSync(info.socket) ? info.socket : undefined;
}

export class StateLock {
  private constructor(
    readonly file: string,
    readonly socket: string,
    /** The lock file's bytes: release removes this lock, never one another process took since. */
    private readonly raw: string,
  ) {}

  /**
   * Take the lock, or report who holds it. `waitMs` waits for a holder that is not a
   * watcher (another push or restore) to finish. The file mechanics (whole, never broken
   * twice) are in src/lockfile.ts.
   */
  static async acquire(
    stateDir: string,
    command: string,
    waitMs: number,
  ): Promise<{ lock: StateLock } | { watcher: string }> {
    const file = path.join(stateDir, "lock");
    const socket = socketPath(stateDir);
    const deadline = Date.now() + waitMs;
    const mine: LockInfo = {
      pid: process.pid,
      start: startTime(process.pid),
      command,
      socket,
      nonce: lockfile.nonce(),
    };
    const raw = JSON.stringify(mine);
    for (;;) {
      if (lockfile.create(file, raw)) {
        // A marker left by a killed run would pass a startup probe before we restored.
        removeMarker(path.join(stateDir, "ready"));
        return { lock: new StateLock(file, socket, raw) };
      }
      const found = lockfile.read(file);
      if (!found) continue; // released meanwhile
      const info = parseLock(found.raw);
      const stale = isStale(found);
      if (stale) {
        if (lockfile.breakStale(file, found.raw, isStale)) continue;
      } else {
        const watcher = info && watchSocket(info);
        if (watcher) return { watcher };
      }
      if (Date.now() > deadline) {
        const who = info ? ` (pid ${info.pid}, ${info.command})` : "";
        throw new TransientError(
          stale
            ? `another process is removing the stale lock of ${stateDir} (${file}.break)`
            : `another mirrorshade${who} is using ${stateDir}`,
          { hint: "wait for it to finish, or pass a different --state-dir" },
        );
      }
      await sleep(stale ? 50 : 200);
    }
  }

  /** Who holds the lock of this state dir, if anyone alive does (for `status`). */
  static holder(stateDir: string): LockInfo | undefined {
    let raw;
    try {
      raw = readFileSync(path.join(stateDir, "lock"), "utf8");
    } catch {
      return undefined;
    }
    const info = parseLock(raw);
    return info && alive(info) ? info : undefined;
  }

  /** The control socket of the watch that holds this state dir, if one runs and answers. */
  static watcher(stateDir: string): string | undefined {
    const info = StateLock.holder(stateDir);
    return info && watchSocket(info);
  }

  /** Tell an exec startup probe the restore is done. Not fatal: saving matters more than the probe. */
  markReady(): void {
    const file = path.join(path.dirname(this.file), "ready");
    try {
      writeFileSync(file, new Date().toISOString() + "\n");
    } catch (err) {
      log.warn(`cannot write the ready marker ${file}: ${errText(err)}; saving goes on`, {
        hint: "a startup probe that tests the marker fails until it can be written (a full disk?)",
      });
    }
  }

  release(): void {
    removeMarker(path.join(path.dirname(this.file), "ready"));
    rmSync(this.socket, { force: true });
    lockfile.removeOwn(this.file, this.raw);
  }
}

function removeMarker(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch (err) {
    log.warn(`cannot remove the ready marker ${file}: ${errText(err)}`);
  }
}

function errText(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/** The control socket lives in the state dir, whatever its length (see socketAddress). */
function socketPath(stateDir: string): string {
  return path.join(stateDir, "control.sock");
}

/** sockaddr_un's sun_path holds 108 bytes on Linux, the final NUL included. */
const SOCKET_PATH_MAX = 107;

/**
 * An address to bind or connect `socket` by. A path too long for a Unix socket is reached
 * through an open fd of its directory (`/proc/self/fd/<fd>/control.sock`, Linux), never
 * moved to a shared temp dir or the abstract namespace (no permission check there, and all
 * containers of a pod share one network namespace). `done()` closes the fd.
 */
function socketAddress(socket: string): { address: string; done(): void } {
  if (Buffer.byteLength(socket) <= SOCKET_PATH_MAX) return { address: socket, done() {} };
  const fd = openSync(path.dirname(socket), constants.O_RDONLY | constants.O_DIRECTORY);
  let open = true;
  return {
    address: `/proc/self/fd/${fd}/${path.basename(socket)}`,
    done() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/** What a command asks the running watch; `log` and `restoreAt` carry their arguments (JSON). */
export type ControlRequest = {
  op: "save" | "plan" | "status" | "log" | "restoreAt";
  args?: Record<string, unknown>;
};

export type ControlHandler = (request: ControlRequest) => Promise<unknown>;

/**
 * The watcher's side: one JSON request and one JSON reply per connection. The socket is 0600
 * (only our UID may ask), and every reply is redacted like a log line.
 */
export function serveControl(socket: string, handler: ControlHandler): net.Server {
  rmSync(socket, { force: true });
  // Each string redacted on its own: a pattern run over the JSON text could eat a closing quote.
  const reply = (conn: net.Socket, body: unknown) =>
    conn.end(JSON.stringify(body, (_key, v: unknown) => (typeof v === "string" ? redact(v) : v)) + "\n");
  const server = net.createServer((conn) => {
    let buf = "";
    conn.on("data", (d) => {
      buf += d.toString("utf8");
      if (!buf.includes("\n")) return;
      let req: ControlRequest;
      try {
        req = JSON.parse(buf.split("\n")[0]!);
      } catch {
        reply(conn, { error: "bad request" });
        return;
      }
      handler(req).then(
        (res) => reply(conn, res),
        (err: Error & { exitCode?: number; hint?: string }) =>
          reply(conn, { error: err.message, exitCode: err.exitCode ?? 1, hint: err.hint }),
      );
    });
    conn.on("error", () => {});
  });
  const at = socketAddress(socket);
  server.on("error", (err) => {
    at.done();
    log.error(`cannot serve the control socket ${socket}: ${errText(err)}; push and status cannot reach this watch`);
  });
  server.on("listening", () => at.done());
  // bind(2) creates the socket file with the umask's mode: 0600 from the start, no window.
  const umask = process.umask(0o177);
  try {
    server.listen(at.address);
  } finally {
    process.umask(umask);
  }
  try {
    chmodSync(socket, 0o600); // a platform that binds later, or ignores the umask for sockets
  } catch {
    // not bound (yet): the error handler reports it
  }
  return server;
}

export function askWatcher<T>(
  socket: string,
  op: ControlRequest["op"],
  timeoutMs: number,
  args?: ControlRequest["args"],
): Promise<T> {
  return new Promise((resolve, reject) => {
    let at: ReturnType<typeof socketAddress>;
    try {
      at = socketAddress(socket);
    } catch (err) {
      reject(new TransientError(`cannot reach the running watcher: ${errText(err)}`));
      return;
    }
    const conn = net.connect(at.address);
    let buf = "";
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new TransientError("the running watcher did not answer in time", { hint: "check its logs" }));
    }, timeoutMs);
    conn.on("connect", () => {
      at.done();
      conn.write(JSON.stringify({ op, args }) + "\n");
    });
    conn.on("data", (d) => (buf += d.toString("utf8")));
    conn.on("end", () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as T);
      } catch {
        reject(new TransientError("the running watcher closed the connection"));
      }
    });
    conn.on("error", (err) => {
      at.done();
      clearTimeout(timer);
      reject(new TransientError(`cannot reach the running watcher: ${err.message}`));
    });
  });
}
