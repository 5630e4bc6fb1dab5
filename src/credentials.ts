/**
 * Credentials the way a cluster hands them: files from a mounted Secret (re-read before
 * every use: Secrets rotate through the `..data` symlink), a random UID with no passwd
 * entry, HOME=/. Everything here becomes environment for one git child; nothing reaches
 * argv, the remote URL, .git/config or the work dir.
 */
import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync, chmodSync } from "node:fs";
import path from "node:path";
import { AuthError, ConfigError } from "./errors";
import { log } from "./log";
import { addSecret } from "./redact";

export interface CredentialSettings {
  sshKeyFile: string[];
  sshKnownHostsFile?: string;
  sshAcceptNewHostKeys: boolean;
  tokenFile?: string;
  tokenUsername: string;
  caFile?: string;
}

/** The secret-bearing environment variable (never a flag, never in a config file). */
export const TOKEN_ENV = "MIRRORSHADE_TOKEN";

const NSS_WRAPPER_PATHS = [
  "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
  "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
  "/usr/lib64/libnss_wrapper.so",
  "/usr/lib/libnss_wrapper.so",
];

let warnedUrlCredentials = false;
let warnedAcceptNew = false;

/** Parse `https://user:token@host/x` into the URL without userinfo and the credentials, if any. */
export function splitUserinfo(url: string): { url: string; username?: string; password?: string } {
  const m = /^(https?:\/\/)([^/@]*)@(.*)$/i.exec(url);
  if (!m) return { url };
  const [user, pass] = m[2]!.split(":");
  return {
    url: m[1]! + m[3]!,
    username: user ? decodeURIComponent(user) : undefined,
    password: pass !== undefined ? decodeURIComponent(pass) : undefined,
  };
}

/**
 * The environment that carries credentials to one git child talking to `remote`, built
 * fresh for each call. Empty for local remotes. `userSsh`: the user chose their own ssh
 * command (in-place mode: GIT_SSH_COMMAND, core.sshCommand); without key files it is kept.
 */
export function credentialEnv(
  remote: string,
  scheme: string,
  settings: CredentialSettings,
  stateDir: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: { userSsh?: boolean } = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  if (settings.caFile) out.GIT_SSL_CAINFO = readable(settings.caFile, "CA bundle (--ca-file)");
  if (scheme === "http" || scheme === "https") Object.assign(out, httpEnv(remote, settings, env));
  if (scheme === "ssh" && !(opts.userSsh && !settings.sshKeyFile.length))
    Object.assign(out, sshEnv(settings, stateDir));
  return out;
}

/**
 * ssh never waits without end: a server that accepts and never answers fails the connect
 * (the banner exchange counts) after ConnectTimeout; one that stops answering mid-transfer
 * is dropped after ServerAliveInterval × ServerAliveCountMax.
 */
