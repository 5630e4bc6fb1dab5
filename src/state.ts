/**
 * The state dir: mirrorshade's private directory, one per work dir, never inside it.
 *   lock          who runs on this work dir now (pid, process start time, command)
 *   control.sock  the running `watch` answers `push` here, so push never touches its index
 *   ready         written once the restore finished (an exec startup probe can test it)
 *   git/          the git dir (sidecar mode); other backends keep their manifest here
 */
import { createHash } from "node:crypto";
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync, writeFileSync, existsSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { ConfigError, TransientError } from "./errors";
import { isInside } from "./config";
import { sleep } from "./retry";

export interface LockInfo {
  pid: number;
  start?: string;
  command: string;
  socket?: string;
}

export function prepareStateDir(stateDir: string, workDir: string): void {
  if (isInside(stateDir, workDir)) {
    throw new ConfigError(`state dir ${stateDir} is inside the work dir`, {
      hint: "put --state-dir outside it: the work dir is shared with a less trusted writer",
    });
  }
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new ConfigError(`cannot create state dir ${stateDir}: ${(err as Error).message}`, {
      hint: "set --state-dir (MIRRORSHADE_STATE_DIR) to a writable place",
    });
  }
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

export class StateLock {
  private constructor(
    readonly file: string,
    readonly socket: string,
  ) {}

  /**
   * Take the lock, or report who holds it. `waitMs` waits for a holder that is not a
   * watcher (another push or restore) to finish.
   */
  static async acquire(
    stateDir: string,
    command: string,
    waitMs: number,
  ): Promise<{ lock: StateLock } | { watcher: string }> {
    const file = path.join(stateDir, "lock");
    const socket = socketPath(stateDir);
    const deadline = Date.now() + waitMs;
    for (;;) {
      try {
        const fd = openSync(file, "wx", 0o600);
        const info: LockInfo = { pid: process.pid, start: startTime(process.pid), command, socket };
        writeSync(fd, JSON.stringify(info));
        closeSync(fd);
        // A marker left by a killed run would pass a startup probe before we restored.
        rmSync(path.join(stateDir, "ready"), { force: true });
        return { lock: new StateLock(file, socket) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      let info: LockInfo | undefined;
      try {
        info = JSON.parse(readFileSync(file, "utf8")) as LockInfo;
      } catch {
        info = undefined; // half-written by a process that died mid-write, or removed meanwhile
      }
      if (!info || !alive(info)) {
        rmSync(file, { force: true });
        continue;
      }
      if (info.command === "watch" && info.socket && existsSync(info.socket)) return { watcher: info.socket };
      if (Date.now() > deadline) {
        throw new TransientError(`another mirrorshade (pid ${info.pid}, ${info.command}) is using ${stateDir}`, {
          hint: "wait for it to finish, or pass a different --state-dir",
        });
      }
      await sleep(200);
    }
  }

  /** Who holds the lock of this state dir, if anyone alive does (for `status`). */
  static holder(stateDir: string): LockInfo | undefined {
    try {
      const info = JSON.parse(readFileSync(path.join(stateDir, "lock"), "utf8")) as LockInfo;
      return alive(info) ? info : undefined;
    } catch {
      return undefined;
    }
  }

  markReady(): void {
    writeFileSync(path.join(path.dirname(this.file), "ready"), new Date().toISOString() + "\n");
  }

  release(): void {
    rmSync(path.join(path.dirname(this.file), "ready"), { force: true });
    rmSync(this.socket, { force: true });
    rmSync(this.file, { force: true });
  }
}

/** Unix socket paths are limited to ~104 bytes: fall back to a short hashed name under the temp dir. */
function socketPath(stateDir: string): string {
  const p = path.join(stateDir, "control.sock");
  if (p.length < 100) return p;
  const h = createHash("sha256").update(stateDir).digest("hex").slice(0, 16);
  return path.join(tmpdir(), `mirrorshade-${h}.sock`);
}

export type ControlHandler = (request: { op: "save" | "plan" | "status" }) => Promise<unknown>;

/** The watcher's side: one JSON request and one JSON reply per connection. */
export function serveControl(socket: string, handler: ControlHandler): net.Server {
  rmSync(socket, { force: true });
  const server = net.createServer((conn) => {
    let buf = "";
    conn.on("data", (d) => {
      buf += d.toString("utf8");
      if (!buf.includes("\n")) return;
      let req: { op: "save" | "plan" | "status" };
      try {
        req = JSON.parse(buf.split("\n")[0]!);
      } catch {
        conn.end(JSON.stringify({ error: "bad request" }) + "\n");
        return;
      }
      handler(req).then(
        (res) => conn.end(JSON.stringify(res) + "\n"),
        (err: Error & { exitCode?: number }) =>
          conn.end(JSON.stringify({ error: err.message, exitCode: err.exitCode ?? 1 }) + "\n"),
      );
    });
    conn.on("error", () => {});
  });
  server.listen(socket);
  return server;
}

export function askWatcher<T>(socket: string, op: "save" | "plan" | "status", timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const conn = net.connect(socket);
    let buf = "";
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new TransientError("the running watcher did not answer in time", { hint: "check its logs" }));
    }, timeoutMs);
    conn.on("connect", () => conn.write(JSON.stringify({ op }) + "\n"));
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
      clearTimeout(timer);
      reject(new TransientError(`cannot reach the running watcher: ${err.message}`));
    });
  });
}
