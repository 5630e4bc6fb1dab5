/**
 * Every option, declared once. The flag, the environment variable (MIRRORSHADE_<NAME>),
 * the config-file key (camelCase) and the help text are all derived from this table.
 * Precedence: flag > env > config file > default.
 */

export type OptionType = "string" | "boolean" | "duration" | "size" | "list" | "enum";
export type CommandName = "init" | "restore" | "watch" | "push";

export interface OptionSpec {
  type: OptionType;
  help: string;
  /** Commands that take it; undefined = every command. */
  commands?: readonly CommandName[];
  default?: string | boolean | readonly string[];
  /** Placeholder in `--help` (`<dur>`). */
  arg?: string;
  choices?: readonly string[];
  /** Also accept `--no-<name>` (booleans whose default is true). */
  negatable?: boolean;
}

export const OPTIONS = {
  remote: {
    type: "string",
    arg: "url",
    help: "where to save: a path, file://, ssh://, git@host:path or https:// git URL",
  },
  branch: { type: "string", arg: "name", help: "branch to save to (default: the remote's default branch, else main)" },
  stateDir: {
    type: "string",
    arg: "path",
    help: "private state (git dir, locks), outside the work dir (default: per dir under $XDG_STATE_HOME)",
  },
  config: { type: "string", arg: "file", help: "config file (default: searched from the current directory)" },
  create: { type: "boolean", help: "create the remote when it does not exist (local paths and file:// only)" },
  retryFor: {
    type: "duration",
    arg: "dur",
    default: "30s",
    help: "how long one-shot commands retry transient errors before exit 4 (watch retries forever)",
  },
  logFormat: {
    type: "enum",
    choices: ["text", "json"],
    arg: "fmt",
    help: "log format (default: text on a terminal, else json)",
  },
  logLevel: {
    type: "enum",
    choices: ["debug", "info", "warn", "error"],
    arg: "level",
    default: "info",
    help: "log level",
  },
  sshKeyFile: {
    type: "list",
    arg: "file",
    help: "ssh private key file (e.g. from a Secret), repeatable; ssh then ignores the host's ssh config",
  },
  sshKnownHostsFile: { type: "string", arg: "file", help: "known_hosts file: the ssh host keys to trust" },
  sshAcceptNewHostKeys: {
    type: "boolean",
    help: "trust an unknown ssh host key on first use (kept in the state dir); a changed key still fails",
  },
  tokenFile: {
    type: "string",
    arg: "file",
    help: "file holding an https token (re-read before each use); or set MIRRORSHADE_TOKEN",
  },
  tokenUsername: {
    type: "string",
    arg: "name",
    default: "x-access-token",
    help: "username sent with the token (works for GitHub and GitLab tokens)",
  },
  caFile: { type: "string", arg: "file", help: "CA bundle for https git servers with a private CA" },
  debounce: {
    type: "duration",
    arg: "dur",
    default: "2s",
    commands: ["watch"],
    help: "save after this long without changes",
  },
  maxDelay: {
    type: "duration",
    arg: "dur",
    default: "30s",
    commands: ["watch"],
    help: "but never later than this after the first unsaved change",
  },
  shutdownTimeout: {
    type: "duration",
    arg: "dur",
    default: "20s",
    commands: ["watch"],
    help: "on SIGTERM/SIGINT, how long the final save may take",
  },
  restore: {
    type: "boolean",
    default: true,
    negatable: true,
    commands: ["watch"],
    help: "restore the remote (or resume from state) before watching",
  },
  message: {
    type: "string",
    arg: "template",
    default: "mirrorshade: {files}",
    commands: ["watch", "push"],
    help: "commit message; placeholders {count} {files} {list} {added} {modified} {deleted} {host} {date} {branch}",
  },
  author: {
    type: "string",
    arg: "'name <email>'",
    commands: ["watch", "push"],
    help: "commit author (default: git's user.name/user.email, else mirrorshade <mirrorshade@host>)",
  },
  trailer: {
    type: "list",
    arg: "'key: value'",
    commands: ["watch", "push"],
    help: "commit trailer, repeatable (placeholders as in --message)",
  },
  maxFileSize: {
    type: "size",
    arg: "size",
    default: "50m",
    commands: ["watch", "push"],
    help: "skip (with a warning) files larger than this",
  },
  allowMassDelete: {
    type: "boolean",
    commands: ["watch", "push"],
    help: "save a deletion of more than half the saved files (refused by default)",
  },
  ignore: {
    type: "list",
    arg: "pattern",
    commands: ["watch", "push"],
    help: "extra gitignore-style pattern to leave unsaved, repeatable",
  },
  dryRun: { type: "boolean", commands: ["push"], help: "list what would be saved; change nothing" },
  json: { type: "boolean", commands: ["push", "restore"], help: "print a machine-readable summary on stdout" },
} as const satisfies Record<string, OptionSpec>;

export type OptionKey = keyof typeof OPTIONS;

export function flagName(key: string): string {
  return key.replace(/[A-Z]/g, (c) => "-" + c.toLowerCase());
}

export function envName(key: string): string {
  return "MIRRORSHADE_" + flagName(key).replace(/-/g, "_").toUpperCase();
}

export function optionsFor(command: CommandName): [OptionKey, OptionSpec][] {
  return (Object.entries(OPTIONS) as [OptionKey, OptionSpec][]).filter(
    ([, spec]) => !spec.commands || spec.commands.includes(command),
  );
}
