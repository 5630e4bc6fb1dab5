/**
 * The history operations, the same whoever runs them (a one-shot `log` or `restore --at`, or
 * the running watch asked through its control socket), and their wire form on that socket.
 * `restore --at --overwrite` saves the current version of everything first; the backend then
 * replaces only files whose content is saved (one the save could not take, too large or
 * ignored, gets the old version beside it), so nothing unsaved is ever lost.
 */
import type { Backend, LogOptions, RestoreAtReport, SavePoint, SaveRecord } from "../../backends/types";
import type { Settings } from "../config";
import { ConfigError } from "../errors";
import { log } from "../log";
import type { ControlRequest } from "../state";
import { saveOnce } from "./save";

export interface LogRequest {
  since?: string;
  paths?: string[];
  limit?: number;
}

export interface RestoreAtRequest {
  at: { id: string } | { time: string };
  paths?: string[];
  overwrite?: boolean;
}

export interface RestoreAtResult extends RestoreAtReport {
  /** With overwrite: the id of the save of the current version made first (none when nothing changed). */
  savedFirst: string | null;
}

export function toPoint(at: RestoreAtRequest["at"]): SavePoint {
  return "id" in at ? { id: at.id } : { time: new Date(at.time) };
}

export function fromPoint(at: SavePoint): RestoreAtRequest["at"] {
  return "id" in at ? { id: at.id } : { time: at.time.toISOString() };
}

function historyOf(backend: Backend): Required<Pick<Backend, "log" | "restoreAt">> {
  if (!backend.capabilities.atRestore || !backend.log || !backend.restoreAt) {
    throw new ConfigError(`the ${backend.name} backend keeps no history of saves`, {
      hint: "log and restore --at need a git or S3 remote",
    });
  }
  return { log: backend.log.bind(backend), restoreAt: backend.restoreAt.bind(backend) };
}

export function logSaves(backend: Backend, req: LogRequest, progress?: LogOptions["progress"]): Promise<SaveRecord[]> {
  return historyOf(backend).log({
    since: req.since === undefined ? undefined : new Date(req.since),
    paths: req.paths,
    limit: req.limit,
    progress,
  });
}

export async function restoreAtSave(
  backend: Backend,
  settings: Settings,
  req: RestoreAtRequest,
  progress?: (msg: string) => void,
): Promise<RestoreAtResult> {
  const { restoreAt } = historyOf(backend);
  let savedFirst: string | null = null;
  if (req.overwrite) {
    // The backend replaces only what is saved: a file this save cannot take keeps its place.
    log.info("saving the current version before replacing it");
    savedFirst = (await saveOnce(backend, "all", settings, { forceInvalid: true })).report?.id ?? null;
  }
  const report = await restoreAt({ at: toPoint(req.at), paths: req.paths, overwrite: req.overwrite, progress });
  return { ...report, savedFirst };
}

/**
 * The running watch's answer to a `log` or `restoreAt` request on its control socket, run
 * between its saves (`exclusive`): the files `restore --at` writes are then saved like any change.
 */
export function answerHistory(
  req: ControlRequest,
  backend: Backend,
  settings: Settings,
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>,
): Promise<unknown> {
  const args = req.args ?? {};
  const paths = Array.isArray(args.paths) && args.paths.every((p) => typeof p === "string") ? args.paths : undefined;
  if (req.op === "log") {
    log.info("a log asked for the saves");
    const ask: LogRequest = {
      since: typeof args.since === "string" ? args.since : undefined,
      limit: typeof args.limit === "number" ? args.limit : undefined,
      paths,
    };
    return exclusive(async () => ({ saves: await logSaves(backend, ask) }));
  }
  const at = args.at as RestoreAtRequest["at"] | undefined;
  if (
    !at ||
    !(typeof (at as { id?: unknown }).id === "string" || typeof (at as { time?: unknown }).time === "string")
  ) {
    return Promise.reject(new ConfigError("bad restoreAt request: no save named"));
  }
  log.info("a restore --at asked for a past save", { at });
  return exclusive(() => restoreAtSave(backend, settings, { at, paths, overwrite: args.overwrite === true }));
}
