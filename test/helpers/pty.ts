/**
 * A real pseudo-terminal for tests: `script` (util-linux; bsdutils on Debian) runs an interactive bash on a new
 * pty with job control, the way a person's terminal runs a command. What the terminal
 * shows is read back; keys (Ctrl-C is "\x03") are typed into it.
 */
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { cliCommand, defer, tempDir, waitFor } from "./index";
import { needs } from "./needs";

/** Why pty tests cannot run here, or undefined when they can. */
export function ptyMissing(): string | undefined {
  return needs("bsdutils");
}

/**
 * The env of a person's terminal. CI=true (and its cousins) would turn spinners off by
 * itself (ora, is-interactive), and a test would then pass whatever the code does.
 */
export function terminalEnv(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, TERM: "xterm-256color" };
  for (const k of ["CI", "CONTINUOUS_INTEGRATION", "BUILD_NUMBER", "RUN_ID", "GITHUB_ACTIONS", "GITLAB_CI"]) {
    delete env[k];
  }
  // The format a person gets: text on a terminal.
  delete env.MIRRORSHADE_LOG_FORMAT;
  return env;
}

/** A word for bash. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The CLI as a bash command line. */
export const CLI = cliCommand().map(shq).join(" ");

export interface Pty {
  /** Everything the terminal showed so far (\r\n line ends, escape codes kept). */
  output(): string;
  /** Type into the terminal. */
  type(keys: string): void;
  /** Wait until the terminal shows `re`; returns the match. */
  waitFor(what: string, re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** The `PID=<n>` a job script printed (see `pidOf`). */
  pid(name?: string): Promise<number>;
  exited: Promise<number | null>;
}

/**
 * Run `job` (bash) in an interactive shell on a new terminal of `size` ("24x80", or "0x0":
 * a pty nobody sized, as under `docker run -t` in CI). Processes whose pids the job prints
 * as `PID=<n>` (or `<NAME>_PID=<n>`) are killed after the test, whatever happened.
 */
export function startPty(job: string, opts: { env: NodeJS.ProcessEnv; cwd?: string; size?: "24x80" | "0x0" }): Pty {
  const dir = tempDir("ms-pty-");
  const file = path.join(dir, "job.sh");
  const [rows, cols] = opts.size === "0x0" ? [0, 0] : [24, 80];
  // Set the size first: `script` copies its own terminal's size, and a test has none (0x0).
  writeFileSync(file, `stty rows ${rows} cols ${cols}\nset -m\n${job}\n`);
  const proc = spawn("script", ["-qec", `bash --norc --noprofile -i ${shq(file)}`, "/dev/null"], {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ["pipe", "pipe", "pipe"],
  });
  let shown = "";
  proc.stdout.on("data", (d: Buffer) => (shown += d.toString("utf8")));
  proc.stderr.on("data", (d: Buffer) => (shown += d.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => proc.on("close", (code) => resolve(code)));
  defer(async () => {
    for (const m of shown.matchAll(/\b(?:[A-Z]+_)?PID=(\d+)/g)) killHard(Number(m[1]));
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGKILL");
      await exited;
    }
  });
  const pty: Pty = {
    output: () => shown,
    type: (keys) => proc.stdin.write(keys),
    waitFor: (what, re, timeoutMs = 30_000) =>
      waitFor(
        `${what} (the terminal shows: ${JSON.stringify(shown.slice(-600))})`,
        () => shown.match(re) ?? undefined,
        timeoutMs,
      ),
    pid: async (name) =>
      Number((await pty.waitFor(`${name ?? ""}PID`, new RegExp(`\\b${name ? name + "_" : ""}PID=(\\d+)`)))[1]),
    exited,
  };
  return pty;
}

/** The state letter of a process (R, S, T for stopped, Z), or undefined when it is gone. */
export function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  } catch {
    return undefined;
  }
}

/** CPU time (user + system, in clock ticks) a process used so far. */
export function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
}

function killHard(pid: number): void {
  try {
    process.kill(pid, "SIGCONT"); // a stopped process ignores everything else
    process.kill(pid, "SIGKILL");
  } catch {
    // gone already
  }
}
