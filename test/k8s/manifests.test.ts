/**
 * The example Kubernetes manifests under hack/k8s, checked offline (no cluster, no kubectl,
 * no Helm): parsed as Kubernetes parses them (YAML 1.1: `0440` is octal), validated against
 * the API schema (kubernetes-models: types, required fields, enums), type-checked against
 * kubernetes-types with tsc (unknown fields such as `periodSecond`, which the schema check
 * lets through), and held to what docs/kubernetes.md promises about them.
 *
 * Two snippets are not whole Kubernetes objects: the zero-to-jupyterhub values (a Helm chart's
 * input) and the Kubeflow PodDefault (a CRD). Their fragments (containers, volumes, mounts,
 * env) are type-checked with kubernetes-types inside a type of the fields these snippets use,
 * and the pod each platform builds from them (KubeSpawner, the PodDefault webhook; a few lines
 * each, below) is validated and held to the same rules as the Deployments.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Deployment } from "kubernetes-models/apps/v1";
import { Pod, Secret } from "kubernetes-models/v1";
import type { Container, EnvVar, PodSpec, Volume, VolumeMount } from "kubernetes-types/core/v1";
import type { Deployment as DeploymentType } from "kubernetes-types/apps/v1";
import type { LabelSelector } from "kubernetes-types/meta/v1";
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
  // Kubernetes (and Helm) read YAML 1.1 (`0440` is octal 288); the yaml package defaults to 1.2 (440).
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
const DEPLOYMENT_FILES = FILES.filter((f) => byFile(f).some((d) => d.obj.kind === "Deployment"));
const SECRETS = new Map(
  DOCS.filter((d) => d.obj.kind === "Secret").map((d) => {
    const s = d.obj as { metadata: { name: string }; stringData?: object; data?: object };
    return [s.metadata.name, Object.keys({ ...s.data, ...s.stringData })];
  }),
);

// --- The two platform snippets, and the pods their platforms build from them ---------------

const VALUES_FILE = "jupyterhub-values.yaml";
const PODDEFAULT_FILE = "kubeflow-poddefault.yaml";

/** The part of the zero-to-jupyterhub chart's values these snippets use (jupyterhub/values.schema.yaml). */
const VALUES_TYPE = `{
  hub?: { config?: { KubeSpawner?: { delete_grace_period?: number } } };
  singleuser?: {
    image?: { name: string; tag?: string };
    uid?: number;
    fsGid?: number;
    extraEnv?: Record<string, string>;
    defaultUrl?: string;
    startTimeout?: number;
    storage?: {
      type?: "dynamic" | "static" | "none";
      extraVolumes?: import("kubernetes-types/core/v1").Volume[];
      extraVolumeMounts?: import("kubernetes-types/core/v1").VolumeMount[];
    };
    initContainers?: import("kubernetes-types/core/v1").Container[];
    extraContainers?: import("kubernetes-types/core/v1").Container[];
    networkPolicy?: { egressAllowRules?: Record<string, boolean> };
  };
}`;
interface Values {
  hub?: { config?: { KubeSpawner?: { delete_grace_period?: number } } };
  singleuser: {
    image: { name: string; tag?: string };
    uid: number;
    fsGid: number;
    extraEnv: Record<string, string>;
    storage: { type: string; extraVolumes: Volume[]; extraVolumeMounts: VolumeMount[] };
    initContainers: Container[];
  };
}

