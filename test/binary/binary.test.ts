/**
 * The single binary (dist/mirrorshade, a Node SEA; `npm run test:binary` builds it and also
 * runs the e2e suite against it). What only the binary can get wrong: it must run alone
 * (no node_modules, no Node on PATH), report the package's version, and load the file
 * watcher's native addon from its embedded asset — also when the temp dir is noexec, as it
 * often is in hardened containers.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  ROOT,
  cleanEnv,
  commitCount,
  remoteFiles,
  reportedError,
  run,
  sandbox,
  start,
  stop,
  tempDir,
  waitFor,
  waitForStart,
  write,
  type Running,
} from "../helpers";
import { needs } from "../helpers/needs";

const BINARY =
  process.env.MIRRORSHADE_CLI?.split(" ").length === 1
    ? process.env.MIRRORSHADE_CLI
    : path.join(ROOT, "dist", "mirrorshade");
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const missing = existsSync(BINARY)
  ? undefined
  : `no ${BINARY}: run \`npm run build:binary\` (or \`npm run test:binary\`)`;

/** The binary copied alone into an empty dir: nothing next to it or above it to lean on. */
function isolatedCopy(): string {
  const dir = tempDir("ms-bin-");
  chmodSync(dir, 0o755);
  const copy = path.join(dir, "mirrorshade");
  copyFileSync(BINARY, copy);
  chmodSync(copy, 0o755);
  return copy;
}

/** An environment without Node anywhere: no node_modules/.bin, no NODE_* variables. */
function bareEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = cleanEnv();
  for (const k of Object.keys(env)) if (k.startsWith("NODE_") || k.startsWith("npm_")) delete env[k];
  env.PATH = "/usr/bin:/bin";
  return { ...env, ...extra };
}

async function watchSavesAWrite(w: Running, sb: ReturnType<typeof sandbox>): Promise<void> {
  await waitForStart(w);
  write(sb.work, "notes/today.md", "saved by the single binary\n");
  await waitFor("the write at the remote", () => remoteFiles(sb.remote).get("notes/today.md"), 30_000);
  expect(remoteFiles(sb.remote).get("notes/today.md")).toBe("saved by the single binary\n");
  write(sb.work, "last.txt", "the final save\n");
  const r = await stop(w);
  expect(r.code, r.stderr).toBe(0);
  expect(remoteFiles(sb.remote).get("last.txt")).toBe("the final save\n");
}

describe.skipIf(missing)("the single binary", () => {
  it("is one self-contained executable", () => {
    const st = statSync(BINARY);
    expect(st.mode & 0o111).not.toBe(0);
    // ELF, with the SEA blob injected (postject's section name is in the file).
    const head = Buffer.alloc(4);
    const fd = readFileSync(BINARY);
    fd.copy(head, 0, 0, 4);
    expect(head.toString("latin1")).toBe("\x7fELF");
    expect(fd.includes("NODE_SEA_BLOB")).toBe(true);
  });

  it("--version prints the package version, alone and without Node around", async () => {
    const copy = isolatedCopy();
    const r = await run(["--version"], { command: [copy], env: bareEnv(), cwd: path.dirname(copy) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${VERSION}\n`);
    expect(r.stderr).toBe(""); // no ExperimentalWarning about SEA
  });

  it("--help lists the commands and the exit codes", async () => {
    const r = await run(["--help"], { command: [BINARY], env: bareEnv() });
    expect(r.code, r.stderr).toBe(0);
    for (const c of ["init", "restore", "watch", "push"]) expect(r.stdout).toMatch(new RegExp(`^\\s+${c} `, "m"));
    expect(r.stdout).toMatch(/Exit status/);
    const w = await run(["watch", "--help"], { command: [BINARY], env: bareEnv() });
    expect(w.code).toBe(0);
    expect(w.stdout).toMatch(/--shutdown-timeout/);
  });

  it("a bad option is a one-line usage error (exit 2)", async () => {
    const r = await run(["watch", "--debounce", "soon"], { command: [BINARY], env: bareEnv() });
    expect(r.code).toBe(2);
    expect(reportedError(r.stderr).join("\n")).toMatch(/^mirrorshade: .*debounce/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it("watch saves a write (the watcher's addon loads from the embedded asset)", async () => {
    const sb = sandbox();
    const copy = isolatedCopy();
    const w = start(["watch", sb.work, "--debounce", "200ms"], { command: [copy], env: bareEnv(sb.env) });
    await watchSavesAWrite(w, sb);
    expect(commitCount(sb.remote)).toBeGreaterThanOrEqual(2);
  });

  // The addon is written to a private dir and dlopen'ed: a noexec temp dir (and /dev/shm)
  // cannot map it, so the loader falls back to the state dir. A private mount namespace
  // gives this process noexec mounts without touching the machine's.
  const noexecUnavailable = (() => {
    const missing = needs("root", "util-linux");
    if (missing) return missing;
    const probe = spawnSync("unshare", ["--mount", "sh", "-c", "mount -t tmpfs -o noexec tmpfs /mnt"], {
      stdio: "pipe",
    });
    if (probe.error || probe.status !== 0) return `cannot mount in a private namespace: ${probe.stderr ?? probe.error}`;
    return undefined;
  })();

  it.skipIf(noexecUnavailable)("watch works when TMPDIR and /dev/shm are noexec", async () => {
    const sb = sandbox();
    const copy = isolatedCopy();
    const noexec = tempDir("ms-noexec-");
    // Mount noexec tmpfs on TMPDIR and /dev/shm; prove they are noexec; then become the binary.
    const script = [
      'mount -t tmpfs -o noexec,mode=1777 tmpfs "$NOEXEC"',
      "mount -t tmpfs -o noexec,mode=1777 tmpfs /dev/shm",
      'cp /bin/true "$NOEXEC/true" && cp /bin/true /dev/shm/true',
      'if "$NOEXEC/true" 2>/dev/null || /dev/shm/true 2>/dev/null; then echo "still executable" >&2; exit 99; fi',
      'rm -f "$NOEXEC/true" /dev/shm/true',
      'exec "$BINARY" "$@"',
    ].join("\n");
    const env = bareEnv({ ...sb.env, TMPDIR: noexec, NOEXEC: noexec, BINARY: copy });
    delete env.XDG_RUNTIME_DIR;
    const w = start(["watch", sb.work, "--debounce", "200ms"], {
      command: ["unshare", "--mount", "sh", "-c", script, "sh"],
      env,
    });
    await watchSavesAWrite(w, sb);
    expect(w.stderr()).not.toMatch(/still executable/);
    // The addon's temp copy is gone from wherever it was loaded.
    expect(readdirSync(sb.state).filter((n) => n.startsWith("mirrorshade-addon-"))).toEqual([]);
  });
});
