/** Commander wiring only: each command's options come from the option table; modules load lazily. */
import { Command, Option } from "commander";
import { ConfigError, EXIT_CODES_BRIEF, EXIT_CODES_HELP } from "./errors";
import { HELP_GROUPS, envName, flagName, optionsFor, type CommandName, type OptionSpec } from "./options";

declare const MIRRORSHADE_VERSION: string;
export const VERSION = typeof MIRRORSHADE_VERSION === "string" ? MIRRORSHADE_VERSION : "0.0.0-dev";

type Action = (dir: string | undefined, flags: Record<string, unknown>) => Promise<void>;

const COMMANDS: Record<CommandName, { summary: string; load: () => Promise<Action> }> = {
  init: {
    summary: "write a config file, check the remote, create it with --create",
    load: async () => (await import("./commands/init")).init,
  },
  restore: {
    summary:
      "bring the remote into the dir (the union, local files first; never deletes or overwrites); --at: a past save",
    load: async () => (await import("./commands/restore")).restore,
  },
  watch: {
    summary: "restore, then save every change until SIGTERM/SIGINT (the container's command)",
    load: async () => (await import("./commands/watch")).watch,
  },
  push: {
    summary: "save once and exit; the exit code says how it went",
    load: async () => (await import("./commands/push")).push,
  },
  status: {
    summary: "show what the watch on this dir is doing (exit 8 when none runs)",
    load: async () => (await import("./commands/status")).status,
  },
  log: {
    summary: "list the saves, newest first (after --, only those that changed these paths)",
    load: async () => (await import("./commands/log")).log,
  },
};

/** Commands that take paths after `--` (`log [dir] -- a.ipynb`, `restore --at 2h [dir] -- data/`). */
const TAKE_PATHS = new Set<CommandName>(["log", "restore"]);

/**
 * Split argv at the first `--`: what follows is paths, never options or the dir (commander
 * would take the first of them for the dir). Commands get them as `flags.paths`.
 */
export function splitPaths(argv: string[]): { argv: string[]; paths: string[] } {
  const at = argv.indexOf("--", 2);
  return at < 0 ? { argv, paths: [] } : { argv: argv.slice(0, at), paths: argv.slice(at + 1) };
}

/** The command being run, as commander parsed it (main needs it to word a final error). */
export interface Invocation {
  command: CommandName;
  dir: string | undefined;
  flags: Record<string, unknown>;
}
let invocation: Invocation | undefined;
export function currentInvocation(): Invocation | undefined {
  return invocation;
}

const ENV_NOTE = `Each option is also an env variable (--max-delay: MIRRORSHADE_MAX_DELAY) and a
config file key (maxDelay). --help-all lists the ssh, https and S3 options.`;

/**
 * `helpAll`: `--help` lists every option a command takes, backend options under their
 * heading, each with its env variable (main turns `--help-all` into that).
 */
export function buildProgram(opts: { helpAll?: boolean; paths?: string[] } = {}): Command {
  const helpAll = Boolean(opts.helpAll);
  const program = new Command("mirrorshade")
    .description("Keep a working directory saved to a remote store: git or S3.")
    .version(VERSION, "-V, --version")
    .addHelpText("after", "\n" + EXIT_CODES_HELP)
    .exitOverride()
    // main reports every error (text, or JSON for scripts and log collectors): commander stays quiet.
    .configureOutput({ outputError: () => {} })
    .hook("preAction", (_program, action) => {
      invocation = { command: action.name() as CommandName, dir: action.args[0], flags: action.opts() };
    });

  for (const [name, { summary, load }] of Object.entries(COMMANDS) as [CommandName, (typeof COMMANDS)[CommandName]][]) {
    const cmd = program
      .command(name)
      .description(summary)
      .argument("[dir]", "the work dir (default: the current directory)")
      .usage(TAKE_PATHS.has(name) ? "[options] [dir] [-- paths...]" : "[options] [dir]")
      .addHelpText("after", "\n" + (helpAll ? EXIT_CODES_HELP : ENV_NOTE + "\n\n" + EXIT_CODES_BRIEF))
      .exitOverride()
      .configureOutput({ outputError: () => {} })
      // The description says it all: commander's own "(default: …)" and "(choices: …)" would repeat it.
      .configureHelp({ optionDescription: (o) => o.description })
      .action(async (dir: string | undefined, flags: Record<string, unknown>) => {
        const paths = opts.paths ?? [];
        if (paths.length && !TAKE_PATHS.has(name)) {
          throw new ConfigError(`${name} takes no paths after --`, { hint: `run: mirrorshade ${name} --help` });
        }
        return (await load())(dir, TAKE_PATHS.has(name) ? { ...flags, paths } : flags);
      });
    for (const [key, spec] of optionsFor(name)) {
      const flag = flagName(key);
      const shown = helpAll || (!spec.group && (!spec.helpIn || spec.helpIn.includes(name)));
      const heading = helpAll && spec.group ? HELP_GROUPS[spec.group] : "Options:";
      const env = helpAll ? ` [${envName(key)}]` : "";
      const placeholder = spec.type === "boolean" ? "" : ` <${spec.arg ?? "value"}>`;
      const opt = new Option(`--${flag}${placeholder}`, describe(spec) + env).helpGroup(heading);
      if (spec.type === "list") opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
      if (spec.choices) opt.choices(spec.choices as string[]);
      // A negatable option that is on by default: `--<name>` changes nothing, `--no-<name>` is what to show.
      cmd.addOption(opt.hideHelp(!shown || (!helpAll && spec.negatable === true && spec.default === true)));
      if (spec.negatable) {
        const noEnv = helpAll ? ` [${envName(key)}=false]` : "";
        const no = new Option(`--no-${flag}`, (spec.negatedHelp ?? `turn off --${flag}`) + noEnv).helpGroup(heading);
        cmd.addOption(no.hideHelp(!shown));
      }
    }
    cmd.addOption(new Option("--help-all", "also the ssh, https and S3 options, with env names").hideHelp(helpAll));
  }
  return program;
}

function describe(spec: OptionSpec): string {
  const def = spec.default !== undefined && spec.type !== "boolean" ? ` (default: ${String(spec.default)})` : "";
  return spec.help + def;
}

/** Every command: main names the one a usage error is about. */
export const COMMAND_NAMES = Object.keys(COMMANDS) as CommandName[];
