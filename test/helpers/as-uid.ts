/**
 * Run the built CLI the way OpenShift runs a container: a random UID with no passwd entry,
 * group 0, `HOME=/`, and an environment holding nothing but what the test passes
 * (`setpriv … env -i HOME=/ PATH=/usr/bin:/bin …`). Such a UID cannot read the checkout and
 * has no `node_modules/.bin` on PATH: the bundle and the project's Node are copied to a
 * world-readable temp dir and Node is called by absolute path.
 */
import { chmodSync, chownSync, copyFileSync, cpSync, mkdirSync, readdirSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT, cliCommand, sandbox, tempDir, type Sandbox } from "./index";
import { needs } from "./needs";

export interface AsUid {
  uid: number;
  /** The copied Node binary and bundle (world-readable). */
  node: string;
  bundle: string;
  /**
   * The command line for run()/start()'s `command`: setpriv, then `env -i` with HOME=/, a
   * PATH and `vars` (never put a secret in `vars`: it is argv of `env`), then the CLI.
   */
  command(vars?: Record<string, string>, opts?: { path?: string }): string[];
  /** Make `dir` (created if missing) owned by the UID with `mode`. */
  own(dir: string, mode?: number): string;
}

/** Why a test cannot run as another UID here (not root, no setpriv, a custom CLI), or undefined when it can. */
export function asUidUnavailable(): string | undefined {
  const missing = needs("root", "util-linux");
  if (missing) return missing;
  const [, ...pre] = cliCommand();
  // The bundle on Node, or a single binary (MIRRORSHADE_CLI=dist/mirrorshade): both can be copied.
  if (pre.length > 1 || (process.env.MIRRORSHADE_CLI && pre.length !== 0))
    return "a custom MIRRORSHADE_CLI: not copied for another uid";
  return undefined;
}

export const SETPRIV = "/usr/bin/setpriv";

/** Copy the CLI for `uid` (removed after the test). Check asUidUnavailable() first. */
export function asUid(uid: number): AsUid {
  const [cmd, bundleSrc] = cliCommand();
  const bin = tempDir("ms-uid-bin-");
  chmodSync(bin, 0o755);
  // A single binary (no bundle): `node` is the copied binary and `bundle` is empty.
  const bundle = bundleSrc ? path.join(bin, "mirrorshade.cjs") : "";
  if (bundleSrc) copyBundle(bundleSrc, bin);
  const node = path.join(bin, bundleSrc ? "node" : "mirrorshade");
  copyFileSync(realpathSync(cmd!), node);
  chmodSync(node, 0o755);

  return {
    uid,
    node,
    bundle,
    command(vars = {}, opts = {}) {
      return [
        SETPRIV,
        `--reuid=${uid}`,
        "--regid=0",
        "--clear-groups",
        "/usr/bin/env",
        "-i",
        "HOME=/",
        `PATH=${opts.path ?? "/usr/bin:/bin"}`,
        ...Object.entries(vars).map(([k, v]) => `${k}=${v}`),
        node,
        ...(bundle ? [bundle] : []),
      ];
    },
    own: (dir, mode) => ownBy(uid, dir, mode),
  };
}

/** Make `dir` (created if missing) owned by `uid`, group 0, with `mode`. */
export function ownBy(uid: number, dir: string, mode = 0o700): string {
  mkdirSync(dir, { recursive: true });
  chownSync(dir, uid, 0);
  chmodSync(dir, mode);
  return dir;
}

/**
 * A sandbox for a pod running as `uid`: the work dir (group-writable, as with fsGroup) and the
 * private state dir are the uid's, reachable through their parents; the remote stays root's.
 */
export function uidSandbox(uid: number): Sandbox {
  const sb = sandbox();
  traversable(sb.work);
  ownBy(uid, sb.work, 0o775);
  ownBy(uid, sb.state, 0o700);
  return sb;
}

/** The MIRRORSHADE_* variables of an env (what a pod spec sets): the `vars` for command(). */
export function mirrorshadeVars(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[0].startsWith("MIRRORSHADE_") && e[1] !== undefined),
  );
}

/** Let any UID traverse `dir` and each of its parents below the temp dir (mode 0755). */
export function traversable(dir: string): void {
  const top = path.resolve(tmpdir());
  const abs = path.resolve(dir);
  if (!abs.startsWith(top + path.sep)) throw new Error(`traversable: ${dir} is not under ${top}`);
  for (let d = abs; d !== top; d = path.dirname(d)) chmodSync(d, 0o755);
}

/**
 * Copy the bundle (launcher + CLI) and the file watcher's native addon package next to it,
 * world-readable: the checkout itself may not be readable by another UID.
 */
export function copyBundle(launcher: string, bin: string): void {
  const dist = path.dirname(launcher);
  // The launcher, the CLI and its chunks (hack/lib/chunks.mjs), as an image ships them.
  for (const f of readdirSync(dist).filter((n) => /^mirrorshade.*\.cjs$/.test(n))) {
    copyFileSync(path.join(dist, f), path.join(bin, f));
    chmodSync(path.join(bin, f), 0o644);
  }
  const addon = `@parcel/watcher-${process.platform}-${process.arch}-glibc`;
  const dest = path.join(bin, "node_modules", addon);
  cpSync(path.join(ROOT, "node_modules", addon), dest, { recursive: true });
  for (const d of [path.join(bin, "node_modules"), path.dirname(dest), dest]) chmodSync(d, 0o755);
  for (const f of readdirSync(dest)) chmodSync(path.join(dest, f), 0o644);
}