/** kubeflow.org/v1alpha1 PodDefault (kubeflow/dashboard, components/poddefaults-webhooks, poddefault_types.go). */
const PODDEFAULT_TYPE = `{
  apiVersion: "kubeflow.org/v1alpha1";
  kind: "PodDefault";
  metadata: import("kubernetes-types/meta/v1").ObjectMeta;
  spec: {
    selector: import("kubernetes-types/meta/v1").LabelSelector;
    desc?: string;
    initContainers?: import("kubernetes-types/core/v1").Container[];
    sidecars?: import("kubernetes-types/core/v1").Container[];
    serviceAccountName?: string;
    automountServiceAccountToken?: boolean;
    env?: import("kubernetes-types/core/v1").EnvVar[];
    envFrom?: import("kubernetes-types/core/v1").EnvFromSource[];
    volumes?: import("kubernetes-types/core/v1").Volume[];
    volumeMounts?: import("kubernetes-types/core/v1").VolumeMount[];
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    tolerations?: import("kubernetes-types/core/v1").Toleration[];
    command?: string[];
    args?: string[];
    imagePullSecrets?: import("kubernetes-types/core/v1").LocalObjectReference[];
  };
}`;
interface PodDefaultSpec {
  selector: LabelSelector;
  annotations?: Record<string, string>;
  env?: EnvVar[];
  volumes?: Volume[];
  volumeMounts?: VolumeMount[];
  initContainers?: Container[];
  sidecars?: Container[];
}

const VALUES = byFile(VALUES_FILE)[0]!.obj as unknown as Values;
const PODDEFAULT = byFile(PODDEFAULT_FILE)[0]!.obj as { metadata: { namespace: string }; spec: PodDefaultSpec };

/** A sample user: KubeSpawner formats every string of the init containers with fields like this. */
const USER = { username: "alice", servername: "", user_server: "alice", unescaped_username: "alice" };

/** The pod KubeSpawner (kubespawner/objects.py make_pod) builds from these values, for USER. */
function jupyterhubPod(v: Values): { spec: PodSpec; annotations?: Record<string, string> } {
  const expand = <T>(x: T): T =>
    JSON.parse(
      JSON.stringify(x, (_, s: unknown) =>
        typeof s === "string"
          ? s.replace(/\{(\w+)\}/g, (m, k: string) => {
              if (!(k in USER)) throw new Error(`KubeSpawner has no {${k}} to expand in ${JSON.stringify(s)}`);
              return USER[k as keyof typeof USER];
            })
          : s,
      ),
    ) as T;
  const su = v.singleuser;
  return {
    spec: {
      // KubeSpawner deletes the pod with this grace period (delete_grace_period, default 1 s).
      terminationGracePeriodSeconds: v.hub?.config?.KubeSpawner?.delete_grace_period ?? 1,
      securityContext: { fsGroup: su.fsGid },
      initContainers: expand(su.initContainers),
      containers: [
        {
          name: "notebook",
          image: `${su.image.name}:${su.image.tag ?? "latest"}`,
          args: ["jupyterhub-singleuser"],
          env: [
            ...Object.entries(su.extraEnv).map(([name, value]) => ({ name, value })),
            { name: "JUPYTERHUB_USER", value: USER.username },
          ],
          ports: [{ name: "notebook-port", containerPort: 8888 }],
          securityContext: { runAsUser: su.uid, allowPrivilegeEscalation: false },
          volumeMounts: expand(su.storage.extraVolumeMounts),
        },
      ],
      volumes: expand(su.storage.extraVolumes),
    },
  };
}

/** A Kubeflow notebook pod (notebook-controller: fsGroup 100) after the PodDefault webhook's merge. */
function kubeflowPod(pd: PodDefaultSpec): { spec: PodSpec; annotations?: Record<string, string> } {
  const notebook: Container = {
    name: "my-notebook",
    image: "quay.io/jupyter/minimal-notebook:latest",
    ports: [{ name: "notebook-port", containerPort: 8888 }],
    env: [{ name: "NB_PREFIX", value: "/notebook/kubeflow-user-example-com/my-notebook" }],
  };
  // poddefaults-webhooks main.go: env and volumeMounts go to the pod's containers, then
  // initContainers and sidecars are appended as they are.
  const containers = [notebook].map((c) => ({
    ...c,
    env: [...(c.env ?? []), ...(pd.env ?? [])],
    volumeMounts: [...(pd.volumeMounts ?? [])],
  }));
  return {
    annotations: pd.annotations,
    spec: {
      securityContext: { fsGroup: 100 },
      initContainers: [...(pd.initContainers ?? [])],
      containers: [...containers, ...(pd.sidecars ?? [])],
      volumes: [...(pd.volumes ?? [])],
    },
  };
}

