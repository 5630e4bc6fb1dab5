/**
 * What a running `watch` reports about itself: counters for /metrics (Prometheus text),
 * /healthz (alive: event loop and watcher, not remote reachability), /readyz (restored),
 * and the same snapshot for `mirrorshade status`.
 */
import type { Server } from "node:http";
import { ConfigError } from "./errors";
import { log } from "./log";

/** A conflict as status and the log name it: the path, and where their version was put beside it. */
export interface ConflictNote {
  path: string;
  copy?: string;
  at: string;
}

/** How many recent conflicts `status` lists. */
const RECENT_CONFLICTS = 20;

export class Health {
  ready = false;
  /** The running watcher; undefined before it starts and after shutdown. */
  watcher: { mode: string } | undefined;
  pendingCount: () => number = () => 0;
  saves = 0;
  failures = 0;
  consecutiveFailures = 0;
  conflicts = 0;
  savedFiles = 0;
  savedBytes = 0;
  lastSuccess: number | undefined;
  lastError: string | undefined;
  /** Paths that could not be saved (a FIFO, an unreadable file, …) with the reason, until one is saved. */
  readonly skipped = new Map<string, string>();
  /** watch --pull: its interval (undefined: off), pulls that ended, failed, and files they brought. */
  pullEvery: number | undefined;
  pulls = 0;
  pullFailures = 0;
  pulledFiles = 0;
  lastPull: number | undefined;
  /** The latest conflicts, newest last. */
  recentConflicts: ConflictNote[] = [];
  private durationSum = 0;
  private durationCount = 0;
  readonly startedAt = Date.now();
  static readonly BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  private buckets = Health.BUCKETS.map(() => 0);

  recordSave(ms: number, files: number, bytes: number, conflicts: number): void {
    this.saves++;
    this.consecutiveFailures = 0;
    this.savedFiles += files;
    this.savedBytes += bytes;
    this.conflicts += conflicts;
    this.lastSuccess = Date.now();
    this.lastError = undefined;
    const s = ms / 1000;
    this.durationSum += s;
    this.durationCount++;
    Health.BUCKETS.forEach((b, i) => {
      if (s <= b) this.buckets[i]!++;
    });
  }

  /**
   * What the last save could not save. A save of the whole tree knows every such path; a save
   * of some paths only tells about those (the others keep their last reason).
   */
  recordSkipped(
    whole: boolean,
    saved: readonly { path: string }[],
    skipped: readonly { path: string; reason: string }[],
  ): void {
    if (whole) this.skipped.clear();
    for (const e of saved) this.skipped.delete(e.path);
    for (const e of skipped) this.skipped.set(e.path, e.reason);
  }

  /** Conflicts met by a save or a pull; saves count theirs in recordSave. */
  noteConflicts(conflicts: readonly { path: string; copy?: string }[], count = true): void {
    if (!conflicts.length) return;
    if (count) this.conflicts += conflicts.length;
    const at = new Date().toISOString();
    this.recentConflicts = [
      ...this.recentConflicts,
      ...conflicts.map((c) => ({ path: c.path, ...(c.copy ? { copy: c.copy } : {}), at })),
    ].slice(-RECENT_CONFLICTS);
  }

  recordPull(files: number): void {
    this.pulls++;
    this.pulledFiles += files;
    this.lastPull = Date.now();
  }

  recordPullFailure(message: string): void {
    this.pullFailures++;
    this.lastError = message;
  }

  /** Notebooks changed on both sides that merged by cell (no conflict copy), by a save, a restore or a pull. */
  merges = 0;

  recordFailure(message: string): void {
    this.failures++;
    this.consecutiveFailures++;
    this.lastError = message;
  }

