// The benchmark harness: `npm run bench` (full) or `npm run bench -- --smoke` (tiny sizes,
// for CI). Builds its workloads in a temp dir, runs each scenario several times next to
// its reference measured in the same run (raw git, a gitwatch-style loop, inotifywait,
// `node -e 0`, rclone), and writes bench/results/<name>.md and .json. Exits non-zero only
// when the harness could not measure (a scenario threw), never for a missed target.
// Options: node bench/run.mjs --help.
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import {
  BINARY,
  BUNDLE,
  CLK_TCK,
  NODE,
  Proc,
  ROOT,
  cleanEnv,
  cpuTicks,
  ctxtSwitches,
  fmtStats,
  git,
  gitEnv,
  gitLines,
  groupMembers,
  initBare,
  makeTree,
  mdTable,
  notebook,
  now,
  rawRepo,
  readRef,
  rewriteInPlace,
  rssMb,
  run,
  sleep,
  smallContent,
  stats,
  stopAll,
  treePaths,
  waitQuiet,
  waitRef,
  which,
} from "./lib.mjs";

// ---------------------------------------------------------------------------------------
// Configuration: flags, then BENCH_* env, then the smoke or full defaults.

const HELP = `usage: node bench/run.mjs [options]   (npm run bench -- [options])
  --smoke            tiny sizes, 1 run, short windows (also BENCH_SMOKE=1); writes results/smoke.*
  --runs N           runs per scenario (default 3; smoke 1)
  --small N          files in the "10k" tree (default 10000; smoke 200)
  --large N          files in the "100k" tree (default 100000; smoke 1000)
  --burst N          files in the burst (default 10000; smoke 200)
  --continuous S     seconds of notebook rewrites (default 60; smoke 5)
  --idle S           idle window in seconds (default 60; smoke 5)
  --debounce S       watch --debounce and the gitwatch loop's sleep, seconds (default 2; smoke 1)
  --max-delay S      watch --max-delay for the notebook scenario, seconds (default 30; smoke 2)
  --s3-files N       files for the S3 rows (default 2000; smoke 100)
  --cli-runs N       runs of each --version start (default 10; smoke 3)
  --only a,b         scenarios: cli,ready,push,write,burst,notebook,idle,s3
  --skip a,b         scenarios to leave out
  --name NAME        results file name (default latest; smoke: smoke)
  --out DIR          results dir (default bench/results)
  --keep             keep the temp dir (printed)`;

