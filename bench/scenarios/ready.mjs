import { Proc, sleep } from "../lib/proc.mjs";
import { rssMb } from "../lib/procfs.mjs";
import { fmtStats, stats } from "../lib/stats.mjs";
import { hasInotify, nodeFloorRss } from "../references.mjs";
import { fixture, startWatchQuiet, stopWatch } from "../subject.mjs";

export default {
  name: "ready",
  measures: "watcher ready on the small and large trees, and RSS while watching the large one",
  reference: "`inotifywait -mr` on the same tree; an idle `node` for RSS",
  target: "≤ 500 ms (small), ≤ 2000 ms and ≤ 120 MB (large)",

  async *run(ctx) {
    const { cfg } = ctx;
    for (const [label, count, limit, rssLimit] of [
      [ctx.label.small, cfg.small, 500, undefined],
      [ctx.label.large, cfg.large, 2000, 120],
    ]) {
      const fx = fixture(ctx, label, count);
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
        const { w, readyMs } = await startWatchQuiet(ctx, fx);
        ready.push(readyMs);
        let peak = 0;
        for (let j = 0; j < 5; j++, await sleep(200)) peak = Math.max(peak, rssMb(w.pid));
        rss.push(peak);
        hwm.push(rssMb(w.pid, true));
        await stopWatch(ctx, w);
      }
      const v = stats(ready);
      const { nodeStart } = ctx.shared;
      yield {
        id: `ready-${label}`,
        scenario: `watcher ready, ${label} files`,
        metric: "spawn of `watch --no-restore` → its `watching` log line",
        unit: "ms",
        value: v,
        ref: hasInotify ? { name: "`inotifywait -mr` → `Watches established.`", stats: stats(iw) } : undefined,
        target: `≤ ${limit} ms`,
        met: v.median <= limit,
        note: nodeStart ? `includes Node's own start (\`node -e 0\`: ${fmtStats(nodeStart, "ms")})` : undefined,
      };
      if (rssLimit) {
        const r = stats(rss);
        yield {
          id: `rss-${label}`,
          scenario: `RSS while watching ${label} files`,
          metric: "VmRSS after the first whole-tree check (peak incl. start-up in the note)",
          unit: "MB",
          value: r,
          ref: { name: "idle `node` process", stats: await nodeFloorRss(ctx) },
          target: `≤ ${rssLimit} MB`,
          met: r.median <= rssLimit,
          note: `VmHWM ${fmtStats(stats(hwm), "MB")}`,
        };
      }
    }
  },
};
