// The scenarios, in the order a run measures them. Each module's default export is
//   { name, measures, reference, target, async *run(ctx) }
// where `name` is what --only and --skip take, `measures`/`reference`/`target` say in a
// line what it measures, against what, and what it must reach (--help lists them), and
// `run(ctx)` yields its rows as it measures them (see bench/report.mjs#finishRow for a
// row's fields and bench/run.mjs for ctx). To add one: a module here, a line below, and
// its sizes, if any, in bench/config.mjs.
import burst from "./burst.mjs";
import cli from "./cli.mjs";
import history from "./history.mjs";
import idle from "./idle.mjs";
import notebook from "./notebook.mjs";
import push from "./push.mjs";
import ready from "./ready.mjs";
import s3 from "./s3.mjs";
import scale from "./scale.mjs";
import write from "./write.mjs";

export const SCENARIOS = [cli, ready, push, write, burst, notebook, idle, s3, history, scale];

const seen = new Set();
for (const s of SCENARIOS) {
  if (!s.name || !s.measures || !s.reference || !s.target || typeof s.run !== "function")
    throw new Error(`bench/scenarios: ${s.name ?? "a scenario"} lacks name, measures, reference, target or run`);
  if (seen.has(s.name)) throw new Error(`bench/scenarios: two scenarios named ${s.name}`);
  seen.add(s.name);
}
