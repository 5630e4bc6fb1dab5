// The benchmark harness: `npm run bench` (full) or `npm run bench -- --smoke` (tiny sizes,
// for CI). Builds its workloads in a temp dir, runs each scenario of bench/scenarios/ next
// to its reference measured in the same run (raw git, a gitwatch-style loop, inotifywait,
// `node -e 0`, rclone), and writes bench/results/<name>.md and .json (bench/report.mjs).
// Exits non-zero only when the harness could not measure (a scenario threw), never for a
// missed target. Options: node bench/run.mjs --help (bench/config.mjs).
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { helpText, parseConfig } from "./config.mjs";
import { gitEnv } from "./lib/git.mjs";
import { BUNDLE, ROOT, now, stopAll } from "./lib/proc.mjs";
import { k } from "./lib/stats.mjs";
import { hasInotify } from "./references.mjs";
import { finishRow, rowLine, writeReport } from "./report.mjs";
import { SCENARIOS } from "./scenarios/index.mjs";

const argv = process.argv.slice(2);
if (argv.includes("--help") || argv.includes("-h")) {
  console.log(helpText(SCENARIOS));
  process.exit(0);
}
const cfg = parseConfig(
  argv,
  process.env,
  SCENARIOS.map((s) => s.name),
);
const log = (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

// What the run collects; the report is written from it.
const results = { cfg, rows: [], skipped: [], errors: [], diagnostics: {}, startLoad: os.loadavg() };
const tmp = mkdtempSync(path.join(process.env.BENCH_TMPDIR ?? os.tmpdir(), "mirrorshade-bench-"));

/** What a scenario's run(ctx) is given. */
const ctx = {
  cfg,
  tmp,
  genv: gitEnv(tmp),
  log,
  /** Sizes as the rows name them ("10k"), and the debounce ("2 s"). */
  label: { small: k(cfg.small), large: k(cfg.large), debounce: `${cfg.debounceMs / 1000} s` },
  /** Findings the report prints after the table (processes per save, idle syscalls). */
  diagnostics: results.diagnostics,
  /** Saved trees shared by the scenarios that only read them (subject.mjs#fixture). */
  fixtures: new Map(),
  /** Figures one scenario measures for another's notes: nodeStart (cli), nodeFloor (references.mjs). */
  shared: {},
  skip(id, what, why) {
    results.skipped.push({ id, what, why });
    log(`  skipped ${what}: ${why}`);
  },
};

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

/** Run one scenario: its rows are recorded as it yields them, so a failure keeps what was measured. */
async function runScenario(scenario) {
  const t0 = now();
  log(`${scenario.name}…`);
  try {
    for await (const row of scenario.run(ctx)) {
      const full = finishRow(row);
      results.rows.push(full);
      log(rowLine(full));
    }
  } catch (err) {
    results.errors.push({ scenario: scenario.name, error: String(err?.stack ?? err) });
    log(`  ${scenario.name} FAILED: ${err?.stack ?? err}`);
    await stopAll();
  }
  log(`  ${scenario.name} took ${((now() - t0) / 1000).toFixed(1)} s`);
}

async function main() {
  const startedAt = now();
  if (!existsSync(BUNDLE)) throw new Error(`${path.relative(ROOT, BUNDLE)} is missing: run npm run build`);
  log(`temp dir ${tmp}; scenarios: ${cfg.scenarios.join(", ")}; ${cfg.runs} run(s)`);
  if (!hasInotify)
    ctx.skip(
      "gitwatch",
      "gitwatch-loop and inotifywait references",
      "inotifywait not installed (apt-get install inotify-tools)",
    );
  for (const scenario of SCENARIOS) if (cfg.scenarios.includes(scenario.name)) await runScenario(scenario);
  const md = writeReport({ ...results, startedAt });
  log(`wrote ${path.relative(process.cwd(), md)} and .json in ${((now() - startedAt) / 1000).toFixed(0)} s`);
  process.stdout.write(readFileSync(md, "utf8"));
  return results.errors.length ? 1 : 0;
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
