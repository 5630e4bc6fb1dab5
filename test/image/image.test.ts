/**
 * The container image (`npm run test:image`; not part of `npm test`): built with podman by
 * hack/build-image.sh from a locally made base, then run the way OpenShift runs a pod's
 * container — a random UID in group 0 with no passwd entry (`--passwd=false`), a read-only
 * root filesystem with /tmp as a volume (the emptyDir), the work dir bind-mounted, ssh
 * credentials from a read-only Secret dir in the kubelet's `..data` layout, a real sshd on
 * the host's loopback as the remote (`--network host`). Podman's workarounds on these
 * machines: hack/lib/podman.sh and ENVIRONMENT.md.
 *
 * Storage: a temp dir, removed at the end with everything podman left on the host; set
 * MIRRORSHADE_PODMAN_DIR to build into (and keep) a dir of your own instead.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectCleanError, secretMount } from "../helpers/credentials";
import { needs } from "../helpers/needs";
import { SSHD, startSshd, sshKeygen } from "../helpers/sshd";
import { ROOT, defer, exec, freePort, git, remoteFiles, seedRemote, tempDir, waitFor, write } from "../helpers";

const UID = 1000650000;
const IMAGE = process.env.MIRRORSHADE_IMAGE ?? "localhost/mirrorshade:test";
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const HOST_DIRS = ["/run/libpod", "/run/containers", "/var/lib/containers/cache", "/var/lib/containers"];
const RUN_FLAGS = ["--runtime", "runc", "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"];
const AS_OPENSHIFT = ["--user", `${UID}:0`, "--passwd=false"];

// Rootful podman (vfs storage, runc); debootstrap makes the base image (no registry here).
const unavailable =
  process.platform === "linux" ? needs("root", "podman", "runc", "debootstrap") : "podman tests need Linux";

let podmanDir = "";
let ownDir = false;
const hostDirsBefore = new Set(HOST_DIRS.filter((d) => existsSync(d)));
const containerNames: string[] = [];

function podmanEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    CONTAINERS_STORAGE_CONF: path.join(podmanDir, "storage.conf"),
    CONTAINERS_CONF: path.join(podmanDir, "containers.conf"),
  };
}

const podman = (args: string[], timeoutMs?: number) => exec("podman", args, { cwd: ROOT, env: podmanEnv(), timeoutMs });

/** A script of hack/ with the podman dir and the image name. */
const script = (args: string[], timeoutMs?: number, env: NodeJS.ProcessEnv = {}) =>
  exec("bash", args, {
    cwd: ROOT,
    env: { ...process.env, MIRRORSHADE_PODMAN_DIR: podmanDir, MIRRORSHADE_IMAGE: IMAGE, ...env },
    timeoutMs,
  });

/** Dirs a container sees as its own: mounted into it, writable by the random UID. */
function containerDirs() {
  const root = tempDir("ms-image-");
  chmodSync(root, 0o755);
  const work = path.join(root, "work");
  mkdirSync(work);
  chownSync(work, UID, 0);
  chmodSync(work, 0o775);
  // /tmp of the container: an emptyDir (world-writable, sticky), holding the state dir.
  const tmp = path.join(root, "tmp");
  mkdirSync(tmp);
  chmodSync(tmp, 0o1777);
  // A bare remote on the host (root's), for the tests that save.
  const remote = path.join(root, "remote.git");
  git(root, "init", "-q", "--bare", "-b", "main", remote);
  return { root, work, tmp, remote };
}

/**
 * The `podman run` flags of the pod's container as OpenShift runs it: a random UID in group 0
 * with no passwd entry, a read-only root filesystem, /tmp (the emptyDir) and /work from `d`,
 * plus `volumes` (`host:container[:ro]`) and `env`.
 */
function asPod(
  d: ReturnType<typeof containerDirs>,
  opts: { network: "none" | "host"; volumes?: string[]; env?: Record<string, string> },
): string[] {
  const volumes = [`${d.tmp}:/tmp`, `${d.work}:/work`, ...(opts.volumes ?? [])];
  return [
    ...RUN_FLAGS,
    "--network",
    opts.network,
    ...AS_OPENSHIFT,
    "--read-only",
    ...volumes.flatMap((v) => ["-v", v]),
    ...Object.entries(opts.env ?? {}).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
  ];
}

function umountBelow(dir: string): void {
  const mounts = readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m === dir || m.startsWith(dir + "/"))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) spawnSync("umount", ["-l", m]);
}