// --- Every pod, with what it is -------------------------------------------------------------

interface PodCase {
  name: string;
  spec: PodSpec;
  annotations?: Record<string, string>;
  /** openshift: the UID, groups and fsGroup come from the namespace; plain: set here. */
  variant: "plain" | "openshift";
  /** The whole pod is ours (a Deployment), not only the mirrorshade part of it. */
  ours: boolean;
}

const PODS: PodCase[] = [
  ...DEPLOYMENT_FILES.map((file) => {
    const t = deployment(file).spec!.template;
    return {
      name: file,
      spec: t.spec!,
      annotations: t.metadata?.annotations,
      variant: /openshift|pre-1\.29/.test(file) ? ("openshift" as const) : ("plain" as const),
      ours: true,
    };
  }),
  { name: VALUES_FILE, ...jupyterhubPod(VALUES), variant: "plain", ours: false },
  { name: PODDEFAULT_FILE, ...kubeflowPod(PODDEFAULT.spec), variant: "plain", ours: false },
];
const SIDECAR_PODS = PODS.filter((p) => !p.name.includes("pre-1.29"));
const pod = (name: string) => PODS.find((p) => p.name === name)!;

const MIRRORSHADE_IMAGE = /\/mirrorshade:/;
const isMirrorshade = (c: Container) => MIRRORSHADE_IMAGE.test(c.image ?? "");
const allContainers = (spec: PodSpec) => [...(spec.initContainers ?? []), ...spec.containers];
/** The notebook server: the first regular container that is not mirrorshade. */
const jupyter = (spec: PodSpec) => spec.containers.find((c) => !isMirrorshade(c))!;
const env = (c: Container, name: string) => c.env?.find((e) => e.name === name)?.value;
const secretVolumes = (spec: PodSpec) =>
  (spec.volumes ?? []).filter((v): v is Volume & { secret: object } => !!v.secret);

