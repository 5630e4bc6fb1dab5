/**
 * One save, with the behaviour every backend shares: the path filter (size cap,
 * half-written notebooks, --strip-outputs), the mass-deletion guard, dry-run, timing and logging.
 */
import { hostname } from "node:os";
import type { Backend, ChangeSet, PathFilter, PlanEntry, SaveMeta, SavePlan, SaveReport } from "../../backends/types";
import type { Settings } from "../config";
import { log } from "../log";
import { stripOutputs } from "../notebook/strip";
import { beginProfile, now, step } from "../profile";
import { withWorkDir } from "../safefs";
import { formatSize } from "../units";

export interface SaveOutcome {
  plan: SavePlan;
  report?: SaveReport;
  ms: number;
}

export interface SaveOptions {
  /** Save half-written notebooks anyway (shutdown, one-shot push, or stuck too long). */
  forceInvalid?: boolean | ((rel: string) => boolean);
  dryRun?: boolean;
}

/** Deleting more than this share of the saved files (and at least MIN files) needs --allow-mass-delete. */
const MASS_DELETE_SHARE = 0.5;
const MASS_DELETE_MIN = 10;

export async function saveOnce(
  backend: Backend,
  changes: ChangeSet | "all",
  settings: Settings,
  opts: SaveOptions = {},
): Promise<SaveOutcome> {
  const started = now();
  const profile = beginProfile();
  try {
    return await saveProfiled(backend, changes, settings, opts, started);
  } finally {
    const spans = profile.end();
    log.debug("save profile", { ms: Math.round(now() - started), spans });
  }
}

async function saveProfiled(
  backend: Backend,
  changes: ChangeSet | "all",
  settings: Settings,
  opts: SaveOptions,
  started: number,
): Promise<SaveOutcome> {
  const plan = await step("plan", () => backend.plan(changes, makeFilter(settings, opts)));
  applyDeletionGuard(plan, settings);
  if (opts.dryRun || (plan.entries.length === 0 && plan.unacknowledged === 0)) {
    warnSkipped(plan);
    return { plan, ms: now() - started };
  }
  const report = await step("save", () => backend.save(plan, buildMeta(settings, plan.entries)));
  warnSkipped(plan);
  const ms = now() - started;
  reportConflicts(report);
  if (report.incoming.length)
    log.info(`took ${report.incoming.length} change(s) from the remote`, { paths: report.incoming.slice(0, 20) });
  log.info(`saved ${report.saved.length} change(s)`, { id: report.id, ms: Math.round(ms) });
  return { plan, report, ms };
}

/** One line naming what happened: ours stays in place, theirs is beside it as a conflict copy. */
export function conflictLine(conflicts: SaveReport["conflicts"]): string {
  const n = conflicts.length;
  const copies = conflicts.flatMap((c) => (c.copy ? [c.copy] : []));
  const what = n === 1 ? conflicts[0]!.path : `${n} paths`;
  const theirs =
    n === 1 && copies.length === 1
      ? `theirs is beside it as ${copies[0]}`
      : copies.length === n
        ? "theirs is beside each as a .conflict- copy"
        : copies.length
          ? `theirs is beside ${copies.length} of them as a .conflict- copy, the rest were deleted there`
          : "theirs was a deletion";
  return `conflict: ${what} changed here and at the remote; ours kept, ${theirs}`;
}

/** Conflicts are logged loudly, wherever they were met (a save, a restore, a resume, a pull). */
export function reportConflicts(r: { conflicts: SaveReport["conflicts"]; conflictRef?: string }): void {
  if (!r.conflicts.length) return;
  log.error(conflictLine(r.conflicts), {
    paths: r.conflicts.map((c) => c.path),
    conflictRef: r.conflictRef,
    conflicts: r.conflicts,
  });
}

/** Each skipped file is warned about once per process (and again when its reason changes). */
const warned = new Set<string>();
function warnSkipped(plan: SavePlan): void {
  for (const s of plan.skipped) {
    const key = `${s.path}\0${s.reason}`;
    if (warned.has(key)) continue;
    warned.add(key);
    log.warn(`not saving ${s.path}: ${s.reason}`);
  }
}

