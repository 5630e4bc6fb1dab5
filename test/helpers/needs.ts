/**
 * System software some tests need beyond Node and git, named by the Debian package that
 * provides it. A test asks `needs(...)` for its skip reason: on a machine without the package
 * it skips, and the run prints one line naming the package to install, so `npm test` passes
 * on a fresh machine with only Node and git.
 *
 * - `MIRRORSHADE_REQUIRE_ALL=1` (CI): a missing package is a failure, never a skip; the run
 *   stops before any test with the list (globalSetup), and needs() throws.
 * - `MIRRORSHADE_TEST_PRETEND_MISSING=openssh-server,root`: treat these as missing, to see
 *   the skip path on a machine that has everything.
 * - `node test/helpers/needs.ts` prints the packages missing here, one a line: what .ci/run
 *   installs. Only node: imports, so Node (≥ 22.18) runs this file as it is.
 *
 * A new kind of test that needs a program: add a row to REQUIREMENTS and call needs().
 */
import { accessSync, constants, existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

interface Requirement {
  /** What the tests use, for the skip line. */
  uses: string;
  installed(): boolean;
  /** The Debian package, or undefined for what no package gives (root). */
  debian?: string;
}

const REQUIREMENTS = {
  // sshd runs in a private mount namespace; other UIDs come from setpriv.
  root: { uses: "root", installed: () => process.getuid?.() === 0 },
  "openssh-server": { uses: "sshd", debian: "openssh-server", installed: () => executable("/usr/sbin/sshd") },
  "openssh-client": { uses: "ssh, ssh-keygen", debian: "openssh-client", installed: () => onPath("ssh", "ssh-keygen") },
  // The paths the product looks in (src/credentials.ts) for the ssh child of a UID without a passwd entry.
  "libnss-wrapper": {
    uses: "libnss_wrapper.so",
    debian: "libnss-wrapper",
    installed: () =>
      [
        "/usr/lib/x86_64-linux-gnu/libnss_wrapper.so",
        "/usr/lib/aarch64-linux-gnu/libnss_wrapper.so",
        "/usr/lib64/libnss_wrapper.so",
        "/usr/lib/libnss_wrapper.so",
      ].some((f) => existsSync(f)),
  },
  "util-linux": {
    uses: "setpriv, unshare, flock",
    debian: "util-linux",
    installed: () => onPath("setpriv", "unshare", "flock"),
  },
  // A pseudo-terminal for the terminal tests (Debian's bsdutils is essential: almost always there).
  bsdutils: { uses: "script", debian: "bsdutils", installed: () => onPath("script") },
  // The laptop user service's unit file is checked with systemd-analyze.
  systemd: {
    uses: "systemd-analyze, systemd-escape",
    debian: "systemd",
    installed: () => onPath("systemd-analyze", "systemd-escape"),
  },
  procps: { uses: "pgrep", debian: "procps", installed: () => onPath("pgrep") },
  podman: { uses: "podman", debian: "podman", installed: () => onPath("podman") },
  runc: { uses: "runc", debian: "runc", installed: () => onPath("runc") },
  debootstrap: { uses: "debootstrap", debian: "debootstrap", installed: () => onPath("debootstrap") },
  // The bench's references (its smoke stage in CI).
  "inotify-tools": { uses: "inotifywait", debian: "inotify-tools", installed: () => onPath("inotifywait") },
  rclone: { uses: "rclone", debian: "rclone", installed: () => onPath("rclone") },
} satisfies Record<string, Requirement>;

export type Need = keyof typeof REQUIREMENTS;

/** What to do about a missing requirement: the one line a person reads. */
function fix(need: Need): string {
  const r: Requirement = REQUIREMENTS[need];
  return r.debian ? `apt-get install -y ${r.debian}` : "run the tests as root, as CI does";
}

function isMissing(need: Need): boolean {
  const pretend = (process.env.MIRRORSHADE_TEST_PRETEND_MISSING ?? "").split(",").map((s) => s.trim());
  return pretend.includes(need) || !REQUIREMENTS[need].installed();
}

function requireAll(): boolean {
  return !["", "0", "false"].includes(process.env.MIRRORSHADE_REQUIRE_ALL ?? "");
}

/** Marks the skip lines for vitest.config.ts (printed once per run, see skipLine). */
const SKIP = "skip: tests that need ";

/**
 * Why the tests that need all of `wanted` cannot run here (one line per missing one), or
 * undefined when they can. For `describe.skipIf(needs(…))`, `it.skipIf(…)` or `ctx.skip(…)`.
 * Under MIRRORSHADE_REQUIRE_ALL it throws instead of returning a reason.
 */
export function needs(...wanted: Need[]): string | undefined {
  const missing = wanted.filter(isMissing);
  if (!missing.length) return undefined;
  if (requireAll()) throw requiredError(missing);
  const lines = missing.map((n) => `${SKIP}${REQUIREMENTS[n].uses} (${fix(n)})`);
  for (const line of lines) console.warn(line);
  return lines.join("; ");
}

/** The same question without a skip line: for helpers that refuse to start (`missing: …`), or undefined. */
export function lacking(...wanted: Need[]): string | undefined {
  const missing = wanted.filter(isMissing);
  return missing.length ? missingList(missing) : undefined;
}

function missingList(missing: Need[]): string {
  return `missing: ${missing.map((n) => `${REQUIREMENTS[n].uses} (${fix(n)})`).join(", ")}`;
}

/**
 * For vitest's onConsoleLog: print each skip line once per run, however many files ask, and
 * keep it from the reporter (which adds a header line per file). Vitest hands over a file's
 * console output in batches: a batch with anything else in it goes to the reporter whole.
 */
export function skipLine(): (log: string) => false | void {
  const seen = new Set<string>();
  return (log) => {
    const lines = log.split("\n").filter((l) => l.trim() !== "");
    if (!lines.length || !lines.every((l) => l.startsWith(SKIP))) return;
    for (const line of lines) {
      if (!seen.has(line)) process.stderr.write(`${line}\n`);
      seen.add(line);
    }
    return false;
  };
}

/** vitest globalSetup: under MIRRORSHADE_REQUIRE_ALL the run fails at once when anything is missing. */
export function setup(): void {
  if (!requireAll()) return;
  const missing = (Object.keys(REQUIREMENTS) as Need[]).filter(isMissing);
  if (missing.length) throw requiredError(missing);
}

/** One line, no stack: the stack would point here, the missing package is the news. */
function requiredError(missing: Need[]): Error {
  const err = new Error(`MIRRORSHADE_REQUIRE_ALL is set and ${missingList(missing)}`);
  err.stack = `Error: ${err.message}`;
  return err;
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Every command is on PATH or in an sbin dir (root's PATH has them; a user's may not). */
function onPath(...commands: string[]): boolean {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/sbin"].filter(Boolean);
  return commands.every((c) => dirs.some((d) => executable(path.join(d, c))));
}

// `node test/helpers/needs.ts`: the Debian packages to install here.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const n of Object.keys(REQUIREMENTS) as Need[]) {
    const debian = (REQUIREMENTS[n] as Requirement).debian;
    if (debian && isMissing(n)) console.log(debian);
  }
}
