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
let sink: (line: string) => void = (line) => process.stderr.write(line + "\n");

export function configureLog(opts: { level?: Level; format?: LogFormat; quietProgress?: boolean }): void {
  if (opts.level) level = opts.level;
  if (opts.format) format = opts.format;
  spinners = Boolean(process.stderr.isTTY) && format === "text" && !opts.quietProgress;
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
    if (!spinners) {
      emit("info", msg);
      return { update() {}, done: (m) => m && emit("info", m), fail: (m) => m && emit("warn", m) };
    }
    // ora is ESM-only and only useful on a terminal: load it on demand.
    let spinner: { text: string; succeed(t?: string): void; fail(t?: string): void } | undefined;
    let pending = redact(msg);
    void import("ora").then(({ default: ora }) => {
      if (pending !== "\0") spinner = ora({ text: pending, stream: process.stderr }).start();
    });
    return {
      update(m) {
        pending = redact(m);
        if (spinner) spinner.text = pending;
      },
      done(m) {
        if (spinner) spinner.succeed(m && redact(m));
        else if (m) emit("info", m);
        pending = "\0";
      },
      fail(m) {
        if (spinner) spinner.fail(m && redact(m));
        else if (m) emit("warn", m);
        pending = "\0";
      },
    };
  },
};

/** Results go to stdout, redacted like everything else. */
export function out(text: string): void {
  process.stdout.write(redact(text) + "\n");
}
