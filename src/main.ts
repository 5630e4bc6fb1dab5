/** The one exit point: commands throw; here errors become one line and an exit code. */
import { CommanderError } from "commander";
import { buildProgram } from "./cli";
import { EXIT_CODES, MirrorshadeError } from "./errors";
import { log } from "./log";
import { redact } from "./redact";

async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return EXIT_CODES.ok;
  } catch (err) {
    return report(err);
  }
}

function report(err: unknown): number {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with code 0; commander already printed the message.
    return err.exitCode === 0 ? 0 : EXIT_CODES.usage;
  }
  if (err instanceof MirrorshadeError) {
    const line = `mirrorshade: ${err.message}${err.hint ? `\n  hint: ${err.hint}` : ""}`;
    process.stderr.write(redact(line) + "\n");
    log.debug("error detail", { error: err.name, cause: String((err.cause as Error | undefined)?.message ?? "") });
    return err.exitCode;
  }
  const stack = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(
    redact(`mirrorshade: unexpected error (a bug; please report it with this output):\n${stack}`) + "\n",
  );
  return EXIT_CODES.unexpected;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
    // Let stdout drain, but do not wait on stray handles (a watcher that failed to close).
    setTimeout(() => process.exit(code), 50).unref();
  },
  (err) => {
    process.stderr.write(`mirrorshade: ${String(err)}\n`);
    process.exit(1);
  },
);
