/** Commander wiring only: each command's options come from the option table; modules load lazily. */
import { Command, Option } from "commander";
import { EXIT_CODES_HELP } from "./errors";
import { OPTIONS, envName, flagName, optionsFor, type CommandName } from "./options";

declare const MIRRORSHADE_VERSION: string;
export const VERSION = typeof MIRRORSHADE_VERSION === "string" ? MIRRORSHADE_VERSION : "0.0.0-dev";

type Action = (dir: string | undefined, flags: Record<string, unknown>) => Promise<void>;

const COMMANDS: Record<CommandName, { summary: string; load: () => Promise<Action> }> = {
  init: {
    summary: "write a config file, check the remote, create it with --create",
    load: async () => (await import("./commands/init")).init,
  },
  restore: {
    summary: "bring the remote into the dir (the union, local files first; never deletes or overwrites)",
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
    summary: "show what the watch on this dir is doing (saves, failures, pending changes)",
    load: async () => (await import("./commands/status")).status,
  },
};

export function buildProgram(): Command {
  const program = new Command("mirrorshade")
    .description("Keep a working directory saved to a remote store (git; S3 next).")
    .version(VERSION, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText("after", "\n" + EXIT_CODES_HELP)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, "mirrorshade: ")) });

  for (const [name, { summary, load }] of Object.entries(COMMANDS) as [CommandName, (typeof COMMANDS)[CommandName]][]) {
    const cmd = program
      .command(name)
      .description(summary)
      .argument("[dir]", `the work dir (env ${envName("dir")}, default: the current directory)`)
      .addHelpText("after", "\n" + EXIT_CODES_HELP)
      .exitOverride()
      .action(async (dir: string | undefined, flags: Record<string, unknown>) => (await load())(dir, flags));
    for (const [key, spec] of optionsFor(name)) {
      const flag = flagName(key);
      const placeholder = spec.type === "boolean" ? "" : ` <${spec.arg ?? "value"}>`;
      const def = spec.default !== undefined && spec.type !== "boolean" ? ` (default: ${String(spec.default)})` : "";
      const opt = new Option(`--${flag}${placeholder}`, `${spec.help}${def} [${envName(key)}]`);
      if (spec.type === "list") opt.argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]);
      if (spec.choices) opt.choices(spec.choices as string[]);
      cmd.addOption(opt);
      if ("negatable" in spec && spec.negatable) cmd.addOption(new Option(`--no-${flag}`, `do not ${flag}`));
    }
  }
  return program;
}

void OPTIONS;
