// mirrorshade, the subject: its CLI on the project's Node, a work dir it has saved to a new
// bare remote, and a running `watch` (started, waited for, stopped).
import path from "node:path";
import { initBare } from "./lib/git.mjs";
import { BUNDLE, NODE, Proc, cleanEnv, run, sleep } from "./lib/proc.mjs";
import { waitQuiet } from "./lib/procfs.mjs";
import { newWork } from "./workloads.mjs";

export const cli = (args) => [BUNDLE, ...args];
export const msEnv = (state, extra = {}) => cleanEnv({ MIRRORSHADE_STATE_DIR: state, ...extra });

/** `mirrorshade push <work> --remote <remote>`, JSON logs (with json, its --json summary on stdout). */
export function msPush(work, remote, env, { json = false, allowFail = false } = {}) {
  const args = ["push", work, "--remote", remote, ...(json ? ["--json"] : []), "--log-format", "json"];
  return run(NODE, cli(args), { env, allowFail });
}

/** A work dir with `count` small files (or a lone README), saved by `mirrorshade push` to a new bare remote. */
export function msFixture(ctx, name, count, opts) {
  const base = path.join(ctx.tmp, name);
  const fx = { name, ...newWork(base, count, opts), state: path.join(base, "state") };
  initBare(ctx.genv, fx.bare);
  fx.initialMs = msPush(fx.work, fx.bare, msEnv(fx.state)).ms;
  return fx;
}

/** The saved tree of `count` files, built once per run and shared by the scenarios that only read it. */
export function fixture(ctx, label, count) {
  if (!ctx.fixtures.has(label)) {
    ctx.log(`  building the ${label}-file tree and saving it with mirrorshade push`);
    ctx.fixtures.set(label, msFixture(ctx, `tree-${label}`, count));
  }
  return ctx.fixtures.get(label);
}

/** A `watch` of `fx` with the run's debounce (or `debounceMs`) and `extra` arguments. */
export function startWatch(ctx, fx, extra = [], { debounceMs = ctx.cfg.debounceMs } = {}) {
  const args = ["watch", fx.work, "--remote", fx.bare, "--no-restore", "--log-format", "json"];
  return new Proc(`watch:${fx.name}`, NODE, cli([...args, "--debounce", `${debounceMs}ms`, ...extra]), {
    env: msEnv(fx.state),
  });
}

/** Start a watch and wait until it watches and its first whole-tree check is done. */
export async function startWatchQuiet(ctx, fx, extra = [], opts = {}) {
  const w = startWatch(ctx, fx, extra, opts);
  const line = await w.waitLog(/^watching /, { timeout: 120_000 });
  await sleep((opts.debounceMs ?? ctx.cfg.debounceMs) + 300);
  await waitQuiet(w);
  return { w, readyMs: line.t - w.startedAt };
}

export async function stopWatch(ctx, w) {
  const { code, signal } = await w.stop({ signal: "SIGTERM", timeout: 30_000 });
  if (code !== 0) ctx.log(`  note: ${w.name} exited ${code ?? signal}\n${w.tail(5)}`);
}