const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(HELP);
  process.exit(0);
}
function opt(name, env) {
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new Error(`--${name} needs a value`);
    return v;
  }
  const e = argv.find((a) => a.startsWith(`--${name}=`));
  if (e) return e.slice(name.length + 3);
  return process.env[`BENCH_${env}`];
}
const has = (name, env) => argv.includes(`--${name}`) || /^(1|true|yes)$/i.test(process.env[`BENCH_${env}`] ?? "");
const smoke = has("smoke", "SMOKE");
const num = (name, env, full, small) => {
  const v = opt(name, env);
  const n = v === undefined ? (smoke ? small : full) : Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name}: not a positive number: ${v}`);
  return n;
};
const ALL = ["cli", "ready", "push", "write", "burst", "notebook", "idle", "s3"];
const only = opt("only", "ONLY")?.split(",").filter(Boolean);
const skipList = opt("skip", "SKIP")?.split(",").filter(Boolean) ?? [];
for (const s of [...(only ?? []), ...skipList]) if (!ALL.includes(s)) throw new Error(`unknown scenario ${s}`);

const cfg = {
  smoke,
  runs: num("runs", "RUNS", 3, 1),
  small: num("small", "SMALL", 10_000, 200),
  large: num("large", "LARGE", 100_000, 1000),
  burst: num("burst", "BURST", 10_000, 200),
  continuousS: num("continuous", "CONTINUOUS", 60, 5),
  idleS: num("idle", "IDLE", 60, 5),
  debounceMs: num("debounce", "DEBOUNCE", 2, 1) * 1000,
  maxDelayMs: num("max-delay", "MAX_DELAY", 30, 2) * 1000,
  s3Files: num("s3-files", "S3_FILES", 2000, 100),
  cliRuns: num("cli-runs", "CLI_RUNS", 10, 3),
  scenarios: ALL.filter((s) => (only ? only.includes(s) : true) && !skipList.includes(s)),
  name: opt("name", "NAME") ?? (smoke ? "smoke" : "latest"),
  out: path.resolve(opt("out", "OUT") ?? path.join(ROOT, "bench", "results")),
  keep: has("keep", "KEEP"),
};
const k = (n) => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
const SMALL = k(cfg.small);
const LARGE = k(cfg.large);
const DEBOUNCE = `${cfg.debounceMs / 1000} s`;

// ---------------------------------------------------------------------------------------
// State of the run: temp dir, rows, skips, failures; cleanup on every way out.

const tmp = mkdtempSync(path.join(process.env.BENCH_TMPDIR ?? os.tmpdir(), "mirrorshade-bench-"));
const genv = gitEnv(tmp);
const rows = [];
const skipped = [];
const errors = [];
const diagnostics = {};
const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

let cleaning = false;
async function cleanup() {
  if (cleaning) return;
  cleaning = true;
  await stopAll();
  if (cfg.keep) log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    log(`${sig}: stopping what we started`);
    void cleanup().finally(() => process.exit(130));
  });
}

/** A result row: `value` and `ref` are stats; `ratio` is median / reference median. */
function row(r) {
  const ratio =
    "ratio" in r ? r.ratio : r.value && r.ref?.stats?.median ? r.value.median / r.ref.stats.median : undefined;
  const full = { met: null, ...r, ratio };
  rows.push(full);
  const v = fmtStats(r.value, r.unit);
  const ref = r.ref ? ` vs ${r.ref.name} ${fmtStats(r.ref.stats, r.ref.unit ?? r.unit)}` : "";
  log(
    `  ${r.scenario} — ${r.metric}: ${v}${ref}${typeof ratio === "number" ? ` (×${ratio.toFixed(2)})` : ""} ${verdict(full)}`,
  );
  return full;
}
const verdict = (r) => (r.met === true ? "met" : r.met === false ? "MISSED" : "");

// ---------------------------------------------------------------------------------------
// mirrorshade, the subject

const cli = (args) => [BUNDLE, ...args];
const msEnv = (state, extra = {}) => cleanEnv({ MIRRORSHADE_STATE_DIR: state, ...extra });

/** A work dir with `count` small files, saved by `mirrorshade push` to a new bare remote. */
function msFixture(name, count, { tree = true } = {}) {
  const base = path.join(tmp, name);
  const fx = {
    name,
    work: path.join(base, "work"),
    bare: path.join(base, "remote.git"),
    state: path.join(base, "state"),
  };
  mkdirSync(fx.work, { recursive: true });
  if (tree) makeTree(fx.work, count);
  else writeFileSync(path.join(fx.work, "README.md"), "# bench\n");
  initBare(genv, fx.bare);
  const r = run(NODE, cli(["push", fx.work, "--remote", fx.bare, "--log-format", "json"]), { env: msEnv(fx.state) });
  fx.initialMs = r.ms;
  return fx;
}

/** A copy of the same workload with its own .git and bare remote (raw git, gitwatch). */
function rawFixture(name, count, { tree = true } = {}) {
  const base = path.join(tmp, name);
  const fx = { name, work: path.join(base, "work"), bare: path.join(base, "remote.git") };
  mkdirSync(fx.work, { recursive: true });
  if (tree) makeTree(fx.work, count);
  else writeFileSync(path.join(fx.work, "README.md"), "# bench\n");
  fx.initialMs = rawRepo(genv, fx.work, fx.bare);
  return fx;
}

function startWatch(fx, extra = []) {
  return new Proc(
    `watch:${fx.name}`,
    NODE,
    cli([
      "watch",
      fx.work,
      "--remote",
      fx.bare,
      "--no-restore",
      "--log-format",
      "json",
      "--debounce",
      `${cfg.debounceMs}ms`,
      ...extra,
    ]),
    { env: msEnv(fx.state) },
  );
}

/** Start a watch and wait until it watches and its first whole-tree check is done. */
async function startWatchQuiet(fx, extra = []) {
  const w = startWatch(fx, extra);
  const line = await w.waitLog(/^watching /, { timeout: 120_000 });
  await sleep(cfg.debounceMs + 300);
  await waitQuiet(w);
  return { w, readyMs: line.t - w.startedAt };
}

async function stopWatch(w) {
  const { code, signal } = await w.stop({ signal: "SIGTERM", timeout: 30_000 });
  if (code !== 0) log(`  note: ${w.name} exited ${code ?? signal}\n${w.tail(5)}`);
}

const hasInotify = which("inotifywait");
const GITWATCH = path.join(ROOT, "bench", "gitwatch.sh");

async function startGitwatch(fx) {
  const p = new Proc(`gitwatch:${fx.name}`, "bash", [GITWATCH, fx.work, String(cfg.debounceMs / 1000)], {
    env: genv,
  });
  await p.waitLine((l) => /Watches established/.test(l.text), { timeout: 120_000 });
  return p;
}

/** Wait until nothing of the gitwatch loop but bash and inotifywait runs (its save ended). */
async function gitwatchQuiet(p, timeout = 120_000) {
  const end = now() + timeout;
  while (now() < end) {
    if (!groupMembers(p.pid).some((m) => !/^(bash|inotifywait)$/.test(m.comm))) return;
    await sleep(50);
  }
  throw new Error("gitwatch did not go quiet");
}

// ---------------------------------------------------------------------------------------
// Scenarios

const scenarios = {
  /** CLI start: `--version` of the bundle and of the single binary vs `node -e 0`. */
  async cli() {
    const t = { bundle: [], binary: [], node: [] };
    const haveBinary = existsSync(BINARY);
    const cmds = {
      bundle: [NODE, [BUNDLE, "--version"]],
      binary: [BINARY, ["--version"]],
      node: [NODE, ["-e", "0"]],
    };
    const kinds = haveBinary ? ["node", "bundle", "binary"] : ["node", "bundle"];
    for (let i = 0; i <= cfg.cliRuns; i++) {
      for (const kind of i % 2 ? [...kinds].reverse() : kinds) {
        const [cmd, args] = cmds[kind];
        const r = run(cmd, args, { env: cleanEnv() });
        if (i > 0) t[kind].push(r.ms); // the first round warms the page cache
      }
    }
    const ref = { name: "`node -e 0`", stats: stats(t.node) };
    nodeStart = ref.stats;
    const judge = (s) => s.median <= 2 * ref.stats.median;
    const v = stats(t.bundle);
    row({
      id: "cli-bundle",
      scenario: "CLI start",
      metric: "`--version`, bundle (dist/mirrorshade.cjs on the project's Node)",
      unit: "ms",
      value: v,
      ref,
      target: "≤ 2 × `node -e 0`",
      met: judge(v),
    });
    if (!haveBinary) {
      skip("cli-binary", "CLI start, single binary", "dist/mirrorshade not built (npm run build:binary)");
      return;
    }
    const b = stats(t.binary);
    const stale = statSync(BINARY).mtimeMs < statSync(BUNDLE).mtimeMs;
    row({
      id: "cli-binary",
      scenario: "CLI start",
      metric: "`--version`, single binary (dist/mirrorshade)",
      unit: "ms",
      value: b,
      ref,
      target: "≤ 2 × `node -e 0`",
      met: judge(b),
      note: stale
        ? "dist/mirrorshade is older than dist/mirrorshade.cjs: it may predate the latest changes"
        : undefined,
    });
  },

  /** Watcher ready on both trees (and RSS while watching), vs inotifywait -mr on the same tree. */
  async ready() {
    for (const [label, count, limit, rssLimit] of [
      [SMALL, cfg.small, 500, undefined],
      [LARGE, cfg.large, 2000, 120],
    ]) {
      const fx = fixture(label, count);
      const ready = [];
      const iw = [];
      const rss = [];
      const hwm = [];
      for (let i = 0; i < cfg.runs; i++) {
        if (hasInotify) {
          const p = new Proc("inotifywait", "inotifywait", ["-mr", "-e", "close_write,create,delete,move", fx.work]);
          const l = await p.waitLine((x) => /Watches established/.test(x.text), { timeout: 120_000 });
          iw.push(l.t - p.startedAt);
          await p.stop({ group: true });
        }
        const { w, readyMs } = await startWatchQuiet(fx);
        ready.push(readyMs);
        let peak = 0;
        for (let j = 0; j < 5; j++, await sleep(200)) peak = Math.max(peak, rssMb(w.pid));
        rss.push(peak);
        hwm.push(rssMb(w.pid, true));
        await stopWatch(w);
      }
      const v = stats(ready);
      row({
        id: `ready-${label}`,
        scenario: `watcher ready, ${label} files`,
        metric: "spawn of `watch --no-restore` → its `watching` log line",
        unit: "ms",
        value: v,
        ref: hasInotify ? { name: "`inotifywait -mr` → `Watches established.`", stats: stats(iw) } : undefined,
        target: `≤ ${limit} ms`,
        met: v.median <= limit,
        note: nodeStart ? `includes Node's own start (\`node -e 0\`: ${fmtStats(nodeStart, "ms")})` : undefined,
      });
      if (rssLimit) {
        const r = stats(rss);
        row({
          id: `rss-${label}`,
          scenario: `RSS while watching ${label} files`,
          metric: "VmRSS after the first whole-tree check (peak incl. start-up in the note)",
          unit: "MB",
          value: r,
          ref: { name: "idle `node` process", stats: await nodeFloorRss() },
          target: `≤ ${rssLimit} MB`,
          met: r.median <= rssLimit,
          note: `VmHWM ${fmtStats(stats(hwm), "MB")}`,
        });
      }
    }
  },

  /** `push` with nothing changed on the large tree vs `git status --porcelain` on the same tree and git dir. */
  async push() {
    const fx = fixture(LARGE, cfg.large);
    const statusEnv = cleanEnv({
      GIT_DIR: path.join(fx.state, "git"),
      GIT_WORK_TREE: fx.work,
      GIT_CONFIG_GLOBAL: path.join(fx.state, "gitconfig"),
      GIT_CONFIG_NOSYSTEM: "1",
      LC_ALL: "C",
    });
    const push = [];
    const inner = [];
    const status = [];
    for (let i = 0; i <= cfg.runs; i++) {
      const order = i % 2 ? ["push", "status"] : ["status", "push"];
      for (const what of order) {
        if (what === "status") {
          const r = git(statusEnv, ["status", "--porcelain"], { cwd: fx.work });
          if (r.stdout.trim()) throw new Error(`the tree is not clean:\n${r.stdout.slice(0, 500)}`);
          if (i > 0) status.push(r.ms);
        } else {
          const r = run(NODE, cli(["push", fx.work, "--remote", fx.bare, "--json", "--log-format", "json"]), {
            env: msEnv(fx.state),
          });
          const summary = JSON.parse(r.stdout);
          if (summary.saved.length) throw new Error(`push saved ${summary.saved.length} change(s) on a clean tree`);
          if (i > 0) {
            push.push(r.ms);
            inner.push(summary.ms);
          }
        }
      }
    }
    const v = stats(push);
    const ref = { name: "`git status --porcelain` (same tree, same git dir)", stats: stats(status) };
    row({
      id: `push-noop-${LARGE}`,
      scenario: `\`push\`, nothing changed, ${LARGE} files`,
      metric: "wall time of `mirrorshade push`",
      unit: "ms",
      value: v,
      ref,
      target: "≤ 1.2 × `git status --porcelain`",
      met: v.median <= 1.2 * ref.stats.median,
      note: `the save inside it (its --json ms): ${fmtStats(stats(inner), "ms")}`,
    });
  },

  /** One write in the small tree → commit visible at the bare remote. */
  async write() {
    const fx = fixture(SMALL, cfg.small);
    const raw = rawFixture(`raw-${SMALL}`, cfg.small);
    row({
      id: `initial-${SMALL}`,
      scenario: `initial save of ${SMALL} files (set-up, 1 sample)`,
      metric: "`mirrorshade push` to an empty bare remote",
      unit: "ms",
      value: stats([fx.initialMs]),
      ref: { name: "raw `git add -A && commit && push`", stats: stats([raw.initialMs]) },
      target: "— (informative)",
    });
    const gw = hasInotify ? rawFixture(`gitwatch-${SMALL}`, cfg.small) : undefined;
    const { w } = await startWatchQuiet(fx);
    const g = gw ? await startGitwatch(gw) : undefined;
    const paths = treePaths(cfg.small);
    const ms = [];
    const rawMs = [];
    const gwMs = [];
    const saveMs = [];
    try {
      for (let i = 0; i < cfg.runs; i++) {
        const rel = paths[(i * 7919 + 13) % paths.length];
        const content = smallContent(rel, ` run ${i} ${Date.now()}`);
        const order = ["raw", "ms", "gw"];
        if (i % 2) order.reverse();
        for (const who of order) {
          if (who === "raw") {
            const from = readRef(raw.bare);
            const t0 = now();
            writeFileSync(path.join(raw.work, rel), content);
            run(
              "sh",
              ["-c", `git add -- "$1" && git commit -q -m "save $1" && git push -q origin HEAD:main`, "sh", rel],
              {
                cwd: raw.work,
                env: genv,
              },
            );
            const t1 = now();
            if (readRef(raw.bare) === from) throw new Error("raw git push did not move the remote");
            rawMs.push(t1 - t0);
          } else if (who === "ms") {
            const from = readRef(fx.bare);
            const nLog = w.lines.length;
            const t0 = now();
            writeFileSync(path.join(fx.work, rel), content);
            const { t } = await waitRef(fx.bare, { from, timeout: cfg.debounceMs + 120_000 });
            ms.push(t - t0 - cfg.debounceMs);
            const saved = await w.waitLog(/^saved \d+ change/, { from: nLog, timeout: 30_000 });
            saveMs.push(saved.json.ms);
            await waitQuiet(w);
          } else if (g) {
            const from = readRef(gw.bare);
            const t0 = now();
            writeFileSync(path.join(gw.work, rel), content);
            const { t } = await waitRef(gw.bare, { from, timeout: cfg.debounceMs + 120_000 });
            gwMs.push(t - t0 - cfg.debounceMs);
            await gitwatchQuiet(g);
          }
        }
      }
      diagnostics.gitPerSave = await gitProcessesPerSave(fx, w, raw, paths);
    } finally {
      await stopWatch(w);
      if (g) await g.stop({ group: true });
    }
    const v = stats(ms);
    const rawS = stats(rawMs);
    row({
      id: `write-${SMALL}-raw`,
      scenario: `write 1 file in a ${SMALL}-file tree → commit at the remote`,
      metric: `latency − debounce (${DEBOUNCE})`,
      unit: "ms",
      value: v,
      ref: { name: "raw `git add <f> && commit && push`", stats: rawS },
      target: "≤ 1.5 × raw git",
      met: v.median <= 1.5 * rawS.median,
      note: `the save itself (its log's ms): ${fmtStats(stats(saveMs), "ms")}`,
    });
    if (g) {
      const gs = stats(gwMs);
      row({
        id: `write-${SMALL}-gitwatch`,
        scenario: `write 1 file in a ${SMALL}-file tree → commit at the remote`,
        metric: `latency − debounce (${DEBOUNCE})`,
        unit: "ms",
        value: v,
        ref: { name: `gitwatch-style loop (bench/gitwatch.sh, ${DEBOUNCE})`, stats: gs },
        target: "< gitwatch loop",
        met: v.median < gs.median,
      });
    } else skip(`write-${SMALL}-gitwatch`, "write 1 file vs the gitwatch loop", "inotifywait not installed");
  },

  /** A burst of new files within about a second → all of them at the remote. */
  async burst() {
    const fx = msFixture("burst", 0, { tree: false });
    const raw = rawFixture("raw-burst", 0, { tree: false });
    const { w } = await startWatchQuiet(fx);
    const lat = [];
    const commits = [];
    const rawMs = [];
    const spread = [];
    try {
      for (let i = 0; i < cfg.runs; i++) {
        const prefix = `burst-${i}/`;
        const rels = treePaths(cfg.burst, { prefix });
        // raw git: the same files, then one add -A && commit && push
        makeTree(raw.work, cfg.burst, { prefix });
        const from0 = readRef(raw.bare);
        const r = run("sh", ["-c", "git add -A && git commit -q -m burst && git push -q origin HEAD:main"], {
          cwd: raw.work,
          env: genv,
        });
        if (readRef(raw.bare) === from0) throw new Error("raw burst push did not move the remote");
        rawMs.push(r.ms);
        // mirrorshade: the files in 10 slices, 100 ms apart
        const from = readRef(fx.bare);
        const tStart = now();
        const slices = 10;
        const per = Math.ceil(rels.length / slices);
        for (let s = 0; s < slices; s++) {
          const due = tStart + s * 100;
          if (now() < due) await sleep(due - now());
          writeSlice(fx.work, rels.slice(s * per, (s + 1) * per));
        }
        const tLast = now();
        spread.push(tLast - tStart);
        const dir = prefix.slice(0, -1);
        const { sha, t } = await waitRef(fx.bare, {
          from,
          timeout: cfg.debounceMs + 300_000,
          accept: (s) =>
            gitLines(genv, ["--git-dir", fx.bare, "ls-tree", "-r", "--name-only", s, "--", dir]).length >= rels.length,
        });
        lat.push(t - tLast - cfg.debounceMs);
        commits.push(Number(gitLines(genv, ["--git-dir", fx.bare, "rev-list", "--count", `${from}..${sha}`])[0]));
        await sleep(cfg.debounceMs + 300);
        await waitQuiet(w);
        // Saves after all were in (a late event) would be extra commits: count them too.
        const end = readRef(fx.bare);
        if (end !== sha)
          commits[commits.length - 1] = Number(
            gitLines(genv, ["--git-dir", fx.bare, "rev-list", "--count", `${from}..${end}`])[0],
          );
      }
    } finally {
      await stopWatch(w);
    }
    const c = stats(commits);
    row({
      id: `burst-${k(cfg.burst)}-commits`,
      scenario: `burst of ${k(cfg.burst)} new files (written over ${fmtStats(stats(spread), "ms")})`,
      metric: "commits at the remote for the burst",
      unit: "",
      value: c,
      target: "≤ 3",
      met: c.max <= 3,
    });
    const v = stats(lat);
    const rawS = stats(rawMs);
    row({
      id: `burst-${k(cfg.burst)}-latency`,
      scenario: `burst of ${k(cfg.burst)} new files`,
      metric: `last write → all at the remote, − debounce (${DEBOUNCE})`,
      unit: "ms",
      value: v,
      ref: { name: "raw `git add -A && commit && push`", stats: rawS },
      target: "≤ 1.3 × raw git",
      met: v.median <= 1.3 * rawS.median,
    });
  },

  /** A notebook rewritten in place every 200 ms: saves keep coming (max-delay), never invalid JSON. */
  async notebook() {
    const nb = "analysis.ipynb";
    const fx = msFixture("notebook", 0, { tree: false });
    const gwFx = hasInotify ? rawFixture("gitwatch-notebook", 0, { tree: false }) : undefined;
    const seq = { n: 0 };
    for (const f of [fx, gwFx].filter(Boolean)) writeFileSync(path.join(f.work, nb), notebook(0));
    run(NODE, cli(["push", fx.work, "--remote", fx.bare, "--log-format", "json"]), { env: msEnv(fx.state) });
    if (gwFx) {
      run("sh", ["-c", "git add -A && git commit -q -m notebook && git push -q origin HEAD:main"], {
        cwd: gwFx.work,
        env: genv,
      });
    }
    const res = { ms: [], gw: [] };
    const watchArgs = ["--max-delay", `${cfg.maxDelayMs}ms`];
    let { w } = await startWatchQuiet(fx, watchArgs);
    const g = gwFx ? await startGitwatch(gwFx) : undefined;
    try {
      for (let i = 0; i < cfg.runs; i++) {
        const r = await rewriteRun(fx, w, nb, seq);
        res.ms.push(r);
        if (r.stuck) {
          // As a pod restart would: a new watch (it removes a stale index.lock at start).
          await stopWatch(w);
          ({ w } = await startWatchQuiet(fx, watchArgs));
        }
        if (g) res.gw.push(await rewriteRun(gwFx, g, nb, seq));
      }
    } finally {
      await stopWatch(w);
      if (g) await g.stop({ group: true });
    }
    const slack = 1000;
    const gap = stats(res.ms.map((r) => r.maxGap));
    const gwRef = (f, unit) =>
      g ? { name: `gitwatch loop (${DEBOUNCE})`, stats: stats(res.gw.map(f)), unit } : undefined;
    const D = `${cfg.continuousS} s`;
    row({
      id: "notebook-saves",
      scenario: `notebook (~200 KB) rewritten in place every 200 ms for ${D}`,
      metric: "saves that landed while it was being rewritten",
      unit: "",
      value: stats(res.ms.map((r) => r.savesDuring)),
      ref: gwRef((r) => r.savesDuring, ""),
      ratio: null,
      target: "—",
    });
    row({
      id: "notebook-gap",
      scenario: `notebook rewritten every 200 ms for ${D}`,
      metric: `longest wait for a save (start → 1st save, between saves), --max-delay ${cfg.maxDelayMs / 1000} s`,
      unit: "ms",
      value: gap,
      ref: gwRef((r) => r.maxGap, "ms"),
      ratio: null,
      target: `≤ max-delay + ${slack / 1000} s (a save's own time)`,
      met: gap.max <= cfg.maxDelayMs + slack,
      note: stuckNote(res.ms),
    });
    const bad = stats(res.ms.map((r) => r.invalid));
    row({
      id: "notebook-invalid",
      scenario: `notebook rewritten every 200 ms for ${D}`,
      metric: "commits whose notebook is not valid JSON (every commit checked)",
      unit: "",
      value: bad,
      ref: gwRef((r) => r.invalid, ""),
      ratio: null,
      target: "0",
      met: bad.max === 0,
      note: `commits checked: ${res.ms.map((r) => r.checked).join(", ")}${g ? `; gitwatch: ${res.gw.map((r) => r.checked).join(", ")}` : ""}`,
    });
  },

  /** Idle on the small tree: RSS, CPU and wake-ups, next to an idle node and the gitwatch loop. */
  async idle() {
    const fx = fixture(SMALL, cfg.small);
    const gw = hasInotify ? rawFixture(`gitwatch-idle-${SMALL}`, cfg.small) : undefined;
    const out = { ms: [], node: [], gw: [] };
    for (let i = 0; i < cfg.runs; i++) {
      const { w } = await startWatchQuiet(fx);
      const n = new Proc("node-floor", NODE, ["-e", "setInterval(() => {}, 1 << 30)"]);
      const g = gw ? await startGitwatch(gw) : undefined;
      try {
        await sleep(500);
        const subjects = [
          ["ms", [w.pid]],
          ["node", [n.pid]],
          ...(g ? [["gw", groupMembers(g.pid).map((m) => m.pid)]] : []),
        ];
        const res = await idleWindow(subjects, cfg.idleS * 1000);
        for (const [key] of subjects) out[key].push(res[key]);
        if (i === 0 && which("strace"))
          diagnostics.idleStrace = await straceWindow(w.pid, cfg.smoke ? 2 : Math.min(cfg.idleS, 30));
      } finally {
        await stopWatch(w);
        await n.stop({ group: true });
        if (g) await g.stop({ group: true });
      }
    }
    const pick = (key, f) => stats(out[key].map(f));
    const ref = (f, unit) => ({ name: "idle `node` process", stats: pick("node", f), unit });
    const gwNote = (f, unit) =>
      gw ? `gitwatch loop (bash + inotifywait): ${fmtStats(pick("gw", f), unit)}` : undefined;
    const W = `${cfg.idleS} s`;
    const rss = pick("ms", (r) => r.rss);
    row({
      id: `idle-rss-${SMALL}`,
      scenario: `idle ${W} on a ${SMALL}-file tree`,
      metric: "RSS (max VmRSS sampled each second)",
      unit: "MB",
      value: rss,
      ref: ref((r) => r.rss, "MB"),
      target: "≤ 80 MB",
      met: rss.median <= 80,
      note: gwNote((r) => r.rss, "MB"),
    });
    const cpu = pick("ms", (r) => r.cpu);
    row({
      id: `idle-cpu-${SMALL}`,
      scenario: `idle ${W} on a ${SMALL}-file tree`,
      metric: `CPU (utime+stime incl. reaped children, /proc, ${CLK_TCK} ticks/s)`,
      unit: "%",
      value: cpu,
      ref: ref((r) => r.cpu, "%"),
      ratio: null,
      target: "≤ 0.2 %",
      met: cpu.median <= 0.2,
      note: gwNote((r) => r.cpu, "%"),
    });
    const wake = pick("ms", (r) => r.wakeups);
    const budget = 12;
    row({
      id: `idle-wakeups-${SMALL}`,
      scenario: `idle ${W} on a ${SMALL}-file tree`,
      metric: "wake-ups: voluntary context switches, all threads",
      unit: "/min",
      value: wake,
      ref: ref((r) => r.wakeups, "/min"),
      ratio: null,
      target: `≤ ${budget}/min (the 10 s work-dir check, ×2)`,
      met: wake.median <= budget,
      note: [
        `main thread: ${fmtStats(
          pick("ms", (r) => r.mainWakeups),
          "/min",
        )}`,
        gwNote((r) => r.wakeups, "/min"),
      ]
        .filter(Boolean)
        .join("; "),
    });
  },

  /**
   * S3 rows: mirrorshade push vs rclone sync, same s3rver, as the S3 issue asks (rclone at
   * mirrorshade's default --s3-concurrency of 16 transfers).
   */
  async s3() {
    if (!existsSync(path.join(ROOT, "backends", "s3.ts"))) {
      skip("s3", "S3 rows", "backends/s3.ts does not exist");
      return;
    }
    const server = await startS3rver();
    try {
      const env = msS3Env(server.endpoint);
      const probe = path.join(tmp, "s3-probe");
      mkdirSync(probe, { recursive: true });
      writeFileSync(path.join(probe, "a.txt"), "a\n");
      const p = run(NODE, cli(["push", probe, "--remote", "s3://bench/probe", "--log-format", "json"]), {
        env: { ...env, MIRRORSHADE_STATE_DIR: path.join(tmp, "s3-probe-state") },
        allowFail: true,
      });
      if (p.code !== 0) {
        skip("s3", "S3 rows", `mirrorshade push to s3rver failed (exit ${p.code}): ${lastLine(p.stderr)}`);
        return;
      }
      const haveRclone = which("rclone");
      if (!haveRclone) skip("s3-rclone", "S3 rclone reference", "rclone not installed (apt-get install rclone)");
      const work = path.join(tmp, "s3-work");
      const rels = makeS3Tree(work, cfg.s3Files);
      const t = { ms: { initial: [], noop: [], ten: [] }, rc: { initial: [], noop: [], ten: [] } };
      const rcEnv = cleanEnv({
        AWS_CA_BUNDLE: undefined,
        RCLONE_CONFIG_BENCH_TYPE: "s3",
        RCLONE_CONFIG_BENCH_PROVIDER: "Other",
        RCLONE_CONFIG_BENCH_ENDPOINT: server.endpoint,
        RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE: "true",
        RCLONE_CONFIG_BENCH_REGION: "us-east-1",
        RCLONE_CONFIG_BENCH_ACCESS_KEY_ID: "S3RVER",
        RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY: "S3RVER",
        RCLONE_CONFIG: "/nonexistent",
      });
      for (let i = 0; i < cfg.runs; i++) {
        const state = path.join(tmp, `s3-state-${i}`);
        const ms = () =>
          run(NODE, cli(["push", work, "--remote", `s3://bench/ms-${i}`, "--log-format", "json"]), {
            env: { ...env, MIRRORSHADE_STATE_DIR: state },
          }).ms;
        const rc = () =>
          run("rclone", ["sync", work, `bench:bench/rc-${i}`, "--fast-list", "--transfers", "16"], { env: rcEnv }).ms;
        const both = (key) => {
          const order = i % 2 ? ["rc", "ms"] : ["ms", "rc"];
          for (const who of order) {
            if (who === "ms") t.ms[key].push(ms());
            else if (haveRclone) t.rc[key].push(rc());
          }
        };
        both("initial");
        both("noop");
        for (let j = 0; j < 10; j++) {
          const f = path.join(work, rels[(i * 997 + j * 131) % rels.length]);
          writeFileSync(f, readFileSync(f, "utf8") + `changed ${i}.${j}\n`);
        }
        both("ten");
      }
      for (const [key, label] of [
        ["initial", `initial push of ${k(cfg.s3Files)} files (1–10 KB)`],
        ["noop", "push with nothing changed"],
        ["ten", "push of 10 changed files"],
      ]) {
        row({
          id: `s3-${key}`,
          scenario: `S3 (s3rver): ${label}`,
          metric: "wall time of `mirrorshade push`",
          unit: "ms",
          value: stats(t.ms[key]),
          ref: haveRclone ? { name: "`rclone sync --fast-list --transfers 16`", stats: stats(t.rc[key]) } : undefined,
          target: "— (ratio reported)",
        });
      }
    } finally {
      await server.stop();
    }
  },
};

