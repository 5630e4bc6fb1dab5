/**
 * hack/systemd/mirrorshade@.service, the documented way to keep `watch` running on a laptop
 * (docs/laptop.md). Checked with systemd's own `systemd-analyze --user verify` (no running
 * systemd needed; `--user` needs an XDG_RUNTIME_DIR, made here so it works as root in CI), and
 * run once the way systemd would run an instance named by the documented recipe
 * (`systemd-escape --path`): its ExecStart with %h and %f expanded, its Environment=, a file
 * saved, then SIGTERM to the main process alone (KillMode=mixed) and a final save.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { needs } from "../helpers/needs";
import { cleanEnv, cliCommand, remoteFiles, ROOT, sandbox, start, tempDir, waitFor, write } from "../helpers";

const UNIT = path.join(ROOT, "hack", "systemd", "mirrorshade@.service");
const TEXT = readFileSync(UNIT, "utf8");

const missing = needs("systemd");

/** `[Service]` settings, in order (a key may repeat: Environment=). */
function serviceEntries(): [string, string][] {
  const section = /^\[Service\]\n([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(TEXT)![1]!;
  return section
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]);
}
const setting = (key: string) => serviceEntries().find(([k]) => k === key)?.[1];

/** A home with ~/.local/bin/mirrorshade (running this build) and a private runtime dir. */
function userEnv(): { home: string; env: NodeJS.ProcessEnv } {
  const root = tempDir("ms-systemd-");
  const home = path.join(root, "home");
  const runtime = path.join(root, "run");
  mkdirSync(path.join(home, ".local", "bin"), { recursive: true });
  mkdirSync(runtime, { mode: 0o700 });
  const exe = path.join(home, ".local", "bin", "mirrorshade");
  const quoted = cliCommand().map((a) => `'${a.replace(/'/g, `'\\''`)}'`);
  writeFileSync(exe, `#!/bin/sh\nexec ${quoted.join(" ")} "$@"\n`);
  chmodSync(exe, 0o755);
  return { home, env: { ...cleanEnv(), HOME: home, XDG_RUNTIME_DIR: runtime } };
}

/** `systemd-analyze --user verify`: its exit code and everything it printed. */
function verify(file: string, env: NodeJS.ProcessEnv): { code: number | null; output: string } {
  const r = spawnSync("systemd-analyze", ["--user", "--man=no", "verify", file], { env, encoding: "utf8" });
  return { code: r.status, output: (r.stdout + r.stderr).trim() };
}

describe.skipIf(missing)("hack/systemd/mirrorshade@.service", () => {
  it("passes systemd-analyze --user verify without a warning, as a template and as an instance", () => {
    const { env } = userEnv();
    expect(verify(UNIT, env)).toEqual({ code: 0, output: "" });
    // The instance the docs' recipe names, for a path with a dash and a space in it.
    const dir = tempDir();
    const name = execFileSync("systemd-escape", ["--path", "--template=mirrorshade@.service", `${dir}/my notes-1`], {
      encoding: "utf8",
    }).trim();
    expect(name).toMatch(/^mirrorshade@.+\\x20notes\\x2d1\.service$/);
    const instance = path.join(dir, name);
    copyFileSync(UNIT, instance);
    expect(verify(instance, env)).toEqual({ code: 0, output: "" });
  });

  it("the check does catch a mistake: a misspelt setting, a bad value, a missing executable", () => {
    const { home, env } = userEnv();
    const dir = tempDir();
    const mutants = {
      "typo@.service": TEXT.replace("RestartSec=", "RestartSecs="),
      "value@.service": TEXT.replace("KillMode=mixed", "KillMode=mixd"),
    };
    for (const [file, text] of Object.entries(mutants)) {
      writeFileSync(path.join(dir, file), text);
      expect(verify(path.join(dir, file), env).output, file).toMatch(file.startsWith("typo") ? /Unknown key/ : /mixd/);
    }
    // %h is expanded and the program checked: without ~/.local/bin/mirrorshade, verify fails.
    const noExe = { ...env, HOME: path.join(home, "elsewhere") };
    const r = verify(UNIT, noExe);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/elsewhere\/\.local\/bin\/mirrorshade is not executable/);
  });

  it("stops the way the final save needs: SIGTERM to mirrorshade alone, time for the save, no restart on usage errors", () => {
    expect(setting("ExecStart")).toBe("%h/.local/bin/mirrorshade watch %f");
    expect(setting("KillMode")).toBe("mixed");
    const shutdown = /MIRRORSHADE_SHUTDOWN_TIMEOUT=(\d+)s/.exec(TEXT)![1]!;
    expect(Number(setting("TimeoutStopSec")!.replace(/s$/, ""))).toBeGreaterThan(Number(shutdown));
    expect(setting("Restart")).toBe("on-failure");
    expect(setting("RestartPreventExitStatus")).toBe("2");
    expect(TEXT).toMatch(/^WantedBy=default\.target$/m);
  });

  it("an instance named by `systemd-escape --path` watches that dir and makes its final save on SIGTERM", async () => {
    const { home, env: userEnvVars } = userEnv();
    const sb = sandbox();
    // A work dir whose name needs escaping, as a laptop's often does.
    const work = path.join(sb.root, "my notes-1");
    mkdirSync(work);
    const instance = execFileSync("systemd-escape", ["--path", work], { encoding: "utf8" }).trim();
    const unescaped = execFileSync("systemd-escape", ["--unescape", "--path", instance], { encoding: "utf8" }).trim();
    expect(unescaped).toBe(work);

    // ExecStart as systemd runs it: %h = the home, %f = the instance unescaped as a path.
    const argv = setting("ExecStart")!
      .split(" ")
      .map((w) => w.replace("%h", home).replace("%f", unescaped));
    const unitEnv = Object.fromEntries(
      serviceEntries()
        .filter(([k]) => k === "Environment")
        .map(([, v]) => [v.slice(0, v.indexOf("=")), v.slice(v.indexOf("=") + 1)]),
    );
    // The remote and state dir as a drop-in would set them (docs/laptop.md).
    const env = {
      ...userEnvVars,
      ...unitEnv,
      MIRRORSHADE_REMOTE: sb.remote,
      MIRRORSHADE_STATE_DIR: sb.state,
      MIRRORSHADE_DEBOUNCE: "200ms",
    };
    const watch = start(argv.slice(1), { command: [argv[0]!], env, cwd: home });
    await waitFor("the watch to start", () => watch.stderr().includes(`watching ${work}`));
    write(work, "notes.md", "first\n");
    await waitFor("notes.md at the remote", () => remoteFiles(sb.remote).get("notes.md") === "first\n");

    // Written just before the stop: only the final save can take it.
    write(work, "late.md", "last words\n");
    watch.proc.kill("SIGTERM");
    const r = await watch.exited;
    expect(r.code, r.stderr).toBe(0);
    expect(remoteFiles(sb.remote).get("late.md")).toBe("last words\n");
    // Text lines in the journal, as the unit asks.
    expect(r.stderr).not.toMatch(/^\{/m);
  });
});