export function makeFilter(settings: Settings, opts: SaveOptions): PathFilter {
  return async (entry: PlanEntry) => {
    if (entry.op === "delete") return "save";
    if (entry.size !== undefined && entry.size > settings.maxFileSize) {
      return { skip: `${formatSize(entry.size)} is over --max-file-size ${formatSize(settings.maxFileSize)}` };
    }
    if (entry.path.endsWith(".ipynb")) {
      const force = typeof opts.forceInvalid === "function" ? opts.forceInvalid(entry.path) : opts.forceInvalid;
      const bytes = await completeJson(settings.dir, entry.path, settings.maxFileSize);
      if (bytes !== undefined && typeof bytes === "object" && "skip" in bytes) return bytes;
      if (bytes === "invalid") {
        if (!force) return { defer: "notebook is not valid JSON yet (half-written?)" };
        // Its outputs cannot be taken out of a file that does not parse: never sent as it is.
        if (settings.stripOutputs) return { skip: NOT_STRIPPABLE };
        log.warn(`saving ${entry.path} although it is not valid JSON (it stayed that way)`);
      } else if (bytes) {
        const saved = settings.stripOutputs ? withoutOutputs(bytes) : bytes;
        if (!saved) return force ? { skip: NOT_STRIPPABLE } : { defer: NOT_STRIPPABLE };
        entry.content = saved;
        entry.size = saved.length;
      }
    }
    return "save";
  };
}

const NOT_STRIPPABLE = "--strip-outputs: not an nbformat 4 notebook, so its outputs cannot be left out";

/**
 * --strip-outputs: the bytes the remote gets (src/notebook/strip.ts), made here once for every
 * backend, which save PlanEntry.content as they are. Undefined when the notebook cannot be
 * stripped (not nbformat 4): it is not saved rather than saved with its outputs.
 */
function withoutOutputs(bytes: Buffer): Buffer | undefined {
  const text = bytes.toString("utf8");
  const stripped = stripOutputs(text);
  if (stripped === undefined) return undefined;
  return stripped === text ? bytes : Buffer.from(stripped);
}

/**
 * The notebook's bytes when they parse as JSON; "invalid" when not (yet); a skip when it is
 * not a file to read (a FIFO, a device, unreadable); undefined when it vanished or is a
 * symlink (saved as a link by a backend that can, never read through).
 */
async function completeJson(
  root: string,
  rel: string,
  maxBytes: number,
): Promise<Buffer | "invalid" | { skip: string } | undefined> {
  let r;
  try {
    r = await withWorkDir(root, (wd) => wd.read(rel, { maxBytes }));
  } catch {
    return undefined; // the work dir itself is gone: nothing to check
  }
  if (r.kind === "skip") return { skip: r.reason };
  if (r.kind !== "file") return undefined;
  const text = r.bytes.toString("utf8");
  if (text.trim() === "") return "invalid";
  try {
    JSON.parse(text);
    return r.bytes;
  } catch {
    return "invalid";
  }
}

function applyDeletionGuard(plan: SavePlan, settings: Settings): void {
  const deletes = plan.entries.filter((e) => e.op === "delete");
  if (settings.allowMassDelete || deletes.length < MASS_DELETE_MIN || deletes.length <= plan.total * MASS_DELETE_SHARE)
    return;
  log.error(
    `refusing to save the deletion of ${deletes.length} of ${plan.total} saved files: was the work dir emptied or unmounted?`,
    { hint: "if it is intended, run with --allow-mass-delete (MIRRORSHADE_ALLOW_MASS_DELETE=true)" },
  );
  plan.entries = plan.entries.filter((e) => e.op !== "delete");
  for (const d of deletes) plan.deferred.push({ path: d.path, reason: "mass deletion" });
}

export function buildMeta(settings: Settings, entries: PlanEntry[]): SaveMeta {
  const host = hostname();
  const date = new Date();
  const list = entries.map((e) => e.path);
  const shown = list.slice(0, 3).join(", ") + (list.length > 3 ? ` and ${list.length - 3} more` : "");
  const vars: Record<string, string> = {
    count: String(list.length),
    files: shown || "nothing new",
    list: list.map((p) => `- ${p}`).join("\n"),
    added: String(entries.filter((e) => e.op === "add").length),
    modified: String(entries.filter((e) => e.op === "modify").length),
    deleted: String(entries.filter((e) => e.op === "delete").length),
    host,
    date: date.toISOString(),
    branch: settings.branch ?? "",
  };
  const fill = (t: string) => t.replace(/\{(\w+)\}/g, (m, k: string) => vars[k] ?? m);
  return {
    message: fill(settings.message),
    author: settings.author,
    trailers: settings.trailer.map(fill),
    host,
    date,
  };
}

/** A one-line summary of planned or saved entries. */
export function describeEntries(entries: readonly { op: string }[]): string {
  const n = (op: string) => entries.filter((e) => e.op === op).length;
  return `${n("add")} added, ${n("modify")} modified, ${n("delete")} deleted`;
}