// ---------------------------------------------------------------------------------------
// Scenario parts

const fixtures = new Map();
/** The saved tree of `count` files, built once per run and shared by the scenarios that only read it. */
function fixture(label, count) {
  if (!fixtures.has(label)) {
    log(`  building the ${label}-file tree and saving it with mirrorshade push`);
    fixtures.set(label, msFixture(`tree-${label}`, count));
  }
  return fixtures.get(label);
}

let nodeFloor;
/** `node -e 0` of the cli scenario, for the notes of other rows. */
let nodeStart;
/** RSS of an idle `node` (the runtime's own floor), measured once per run. */
async function nodeFloorRss() {
  if (!nodeFloor) {
    const samples = [];
    for (let i = 0; i < cfg.runs; i++) {
      const n = new Proc("node-floor", NODE, ["-e", "setInterval(() => {}, 1 << 30)"]);
      await sleep(1000);
      samples.push(rssMb(n.pid));
      await n.stop({ group: true });
    }
    nodeFloor = stats(samples);
  }
  return nodeFloor;
}

function skip(id, what, why) {
  skipped.push({ id, what, why });
  log(`  skipped ${what}: ${why}`);
}

function lastLine(s) {
  return (s ?? "").trim().split("\n").filter(Boolean).at(-1) ?? "";
}

