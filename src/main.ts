/**
 * The one exit point: commands throw; here errors become one line and an exit code, and
 * with --json the run's one JSON object on stdout (the result, or the error, or both).
 */
// First: V8 settings must be made before the other modules run (see the module).
import "./v8-flags";
import { CommanderError } from "commander";
import { COMMAND_NAMES, buildProgram, currentInvocation, splitPaths } from "./cli";
import { resolveSettings } from "./config";
import { EXIT_CODES, MirrorshadeError, TransientError, errorCode } from "./errors";
import { configureLog, err as writeErr, guardOutput, logFormat, log, out, takeResult, type LogFormat } from "./log";
import { envName } from "./options";
import { redact, redactDeep } from "./redact";
import { formatDuration } from "./units";

/** What a script reads: a stable code, the message, how to fix it. */
interface Failure {
  code: string;
  message: string;
  hint?: string;
}

/** Commands that give up on a failing remote after --retry-for (watch keeps retrying). */
const ONE_SHOT = new Set(["init", "restore", "push", "log"]);

async function main(argv: string[]): Promise<number> {
  guardOutput();
  const early = earlyOutputSettings(argv.slice(2));
  if (early.logFormat) configureLog({ format: early.logFormat });
  const helpAll = argv.includes("--help-all");
  const args = helpAll ? argv.map((a) => (a === "--help-all" ? "--help" : a)) : argv;
  let code: number = EXIT_CODES.ok;
  let failure: Failure | undefined;
  try {
    const { argv: options, paths } = splitPaths(args);
    await buildProgram({ helpAll, paths }).parseAsync(options);
  } catch (e) {
    if (e instanceof CommanderError && (e.code === "commander.helpDisplayed" || e.code === "commander.version"))
      return 0;
    ({ code, failure } = await report(e));
  }
  const result = takeResult();
  if (early.json || result) {
    out(JSON.stringify(redactDeep({ ...result, ok: code === 0, exitCode: code, ...(failure && { error: failure }) })));
  }
  return code;
}

/**
 * --json and --log-format decide how even a usage error is reported, before any setting is
 * parsed: read them from argv and env as the option table names them. (A config file's
 * `json` still applies to what a command prints once its settings are read.)
 */
function earlyOutputSettings(args: string[]): { json: boolean; logFormat?: LogFormat } {
  const options = args.includes("--") ? args.slice(0, args.indexOf("--")) : args;
  const json = options.includes("--json") || /^(1|true|yes|on)$/i.test(process.env[envName("json")] ?? "");
  const at = options.findIndex((a) => a === "--log-format" || a.startsWith("--log-format="));
  const given = at < 0 ? process.env[envName("logFormat")] : (options[at]!.split("=")[1] ?? options[at + 1]);
  return { json, logFormat: given === "text" || given === "json" ? given : undefined };
}

async function report(e: unknown): Promise<{ code: number; failure: Failure }> {
  let code: number;
  let failure: Failure;
  if (e instanceof CommanderError) {
    code = EXIT_CODES.usage;
    const cmd = currentInvocation()?.command ?? commandIn(process.argv);
    const help = `run: mirrorshade${cmd ? " " + cmd : ""} --help`;
    failure =
      e.code === "commander.help" // no command given: commander printed the help already
        ? { code: "usage", message: "no command given", hint: "run: mirrorshade --help" }
        : { code: "usage", message: e.message.replace(/^error: /, ""), hint: help };
  } else if (e instanceof MirrorshadeError) {
    code = e.exitCode;
    failure = { code: e.code, message: e.message, hint: e.hint };
    const gaveUp = await gaveUpNote(e);
    if (gaveUp) failure.hint = failure.hint ? `${failure.hint}; ${gaveUp}` : gaveUp;
  } else {
    code = EXIT_CODES.unexpected;
    const message = e instanceof Error ? e.message : String(e);
    failure = { code: errorCode(e), message, hint: "a bug: please report it with this output" };
    const stack = e instanceof Error ? (e.stack ?? e.message) : String(e);
    if (logFormat() === "json")
      log.error(`unexpected error: ${message}`, { code: failure.code, exitCode: code, stack });
    else writeErr(redact(`mirrorshade: unexpected error (a bug; please report it with this output):\n${stack}`) + "\n");
    return { code, failure };
  }
  if (logFormat() === "json") {
    log.error(failure.message, { code: failure.code, exitCode: code, hint: failure.hint });
  } else if (!(e instanceof CommanderError && e.code === "commander.help")) {
    writeErr(redact(`mirrorshade: ${failure.message}${failure.hint ? `\n  hint: ${failure.hint}` : ""}`) + "\n");
  }
  if (e instanceof MirrorshadeError) log.debug("error detail", { error: e.name, cause: causeOf(e) });
  return { code, failure };
}

/**
 * A one-shot command that exits 4 has stopped retrying: say so and for how long (a hint
 * saying "it is retried" would be false there).
 */
async function gaveUpNote(e: MirrorshadeError): Promise<string | undefined> {
  const inv = currentInvocation();
  if (!(e instanceof TransientError) || !inv || !ONE_SHOT.has(inv.command)) return undefined;
  const settings = await resolveSettings(inv.command, inv.dir, inv.flags).catch(() => undefined);
  const retryFor = settings ? ` ${formatDuration(settings.retryFor)}` : "";
  return `gave up after --retry-for${retryFor} (a watch keeps retrying)`;
}

function causeOf(e: Error): string {
  return String((e.cause as Error | undefined)?.message ?? "");
}

/** The command named in argv, for a usage error's hint (commander did not get to run it). */
function commandIn(argv: string[]): string | undefined {
  return argv.slice(2).find((a) => (COMMAND_NAMES as string[]).includes(a));
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
    // Let stdout drain, but do not wait on stray handles (a watcher that failed to close).
    setTimeout(() => process.exit(code), 50).unref();
  },
  (e) => {
    writeErr(`mirrorshade: ${String(e)}\n`);
    process.exit(1);
  },
);
