// The report of a run: each row completed (its ratio) and logged as it is measured, then
// bench/results/<name>.md (the table, notes, skips, failures, diagnostics) and <name>.json
// (the same with every sample and the run's config).
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { NODE, ROOT, cleanEnv, lastLine, now, run, which } from "./lib/proc.mjs";
import { fmtStats } from "./lib/stats.mjs";

/**
 * A row as a scenario yields it: `value` and `ref.stats` are stats; `met` true, false or
 * absent (informative). Completed with `ratio` = median / reference median unless it sets one.
 */
export function finishRow(r) {
  const ratio =
    "ratio" in r ? r.ratio : r.value && r.ref?.stats?.median ? r.value.median / r.ref.stats.median : undefined;
  return { met: null, ...r, ratio };
}

/** The log line of a finished row. */
export function rowLine(r) {
  const v = fmtStats(r.value, r.unit);
  const ref = r.ref ? ` vs ${r.ref.name} ${fmtStats(r.ref.stats, r.ref.unit ?? r.unit)}` : "";
  const ratio = typeof r.ratio === "number" ? ` (×${r.ratio.toFixed(2)})` : "";
  const verdict = r.met === true ? "met" : r.met === false ? "MISSED" : "";
  return `  ${r.scenario} — ${r.metric}: ${v}${ref}${ratio} ${verdict}`;
}

/** A markdown table with padded columns (the form prettier leaves untouched). */
export function mdTable(header, rows) {
  const esc = (c) => String(c).replace(/\|/g, "\\|");
  const all = [header, ...rows].map((r) => r.map(esc));
  const width = header.map((_, i) => Math.max(3, ...all.map((r) => [...r[i]].length)));
  const line = (r) => `| ${r.map((c, i) => c + " ".repeat(width[i] - [...c].length)).join(" | ")} |`;
  return [line(all[0]), `| ${width.map((w) => "-".repeat(w)).join(" | ")} |`, ...all.slice(1).map(line)].join("\n");
}

/** Where and on what the run was made: date, command, commit, load, machine, tool versions, config. */
function describeRun({ cfg, startedAt, startLoad }) {
  const head = run("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, allowFail: true }).stdout.trim();
  const dirty = run("git", ["status", "--porcelain", "--", "src", "backends"], {
    cwd: ROOT,
    allowFail: true,
  }).stdout.trim();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  const loads = (l) => l.map((x) => x.toFixed(1)).join(" ");
  return {
    date: new Date().toISOString(),
    command,
    durationS: Math.round((now() - startedAt) / 1000),
    commit: head ? `${head}${dirty ? " + uncommitted changes in src/ or backends/" : ""}` : undefined,
    load: `load average ${loads(startLoad)} at the start, ${loads(os.loadavg())} at the end`,
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
}

/** The diagnostics some scenarios leave (processes per save, idle syscalls), as report lines. */
function diagnosticLines(diagnostics) {
  const lines = [];
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
  const sp = diagnostics.saveProfile;
  if (sp?.rows?.length) {
    lines.push(
      `Where a one-file save's time goes (${sp.debounceMs} ms debounce, a watch logging at debug level; medians of ${sp.runs}):`,
      "",
      mdTable(
        ["step", "median (min–max)"],
        sp.rows.map((r) => [r.what, fmtStats(r.stats, r.what.startsWith("git processes started") ? "" : "ms")]),
      ),
      "",
    );
  }
  const mem = diagnostics.idleMemory;
  if (mem?.watch) {
    lines.push(
      "Where an idle watch's RSS is (/proc/<pid>/smaps after the first idle window):",
      "",
      mdTable(
        ["held by", "watch", "idle `node`"],
        Object.keys(mem.watch).map((k) => [k, `${mem.watch[k].toFixed(1)} MB`, `${mem.node[k].toFixed(1)} MB`]),
      ),
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
  return lines;
}

/**
 * Write `<cfg.out>/<cfg.name>.md` and `.json` for a run: its rows, skips, failures and
 * diagnostics. Returns the path of the .md.
 */
export function writeReport({ cfg, rows, skipped, errors, diagnostics, startedAt, startLoad }) {
  const meta = describeRun({ cfg, startedAt, startLoad });
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
    `\`${meta.command}\` — ${meta.date}, ${meta.durationS} s. Commit ${meta.commit ?? "?"}.`,
    `Machine: ${meta.machine}; ${meta.load}. ${meta.node}, ${meta.git}${meta.rclone ? `, ${meta.rclone}` : ""}.`,
    `Medians of ${cfg.runs} run(s), (min–max)${rows.some((r) => r.id?.startsWith("scale-")) ? " (scale: one window per fleet size, each row over its saves)" : ""}; every reference measured in the same run; ratio = median / reference median.`,
    `Debounce ${cfg.debounceMs / 1000} s for mirrorshade and the gitwatch loop (the write scenario also at ${cfg.shortDebounceMs} ms); the notebook scenario uses --max-delay ${cfg.maxDelayMs / 1000} s.`,
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
  lines.push(...diagnosticLines(diagnostics));
  mkdirSync(cfg.out, { recursive: true });
  const md = path.join(cfg.out, `${cfg.name}.md`);
  writeFileSync(md, lines.join("\n"));
  writeFileSync(
    path.join(cfg.out, `${cfg.name}.json`),
    JSON.stringify({ meta, rows, skipped, errors, diagnostics }, null, 2) + "\n",
  );
  return md;
}
