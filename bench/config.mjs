// The bench's options, declared once: the table below gives each size or window its flag,
// its BENCH_* env name (the flag in capitals), its full and smoke defaults and its help;
// --help and the run's config (recorded in the report) derive from it. A flag wins over
// the env, the env over the defaults. A scenario that needs a new knob adds a row here.
import path from "node:path";
import { ROOT } from "./lib/proc.mjs";

/**
 * Positive numbers (with `list`, comma-separated lists of them). `key` names it in the
 * config; `scale` turns the flag's unit into the key's.
 */
const SIZES = [
  { flag: "runs", key: "runs", full: 3, smoke: 1, help: "runs per scenario" },
  { flag: "small", key: "small", full: 10_000, smoke: 200, help: 'files in the "10k" tree' },
  { flag: "large", key: "large", full: 100_000, smoke: 1000, help: 'files in the "100k" tree' },
  { flag: "burst", key: "burst", full: 10_000, smoke: 200, help: "files in the burst" },
  { flag: "continuous", arg: "S", key: "continuousS", full: 60, smoke: 5, help: "seconds of notebook rewrites" },
  { flag: "idle", arg: "S", key: "idleS", full: 60, smoke: 5, help: "idle window in seconds" },
  {
    flag: "debounce",
    arg: "S",
    key: "debounceMs",
    scale: 1000,
    full: 2,
    smoke: 1,
    help: "watch --debounce and the gitwatch loop's sleep, seconds",
  },
  {
    flag: "short-debounce",
    arg: "S",
    key: "shortDebounceMs",
    scale: 1000,
    full: 0.3,
    smoke: 0.3,
    help: "write: the one-file rows again at this --debounce (and gitwatch sleep), seconds",
  },
  {
    flag: "max-delay",
    arg: "S",
    key: "maxDelayMs",
    scale: 1000,
    full: 30,
    smoke: 2,
    help: "watch --max-delay for the notebook scenario, seconds",
  },
  { flag: "s3-files", key: "s3Files", full: 2000, smoke: 100, help: "files for the S3 rows" },
  {
    flag: "history-commits",
    arg: "N,N",
    key: "historyCommits",
    list: true,
    full: [150, 1500, 15000],
    smoke: [20],
    help: "history: commits of the long-history repos restored (and the log row's, the one nearest 1,500)",
  },
  { flag: "history-files", key: "historyFiles", full: 2000, smoke: 100, help: "history: small files in those repos" },
  {
    flag: "history-notebook",
    arg: "KB",
    key: "historyNotebookKb",
    full: 4096,
    smoke: 64,
    help: "history: size of their big notebook, KB",
  },
  { flag: "cli-runs", key: "cliRuns", full: 10, smoke: 3, help: "runs of each --version start" },
  {
    flag: "scale-pods",
    arg: "N,N",
    key: "scalePods",
    list: true,
    full: [1, 10, 50],
    smoke: [1, 3],
    help: "fleet sizes of the scale scenario (watch processes per server)",
  },
  {
    flag: "scale-interval",
    arg: "S",
    key: "scaleIntervalMs",
    scale: 1000,
    full: 5,
    smoke: 3,
    help: "scale: each pod's writer changes its file this often, seconds",
  },
  {
    flag: "scale-window",
    arg: "S",
    key: "scaleWindowMs",
    scale: 1000,
    full: 60,
    smoke: 10,
    help: "scale: seconds of writes per fleet size, backend and subject",
  },
];

const envName = (flag) => `BENCH_${flag.toUpperCase().replace(/-/g, "_")}`;
const line = (left, help) => `  ${left.padEnd(18)}  ${help}`;

/** The --help text; `scenarios` are the modules of bench/scenarios/ (each listed with what it measures). */
export function helpText(scenarios) {
  return [
    "usage: node bench/run.mjs [options]   (npm run bench -- [options])",
    line("--smoke", "tiny sizes, 1 run, short windows (also BENCH_SMOKE=1); writes results/smoke.*"),
    ...SIZES.map((o) => line(`--${o.flag} ${o.arg ?? "N"}`, `${o.help} (default ${o.full}; smoke ${o.smoke})`)),
    line("--only a,b", `scenarios: ${scenarios.map((s) => s.name).join(",")}`),
    line("--skip a,b", "scenarios to leave out"),
    line("--name NAME", "results file name (default latest; smoke: smoke)"),
    line("--out DIR", "results dir (default bench/results)"),
    line("--keep", "keep the temp dir (printed)"),
    "scenarios:",
    ...scenarios.flatMap((s) => [line(s.name, s.measures), line("", `vs ${s.reference}; target ${s.target}`)]),
  ].join("\n");
}

/** The run's config from the command line and the environment; `names` are the known scenarios, in order. */
export function parseConfig(argv, env, names) {
  const opt = (flag) => {
    const i = argv.indexOf(`--${flag}`);
    if (i >= 0) {
      const v = argv[i + 1];
      if (v === undefined || v.startsWith("--")) throw new Error(`--${flag} needs a value`);
      return v;
    }
    const e = argv.find((a) => a.startsWith(`--${flag}=`));
    if (e) return e.slice(flag.length + 3);
    return env[envName(flag)];
  };
  const has = (flag) => argv.includes(`--${flag}`) || /^(1|true|yes)$/i.test(env[envName(flag)] ?? "");
  const smoke = has("smoke");
  const cfg = { smoke };
  for (const o of SIZES) {
    const v = opt(o.flag);
    const given = v === undefined ? undefined : o.list ? v.split(",").map(Number) : Number(v);
    const n = given ?? (smoke ? o.smoke : o.full);
    for (const x of [n].flat())
      if (!Number.isFinite(x) || x <= 0) throw new Error(`--${o.flag}: not a positive number: ${v}`);
    cfg[o.key] = o.list ? n.map((x) => x * (o.scale ?? 1)) : n * (o.scale ?? 1);
  }
  const only = opt("only")?.split(",").filter(Boolean);
  const skip = opt("skip")?.split(",").filter(Boolean) ?? [];
  for (const s of [...(only ?? []), ...skip]) if (!names.includes(s)) throw new Error(`unknown scenario ${s}`);
  cfg.scenarios = names.filter((s) => (only ? only.includes(s) : true) && !skip.includes(s));
  cfg.name = opt("name") ?? (smoke ? "smoke" : "latest");
  cfg.out = path.resolve(opt("out") ?? path.join(ROOT, "bench", "results"));
  cfg.keep = has("keep");
  return cfg;
}
