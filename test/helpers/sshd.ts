/**
 * A real sshd on 127.0.0.1 for tests: its own config, host key and authorized_keys in a temp
 * dir, run in its own mount namespace (sshd insists on /run/sshd; a private tmpfs on /run
 * gives it one without touching the machine's). Logins are as root; git-upload-pack and
 * git-receive-pack come from root's PATH. Needs root (unshare --mount), like CI.
 *
 * In that namespace root's login shell is /bin/sh (a copy of /etc/passwd bind-mounted over
 * it): sshd runs every remote command through the user's shell, and bash started by sshd
 * sources ~/.bashrc; with pyenv in it that cost ~1 s per connection on the dev machine.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, openSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { defer, freePort, isAlive, processTree, tempDir } from "./index";
import { lacking, type Need } from "./needs";

export interface KeyPair {
  /** Mode 0600, owned by the test runner (root): copy it for a process running as another UID. */
  privateKeyPath: string;
  /** The `.pub` line, e.g. `ssh-ed25519 AAAA… name`. */
  publicKey: string;
}

/** A fresh ed25519 key pair without a passphrase at `dir/name` (and `dir/name.pub`). */
export function sshKeygen(dir: string, name: string): KeyPair {
  const privateKeyPath = path.join(dir, name);
  execFileSync("ssh-keygen", ["-t", "ed25519", "-N", "", "-q", "-C", name, "-f", privateKeyPath], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  return { privateKeyPath, publicKey: readFileSync(`${privateKeyPath}.pub`, "utf8").trim() };
}

export interface Sshd {
  host: "127.0.0.1";
  port: number;
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA…`: the server's host key as a known_hosts line. */
  knownHostsLine: string;
  /** A world-readable file holding just `knownHostsLine`. */
  knownHostsFile: string;
  /** `ssh://root@127.0.0.1:PORT<repoAbsPath>` */
  urlFor(repoAbsPath: string): string;
  /** PID of sshd (unshare and sh exec into it, so it is also the PID spawned). */
  pid: number;
  /** The host's private key: pass it as `hostKey` to bring up a server the clients already trust. */
  hostKeyPath: string;
  /** Its sshd_config: unique per server, so `pgrep -f` on it finds exactly this server. */
  configPath: string;
  logFile: string;
  /** sshd's stderr so far (`-e`: accepted keys, auth failures, bind errors). */
  log(): string;
  /** Kill sshd and every process below it (per-connection children, git on the server side). Idempotent; also deferred. */
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Public key lines allowed to log in as root. */
  authorizedKeys: string[];
  /** Listen on this port (e.g. to bring a stopped server back); no retry if it is taken. Default: a free one. */
  port?: number;
  /** Use this private host key (e.g. another server's `hostKeyPath`) instead of a new one. */
  hostKey?: string;
  /** How long to wait for "Server listening" (default 15 s). */
  startTimeoutMs?: number;
}

/**
 * What startSshd and its clients need: sshd, ssh and ssh-keygen, and root with util-linux for
 * the private mount namespace. Tests skip with `describe.skipIf(needs(...SSHD))`.
 */
export const SSHD: Need[] = ["root", "openssh-server", "openssh-client", "util-linux"];

/** Start sshd on a free port of 127.0.0.1 and wait until it listens; it is stopped after the test. */
export async function startSshd(opts: SshdOptions): Promise<Sshd> {
  const missing = lacking(...SSHD);
  // Say so, rather than "sshd exited with 127" for a test that forgot needs(...SSHD).
  if (missing) throw new Error(`startSshd: ${missing}; skip the test with needs(...SSHD)`);
  const dir = tempDir("ms-sshd-");
  chmodSync(dir, 0o755); // knownHostsFile, for a client running as another UID (secrets inside stay 0600)
  const hostKey = path.join(dir, "ssh_host_ed25519_key");
  if (opts.hostKey) {
    copyFileSync(opts.hostKey, hostKey);
    chmodSync(hostKey, 0o600);
  } else {
    execFileSync("ssh-keygen", ["-t", "ed25519", "-N", "", "-q", "-C", "mirrorshade-test-host", "-f", hostKey], {
      stdio: ["ignore", "ignore", "pipe"],
    });
  }
  const hostPublicKey = execFileSync("ssh-keygen", ["-y", "-f", hostKey], { encoding: "utf8" })
    .trim()
    .split(/\s+/)
    .slice(0, 2)
    .join(" ");
  const authorizedKeysFile = path.join(dir, "authorized_keys");
  writeFileSync(authorizedKeysFile, opts.authorizedKeys.map((k) => k.trim() + "\n").join(""), { mode: 0o600 });
  const configPath = path.join(dir, "sshd_config");
  const logFile = path.join(dir, "sshd.log");
  const passwd = path.join(dir, "passwd");
  writeFileSync(
    passwd,
    readFileSync("/etc/passwd", "utf8").replace(/^(root:[^:\n]*:0:[^:\n]*:[^:\n]*:[^:\n]*:)[^\n]*$/m, "$1/bin/sh"),
  );

  const attempts = opts.port ? 1 : 5;
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const port = opts.port ?? (await freePort());
    writeFileSync(
      configPath,
      [
        `ListenAddress 127.0.0.1`,
        `Port ${port}`,
        `HostKey ${quote(hostKey)}`,
        `PubkeyAuthentication yes`,
        `PasswordAuthentication no`,
        `KbdInteractiveAuthentication no`,
        `UsePAM no`,
        `StrictModes no`,
        `PermitRootLogin prohibit-password`,
        `AuthorizedKeysFile ${quote(authorizedKeysFile)}`,
        `PidFile none`,
        // Tests run many short connections in parallel: don't throttle unauthenticated ones.
        `MaxStartups 100`,
        "",
      ].join("\n"),
    );
    writeFileSync(logFile, "");
    const started = await launch(configPath, passwd, logFile, opts.startTimeoutMs ?? 15_000);
    if ("proc" in started) {
      const { proc, exited } = started;
      const pid = proc.pid!;
      let stopping: Promise<void> | undefined;
      const stop = () => (stopping ??= killTree(pid, exited));
      defer(stop);
      const knownHostsLine = `[127.0.0.1]:${port} ${hostPublicKey}`;
      const knownHostsFile = path.join(dir, "known_hosts");
      writeFileSync(knownHostsFile, knownHostsLine + "\n");
      chmodSync(knownHostsFile, 0o644);
      return {
        host: "127.0.0.1",
        port,
        knownHostsLine,
        knownHostsFile,
        urlFor: (repoAbsPath) => {
          if (!path.isAbsolute(repoAbsPath)) throw new Error(`urlFor needs an absolute path, got ${repoAbsPath}`);
          return `ssh://root@127.0.0.1:${port}${repoAbsPath}`;
        },
        pid,
        hostKeyPath: hostKey,
        configPath,
        logFile,
        log: () => readFileSync(logFile, "utf8"),
        stop,
      };
    }
    lastError = new Error(`sshd did not start (attempt ${attempt}/${attempts}): ${started.why}\n${tail(logFile)}`);
    // Someone took the port between our probe and sshd's bind: pick another one.
    if (!/Address already in use|Cannot bind any address/.test(started.log)) break;
  }
  throw lastError!;
}