describe("hack/k8s manifests", () => {
  it("has the files docs/kubernetes.md names", () => {
    expect(FILES).toEqual([
      "jupyter-sidecar-openshift.yaml",
      "jupyter-sidecar-pre-1.29.yaml",
      "jupyter-sidecar-s3.yaml",
      "jupyter-sidecar-token.yaml",
      "jupyter-sidecar.yaml",
      "jupyterhub-values.yaml",
      "kubeflow-poddefault.yaml",
      "secret-s3.yaml",
      "secret-ssh.yaml",
      "secret-token.yaml",
    ]);
    const doc = readFileSync(path.join(ROOT, "docs", "kubernetes.md"), "utf8");
    for (const f of FILES) expect(doc, f).toContain(`\`${f}\``);
  });

  it("parses as YAML 1.1, like Kubernetes and Helm: defaultMode 0440 is 288, not 440", () => {
    for (const p of PODS) {
      const modes = secretVolumes(p.spec).map((v) => v.secret.defaultMode);
      expect(modes.length, p.name).toBeGreaterThan(0);
      for (const m of modes) expect(m, p.name).toBe(0o440);
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
    if (d.file === VALUES_FILE || d.obj.kind === "PodDefault") {
      // Not Kubernetes objects: the pod the platform builds from them is (next test).
      return;
    }
    const kinds: Record<string, new (o: never) => { validate(): void }> = {
      "apps/v1/Deployment": Deployment,
      "v1/Secret": Secret,
    };
    const Model = kinds[`${d.obj.apiVersion}/${d.obj.kind}`];
    expect(Model, `${d.file}: unexpected ${d.obj.apiVersion} ${d.obj.kind}`).toBeDefined();
    expect(() => new Model!(d.obj as never).validate()).not.toThrow();
  });

  it.each([VALUES_FILE, PODDEFAULT_FILE])("%s: the pod its platform builds validates against the API schema", (f) => {
    const p = pod(f);
    const obj = { apiVersion: "v1", kind: "Pod", metadata: { name: "x", annotations: p.annotations }, spec: p.spec };
    expect(() => new Pod(obj as never).validate()).not.toThrow();
  });

  it("jupyterhub-values.yaml: every {field} in the init containers is one KubeSpawner expands", () => {
    // KubeSpawner str.format()s every string there: an unknown {field} fails the spawn.
    const c = jupyterhubPod(VALUES).spec.initContainers!.find(isMirrorshade)!;
    expect(env(c, "MIRRORSHADE_BRANCH")).toBe("users/alice");
    expect(() =>
      jupyterhubPod({ ...VALUES, singleuser: { ...VALUES.singleuser, initContainers: [{ ...c, args: ["{files}"] }] } }),
    ).toThrow(/no \{files\}/);
  });

  it("type-checks against kubernetes-types (no unknown fields), and the check does catch a typo", () => {
    const types: Record<string, string> = {
      "apps/v1/Deployment": `import("kubernetes-types/apps/v1").Deployment`,
      "v1/Secret": `import("kubernetes-types/core/v1").Secret`,
      "kubeflow.org/v1alpha1/PodDefault": PODDEFAULT_TYPE,
    };
    const typeOf = (d: Doc) => (d.file === VALUES_FILE ? VALUES_TYPE : types[`${d.obj.apiVersion}/${d.obj.kind}`]!);
    const source = (docs: Doc[]) =>
      docs
        .map(
          (d) =>
            `// ${d.file}#${d.index}\nexport const doc${d.index}_${d.file.replace(/\W/g, "_")}: ${typeOf(d)} = ${JSON.stringify(d.obj, null, 2)};\n`,
        )
        .join("\n");
    // Copies with one typo each, as controls: tsc must report every one.
    const typo = (file: string, probe: (o: never) => object) => {
      const copy = structuredClone(byFile(file).find((d) => d.file !== VALUES_FILE || d.index === 0)!);
      (probe(copy.obj as never) as Record<string, unknown>).periodSecond = 2;
      return copy;
    };
    const mutants = [
      typo("jupyter-sidecar.yaml", (o: DeploymentType) => o.spec!.template.spec!.initContainers![0]!.startupProbe!),
      typo(VALUES_FILE, (o: Values) => o.singleuser.initContainers[0]!.startupProbe!),
      typo(PODDEFAULT_FILE, (o: { spec: PodDefaultSpec }) => o.spec.initContainers![0]!.startupProbe!),
    ];

    const dir = mkdtempSync(path.join(tmpdir(), "ms-k8s-types-"));
    try {
      const real = path.join(dir, "manifests.ts");
      writeFileSync(real, source(DOCS));
      const typos = mutants.map((m, i) => {
        const f = path.join(dir, `typo${i}.ts`);
        writeFileSync(f, source([m]));
        return f;
      });
      const program = ts.createProgram([real, ...typos], {
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
      for (const f of typos) expect(report(f).join("\n"), f).toMatch(/periodSecond\W+ does not exist in type 'Probe'/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(PODS.map((p) => [p.name, p] as const))(
    "%s: sets only MIRRORSHADE_* variables and flags the command has",
    (_, p) => {
      for (const c of allContainers(p.spec).filter(isMirrorshade)) {
        const command = (c.args?.[0] ?? "watch") as CommandName;
        const known = new Set([
          ...optionsFor(command).map(([k]) => envName(k)),
          "MIRRORSHADE_DIR",
          "MIRRORSHADE_TOKEN",
        ]);
        for (const e of c.env ?? []) {
          if (e.name.startsWith("MIRRORSHADE_")) expect(known.has(e.name), `${p.name} ${c.name}: ${e.name}`).toBe(true);
        }
        const flags = new Set(
          optionsFor(command).map(([k]) => "--" + k.replace(/[A-Z]/g, (x) => "-" + x.toLowerCase())),
        );
        for (const a of c.args?.slice(1) ?? [])
          if (a.startsWith("--")) expect(flags.has(a), `${p.name}: ${a}`).toBe(true);
      }
    },
  );

  it.each(SIDECAR_PODS.map((p) => [p.name, p] as const))(
    "%s: mirrorshade is a native sidecar that gates Jupyter on the restore",
    (_, p) => {
      const spec = p.spec;
      const sidecar = spec.initContainers?.find(isMirrorshade);
      expect(sidecar, "mirrorshade in initContainers").toBeDefined();
      expect(sidecar!.restartPolicy).toBe("Always");
      expect(spec.containers.some(isMirrorshade)).toBe(false);
      expect(sidecar!.args).toEqual(["watch", "--listen", ":8787"]);
      expect(sidecar!.ports?.find((port) => port.containerPort === 8787)).toBeDefined();
      // Started = restored: the ready marker in the state dir, or /readyz.
      const startup = sidecar!.startupProbe!;
      const stateDir = env(sidecar!, "MIRRORSHADE_STATE_DIR") ?? "/tmp/mirrorshade";
      if (startup.exec) expect(startup.exec.command).toEqual(["test", "-f", `${stateDir}/ready`]);
      else expect(startup.httpGet?.path).toBe("/readyz");
      expect(sidecar!.livenessProbe?.httpGet?.path).toBe("/healthz");
      // The Jupyter container shares the work dir, an emptyDir.
      const workVolume = sidecar!.volumeMounts!.find(
        (m) => m.mountPath === (env(sidecar!, "MIRRORSHADE_DIR") ?? "/work"),
      );
      expect(workVolume).toBeDefined();
      expect(jupyter(spec).volumeMounts!.some((m) => m.name === workVolume!.name)).toBe(true);
      expect(spec.volumes!.find((v) => v.name === workVolume!.name)!.emptyDir).toBeDefined();
    },
  );

  it("pre-1.29: restore in a plain init container, watch as a plain container that waits for Jupyter to stop", () => {
    const spec = pod("jupyter-sidecar-pre-1.29.yaml").spec;
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

  it.each(PODS.map((p) => [p.name, p] as const))("%s: the grace period covers the final save", (_, p) => {
    const grace = p.spec.terminationGracePeriodSeconds ?? 30;
    for (const c of allContainers(p.spec).filter(isMirrorshade)) {
      if (c.args?.[0] !== "watch") continue;
      const timeout = env(c, "MIRRORSHADE_SHUTDOWN_TIMEOUT");
      expect(timeout, "an explicit shutdown timeout").toBeDefined();
      // Jupyter needs a few seconds of the same budget to stop first.
      expect(parseDuration(timeout!)! / 1000 + 10).toBeLessThanOrEqual(grace);
    }
  });

  it.each(PODS.map((p) => [p.name, p] as const))("%s: restricted security context", (_, p) => {
    const spec = p.spec;
    expect(spec.hostNetwork ?? false).toBe(false);
    if (p.ours) {
      expect(spec.securityContext?.runAsNonRoot).toBe(true);
      expect(spec.securityContext?.seccompProfile?.type).toBe("RuntimeDefault");
    }
    for (const c of allContainers(spec).filter((c) => p.ours || isMirrorshade(c))) {
      const sc = c.securityContext!;
      expect(sc.runAsNonRoot, c.name).toBe(true);
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

  it.each(PODS.filter((p) => p.variant === "openshift").map((p) => [p.name, p] as const))(
    "%s: OpenShift assigns the UID, the groups' fsGroup: none set here",
    (_, p) => {
      expect(p.spec.securityContext?.runAsUser).toBeUndefined();
      expect(p.spec.securityContext?.runAsGroup).toBeUndefined();
      expect(p.spec.securityContext?.fsGroup).toBeUndefined();
      for (const c of allContainers(p.spec)) {
        expect(c.securityContext?.runAsUser, c.name).toBeUndefined();
        expect(c.securityContext?.runAsGroup, c.name).toBeUndefined();
      }
      // The stock Jupyter images' home is writable by group users (100), not by group 0.
      expect(p.spec.securityContext?.supplementalGroups).toEqual([100]);
    },
  );

  it.each(PODS.filter((p) => p.variant === "plain").map((p) => [p.name, p] as const))(
    "%s: plain Kubernetes: two UIDs that share group 100 and write group-writable files",
    (_, p) => {
      const spec = p.spec;
      const nb = jupyter(spec);
      const ms = allContainers(spec).find(isMirrorshade)!;
      // The stock Jupyter images run as jovyan, 1000:100.
      expect(nb.securityContext?.runAsUser ?? 1000).toBe(1000);
      expect(nb.securityContext?.runAsGroup ?? 100).toBe(100);
      // mirrorshade: its own UID, never the notebook user's, in group 100.
      expect(ms.securityContext?.runAsUser).toBeDefined();
      expect(ms.securityContext?.runAsUser).not.toBe(1000);
      expect(ms.securityContext?.runAsGroup).toBe(100);
      // The volumes (work dir, Secret files) are group 100 through the pod's fsGroup.
      expect(spec.securityContext?.fsGroup).toBe(100);
      // Jupyter's files group-writable too (the docker-stacks images read NB_UMASK).
      expect(env(nb, "NB_UMASK")).toBe("002");
    },
  );

  it.each(PODS.map((p) => [p.name, p] as const))(
    "%s: Secrets are whole read-only volumes whose files exist in the Secret manifests",
    (_, p) => {
      const volumes = secretVolumes(p.spec);
      for (const c of allContainers(p.spec)) {
        for (const m of c.volumeMounts ?? []) {
          const v = volumes.find((x) => x.name === m.name);
          if (!v) continue;
          // Only mirrorshade sees a credential.
          expect(isMirrorshade(c), `${c.name} mounts ${m.name}`).toBe(true);
          // subPath mounts never see a rotated Secret.
          expect(m.subPath, `${c.name}: ${m.name}`).toBeUndefined();
          expect(m.subPathExpr, `${c.name}: ${m.name}`).toBeUndefined();
          expect(m.readOnly, `${c.name}: ${m.name}`).toBe(true);
          const keys = SECRETS.get(v.secret.secretName!);
          expect(keys, `Secret ${v.secret.secretName} in hack/k8s`).toBeDefined();
          // Every *_FILE variable under this mount names a key of that Secret.
          for (const e of c.env ?? []) {
            if (!e.name.endsWith("_FILE") || !e.value?.startsWith(m.mountPath + "/")) continue;
            expect(keys, `${c.name}: ${e.name}`).toContain(path.relative(m.mountPath, e.value));
          }
        }
        for (const e of c.env ?? []) {
          // Secrets come from files, never from a literal in the manifest.
          if (!e.name.endsWith("_FILE") && /TOKEN|PASSWORD|SECRET|ACCESS_KEY/.test(e.name))
            expect(e.value, `${c.name}: ${e.name}`).toBeUndefined();
        }
      }
    },
  );

  /** A Deployment without its credentials: the remote, the credential env, the Secret mounts. */
  const withoutCredentials = (d: DeploymentType) => {
    const copy = structuredClone(d);
    const spec = copy.spec!.template.spec!;
    for (const c of allContainers(spec)) {
      c.env = c.env?.filter((e) => !/^MIRRORSHADE_(REMOTE|SSH_|TOKEN|S3_)/.test(e.name));
      c.volumeMounts = c.volumeMounts?.filter((m) => !m.mountPath.startsWith("/etc/mirrorshade/"));
    }
    spec.volumes = spec.volumes?.filter((v) => !v.secret);
    return copy;
  };

  it("the token and S3 variants are the ssh pod with other credentials, nothing else", () => {
    const ssh = deployment("jupyter-sidecar.yaml");
    const token = deployment("jupyter-sidecar-token.yaml");
    const s3 = deployment("jupyter-sidecar-s3.yaml");
    expect(withoutCredentials(token)).toEqual(withoutCredentials(ssh));
    expect(withoutCredentials(s3)).toEqual(withoutCredentials(ssh));
    const sidecar = (d: DeploymentType) => d.spec!.template.spec!.initContainers!.find(isMirrorshade)!;
    expect(env(sidecar(token), "MIRRORSHADE_REMOTE")).toMatch(/^https:\/\//);
    expect(env(sidecar(token), "MIRRORSHADE_TOKEN_FILE")).toBe("/etc/mirrorshade/token/token");
    expect(env(sidecar(token), "MIRRORSHADE_SSH_KEY_FILE")).toBeUndefined();
    expect(env(sidecar(s3), "MIRRORSHADE_REMOTE")).toMatch(/^s3:\/\/[^/]+\/./);
    expect(env(sidecar(s3), "MIRRORSHADE_S3_ENDPOINT")).toMatch(/^https?:\/\//);
    expect(env(sidecar(s3), "MIRRORSHADE_S3_ACCESS_KEY_ID_FILE")).toBe("/etc/mirrorshade/s3/access-key-id");
    expect(env(sidecar(s3), "MIRRORSHADE_S3_SECRET_ACCESS_KEY_FILE")).toBe("/etc/mirrorshade/s3/secret-access-key");
    expect(env(sidecar(s3), "MIRRORSHADE_SSH_KEY_FILE")).toBeUndefined();
  });

  it("the OpenShift variant is the plain pod with OpenShift's security context, nothing else", () => {
    const strip = (d: DeploymentType) => {
      const copy = structuredClone(d);
      const spec = copy.spec!.template.spec!;
      for (const k of ["runAsUser", "runAsGroup", "fsGroup", "supplementalGroups"] as const)
        delete spec.securityContext![k];
      for (const c of allContainers(spec)) {
        delete c.securityContext!.runAsUser;
        delete c.securityContext!.runAsGroup;
        c.env = c.env?.filter((e) => e.name !== "NB_UMASK");
        if (c.env?.length === 0) delete c.env;
      }
      return copy;
    };
    expect(strip(deployment("jupyter-sidecar-openshift.yaml"))).toEqual(strip(deployment("jupyter-sidecar.yaml")));
  });

  it("the platform snippets run the same mirrorshade container as the Deployments", () => {
    // Everything but the names of the volumes and the remote/branch/grace settings.
    const normalize = (c: Container) => {
      const copy = structuredClone(c);
      copy.env = copy.env?.filter((e) => !/^MIRRORSHADE_(REMOTE|BRANCH|SHUTDOWN_TIMEOUT)$/.test(e.name));
      copy.volumeMounts = copy.volumeMounts?.map((m) => ({ ...m, name: "-" }));
      return copy;
    };
    const reference = normalize(pod("jupyter-sidecar.yaml").spec.initContainers!.find(isMirrorshade)!);
    for (const f of [VALUES_FILE, PODDEFAULT_FILE])
      expect(normalize(pod(f).spec.initContainers!.find(isMirrorshade)!), f).toEqual(reference);
  });

  it("kubeflow-poddefault.yaml: the remote's port bypasses Istio while the init container restores", () => {
    const ports = pod(PODDEFAULT_FILE).annotations?.["traffic.sidecar.istio.io/excludeOutboundPorts"];
    const remote = env(PODDEFAULT.spec.initContainers!.find(isMirrorshade)!, "MIRRORSHADE_REMOTE")!;
    const port = new URL(remote).port || { "ssh:": "22", "https:": "443" }[new URL(remote).protocol];
    expect(ports?.split(",")).toContain(port);
  });
});