function writeSlice(dir, rels) {
  let made = "";
  for (const rel of rels) {
    const d = path.dirname(rel);
    if (d !== made) {
      mkdirSync(path.join(dir, d), { recursive: true });
      made = d;
    }
    writeFileSync(path.join(dir, rel), smallContent(rel));
  }
}

/** What the runs whose saves stopped logged. */
function stuckNote(results) {
  const stuck = results.map((r, i) => ({ i, ...r.stuck })).filter((r) => r.error);
  if (!stuck.length) return undefined;
  return (
    `saves STOPPED in ${stuck.length} of ${results.length} run(s) (the watch was restarted for the next run): ` +
    stuck
      .map(
        (r) =>
          `run ${r.i + 1}: ${r.failedSaves} failed save(s), last "${r.error.slice(0, 200)}"` +
          (r.staleIndexLock ? ", a stale index.lock in the state dir's git dir" : ""),
      )
      .join("; ")
  );
}

/** One run of in-place rewrites against a watcher (mirrorshade or gitwatch) on `fx`. */
async function rewriteRun(fx, proc, nb, seq) {
  const file = path.join(fx.work, nb);
  const from = readRef(fx.bare);
  const seen = [];
  let polling = true;
  const poller = (async () => {
    let last = from;
    while (polling) {
      const sha = readRef(fx.bare);
      if (sha !== last) {
        seen.push({ sha, t: now() });
        last = sha;
      }
      await sleep(5);
    }
  })();
  const tStart = now();
  const tEnd = tStart + cfg.continuousS * 1000;
  let text = "";
  for (let tick = 0; ; tick++) {
    const due = tStart + tick * 200;
    if (due >= tEnd) break;
    if (now() < due) await sleep(due - now());
    seq.n++;
    text = notebook(seq.n);
    await rewriteInPlace(file, text);
  }
  const tStop = now();
  // The save after the rewrites stop: the remote holds the last version.
  const blob = createHash("sha1")
    .update(`blob ${Buffer.byteLength(text)}\0`)
    .update(text)
    .digest("hex");
  // A watcher whose saves stopped (they fail over and over) is a result, not a harness failure.
  const deadline = now() + cfg.debounceMs + cfg.maxDelayMs + 30_000;
  let stuck;
  for (;;) {
    const sha = readRef(fx.bare);
    if (sha !== from && gitLines(genv, ["--git-dir", fx.bare, "rev-parse", `${sha}:${nb}`])[0] === blob) break;
    if (now() > deadline) {
      const failed = proc.logs(/^save failed/);
      const lock = fx.state && existsSync(path.join(fx.state, "git", "index.lock"));
      stuck = {
        failedSaves: failed.length,
        error: failed.at(-1)?.json.msg ?? "no save and no error logged",
        staleIndexLock: Boolean(lock),
      };
      log(`  ${proc.name}: the last version never reached the remote: ${stuck.error}`);
      break;
    }
    await sleep(20);
  }
  polling = false;
  await poller;
  if (stuck)
    seen.push({ sha: undefined, t: now() }); // the wait so far counts as a gap
  else if (proc.name.startsWith("watch")) await waitQuiet(proc);
  else await gitwatchQuiet(proc);
  const final = readRef(fx.bare);
  const shas = gitLines(genv, ["--git-dir", fx.bare, "rev-list", `${from}..${final}`]);
  let invalid = 0;
  for (const c of shas) {
    const r = run("git", ["--git-dir", fx.bare, "show", `${c}:${nb}`], { env: genv, allowFail: true });
    try {
      if (r.code !== 0) throw new Error("missing");
      JSON.parse(r.stdout);
    } catch {
      invalid++;
    }
  }
  let prev = tStart;
  let maxGap = 0;
  for (const s of seen) {
    maxGap = Math.max(maxGap, s.t - prev);
    prev = s.t;
  }
  return {
    stuck,
    savesDuring: seen.filter((s) => s.sha && s.t <= tStop).length,
    maxGap,
    invalid,
    checked: shas.length,
    rewrites: seq.n,
  };
}