/** The command line for GIT_SSH_COMMAND: only this key, only this known_hosts, never a prompt. */
export function sshCommand(privateKeyPath: string, knownHostsFile: string): string {
  return [
    "ssh -F /dev/null",
    `-i ${quote(privateKeyPath)}`,
    "-o IdentitiesOnly=yes",
    `-o UserKnownHostsFile=${quote(knownHostsFile)}`,
    "-o StrictHostKeyChecking=yes",
    "-o BatchMode=yes",
  ].join(" ");
}

type Launched = { proc: ChildProcess; exited: Promise<void> } | { why: string; log: string };

async function launch(configPath: string, passwd: string, logFile: string, timeoutMs: number): Promise<Launched> {
  const logFd = openSync(logFile, "a");
  let proc: ChildProcess;
  try {
    // setpriv --pdeathsig: if the test worker dies without running its cleanups, sshd dies with it.
    // detached: its own process group, so the stop can signal the group.
    proc = spawn(
      "setpriv",
      [
        "--pdeathsig",
        "KILL",
        "unshare",
        "--mount",
        "sh",
        "-c",
        'mount -t tmpfs tmpfs /run && mkdir /run/sshd && mount --bind "$1" /etc/passwd && exec /usr/sbin/sshd -D -e -f "$0"',
        configPath,
        passwd,
      ],
      { detached: true, stdio: ["ignore", logFd, logFd], env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" } },
    );
  } finally {
    closeSync(logFd);
  }
  let exitInfo: string | undefined;
  const exited = new Promise<void>((resolve) => {
    proc.on("exit", (code, signal) => {
      exitInfo = `exited with ${signal ?? code}`;
      resolve();
    });
    proc.on("error", (err) => {
      exitInfo = `could not be spawned: ${err.message}`;
      resolve();
    });
  });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = readFileSync(logFile, "utf8");
    if (/Server listening on 127\.0\.0\.1 port \d+/.test(log)) return { proc, exited };
    if (exitInfo) return { why: `sshd ${exitInfo}`, log };
    if (Date.now() > deadline) {
      await killTree(proc.pid!, exited);
      return { why: `no "Server listening" within ${timeoutMs} ms`, log };
    }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 20))]);
  }
}

/**
 * Freeze the whole tree first (SIGSTOP cannot be caught, and a stopped process cannot fork),
 * then SIGKILL it: per-connection sshd children call setsid(), so killing the process group
 * alone would leave them (and the git processes below them) running.
 */
async function killTree(pid: number, exited: Promise<void>): Promise<void> {
  const signal = (p: number, sig: NodeJS.Signals) => {
    try {
      process.kill(p, sig);
    } catch {
      // already gone
    }
  };
  signal(-pid, "SIGSTOP");
  let tree: number[] = [];
  for (let i = 0; i < 10; i++) {
    const next = processTree(pid).filter(isAlive);
    for (const p of next) signal(p, "SIGSTOP");
    if (next.length === tree.length) break;
    tree = next;
  }
  signal(-pid, "SIGKILL");
  for (const p of tree) signal(p, "SIGKILL");
  await exited;
  const deadline = Date.now() + 5_000;
  while (tree.some(isAlive)) {
    if (Date.now() > deadline) throw new Error(`sshd processes still alive after SIGKILL: ${tree.filter(isAlive)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** Double quotes for sshd_config and ssh command lines (temp paths have no quotes of their own). */
function quote(p: string): string {
  return /^[\w./:@%+=,-]+$/.test(p) ? p : `"${p}"`;
}
