/**
 * The bundle's entry (dist/mirrorshade.cjs): answers `--version` without loading the CLI
 * (half of a cold start is parsing it), else loads it. The single binary starts the CLI
 * bundle directly and relies on the SEA code cache instead.
 */
// Before the CLI bundle loads: V8 starts optimizing while the module loader reads it.
import "./v8-flags";

declare const MIRRORSHADE_VERSION: string;
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === "--version" || args[0] === "-V")) {
  process.stdout.write(`${MIRRORSHADE_VERSION}\n`);
} else {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a sibling file at run time, not bundled
  require("./mirrorshade-cli.cjs");
}