/** Sample CPU, RSS and context switches of each subject (a list of pids) over `ms`. */
async function idleWindow(subjects, ms) {
  const sample = (pids) => {
    let ticks = 0;
    let vol = 0;
    let main = 0;
    for (const pid of pids) {
      const t = cpuTicks(pid);
      ticks += t.self + t.children;
      const c = ctxtSwitches(pid);
      vol += c.voluntary;
      main += c.mainVoluntary;
    }
    return { ticks, vol, main };
  };
  const start = Object.fromEntries(subjects.map(([key, pids]) => [key, sample(pids)]));
  const rss = Object.fromEntries(subjects.map(([key]) => [key, 0]));
  const t0 = now();
  while (now() - t0 < ms) {
    for (const [key, pids] of subjects)
      rss[key] = Math.max(
        rss[key],
        pids.reduce((n, p) => n + rssMb(p), 0),
      );
    await sleep(Math.min(1000, Math.max(0, ms - (now() - t0))));
  }
  const secs = (now() - t0) / 1000;
  const out = {};
  for (const [key, pids] of subjects) {
    const end = sample(pids);
    out[key] = {
      rss: rss[key],
      cpu: ((end.ticks - start[key].ticks) / CLK_TCK / secs) * 100,
      wakeups: ((end.vol - start[key].vol) / secs) * 60,
      mainWakeups: ((end.main - start[key].main) / secs) * 60,
    };
  }
  return out;
}