const SSH_DEADLINES = ["-o", "ConnectTimeout=15", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=3"];

function httpEnv(remote: string, settings: CredentialSettings, env: NodeJS.ProcessEnv): Record<string, string> {
  const parts = splitUserinfo(remote);
  let token: string | undefined;
  let username = settings.tokenUsername;
  if (settings.tokenFile) {
    token = readSecretFile(settings.tokenFile, "token file (MIRRORSHADE_TOKEN_FILE)").trim();
    if (!token) {
      throw new ConfigError(`token file ${settings.tokenFile} is empty`, {
        hint: "put the token in the Secret key the file is mounted from",
      });
    }
  } else if (env[TOKEN_ENV]) {
    token = env[TOKEN_ENV]!.trim();
  } else if (parts.password) {
    if (!warnedUrlCredentials) {
      log.warn("the remote URL holds credentials: they are used, never stored; prefer MIRRORSHADE_TOKEN_FILE");
      warnedUrlCredentials = true;
    }
    token = parts.password;
    username = parts.username ?? username;
  }
  if (!token) return {};
  addSecret(token);
  const basic = Buffer.from(`${username}:${token}`).toString("base64");
  addSecret(basic);
  const origin = new URL(parts.url).origin;
  // Config through the environment, scoped to this server: never `-c` (argv), never a file.
  return {
    GIT_CONFIG_COUNT: "1",
    GIT_CONFIG_KEY_0: `http.${origin}/.extraHeader`,
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
  };
}

function sshEnv(settings: CredentialSettings, stateDir: string): Record<string, string> {
  const dir = path.join(stateDir, "ssh");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const opts: string[] = [...SSH_DEADLINES];
  if (settings.sshKeyFile.length) {
    // Isolated from the host's ssh setup: our keys only, no prompts.
    opts.push("-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes");
    settings.sshKeyFile.forEach((file, i) => {
      const key = readSecretFile(file, "ssh key (MIRRORSHADE_SSH_KEY_FILE)");
      if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(key)) {
        throw new ConfigError(`${file} is not an ssh private key`, {
          hint: "mount the private key (the file starting with -----BEGIN OPENSSH PRIVATE KEY-----)",
        });
      }
      // A private 0600 copy owned by us: ssh refuses keys others can read, and the Secret
      // mount's owner and mode are not ours to choose.
      const copy = path.join(dir, `key-${i}`);
      writePrivate(copy, key.endsWith("\n") ? key : key + "\n");
      opts.push("-i", copy);
    });
  }
  if (settings.sshKnownHostsFile) {
    const copy = path.join(dir, "known_hosts");
    writePrivate(copy, readSecretFile(settings.sshKnownHostsFile, "known_hosts (MIRRORSHADE_SSH_KNOWN_HOSTS_FILE)"));
    opts.push("-o", `UserKnownHostsFile=${copy}`, "-o", "StrictHostKeyChecking=yes");
  } else if (settings.sshAcceptNewHostKeys) {
    if (!warnedAcceptNew) {
      log.warn(
        "accepting unknown ssh host keys on first use (--ssh-accept-new-host-keys): they are kept in the state dir",
      );
      warnedAcceptNew = true;
    }
    opts.push(
      "-o",
      `UserKnownHostsFile=${path.join(dir, "known_hosts.accepted")}`,
      "-o",
      "StrictHostKeyChecking=accept-new",
    );
  } else if (settings.sshKeyFile.length) {
    opts.push("-o", "StrictHostKeyChecking=yes");
  }
  const prefix = nssWrapperPrefix(stateDir);
  // Without keys of ours, ssh still reads the user's own ssh config and keys (a laptop).
  return { GIT_SSH_COMMAND: `${prefix}ssh ${opts.map(shellQuote).join(" ")}`, GIT_SSH_VARIANT: "ssh" };
}

/**
 * ssh exits at once ("No user exists for uid …") when the UID has no passwd entry, as under
 * OpenShift's random UIDs. nss_wrapper gives the ssh child alone a passwd with our UID.
 */
function nssWrapperPrefix(stateDir: string): string {
  const uid = process.getuid?.();
  if (uid === undefined || hasPasswdEntry(uid)) return "";
  const lib = NSS_WRAPPER_PATHS.find((p) => existsSync(p));
  if (!lib) {
    throw new ConfigError(`uid ${uid} has no passwd entry, which ssh needs, and libnss_wrapper is not installed`, {
      hint: "install libnss-wrapper (Debian/Ubuntu) or nss_wrapper (RHEL), or use an https remote with a token",
    });
  }
  const passwd = path.join(stateDir, "passwd");
  const base = readFileSync("/etc/passwd", "utf8");
  writePrivate(
    passwd,
    `${base.endsWith("\n") ? base : base + "\n"}mirrorshade:x:${uid}:${process.getgid?.() ?? 0}:mirrorshade:${stateDir}:/bin/sh\n`,
  );
  return `LD_PRELOAD=${shellQuote(lib)} NSS_WRAPPER_PASSWD=${shellQuote(passwd)} NSS_WRAPPER_GROUP=/etc/group `;
}

function hasPasswdEntry(uid: number): boolean {
  try {
    return readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .some((l) => l.split(":")[2] === String(uid));
  } catch {
    return false;
  }
}

/** Read a mounted secret, with a message that names the fix when we may not. */
export function readSecretFile(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT")
      throw new ConfigError(`${what} ${file} does not exist`, { hint: "check the path and the Secret mount" });
    if (e.code === "EACCES") {
      throw new AuthError(`cannot read ${what} ${file} as uid ${process.getuid?.()}`, {
        hint: "mount the Secret readable by this user: defaultMode: 0440 with the pod's fsGroup, or 0444",
        cause: err,
      });
    }
    throw new ConfigError(`cannot read ${what} ${file}: ${e.message}`, { cause: err });
  }
}

function readable(file: string, what: string): string {
  readSecretFile(file, what);
  return file;
}

/** Write a 0600 file atomically (a concurrent ssh never sees half a key). */
function writePrivate(file: string, content: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  chmodSync(tmp, 0o600); // the umask may have kept bits we do not want
  renameSync(tmp, file);
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./=:@-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
