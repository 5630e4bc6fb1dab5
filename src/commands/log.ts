import type { SaveRecord } from "../../backends/types";
import { log as logger, out, setResult } from "../log";
import { retry } from "../retry";
import { parseWhen } from "../time";
import { logSaves, type LogRequest } from "../engine/history";
import { askWatch, ensureRemote, loadSettings, openSession, workPaths, type Flags } from "./common";

/**
 * The saves, newest first: time, id, who, message and the files each changed; `--since`,
 * `--limit` and paths after `--` narrow it. Reads only. When a watch runs on the dir, it is
 * asked (its state is never touched from here).
 */
export async function log(dirArg: string | undefined, flags: Flags): Promise<void> {
  const settings = await loadSettings("log", dirArg, flags);
  const since = settings.since === undefined ? undefined : parseWhen(settings.since, new Date(), { ids: false });
  const req: LogRequest = {
    since: since && "time" in since ? since.time.toISOString() : undefined,
    paths: workPaths(settings.dir, flags.paths),
    limit: settings.limit,
  };
  const session = await openSession(settings, { write: false });
  let saves: SaveRecord[];
  if ("watcher" in session) {
    logger.info("a watch runs on this dir: asking it for the saves");
    const answer = await askWatch<{ saves?: SaveRecord[] }>(session.watcher, "log", settings, 10 * 60_000, { ...req });
    saves = answer.saves ?? [];
  } else {
    try {
      await ensureRemote(session.backend, settings);
      const progress = logger.progress("reading the saves");
      saves = await retry("log", settings.retryFor, () =>
        logSaves(session.backend, req, (m) => progress.update(m)),
      ).finally(() => progress.done());
    } finally {
      await session.close();
    }
  }
  if (settings.json) setResult({ saves });
  else print(saves);
}

const MARK: Record<string, string> = { add: "A", modify: "M", delete: "D" };

/** One block per save, as `git log --name-status` does it, but short: the first line of the message. */
function print(saves: SaveRecord[]): void {
  if (!saves.length) return out("no saves");
  const lines: string[] = [];
  for (const s of saves) {
    const when = s.time.replace("T", " ").replace(/\.\d+Z$/, "Z");
    lines.push(`${s.id.slice(0, 12)}  ${when}  ${s.host}  ${s.message.split("\n")[0]}`);
    for (const f of s.files) lines.push(`    ${MARK[f.op] ?? "?"} ${f.path}`);
  }
  out(lines.join("\n"));
}