/** strace -c -f attached to `pid` for `secs`: the syscalls an idle watch makes. */
async function straceWindow(pid, secs) {
  const file = path.join(tmp, `strace-idle-${pid}.txt`);
  const s = new Proc("strace", "strace", ["-c", "-f", "-o", file, "-p", String(pid)]);
  await sleep(secs * 1000);
  await s.stop({ signal: "SIGINT", timeout: 10_000 });
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const calls = {};
  for (const line of text.split("\n")) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
    if (m && m[2] !== "total") calls[m[2]] = Number(m[1]);
  }
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  return { seconds: secs, perMinute: Math.round((total / secs) * 60), calls, raw: text.trim() };
}

/**
 * The git processes one save runs: strace -f -e execve attached to the watch during one
 * write, next to raw git's `add && commit && push` under the same strace.
 */
async function gitProcessesPerSave(fx, w, raw, paths) {
  if (!which("strace")) return { skipped: "strace not installed" };
  const file = path.join(tmp, "strace-save.txt");
  const s = new Proc("strace", "strace", ["-f", "-qq", "-e", "trace=execve", "-o", file, "-p", String(w.pid)]);
  await sleep(500);
  const rel = paths[1];
  const from = readRef(fx.bare);
  writeFileSync(path.join(fx.work, rel), smallContent(rel, ` strace ${Date.now()}`));
  await waitRef(fx.bare, { from, timeout: cfg.debounceMs + 120_000 });
  await waitQuiet(w);
  await s.stop({ signal: "SIGINT", timeout: 10_000 });
  const ms = execSummary(readFileSync(file, "utf8"));
  const rawFile = path.join(tmp, "strace-raw.txt");
  writeFileSync(path.join(raw.work, rel), smallContent(rel, ` strace ${Date.now()}`));
  run(
    "strace",
    [
      "-f",
      "-qq",
      "-e",
      "trace=execve",
      "-o",
      rawFile,
      "sh",
      "-c",
      `git add -- "$1" && git commit -q -m s && git push -q origin HEAD:main`,
      "sh",
      rel,
    ],
    { cwd: raw.work, env: genv },
  );
  return { mirrorshade: ms, raw: execSummary(readFileSync(rawFile, "utf8")) };
}

