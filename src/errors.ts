/**
 * Typed errors. Commands and backends throw these; only `main` turns them into an exit
 * code (see EXIT_CODES). A backend translates its library's errors at its edge and keeps
 * the original as `cause`.
 */

export const EXIT_CODES = {
  ok: 0,
  unexpected: 1,
  usage: 2,
  auth: 3,
  unreachable: 4,
  conflict: 5,
  notFound: 6,
  guard: 7,
  noWatch: 8,
} as const;

/** Shown in `--help` and README. */
export const EXIT_CODES_HELP = `Exit status:
  0  ok: everything seen was saved (or restored)
  1  unexpected error (a bug: please report it with the output)
  2  usage or configuration error (flag, config file, remote URL, directory)
  3  authentication or permission refused by the remote
  4  remote unreachable past --retry-for (or --shutdown-timeout for watch)
  5  saved, but a concurrent change conflicted: theirs kept beside ours
  6  not found: the remote (repository or bucket; --create makes one), or a past
     save or file restore --at names
  7  refused by a safety guard (a mass deletion: --allow-mass-delete)
  8  status: no watch runs on this dir`;

/** The same, short, for each command's `--help`. */
export const EXIT_CODES_BRIEF = `Exit status: 0 ok, 1 a bug, 2 usage, 3 auth refused, 4 unreachable, 5 conflict
(both kept), 6 not found, 7 refused by a guard, 8 no watch runs (status).
mirrorshade --help explains each.`;

export abstract class MirrorshadeError extends Error {
  abstract readonly exitCode: number;
  /** A stable name for scripts (`--json`'s error.code); never changes with the wording. */
  abstract readonly code: string;
  /** One line telling the user how to fix it, printed after the message. */
  readonly hint?: string;
  constructor(message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    if (opts.hint) this.hint = opts.hint;
  }
}

/** Bad flag, env, config file or argument. */
export class ConfigError extends MirrorshadeError {
  readonly exitCode = EXIT_CODES.usage;
  readonly code = "usage";
}

/** The remote refused our credentials or permissions. */
export class AuthError extends MirrorshadeError {
  readonly exitCode = EXIT_CODES.auth;
  readonly code = "auth";
}

/** Worth retrying: network down, server error, lock held by a busy peer. */
export class TransientError extends MirrorshadeError {
  readonly exitCode = EXIT_CODES.unreachable;
  readonly code = "unreachable";
}

/** The remote location does not exist, or the past save (or a file of it) asked for. */
export class NotFoundError extends MirrorshadeError {
  readonly exitCode = EXIT_CODES.notFound;
  readonly code = "not_found";
}

/** Our changes were saved, but someone else's conflicted: ours kept, theirs beside it as a conflict copy. */
export class ConflictError extends MirrorshadeError {
  readonly exitCode = EXIT_CODES.conflict;
  readonly code = "conflict";
}

/** A safety guard refused to save (mass deletion, vanished work dir). */
export class GuardError extends MirrorshadeError {
  readonly exitCode = EXIT_CODES.guard;
  readonly code = "guard";
}

/** `status`: no watch runs on this dir (none found in the state dir it looked in). */
export class NoWatchError extends MirrorshadeError {
  readonly exitCode = EXIT_CODES.noWatch;
  readonly code = "no_watch";
}

/** The stable code of any error: a typed error's own, else "unexpected" (a bug). */
export function errorCode(err: unknown): string {
  return err instanceof MirrorshadeError ? err.code : "unexpected";
}

/** Rebuild a typed error from an exit code reported by another mirrorshade process. */
export function errorFromExitCode(code: number, message: string, hint?: string): MirrorshadeError {
  const cls =
    {
      [EXIT_CODES.usage]: ConfigError,
      [EXIT_CODES.auth]: AuthError,
      [EXIT_CODES.conflict]: ConflictError,
      [EXIT_CODES.notFound]: NotFoundError,
      [EXIT_CODES.guard]: GuardError,
      [EXIT_CODES.noWatch]: NoWatchError,
    }[code] ?? TransientError;
  return new cls(message, { hint });
}
