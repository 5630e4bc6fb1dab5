// /proc read cheaply: CPU ticks, memory, context switches, the members of a process group,
// and "quiet" (a subject that has finished what it was doing).
import { spawnSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { now, sleep } from "./proc.mjs";

export const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

function statFields(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  return s.slice(s.lastIndexOf(")") + 2).split(" ");
}

/** CPU ticks of a process: its own (all threads) plus its reaped children's. */
export function cpuTicks(pid) {
  const f = statFields(pid);
  return { self: Number(f[11]) + Number(f[12]), children: Number(f[13]) + Number(f[14]) };
}

export function statusKb(pid, key) {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

/** Resident set size in MB (VmRSS; VmHWM with peak). */
export function rssMb(pid, peak = false) {
  return statusKb(pid, peak ? "VmHWM" : "VmRSS") / 1024;
}

/**
 * Resident MB by what holds it (/proc/<pid>/smaps): the node binary's code and data (file
 * pages, shared with every Node on the host), other files (libraries, the watcher's addon),
 * the malloc heap ([heap]) and anonymous memory (V8's heap, thread stacks, large mallocs).
 */
export function rssByKind(pid) {
  const out = { "node binary": 0, "other files": 0, "malloc heap": 0, anonymous: 0 };
  let kind;
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (m) {
      const name = m[1];
      kind =
        !name || name.startsWith("[anon") || name.startsWith("[stack")
          ? "anonymous"
          : name === "[heap]"
            ? "malloc heap"
            : name.startsWith("[")
              ? undefined
              : /\/node$|\/mirrorshade$/.test(name)
                ? "node binary"
                : "other files";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && kind) out[kind] += Number(rss[1]) / 1024;
  }
  return out;
}

/** Context switches summed over the threads of `pid` (each voluntary one is a sleep after a wake-up). */
export function ctxtSwitches(pid) {
  const out = { voluntary: 0, involuntary: 0, mainVoluntary: 0, threads: 0 };
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let s;
    try {
      s = readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8");
    } catch {
      continue; // the thread ended
    }
    const v = Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    out.voluntary += v;
    out.involuntary += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    if (tid === String(pid)) out.mainVoluntary = v;
    out.threads++;
  }
  return out;
}

/** Live processes of a process group: [{ pid, comm }]. */
export function groupMembers(pgid) {
  const out = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, "utf8");
      const comm = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      if (Number(f[2]) === pgid && f[0] !== "Z") out.push({ pid: Number(d), comm });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/**
 * Wait until a process group is quiet: no git (or sh) running in it and the leader's CPU
 * time (own + reaped children) unchanged for `quietMs`. A save in progress is not quiet.
 */
/**
 * Wait until every thread of `pid` is traced by `tracer` (strace -f -p has attached): what
 * it runs from then on is in its log.
 */
export async function waitTraced(pid, tracer, { timeout = 30_000 } = {}) {
  const end = now() + timeout;
  const tracedBy = (tid) =>
    Number(/^TracerPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8"))?.[1]);
  while (now() < end) {
    try {
      if (readdirSync(`/proc/${pid}/task`).every((tid) => tracedBy(tid) === tracer)) return;
    } catch {
      // a thread ended between the listing and its read: look again
    }
    await sleep(20);
  }
  throw new Error(`pid ${pid} not traced by ${tracer} within ${timeout} ms`);
}

export async function waitQuiet(proc, { quietMs = 600, timeout = 300_000, busy = /^(git|sh)$|^git-/ } = {}) {
  const end = now() + timeout;
  let last = -1;
  let since = now();
  while (now() < end) {
    if (proc.exited) throw new Error(`${proc.name} exited (${proc.code ?? proc.signal})\n${proc.tail()}`);
    const members = groupMembers(proc.pid);
    const t = cpuTicks(proc.pid);
    const total = t.self + t.children;
    if (members.some((m) => m.pid !== proc.pid && busy.test(m.comm)) || total !== last) {
      last = total;
      since = now();
    } else if (now() - since >= quietMs) {
      return;
    }
    await sleep(50);
  }
  throw new Error(`${proc.name} did not go quiet within ${timeout} ms`);
}