/** execve lines of an strace -f log: git commands the subject ran, and every program started. */
function execSummary(text) {
  const top = [];
  let all = 0;
  for (const line of text.split("\n")) {
    const m = /execve\("([^"]+)", \[(.*)\], .*\) = 0$/.exec(line);
    if (!m) continue;
    all++;
    const args = [...m[2].matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]);
    if (path.basename(m[1]) === "git" && args[0] === "git") top.push(args.slice(1, 3).join(" "));
  }
  return { gitCommands: top.length, processes: all, commands: top };
}

// ---------------------------------------------------------------------------------------
// S3 test server (s3rver, as test/helpers/s3.ts starts it)

async function startS3rver() {
  const dir = path.join(tmp, "s3rver");
  mkdirSync(dir, { recursive: true });
  const child = `
const S3rver = require(process.argv[1]);
const s = new S3rver({ address: "127.0.0.1", port: 0, silent: true, directory: process.argv[2],
  configureBuckets: [{ name: "bench" }] });
s.run().then((a) => process.stdout.write(JSON.stringify(a) + "\\n"), (e) => { console.error(e); process.exit(1); });`;
  const p = new Proc("s3rver", NODE, ["-e", child, path.join(ROOT, "node_modules", "s3rver"), dir], {
    env: cleanEnv({ NODE_OPTIONS: "--openssl-legacy-provider" }),
  });
  const line = await p.waitLine((l) => l.stream === "out" && l.text.startsWith("{"), { timeout: 30_000 });
  const { port } = JSON.parse(line.text);
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => p.stop({ group: true, timeout: 5000 }) };
}

