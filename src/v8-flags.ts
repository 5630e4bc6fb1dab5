/**
 * V8 settings for `watch`, made before the CLI's modules run. A watch idles next to a
 * notebook for most of its life, one per pod, and its saves spend their time in git, not
 * in JavaScript: its memory counts more than JavaScript's peak speed. Measured idle on a
 * 10k-file tree (docs/performance.md): once they have run, the optimizing compilers keep
 * ~8 MB of Node's code resident, and the young generation grown during start-up ~4 MB.
 * Set at run time rather than on node's command line, so they apply however the CLI is
 * started (bin/mirrorshade, `node dist/mirrorshade.cjs`, the single binary): by the bundle's
 * launcher before it loads the CLI, and again (harmlessly) first thing in the CLI, which the
 * single binary starts directly. A flag the operator names in NODE_OPTIONS (or on node's
 * command line) is left as they set it.
 */

/** Flags V8 honours when set after start-up, each with the flags that mean the operator chose otherwise. */
const WATCH_FLAGS: { flag: string; unless: string[] }[] = [
  // Interpreter and baseline compiler only.
  { flag: "--no-turbofan", unless: ["turbofan", "opt", "jitless"] },
  { flag: "--no-maglev", unless: ["maglev", "jitless"] },
  // The young generation stays at its initial size (1 MB semi-spaces): more, smaller scavenges.
  { flag: "--semi-space-growth-factor=1", unless: ["semi-space-growth-factor", "max-semi-space-size"] },
];

/** The flags set for this command line (none but for `watch`); `set` applies them. */
export function tuneV8(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  execArgv: readonly string[],
  // node:v8 loaded only here: with the streams it pulls in, ~2 MB for every other command.
  set: (flags: string) => void = (f) => process.getBuiltinModule("node:v8").setFlagsFromString(f),
): string[] {
  if (argv.slice(2).find((a) => !a.startsWith("-")) !== "watch") return [];
  const given = new Set(
    [...(env.NODE_OPTIONS ?? "").split(/\s+/), ...execArgv].map((a) =>
      a
        .replace(/^--?(no-)?/, "")
        .replace(/=.*$/, "")
        .replace(/_/g, "-"),
    ),
  );
  const flags = WATCH_FLAGS.filter(({ unless }) => !unless.some((n) => given.has(n))).map((f) => f.flag);
  if (flags.length) set(flags.join(" "));
  return flags;
}

tuneV8(process.argv, process.env, process.execArgv);

/**
 * One full collection once a watch is idle after its start (the restore and the first
 * whole-tree check done), of the kind V8 makes under memory pressure: the garbage of the
 * start and the pages it held go back now. Left to V8, they stay until its memory reducer
 * gets to them, if it does (measured on a 10k-file tree: 60.3 MB for the first ~10 s, then
 * 57.9; with this, 57.6 MB from the first check on). V8 has no call for it but `gc()`, which
 * exists only in a context made after `--expose-gc` is set. True when it collected.
 */
export function collectStartupGarbage(): boolean {
  try {
    process.getBuiltinModule("node:v8").setFlagsFromString("--expose-gc");
    const gc = process.getBuiltinModule("node:vm").runInNewContext("gc") as ((opts: object) => void) | undefined;
    if (typeof gc !== "function") return false;
    gc({ type: "major", execution: "sync", flavor: "last-resort" });
    return true;
  } catch {
    return false; // a Node that refuses any of it: memory is V8's business, never a reason to stop
  }
}