  snapshot() {
    return {
      pid: process.pid,
      ready: this.ready,
      watcher: this.watcher?.mode ?? (this.ready ? "stopped" : "not started"),
      pending: this.pendingCount(),
      saves: this.saves,
      failures: this.failures,
      consecutiveFailures: this.consecutiveFailures,
      conflicts: this.conflicts,
      merges: this.merges,
      skipped: [...this.skipped].map(([path, reason]) => ({ path, reason })),
      recentConflicts: this.recentConflicts,
      pull: this.pullEvery
        ? {
            every: this.pullEvery,
            pulls: this.pulls,
            failures: this.pullFailures,
            files: this.pulledFiles,
            last: this.lastPull && new Date(this.lastPull).toISOString(),
          }
        : null,
      savedFiles: this.savedFiles,
      savedBytes: this.savedBytes,
      lastSuccess: this.lastSuccess && new Date(this.lastSuccess).toISOString(),
      lastError: this.lastError,
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000),
    };
  }

  metrics(): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, value: number | string, labels = "") => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels} ${value}`);
    };
    metric("mirrorshade_up", "gauge", "1 while the watcher runs.", this.watcher ? 1 : 0);
    metric("mirrorshade_ready", "gauge", "1 once the restore finished.", this.ready ? 1 : 0);
    metric("mirrorshade_saves_total", "counter", "Saves the remote acknowledged.", this.saves);
    metric("mirrorshade_save_failures_total", "counter", "Save attempts that failed (retried).", this.failures);
    metric(
      "mirrorshade_consecutive_failures",
      "gauge",
      "Failed attempts since the last success.",
      this.consecutiveFailures,
    );
    metric(
      "mirrorshade_conflicts_total",
      "counter",
      "Paths changed here and at the remote (both kept).",
      this.conflicts,
    );
    metric(
      "mirrorshade_merges_total",
      "counter",
      "Notebooks changed here and at the remote that merged by cell (no conflict copy).",
      this.merges,
    );
    metric(
      "mirrorshade_skipped_paths",
      "gauge",
      "Paths that cannot be saved now (FIFO, unreadable, bad name…); see `status`.",
      this.skipped.size,
    );
    metric("mirrorshade_pending_changes", "gauge", "Changed paths not saved yet.", this.pendingCount());
    metric(
      "mirrorshade_pulls_total",
      "counter",
      "Pulls of other writers' saves that ended (watch --pull).",
      this.pulls,
    );
    metric("mirrorshade_pull_failures_total", "counter", "Pulls that failed (retried).", this.pullFailures);
    metric(
      "mirrorshade_pulled_files_total",
      "counter",
      "Files written into or deleted from the work dir by pulls.",
      this.pulledFiles,
    );
    metric("mirrorshade_saved_files_total", "counter", "Files added, modified or deleted by saves.", this.savedFiles);
    metric("mirrorshade_saved_bytes_total", "counter", "Bytes of the files saved.", this.savedBytes);
    metric(
      "mirrorshade_last_success_timestamp_seconds",
      "gauge",
      "When the last save was acknowledged (0: never).",
      this.lastSuccess ? Math.floor(this.lastSuccess / 1000) : 0,
    );
    lines.push(
      "# HELP mirrorshade_save_duration_seconds Time from the start of a save to the remote's acknowledgement.",
      "# TYPE mirrorshade_save_duration_seconds histogram",
    );
    Health.BUCKETS.forEach((b, i) =>
      lines.push(`mirrorshade_save_duration_seconds_bucket{le="${b}"} ${this.buckets[i]}`),
    );
    lines.push(
      `mirrorshade_save_duration_seconds_bucket{le="+Inf"} ${this.durationCount}`,
      `mirrorshade_save_duration_seconds_sum ${this.durationSum}`,
      `mirrorshade_save_duration_seconds_count ${this.durationCount}`,
    );
    return lines.join("\n") + "\n";
  }
}

const TICK_MS = 5000;
/** How late the tick may be before /healthz says the event loop stalled. */
const STALL_MS = 10_000;

/** Parse `:8787`, `8787`, `127.0.0.1:8787`, `[::1]:8787`. */
export function parseListen(text: string): { host?: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*))?:?(\d+)$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 0 && port < 65536)) {
    throw new ConfigError(`bad --listen address "${text}"`, { hint: "use :8787, 8787 or 127.0.0.1:8787" });
  }
  return { host: m[1] ?? (m[2] || undefined), port };
}

/**
 * Serve /healthz, /readyz and /metrics. Resolves with the bound port. node:http is loaded
 * here, only with --listen: nine modules an idle watch without it does not need.
 */
export async function serveHealth(health: Health, listen: string): Promise<{ server: Server; port: number }> {
  const { host, port } = parseListen(listen);
  const http = await import("node:http");
  let lastTick = Date.now();
  // The event loop is alive if this timer keeps firing. Every 5 s: each firing wakes the
  // process, and a sidecar idles most of its life (once a second was 60 wake-ups a minute).
  const tick = setInterval(() => (lastTick = Date.now()), TICK_MS);
  tick.unref();
  const server = http.createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    const send = (code: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(code, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (url === "/healthz") {
      // Alive while restoring (no watcher yet); once ready, the watcher must run.
      const loopOk = Date.now() - lastTick < TICK_MS + STALL_MS;
      const watcherOk = Boolean(health.watcher) || !health.ready;
      return loopOk && watcherOk ? send(200, "ok\n") : send(503, loopOk ? "watcher stopped\n" : "event loop stalled\n");
    }
    if (url === "/readyz") return health.ready ? send(200, "ready\n") : send(503, "restoring\n");
    if (url === "/metrics") return send(200, health.metrics(), "text/plain; version=0.0.4; charset=utf-8");
    send(404, "not found\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        new ConfigError(`cannot listen on ${listen}: ${err.code ?? err.message}`, {
          hint: "pick a free --listen port",
        }),
      ),
    );
    server.listen(port, host, () => {
      const addr = server.address();
      const bound = typeof addr === "object" && addr ? addr.port : port;
      log.info(`health and metrics on ${host ?? "*"}:${bound}`, { paths: ["/healthz", "/readyz", "/metrics"] });
      server.on("close", () => clearInterval(tick));
      resolve({ server, port: bound });
    });
  });
}
