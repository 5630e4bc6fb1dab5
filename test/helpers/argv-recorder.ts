/**
 * Record how a process under test runs git and ssh: a directory of wrapper scripts to put
 * first on its PATH. Each wrapper appends its argv to a log, then execs the real binary.
 * Works for a process running as another UID (everything world-readable, log world-writable).
 */
import {
  accessSync,
  chmodSync,
  closeSync,
  constants,
  openSync,
  readFileSync,
  readSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { tempDir } from "./index";

export interface ArgvRecorder {
  /** Put first on PATH: holds one wrapper per recorded command. */
  binDir: string;
  /** NUL-separated records, see entries(). */
  logFile: string;
  /** Every recorded invocation in order: `[command name, ...args]`, e.g. `["git", "--version"]`. */
  entries(): string[][];
  /** The real binary each wrapper execs, by command name (a command not installed has none). */
  real: Record<string, string>;
}

const MARKER = "# mirrorshade test argv recorder";

/**
 * Wrappers for `commands` (default git and ssh), bound to the real binaries found on the
 * current PATH (skipping other recorders' wrappers and commands that are not installed).
 */
export function argvRecorder(opts: { commands?: string[] } = {}): ArgvRecorder {
  const commands = opts.commands ?? ["git", "ssh"];
  const binDir = tempDir("ms-argv-");
  chmodSync(binDir, 0o755);
  const logFile = path.join(binDir, "argv.log");
  writeFileSync(logFile, "");
  chmodSync(logFile, 0o666);
  // Absolute: the process under test may have a PATH without /usr/bin.
  const flock = which("flock");
  if (!flock) throw new Error("argvRecorder: flock not found on PATH (util-linux)");
  const real: Record<string, string> = {};
  for (const name of commands) {
    const target = which(name);
    // Not installed (ssh on a machine without openssh-client): nothing can run it, nothing to record.
    if (!target) continue;
    real[name] = target;
    const wrapper = path.join(binDir, name);
    // Record: "<argc>\0<name>\0<arg1>\0…<argN>\0" (args cannot hold NUL; any other byte is safe).
    // flock on the log's own descriptor serializes concurrent invocations; the group's
    // redirection closes fd 9 (and so drops the lock) before the exec, so the real binary never holds it.
    writeFileSync(
      wrapper,
      [
        "#!/bin/sh",
        MARKER,
        `{ ${sh(flock)} 9 && printf '%s\\0' "$#" ${sh(name)} "$@" >&9; } 9>>${sh(logFile)}`,
        `exec ${sh(target)} "$@"`,
        "",
      ].join("\n"),
    );
    chmodSync(wrapper, 0o755);
  }
  return {
    binDir,
    logFile,
    real,
    entries: () => parse(readFileSync(logFile, "utf8")),
  };
}

function parse(log: string): string[][] {
  const fields = log.split("\0");
  const out: string[][] = [];
  // The last field is what follows the final NUL: empty, or a record still being written.
  let i = 0;
  while (i < fields.length - 1) {
    const argc = Number(fields[i]);
    if (!Number.isInteger(argc) || i + 2 + argc > fields.length - 1) break;
    out.push(fields.slice(i + 1, i + 2 + argc));
    i += 2 + argc;
  }
  return out;
}

function isWrapper(file: string): boolean {
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.alloc(200);
    return buf
      .subarray(0, readSync(fd, buf, 0, buf.length, 0))
      .toString("latin1")
      .includes(MARKER);
  } finally {
    closeSync(fd);
  }
}

/** The absolute path of `name` on PATH, not one of our wrappers; undefined when there is none. */
function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (!statSync(candidate).isFile() || isWrapper(candidate)) continue;
      // Not resolved through symlinks: a multi-call binary may dispatch on its name.
      return path.resolve(candidate);
    } catch {
      // not here
    }
  }
  return undefined;
}

function sh(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
