/**
 * The example Kubernetes manifests under hack/k8s, checked offline (no cluster, no
 * kubectl): parsed as Kubernetes parses them (YAML 1.1: `0440` is octal), validated against
 * the API schema (kubernetes-models: types, required fields, enums), type-checked against
 * kubernetes-types with tsc (unknown fields such as `periodSecond`, which the schema check
 * lets through), and held to what the README promises about them.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Deployment } from "kubernetes-models/apps/v1";
import { Secret } from "kubernetes-models/v1";
import type { Container, PodSpec, Volume } from "kubernetes-types/core/v1";
import type { Deployment as DeploymentType } from "kubernetes-types/apps/v1";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { envName, optionsFor, type CommandName } from "../../src/options";
import { parseDuration } from "../../src/units";

const ROOT = path.resolve(__dirname, "../..");
const DIR = path.join(ROOT, "hack", "k8s");
const FILES = readdirSync(DIR)
  .filter((f) => /\.ya?ml$/.test(f))
  .sort();

interface Doc {
  file: string;
  index: number;
  obj: Record<string, unknown>;
}

function load(file: string): Doc[] {
  const text = readFileSync(path.join(DIR, file), "utf8");
  // Kubernetes reads YAML 1.1 (`0440` is octal 288); the yaml package defaults to 1.2 (440).
  const docs = parseAllDocuments(text, { version: "1.1", prettyErrors: true });
  const out: Doc[] = [];
  docs.forEach((d, index) => {
    if (d.errors.length) throw new Error(`${file}#${index}: ${d.errors.map((e) => e.message).join("; ")}`);
    if (d.warnings.length) throw new Error(`${file}#${index}: ${d.warnings.map((e) => e.message).join("; ")}`);
    const obj = d.toJS() as Record<string, unknown> | null;
    if (obj !== null) out.push({ file, index, obj });
  });
  return out;
}

const DOCS = FILES.flatMap(load);
const byFile = (file: string) => DOCS.filter((d) => d.file === file);
const deployment = (file: string) => byFile(file).find((d) => d.obj.kind === "Deployment")!.obj as DeploymentType;
const podSpec = (file: string): PodSpec => deployment(file).spec!.template.spec!;
const DEPLOYMENT_FILES = FILES.filter((f) => byFile(f).some((d) => d.obj.kind === "Deployment"));
const SIDECAR_FILES = DEPLOYMENT_FILES.filter((f) => !f.includes("pre-1.29"));

const MIRRORSHADE_IMAGE = /\/mirrorshade:/;
const isMirrorshade = (c: Container) => MIRRORSHADE_IMAGE.test(c.image ?? "");
const allContainers = (spec: PodSpec) => [...(spec.initContainers ?? []), ...spec.containers];
const env = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;
const secretVolumes = (spec: PodSpec) =>
  (spec.volumes ?? []).filter((v): v is Volume & { secret: object } => !!v.secret);

describe("hack/k8s manifests", () => {
  it("has the files the README names", () => {
    expect(FILES).toEqual(
      expect.arrayContaining([
        "jupyter-sidecar.yaml",
        "jupyter-sidecar-token.yaml",
        "jupyter-sidecar-pre-1.29.yaml",
        "secret-ssh.yaml",
        "secret-token.yaml",
      ]),
    );
  });

  it("parses as YAML 1.1, like Kubernetes: defaultMode 0440 is 288, not 440", () => {
    for (const file of DEPLOYMENT_FILES) {
      const modes = secretVolumes(podSpec(file)).map((v) => v.secret.defaultMode);
      expect(modes.length, file).toBeGreaterThan(0);
      for (const m of modes) expect(m, file).toBe(0o440);
    }
    // The trap this guards against: YAML 1.2 (the yaml package's default) reads decimal.
    const text = readFileSync(path.join(DIR, "jupyter-sidecar.yaml"), "utf8");
    expect(text).toMatch(/defaultMode: 0440/);
    expect(
      parseAllDocuments(text)[0]!
        .toJS()
        .spec.template.spec.volumes.find((v: Volume) => v.secret).secret,
    ).toHaveProperty("defaultMode", 440);
  });

  it.each(DOCS.map((d) => [`${d.file}#${d.index}`, d] as const))("%s validates against the API schema", (_, d) => {
    const kinds: Record<string, new (o: never) => { validate(): void }> = {
      "apps/v1/Deployment": Deployment,
      "v1/Secret": Secret,
    };
    const Model = kinds[`${d.obj.apiVersion}/${d.obj.kind}`];
    expect(Model, `${d.file}: unexpected ${d.obj.apiVersion} ${d.obj.kind}`).toBeDefined();
    expect(() => new Model!(d.obj as never).validate()).not.toThrow();
  });

  it("type-checks against kubernetes-types (no unknown fields), and the check does catch a typo", () => {
    const types: Record<string, [string, string]> = {
      "apps/v1/Deployment": ["kubernetes-types/apps/v1", "Deployment"],
      "v1/Secret": ["kubernetes-types/core/v1", "Secret"],
    };
    const source = (docs: Doc[]) =>
      docs
        .map((d) => {
          const [mod, name] = types[`${d.obj.apiVersion}/${d.obj.kind}`]!;
          return `// ${d.file}#${d.index}\nexport const doc${d.index}_${d.file.replace(/\W/g, "_")}: import(${JSON.stringify(mod)}).${name} = ${JSON.stringify(d.obj, null, 2)};\n`;
        })
        .join("\n");
    // A copy with one typo, as a control: tsc must report it.
    const mutant = structuredClone(DOCS.find((d) => d.file === "jupyter-sidecar.yaml" && d.obj.kind === "Deployment")!);
    const probe = (mutant.obj as unknown as DeploymentType).spec!.template.spec!.initContainers![0]!.startupProbe!;
    (probe as Record<string, unknown>).periodSecond = 2;

    const dir = mkdtempSync(path.join(tmpdir(), "ms-k8s-types-"));
    try {
      const real = path.join(dir, "manifests.ts");
      const typo = path.join(dir, "typo.ts");
      writeFileSync(real, source(DOCS));
      writeFileSync(typo, source([mutant]));
      const program = ts.createProgram([real, typo], {
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        target: ts.ScriptTarget.ES2023,
        lib: ["lib.es2023.d.ts"],
        module: ts.ModuleKind.Preserve,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        types: [],
        paths: { "kubernetes-types/*": [path.join(ROOT, "node_modules", "kubernetes-types", "*")] },
      });
      const report = (file: string) =>
        ts.getPreEmitDiagnostics(program, program.getSourceFile(file)).map((d) => {
          const at = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
          const line = at ? d.file!.text.split("\n")[at.line]!.trim() : "";
          return `${ts.flattenDiagnosticMessageText(d.messageText, "\n")} (at ${line})`;
        });
      expect(report(real)).toEqual([]);
      expect(report(typo).join("\n")).toMatch(/periodSecond\W+ does not exist in type 'Probe'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("sets only MIRRORSHADE_* variables and flags that the command has", () => {
    for (const file of DEPLOYMENT_FILES) {
      for (const c of allContainers(podSpec(file)).filter(isMirrorshade)) {
        const command = (c.args?.[0] ?? "watch") as CommandName;
        const known = new Set([
          ...optionsFor(command).map(([k]) => envName(k)),
          "MIRRORSHADE_DIR",
          "MIRRORSHADE_TOKEN",
        ]);
        for (const e of c.env ?? []) {
          if (e.name.startsWith("MIRRORSHADE_")) expect(known.has(e.name), `${file} ${c.name}: ${e.name}`).toBe(true);
        }
        const flags = new Set(
          optionsFor(command).map(([k]) => "--" + k.replace(/[A-Z]/g, (x) => "-" + x.toLowerCase())),
        );
        for (const a of c.args?.slice(1) ?? [])
          if (a.startsWith("--")) expect(flags.has(a), `${file}: ${a}`).toBe(true);
      }
    }
  });

  it.each(SIDECAR_FILES)("%s: mirrorshade is a native sidecar that gates Jupyter on the restore", (file) => {
    const spec = podSpec(file);
    const sidecar = spec.initContainers?.find(isMirrorshade);
    expect(sidecar, "mirrorshade in initContainers").toBeDefined();
    expect(sidecar!.restartPolicy).toBe("Always");
    expect(spec.containers.some(isMirrorshade)).toBe(false);
    expect(sidecar!.args).toEqual(["watch", "--listen", ":8787"]);
    expect(sidecar!.ports?.find((p) => p.containerPort === 8787)).toBeDefined();
    // Started = restored: the ready marker in the state dir, or /readyz.
    const startup = sidecar!.startupProbe!;
    const stateDir = env(sidecar!, "MIRRORSHADE_STATE_DIR") ?? "/tmp/mirrorshade";
    if (startup.exec) expect(startup.exec.command).toEqual(["test", "-f", `${stateDir}/ready`]);
    else expect(startup.httpGet?.path).toBe("/readyz");
    expect(sidecar!.livenessProbe?.httpGet?.path).toBe("/healthz");
    // The Jupyter container shares the work dir.
    const jupyter = spec.containers.find((c) => c.name === "jupyter")!;
    const workVolume = sidecar!.volumeMounts!.find(
      (m) => m.mountPath === (env(sidecar!, "MIRRORSHADE_DIR") ?? "/work"),
    );
    expect(workVolume).toBeDefined();
    expect(jupyter.volumeMounts!.some((m) => m.name === workVolume!.name)).toBe(true);
    expect(spec.volumes!.find((v) => v.name === workVolume!.name)!.emptyDir).toBeDefined();
  });

  it("pre-1.29: restore in a plain init container, watch as a plain container that waits for Jupyter to stop", () => {
    const spec = podSpec("jupyter-sidecar-pre-1.29.yaml");
    for (const c of spec.initContainers ?? []) expect(c.restartPolicy, c.name).toBeUndefined();
    expect(spec.initContainers!.find(isMirrorshade)!.args).toEqual(["restore"]);
    const watch = spec.containers.find(isMirrorshade)!;
    expect(watch.args?.[0]).toBe("watch");
    const preStop = watch.lifecycle!.preStop!.exec!.command!.join(" ");
    const jupyterPort = spec.containers.find((c) => c.name === "jupyter")!.ports![0]!.containerPort;
    expect(preStop).toContain(`/dev/tcp/127.0.0.1/${jupyterPort}`);
    // The preStop wait and the final save share the grace period.
    const preStopMax = Number(/-lt (\d+)/.exec(preStop)![1]);
    const shutdown = parseDuration(env(watch, "MIRRORSHADE_SHUTDOWN_TIMEOUT") ?? "20s")! / 1000;
    expect(preStopMax + shutdown).toBeLessThan(spec.terminationGracePeriodSeconds!);
  });

  it.each(DEPLOYMENT_FILES)("%s: the grace period covers the final save", (file) => {
    const spec = podSpec(file);
    const grace = spec.terminationGracePeriodSeconds ?? 30;
    for (const c of allContainers(spec).filter(isMirrorshade)) {
      if (c.args?.[0] !== "watch") continue;
      const timeout = env(c, "MIRRORSHADE_SHUTDOWN_TIMEOUT");
      expect(timeout, "an explicit shutdown timeout").toBeDefined();
      // Jupyter needs a few seconds of the same budget to stop first.
      expect(parseDuration(timeout!)! / 1000 + 10).toBeLessThanOrEqual(grace);
    }
  });

  it.each(DEPLOYMENT_FILES)("%s: restricted and OpenShift-ready security context", (file) => {
    const spec = podSpec(file);
    expect(spec.securityContext?.runAsNonRoot).toBe(true);
    expect(spec.securityContext?.seccompProfile?.type).toBe("RuntimeDefault");
    // OpenShift assigns the UID (and fsGroup) from the namespace's range.
    expect(spec.securityContext?.runAsUser).toBeUndefined();
    expect(spec.securityContext?.fsGroup).toBeUndefined();
    expect(spec.hostNetwork ?? false).toBe(false);
    for (const c of allContainers(spec)) {
      const sc = c.securityContext!;
      expect(sc.runAsNonRoot, c.name).toBe(true);
      expect(sc.runAsUser, c.name).toBeUndefined();
      expect(sc.allowPrivilegeEscalation, c.name).toBe(false);
      expect(sc.privileged ?? false, c.name).toBe(false);
      expect(sc.capabilities?.drop, c.name).toEqual(["ALL"]);
      expect(sc.capabilities?.add ?? [], c.name).toEqual([]);
      if (isMirrorshade(c)) {
        expect(sc.readOnlyRootFilesystem, c.name).toBe(true);
        // ...so /tmp (the state dir's parent) must be a volume.
        const tmp = c.volumeMounts!.find((m) => m.mountPath === "/tmp")!;
        expect(spec.volumes!.find((v) => v.name === tmp.name)!.emptyDir, c.name).toBeDefined();
      }
    }
  });

  it.each(DEPLOYMENT_FILES)(
    "%s: Secrets are whole read-only volumes whose files exist in the Secret manifests",
    (file) => {
      const spec = podSpec(file);
      const secrets = new Map(
        DOCS.filter((d) => d.obj.kind === "Secret").map((d) => {
          const s = d.obj as { metadata: { name: string }; stringData?: object; data?: object };
          return [s.metadata.name, Object.keys({ ...s.data, ...s.stringData })];
        }),
      );
      const volumes = secretVolumes(spec);
      for (const c of allContainers(spec)) {
        for (const m of c.volumeMounts ?? []) {
          const v = volumes.find((x) => x.name === m.name);
          if (!v) continue;
          // subPath mounts never see a rotated Secret.
          expect(m.subPath, `${c.name}: ${m.name}`).toBeUndefined();
          expect(m.subPathExpr, `${c.name}: ${m.name}`).toBeUndefined();
          expect(m.readOnly, `${c.name}: ${m.name}`).toBe(true);
          const keys = secrets.get(v.secret.secretName!);
          expect(keys, `Secret ${v.secret.secretName} in hack/k8s`).toBeDefined();
          // Every *_FILE variable under this mount names a key of that Secret.
          for (const e of c.env ?? []) {
            if (!e.name.endsWith("_FILE") || !e.value?.startsWith(m.mountPath + "/")) continue;
            expect(keys, `${c.name}: ${e.name}`).toContain(path.relative(m.mountPath, e.value));
          }
        }
        for (const e of c.env ?? []) {
          // Secrets come from files, never from a literal in the manifest.
          if (/TOKEN$|PASSWORD|SECRET/.test(e.name)) expect(e.value, `${c.name}: ${e.name}`).toBeUndefined();
        }
      }
    },
  );

  it("the token variant is the ssh pod with other credentials, nothing else", () => {
    const strip = (d: DeploymentType) => {
      const copy = structuredClone(d);
      const spec = copy.spec!.template.spec!;
      for (const c of allContainers(spec)) {
        c.env = c.env?.filter((e) => !/^MIRRORSHADE_(REMOTE|SSH_|TOKEN)/.test(e.name));
        c.volumeMounts = c.volumeMounts?.filter((m) => !m.mountPath.startsWith("/etc/mirrorshade/"));
      }
      spec.volumes = spec.volumes?.filter((v) => !v.secret);
      return copy;
    };
    const ssh = deployment("jupyter-sidecar.yaml");
    const token = deployment("jupyter-sidecar-token.yaml");
    expect(strip(token)).toEqual(strip(ssh));
    const sidecar = token.spec!.template.spec!.initContainers!.find(isMirrorshade)!;
    expect(env(sidecar, "MIRRORSHADE_REMOTE")).toMatch(/^https:\/\//);
    expect(env(sidecar, "MIRRORSHADE_TOKEN_FILE")).toBe("/etc/mirrorshade/token/token");
    expect(env(sidecar, "MIRRORSHADE_SSH_KEY_FILE")).toBeUndefined();
  });
});