function msS3Env(endpoint) {
  return cleanEnv({
    AWS_ACCESS_KEY_ID: "S3RVER",
    AWS_SECRET_ACCESS_KEY: "S3RVER",
    AWS_REGION: "us-east-1",
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_CONFIG_FILE: "/nonexistent",
    AWS_SHARED_CREDENTIALS_FILE: "/nonexistent",
    AWS_PROFILE: undefined,
    MIRRORSHADE_S3_ENDPOINT: endpoint,
  });
}

/** `count` files of 1–10 KB. */
function makeS3Tree(dir, count) {
  const rels = treePaths(count);
  writeSlice(dir, rels);
  rels.forEach((rel, i) => {
    const size = 1024 + ((i * 7919) % 9216);
    const line = smallContent(rel);
    writeFileSync(path.join(dir, rel), line.repeat(Math.ceil(size / line.length)).slice(0, size));
  });
  return rels;
}

// ---------------------------------------------------------------------------------------
// Report

function report(startedAt) {
  const head = run("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, allowFail: true }).stdout.trim();
  const dirty = run("git", ["status", "--porcelain", "--", "src", "backends"], {
    cwd: ROOT,
    allowFail: true,
  }).stdout.trim();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  const meta = {
    date: new Date().toISOString(),
    command,
    durationS: Math.round((now() - startedAt) / 1000),
    commit: head ? `${head}${dirty ? " + uncommitted changes in src/ or backends/" : ""}` : undefined,
    load: `load average ${startLoad.map((x) => x.toFixed(1)).join(" ")} at the start, ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(" ")} at the end`,
    machine: `${os.cpus().length} × ${os.cpus()[0]?.model?.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GB, ${os.type()} ${os.release()}`,
    node: run(NODE, ["--version"]).stdout.trim(),
    git: run("git", ["--version"]).stdout.trim(),
    rclone: which("rclone")
      ? lastLine(
          run("rclone", ["version"], { allowFail: true, env: cleanEnv({ AWS_CA_BUNDLE: undefined }) }).stdout.split(
            "\n",
          )[0],
        )
      : undefined,
    config: cfg,
  };
  const table = mdTable(
    ["scenario", "metric", "mirrorshade", "reference", "ratio", "target", "met"],
    rows.map((r) => [
      r.scenario,
      r.metric,
      fmtStats(r.value, r.unit),
      r.ref ? `${r.ref.name}: ${fmtStats(r.ref.stats, r.ref.unit ?? r.unit)}` : "—",
      typeof r.ratio === "number" ? `×${r.ratio.toFixed(2)}` : "—",
      r.target ?? "—",
      r.met === true ? "yes" : r.met === false ? "**no**" : "—",
    ]),
  );
  const lines = [
    `# mirrorshade benchmark (${cfg.smoke ? "smoke" : "full"} run)`,
    "",
    `\`${command}\` — ${meta.date}, ${meta.durationS} s. Commit ${meta.commit ?? "?"}.`,
    `Machine: ${meta.machine}; ${meta.load}. ${meta.node}, ${meta.git}${meta.rclone ? `, ${meta.rclone}` : ""}.`,
    `Medians of ${cfg.runs} run(s), (min–max); every reference measured in the same run; ratio = median / reference median.`,
    `Debounce ${DEBOUNCE} for mirrorshade and the gitwatch loop; the notebook scenario uses --max-delay ${cfg.maxDelayMs / 1000} s.`,
    "",
    table,
    "",
  ];
  const notes = rows.filter((r) => r.note).map((r) => `- ${r.scenario} — ${r.metric}: ${r.note}`);
  if (notes.length) lines.push("Notes:", "", ...notes, "");
  if (skipped.length) lines.push("Skipped:", "", ...skipped.map((s) => `- ${s.what}: ${s.why}`), "");
  if (errors.length)
    lines.push(
      "Failed to measure:",
      "",
      ...errors.map((e) => `- ${e.scenario}: ${e.error.split("\n")[0]} (stack in the .json)`),
      "",
    );
  const g = diagnostics.gitPerSave;
  if (g?.mirrorshade) {
    lines.push(
      "Processes per save (strace -f -e execve, one write in the small tree):",
      "",
      `- mirrorshade: ${g.mirrorshade.gitCommands} git commands, ${g.mirrorshade.processes} processes in all: ${g.mirrorshade.commands.join("; ")}`,
      `- raw git: ${g.raw.gitCommands} git commands, ${g.raw.processes} processes in all: ${g.raw.commands.join("; ")}`,
      "",
    );
  }
  const st = diagnostics.idleStrace;
  if (st?.calls) {
    const top = Object.entries(st.calls)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 8)
      .map(([n, c]) => `${n} ${c}`)
      .join(", ");
    lines.push(`Idle syscalls (strace -c -f, ${st.seconds} s): ${st.perMinute}/min; ${top || "none"}.`, "");
  }
  mkdirSync(cfg.out, { recursive: true });
  const md = path.join(cfg.out, `${cfg.name}.md`);
  writeFileSync(md, lines.join("\n"));
  writeFileSync(
    path.join(cfg.out, `${cfg.name}.json`),
    JSON.stringify({ meta, rows, skipped, errors, diagnostics }, null, 2) + "\n",
  );
  return md;
}

// ---------------------------------------------------------------------------------------

const startLoad = os.loadavg();

async function main() {
  const startedAt = now();
  if (!existsSync(BUNDLE)) throw new Error(`${path.relative(ROOT, BUNDLE)} is missing: run npm run build`);
  log(`temp dir ${tmp}; scenarios: ${cfg.scenarios.join(", ")}; ${cfg.runs} run(s)`);
  if (!hasInotify)
    skip(
      "gitwatch",
      "gitwatch-loop and inotifywait references",
      "inotifywait not installed (apt-get install inotify-tools)",
    );
  for (const name of cfg.scenarios) {
    const t0 = now();
    log(`${name}…`);
    try {
      await scenarios[name]();
    } catch (err) {
      errors.push({ scenario: name, error: String(err?.stack ?? err) });
      log(`  ${name} FAILED: ${err?.stack ?? err}`);
      await stopAll();
    }
    log(`  ${name} took ${((now() - t0) / 1000).toFixed(1)} s`);
  }
  const md = report(startedAt);
  log(`wrote ${path.relative(process.cwd(), md)} and .json in ${((now() - startedAt) / 1000).toFixed(0)} s`);
  process.stdout.write(readFileSync(md, "utf8"));
  return errors.length ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  log(`harness error: ${err?.stack ?? err}`);
} finally {
  await cleanup();
}
process.exit(code);