describe.skipIf(unavailable)("the container image", () => {
  beforeAll(async () => {
    ownDir = !process.env.MIRRORSHADE_PODMAN_DIR;
    podmanDir = process.env.MIRRORSHADE_PODMAN_DIR ?? path.join(tmpdir(), `ms-podman-${process.pid}`);
    const started = Date.now();
    const build = await script(["hack/build-image.sh"], 25 * 60_000, { SKIP_BINARY: "1" });
    expect(build.code, `hack/build-image.sh failed:\n${build.stdout.slice(-4000)}\n${build.stderr.slice(-4000)}`).toBe(
      0,
    );
    const size = Number((await podman(["image", "inspect", "--format", "{{.Size}}", IMAGE])).stdout.trim());
    console.log(
      `image ${IMAGE}: ${(size / 1e6).toFixed(0)} MB, built in ${((Date.now() - started) / 1000).toFixed(0)} s`,
    );
  }, 30 * 60_000);

  afterAll(async () => {
    if (!podmanDir) return;
    for (const name of containerNames) await podman(["rm", "-f", "-t", "0", name]);
    if (ownDir) {
      await podman(["rm", "-a", "-f", "-t", "0"]);
      umountBelow(podmanDir);
      rmSync(podmanDir, { recursive: true, force: true });
    }
    for (const d of HOST_DIRS) if (!hostDirsBefore.has(d)) rmSync(d, { recursive: true, force: true });
  }, 5 * 60_000);

  it("carries the labels, user and entrypoint the README documents", async () => {
    const r = await podman(["image", "inspect", IMAGE]);
    expect(r.code, r.stderr).toBe(0);
    const [img] = JSON.parse(r.stdout) as {
      Config: { User: string; Entrypoint: string[]; Cmd: string[]; Env: string[]; Labels: Record<string, string> };
    }[];
    const c = img!.Config;
    expect(c.User).toBe("1001:0");
    expect(c.Entrypoint).toEqual(["/usr/bin/tini", "--", "mirrorshade"]);
    expect(c.Cmd).toEqual(["watch"]);
    expect(c.Env).toEqual(expect.arrayContaining(["MIRRORSHADE_DIR=/work", "MIRRORSHADE_STATE_DIR=/tmp/mirrorshade"]));
    expect(c.Labels).toMatchObject({
      "org.opencontainers.image.title": "mirrorshade",
      "org.opencontainers.image.version": VERSION,
      "org.opencontainers.image.licenses": "Apache-2.0",
    });
    expect(c.Labels).toHaveProperty("org.opencontainers.image.source");
    expect(c.Labels).toHaveProperty("org.opencontainers.image.description");
  });

  it("--version as a random UID with no passwd entry", async () => {
    const r = await podman(["run", "--rm", ...RUN_FLAGS, "--network", "none", ...AS_OPENSHIFT, IMAGE, "--version"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${VERSION}\n`);
    // And through the contributor's script.
    const s = await script(["hack/run-random-uid.sh", "--version"]);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stdout).toBe(`${VERSION}\n`);
  });

  it("a bad config: exit 2 and one line, before touching anything", async () => {
    const d = containerDirs();
    const env = { MIRRORSHADE_REMOTE: "/nowhere.git", MIRRORSHADE_DEBOUNCE: "soon" };
    const r = await podman(["run", "--rm", ...asPod(d, { network: "none", env }), IMAGE]);
    expectCleanError(r, 2, /debounce/);
    expect(readdirSync(d.work)).toEqual([]);
  });

  it.skipIf(needs(...SSHD))(
    "restores over ssh with a read-only Secret, saves a change, and makes the final save on `podman stop` (exit 0)",
    async () => {
      const d = containerDirs();
      const remote = d.remote;
      seedRemote(remote, { "README.md": "notebooks\n", "nb/analysis.ipynb": '{"cells": [], "nbformat": 4}\n' });
      const key = sshKeygen(d.root, "deploy_key");
      const sshd = await startSshd({ authorizedKeys: [key.publicKey] });
      // The kubelet's layout: `..data` -> `..<timestamp>/`, files root:root 0440 (read via group 0).
      const secret = secretMount(
        { "ssh-privatekey": readFileSync(key.privateKeyPath, "utf8"), known_hosts: sshd.knownHostsLine + "\n" },
        { mode: 0o440 },
      );
      const listen = spawnSync(path.join(ROOT, "dist", "mirrorshade"), ["watch", "--help"], {
        encoding: "utf8",
      }).stdout.includes("--listen");
      const port = await freePort();
      const name = `ms-image-test-${process.pid}-${Date.now()}`;
      containerNames.push(name);
      defer(async () => void (await podman(["rm", "-f", "-t", "0", name])));

      const pod = asPod(d, {
        network: "host",
        volumes: [`${secret.dir}:/etc/mirrorshade/ssh:ro`],
        env: {
          MIRRORSHADE_REMOTE: sshd.urlFor(remote),
          MIRRORSHADE_SSH_KEY_FILE: "/etc/mirrorshade/ssh/ssh-privatekey",
          MIRRORSHADE_SSH_KNOWN_HOSTS_FILE: "/etc/mirrorshade/ssh/known_hosts",
          MIRRORSHADE_DEBOUNCE: "300ms",
          MIRRORSHADE_SHUTDOWN_TIMEOUT: "30s",
        },
      });
      const started = await podman([
        "run",
        "-d",
        "--name",
        name,
        ...pod,
        IMAGE,
        "watch",
        ...(listen ? ["--listen", `127.0.0.1:${port}`] : []),
      ]);
      expect(started.code, started.stderr).toBe(0);
      const logs = async () => {
        const l = await podman(["logs", name]);
        return l.stdout + l.stderr;
      };
      const running = async () => (await podman(["inspect", "--format", "{{.State.Running}}", name])).stdout.trim();

      // Restored: the ready marker (what the startup probe tests), through the probe itself.
      await waitFor(
        "the ready marker",
        async () => {
          if ((await running()) !== "true") throw new Error(`the container stopped:\n${await logs()}`);
          return existsSync(path.join(d.tmp, "mirrorshade", "ready"));
        },
        90_000,
      ).catch(async (err) => {
        throw new Error(`${String(err)}\n${await logs()}\nsshd:\n${sshd.log()}`);
      });
      const probe = await podman(["exec", name, "test", "-f", "/tmp/mirrorshade/ready"]);
      expect(probe.code, probe.stderr).toBe(0);
      expect(readFileSync(path.join(d.work, "nb", "analysis.ipynb"), "utf8")).toBe('{"cells": [], "nbformat": 4}\n');
      expect(readFileSync(path.join(d.work, "README.md"), "utf8")).toBe("notebooks\n");
      // Restored files belong to the random UID; the state dir is private to it.
      expect(statSync(path.join(d.work, "README.md")).uid).toBe(UID);
      const state = statSync(path.join(d.tmp, "mirrorshade"));
      expect([state.uid, state.mode & 0o777]).toEqual([UID, 0o700]);
      // tini is PID 1 (signals forwarded, children reaped).
      const pid1 = await podman(["exec", name, "cat", "/proc/1/cmdline"]);
      expect(pid1.stdout.split("\0")[0]).toBe("/usr/bin/tini");

      if (listen) {
        const get = async (p: string) => {
          const res = await fetch(`http://127.0.0.1:${port}${p}`);
          return { status: res.status, body: await res.text() };
        };
        expect((await get("/healthz")).status).toBe(200);
        expect((await get("/readyz")).status).toBe(200);
        expect((await get("/metrics")).body).toMatch(/^mirrorshade_/m);
      }

      // A change is saved while it runs.
      write(d.work, "nb/analysis.ipynb", '{"cells": [{"cell_type": "markdown", "source": ["# 1"]}], "nbformat": 4}\n');
      await waitFor(
        "the change at the remote",
        () => remoteFiles(remote).get("nb/analysis.ipynb")?.includes("# 1"),
        60_000,
      );

      // The last change, then the pod stops: the final save must carry it.
      write(d.work, "results/final.csv", "a,b\n1,2\n");
      const stop = await podman(["stop", "-t", "60", name], 90_000);
      expect(stop.code, stop.stderr).toBe(0);
      const exit = (await podman(["inspect", "--format", "{{.State.ExitCode}}", name])).stdout.trim();
      const output = await logs();
      expect(exit, output).toBe("0");
      expect(remoteFiles(remote).get("results/final.csv"), output).toBe("a,b\n1,2\n");
      expect(output).toMatch(/SIGTERM/);
      expect(output).not.toMatch(/"level":"error"/);
      // Nothing secret in the work dir; the key never left the state dir.
      const key64 = readFileSync(key.privateKeyPath, "utf8").split("\n")[1]!;
      const seen = spawnSync("grep", ["-rl", "--", key64, d.work], { encoding: "utf8" });
      expect(seen.status, seen.stdout).toBe(1); // no match
    },
    5 * 60_000,
  );

  it(
    "push as a one-shot job (CI): exit 0, a JSON summary, the files at the remote",
    async () => {
      const d = containerDirs();
      const remote = d.remote;
      write(d.work, "report.md", "# results\n");
      write(d.work, "data/run-1.csv", "x\n1\n");
      execFileSync("chown", ["-R", `${UID}:0`, remote, d.work]);
      const pod = asPod(d, {
        network: "none",
        volumes: [`${remote}:/remote.git`],
        env: { MIRRORSHADE_REMOTE: "/remote.git" },
      });
      const r = await podman(["run", "--rm", ...pod, IMAGE, "push", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      expect(() => JSON.parse(r.stdout)).not.toThrow();
      execFileSync("chown", ["-R", "0:0", remote]);
      const files = remoteFiles(remote);
      expect(files.get("report.md")).toBe("# results\n");
      expect(files.get("data/run-1.csv")).toBe("x\n1\n");
    },
    3 * 60_000,
  );
});
