import { readFileSync } from "node:fs";
import type { WriteStream } from "node:tty";
import { redact } from "./redact";

export type Level = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  /** A progress indicator on a terminal; a plain log line elsewhere. */
  progress(msg: string): Progress;
}

export interface Progress {
  update(msg: string): void;
  done(msg?: string): void;
  fail(msg?: string): void;
}

let level: Level = "info";
let format: LogFormat = process.stderr.isTTY ? "text" : "json";
let spinners = Boolean(process.stderr.isTTY);
let sink: (line: string) => void = (line) => {
  active?.beforeLine();
  write(process.stderr, line + "\n");
  active?.afterLine();
};

export function configureLog(opts: { level?: Level; format?: LogFormat; quietProgress?: boolean }): void {
  if (opts.level) level = opts.level;
  if (opts.format) format = opts.format;
  spinners = Boolean(process.stderr.isTTY) && format === "text" && !opts.quietProgress;
}

export function logFormat(): LogFormat {
  return format;
}

/** Tests capture log output here. */
export function setLogSink(fn: (line: string) => void): void {
  sink = fn;
}

function emit(lvl: Level, msg: string, fields: Fields = {}): void {
  if (ORDER[lvl] < ORDER[level]) return;
  if (format === "json") {
    sink(redact(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...fields })));
    return;
  }
  const extra = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  const prefix = lvl === "info" ? "" : `${lvl}: `;
  sink(redact(`${prefix}${msg}${extra ? "  " + extra : ""}`));
}

export const log: Logger = {
  debug: (m, f) => emit("debug", m, f),
  info: (m, f) => emit("info", m, f),
  warn: (m, f) => emit("warn", m, f),
  error: (m, f) => emit("error", m, f),
  progress(msg) {
    if (!spinners || active) {
      emit("info", msg);
      return { update() {}, done: (m) => m && emit("info", m), fail: (m) => m && emit("warn", m) };
    }
    active = new Spinner(msg);
    return active;
  },
};

/**
 * May we animate on stderr now? Only on a terminal that has a size (a 0×0 pty made ora loop
 * forever computing how many lines to clear) and whose foreground we are: a background job
 * (`watch &`) writes no cursor codes. Asked again on every frame: `bg` and `fg` move a job
 * at any time. CI (and TERM=dumb) turn animation off, as ora's own check does.
 */
export function canAnimate(stream: NodeJS.WriteStream = process.stderr): boolean {
  if (!stream.isTTY || process.env.TERM === "dumb" || "CI" in process.env) return false;
  const { columns, rows } = stream as WriteStream;
  return columns > 0 && rows > 0 && inForeground();
}

/**
 * Whether this process's group is its terminal's foreground group. Node has no tcgetpgrp:
 * on Linux, fields 5 (pgrp) and 8 (tpgid) of /proc/self/stat say it. Without /proc
 * (macOS), assume so: spinner frames are plain writes, which a background job may make.
 */
export function inForeground(stat?: string): boolean {
  let text = stat;
  try {
    text ??= readFileSync("/proc/self/stat", "utf8");
  } catch {
    return true;
  }
  // After "pid (comm) ": state ppid pgrp session tty_nr tpgid …; comm may hold spaces and parens.
  const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const pgrp = Number(f[2]);
  const tpgid = Number(f[5]);
  return pgrp > 0 && pgrp === tpgid;
}

const FRAME_MS = 80;
/** The spinner on screen: log lines clear it first and redraw it after. */
let active: Spinner | undefined;

interface OraLike {
  text: string;
  render(): unknown;
  clear(): unknown;
  succeed(text?: string): unknown;
  fail(text?: string): unknown;
}

/**
 * An ora spinner we drive ourselves: never `start()`, which would take over stdin
 * (`discardStdin` puts the terminal in raw mode: the kernel stops a background job that
 * does so) and hook every write to stdout. Each frame is drawn only when canAnimate().
 */
class Spinner implements Progress {
  private ora: OraLike | undefined;
  private text: string;
  /** A frame is on screen (and its line not finished). */
  private shown = false;
  private ended = false;
  private readonly timer: NodeJS.Timeout;

  constructor(msg: string) {
    this.text = redact(msg);
    this.timer = setInterval(() => this.frame(), FRAME_MS);
    this.timer.unref();
    // ora is ESM-only and only useful on a terminal: load it on demand.
    void import("ora").then(({ default: ora }) => {
      // isEnabled: whether to draw is decided per frame (canAnimate), not once by ora's own check.
      this.ora = ora({
        text: this.text,
        stream: process.stderr,
        discardStdin: false,
        hideCursor: false,
        isEnabled: true,
      });
      this.frame();
    });
  }

  private frame(): void {
    if (!this.ora || this.ended || closed.has(process.stderr)) return;
    if (!canAnimate()) return; // the frame on screen (if any) stays; no cursor codes from the background
    this.ora.text = this.text;
    this.ora.render();
    this.shown = true;
  }

  beforeLine(): void {
    if (!this.shown) return;
    if (canAnimate()) this.ora?.clear();
    else write(process.stderr, "\n"); // leave the old frame's line as it is
    this.shown = false;
  }

  afterLine(): void {
    this.frame();
  }

  update(msg: string): void {
    this.text = redact(msg);
  }

  done(msg?: string): void {
    this.end("info", msg);
  }

  fail(msg?: string): void {
    this.end("warn", msg);
  }

  private end(lvl: Level, msg: string | undefined): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.timer);
    if (active === this) active = undefined;
    if (this.ora && this.shown && canAnimate()) {
      const text = msg === undefined ? undefined : redact(msg);
      if (lvl === "info") this.ora.succeed(text);
      else this.ora.fail(text);
      return;
    }
    if (this.shown) write(process.stderr, "\n");
    if (msg) emit(lvl, msg);
  }
}

/**
 * Streams whose reader went away (`| head`, a closed terminal). A closed pipe ends our
 * output, not the command: it finishes as it would have and exits with its own code.
 */
const closed = new Set<NodeJS.WriteStream>();
const GONE = new Set(["EPIPE", "EIO", "ERR_STREAM_DESTROYED"]);

/** Called once at start: without a listener, EPIPE is an uncaught 'error' event and a stack trace. */
export function guardOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (!GONE.has(err.code ?? "")) throw err;
      closed.add(stream);
    });
  }
}

function write(stream: NodeJS.WriteStream, text: string): void {
  if (!closed.has(stream)) stream.write(text);
}

/** Results go to stdout, redacted like everything else. */
export function out(text: string): void {
  write(process.stdout, redact(text) + "\n");
}

/** stderr, for main's final error report (redacted there). */
export function err(text: string): void {
  write(process.stderr, text);
}

let result: Record<string, unknown> | undefined;

/**
 * A command's machine-readable result (`--json`). main prints it once, at exit, with `ok`,
 * `exitCode` and any error added: one JSON object per run, whatever happened.
 */
export function setResult(doc: Record<string, unknown>): void {
  result = doc;
}

export function takeResult(): Record<string, unknown> | undefined {
  return result;
}
