import { existsSync, statSync } from "node:fs";
import { BINARY, BUNDLE, NODE, cleanEnv, run } from "../lib/proc.mjs";
import { stats } from "../lib/stats.mjs";

const TARGET = "≤ 2 × `node -e 0`";

export default {
  name: "cli",
  measures: "CLI start: `--version` of the bundle and of the single binary",
  reference: "`node -e 0` on the same Node",
  target: TARGET,

  async *run(ctx) {
    const t = { bundle: [], binary: [], node: [] };
    const haveBinary = existsSync(BINARY);
    const cmds = {
      bundle: [NODE, [BUNDLE, "--version"]],
      binary: [BINARY, ["--version"]],
      node: [NODE, ["-e", "0"]],
    };
    const kinds = haveBinary ? ["node", "bundle", "binary"] : ["node", "bundle"];
    for (let i = 0; i <= ctx.cfg.cliRuns; i++) {
      for (const kind of i % 2 ? [...kinds].reverse() : kinds) {
        const [cmd, args] = cmds[kind];
        const r = run(cmd, args, { env: cleanEnv() });
        if (i > 0) t[kind].push(r.ms); // the first round warms the page cache
      }
    }
    const ref = { name: "`node -e 0`", stats: stats(t.node) };
    ctx.shared.nodeStart = ref.stats;
    const judge = (s) => s.median <= 2 * ref.stats.median;
    const v = stats(t.bundle);
    yield {
      id: "cli-bundle",
      scenario: "CLI start",
      metric: "`--version`, bundle (dist/mirrorshade.cjs on the project's Node)",
      unit: "ms",
      value: v,
      ref,
      target: TARGET,
      met: judge(v),
    };
    if (!haveBinary) {
      ctx.skip("cli-binary", "CLI start, single binary", "dist/mirrorshade not built (npm run build:binary)");
      return;
    }
    const b = stats(t.binary);
    const stale = statSync(BINARY).mtimeMs < statSync(BUNDLE).mtimeMs;
    yield {
      id: "cli-binary",
      scenario: "CLI start",
      metric: "`--version`, single binary (dist/mirrorshade)",
      unit: "ms",
      value: b,
      ref,
      target: TARGET,
      met: judge(b),
      note: stale
        ? "dist/mirrorshade is older than dist/mirrorshade.cjs: it may predate the latest changes"
        : undefined,
    };
  },
};
