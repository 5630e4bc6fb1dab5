/**
 * Every option, declared once. The flag, the environment variable (MIRRORSHADE_<NAME>),
 * the config-file key (camelCase) and the help text are all derived from this table.
 * Precedence: flag > env > config file > default.
 */

export type OptionType = "string" | "boolean" | "duration" | "size" | "list" | "enum" | "number";
export type CommandName = "init" | "restore" | "watch" | "push" | "status" | "log";
/** A rule a value must also pass (src/validate.ts), beyond its type. */
export type ValueRule =
  "branch" | "author" | "trailer" | "listen" | "remote" | "httpUrl" | "s3Region" | "when" | "since";

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
  /** What `--no-<name>` does, for its help line. */
  negatedHelp?: string;
  /**
   * Help heading of a backend's options ("ssh", "https", "s3"): listed by `--help-all` only, so
   * a command's `--help` stays short. Undefined: a general option.
   */
  group?: HelpGroup;
  /**
   * Commands whose `--help` lists it (default: every command that takes it). The others still
   * take it (a shared config file or env may set it) and list it under `--help-all`.
   */
  helpIn?: readonly CommandName[];
  /** Checked beyond the type: each value (each item of a list) must pass this rule. */
  rule?: ValueRule;
  /** Sizes and numbers: the allowed range (sizes as text, e.g. "5m"). */
  min?: string | number;
  max?: string | number;
  /** Strings: newlines and tabs allowed (a commit message template). */
  multiline?: boolean;
  /**
   * Chooses where data goes or whom to trust: only flags, env or a config file outside the
   * work dir may set it, never the work dir's own config (in-place mode).
   */
  outsideOnly?: boolean;
}

export type HelpGroup = "ssh" | "https" | "s3";
export const HELP_GROUPS: Record<HelpGroup, string> = {
  ssh: "ssh remotes (ssh://, git@host:path):",
  https: "https git remotes:",
  s3: "S3 remotes (s3://bucket/prefix):",
};

/** Commands that save: what only they use is left out of the others' `--help`. */
const SAVING = ["init", "restore", "watch", "push"] as const;
/** Commands that talk to the remote. */
const REMOTE = [...SAVING, "log"] as const;

export const OPTIONS = {
  remote: {
    type: "string",
    outsideOnly: true,
    arg: "url",
    helpIn: REMOTE,
    help: "where to save: path, git URL or s3://bucket/prefix",
    rule: "remote",
  },
  branch: {
    type: "string",
    arg: "name",
    helpIn: REMOTE,
    help: "git branch (default: the remote's, else main)",
    rule: "branch",
  },
  stateDir: {
    type: "string",
    outsideOnly: true,
    arg: "path",
    help: "private state dir, outside the work dir",
  },
  config: {
    type: "string",
    outsideOnly: true,
    arg: "file",
    help: "config file (default: ./ or ~/.config/mirrorshade)",
  },
  inPlace: {
    type: "boolean",
    outsideOnly: true,
    helpIn: REMOTE,
    help: "use the dir's own git repo (a trusted checkout)",
  },
  runHooks: {
    type: "boolean",
    outsideOnly: true,
    helpIn: ["restore", "watch", "push"],
    help: "with --in-place, let the repo's git hooks run",
  },
  create: { type: "boolean", helpIn: SAVING, help: "create the remote if missing (path, file://, S3)" },
  force: { type: "boolean", commands: ["init"], help: "overwrite the config an earlier init wrote" },
  retryFor: {
    type: "duration",
    arg: "dur",
    default: "30s",
    helpIn: ["init", "restore", "push", "log"],
    help: "retry a failing remote this long, then exit 4",
  },
  logFormat: {
    type: "enum",
    choices: ["text", "json"],
    arg: "text|json",
    help: "log format (default: text on a terminal, else json)",
  },
  logLevel: {
    type: "enum",
    choices: ["debug", "info", "warn", "error"],
    arg: "level",
    default: "info",
    help: "debug, info, warn or error",
  },
  sshKeyFile: {
    type: "list",
    group: "ssh",
    outsideOnly: true,
    arg: "file",
    help: "ssh private key file (e.g. from a Secret), repeatable; ssh then ignores the host's ssh config",
  },
  sshKnownHostsFile: {
    type: "string",
    arg: "file",
    group: "ssh",
    outsideOnly: true,
    help: "known_hosts file: the ssh host keys to trust",
  },
  sshAcceptNewHostKeys: {
    type: "boolean",
    group: "ssh",
    outsideOnly: true,
    help: "trust an unknown ssh host key on first use (kept in the state dir); a changed key still fails",
  },
  tokenFile: {
    type: "string",
    group: "https",
    outsideOnly: true,
    arg: "file",
    help: "file holding an https token (re-read before each use); or set MIRRORSHADE_TOKEN",
  },
  tokenUsername: {
    type: "string",
    group: "https",
    outsideOnly: true,
    arg: "name",
    default: "x-access-token",
    help: "username sent with the token (works for GitHub and GitLab tokens)",
  },
  caFile: {
    outsideOnly: true,
    type: "string",
    arg: "file",
    group: "https",
    help: "CA bundle for https git servers with a private CA",
  },
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
    help: "but at most this long after a change",
  },
  shutdownTimeout: {
    type: "duration",
    arg: "dur",
    default: "20s",
    commands: ["watch"],
    help: "time for the final save on SIGTERM",
  },
  pull: {
    type: "duration",
    arg: "dur",
    commands: ["watch"],
    help: "take in other writers' saves this often",
  },
  restore: {
    type: "boolean",
    default: true,
    negatable: true,
    commands: ["watch"],
    help: "restore the remote (or resume from state) before watching",
    negatedHelp: "watch the dir as it is: no restore, no resume",
  },
  message: {
    type: "string",
    arg: "template",
    default: "mirrorshade: {files}",
    multiline: true,
    commands: ["watch", "push"],
    help: "commit message; placeholders: {count} {files} {list} {added} {modified} {deleted} {host} {date} {branch}",
  },
  author: {
    type: "string",
    arg: "name <email>",
    rule: "author",
    commands: ["watch", "push"],
    help: "commit author (default: mirrorshade <mirrorshade@HOST>; in place: your git identity)",
  },
  trailer: {
    type: "list",
    arg: "key: value",
    rule: "trailer",
    commands: ["watch", "push"],
    help: "commit trailer, repeatable, with placeholders",
  },
  maxFileSize: {
    type: "size",
    arg: "size",
    default: "50m",
    commands: ["watch", "push"],
    help: "skip larger files, with a warning",
  },
  allowMassDelete: {
    type: "boolean",
    commands: ["watch", "push"],
    help: "save deleting over half the files (else refused)",
  },
  stripOutputs: {
    type: "boolean",
    commands: ["restore", "watch", "push"],
    helpIn: ["watch", "push"],
    help: "save notebooks without outputs (kept locally)",
  },
  ignore: {
    type: "list",
    arg: "pattern",
    commands: ["watch", "push"],
    help: "gitignore pattern to leave unsaved, repeatable",
  },
  listen: {
    type: "string",
    outsideOnly: true,
    arg: "addr",
    rule: "listen",
    commands: ["watch"],
    help: "serve /healthz, /readyz, /metrics here (:8787)",
  },
  dryRun: { type: "boolean", commands: ["push"], help: "list what would be saved; change nothing" },
  at: {
    type: "string",
    arg: "when",
    rule: "when",
    commands: ["restore"],
    help: "bring back the files of a past save: its id (see log), an ISO time or an age (30m, 2h, 3d)",
  },
  overwrite: {
    type: "boolean",
    commands: ["restore"],
    help: "with --at: replace files that differ (after saving them) instead of writing the old version beside them",
  },
  since: {
    type: "string",
    arg: "when",
    rule: "since",
    commands: ["log"],
    help: "only saves made at or after this: an ISO time or an age (30m, 2h, 3d)",
  },
  limit: { type: "number", arg: "n", commands: ["log"], help: "at most this many saves, the newest" },
  json: {
    type: "boolean",
    commands: ["push", "restore", "status", "log"],
    help: "print one JSON object (result or error) on stdout",
  },
  // S3 remotes (s3://bucket/prefix); in a config file also as an "s3" object ({"s3": {"endpoint": …}}).
  s3Endpoint: {
    group: "s3",
    type: "string",
    outsideOnly: true,
    arg: "url",
    rule: "httpUrl",
    help: "S3-compatible endpoint (MinIO, Ceph RGW, R2, …) (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS)",
  },
  s3Region: {
    group: "s3",
    type: "string",
    arg: "name",
    rule: "s3Region",
    help: "S3 region (default: AWS_REGION, the AWS profile's, else us-east-1)",
  },
  s3PathStyle: {
    group: "s3",
    type: "boolean",
    negatable: true,
    help: "path-style S3 URLs (default: on with a custom endpoint, off for AWS)",
    negatedHelp: "virtual-hosted S3 URLs (bucket.host), even with a custom endpoint",
  },
  s3ChecksumMode: {
    group: "s3",
    type: "enum",
    choices: ["WHEN_REQUIRED", "WHEN_SUPPORTED"],
    arg: "mode",
    help: "when the S3 SDK adds and checks checksums (default: WHEN_REQUIRED with a custom endpoint, else the SDK's)",
  },
  s3Concurrency: {
    group: "s3",
    type: "number",
    arg: "n",
    default: "16",
    min: 1,
    max: 1000,
    help: "parallel S3 transfers",
  },
  s3MultipartThreshold: {
    group: "s3",
    type: "size",
    arg: "size",
    default: "16m",
    help: "S3: larger files upload in parts",
  },
  s3PartSize: {
    group: "s3",
    type: "size",
    arg: "size",
    default: "8m",
    min: "5m",
    max: "5g",
    help: "S3 multipart part size (at least 5m)",
  },
  s3StorageClass: { group: "s3", type: "string", arg: "class", help: "S3 storage class of uploads (e.g. STANDARD_IA)" },
  s3Sse: {
    group: "s3",
    type: "enum",
    choices: ["AES256", "aws:kms", "aws:kms:dsse"],
    arg: "algorithm",
    help: "S3 server-side encryption of uploads",
  },
  s3SseKmsKeyId: { group: "s3", type: "string", arg: "id", help: "KMS key for --s3-sse aws:kms" },
  s3DeletePolicy: {
    group: "s3",
    type: "enum",
    choices: ["trash", "mirror", "keep"],
    default: "trash",
    arg: "policy",
    commands: ["watch", "push"],
    help: "S3: a deleted file's object moves to <prefix>.mirrorshade/trash/ (trash), is deleted (mirror) or stays (keep)",
  },
  s3ConditionalWrites: {
    group: "s3",
    type: "enum",
    choices: ["auto", "on", "off"],
    default: "auto",
    arg: "mode",
    commands: ["watch", "push"],
    help: "S3: never overwrite an object version not seen here (If-Match/If-None-Match); auto probes the store once",
  },
  s3AccessKeyIdFile: {
    group: "s3",
    type: "string",
    outsideOnly: true,
    arg: "file",
    help: "file holding the S3 access key id (re-read on use); default: the AWS SDK's credential chain",
  },
  s3SecretAccessKeyFile: {
    group: "s3",
    type: "string",
    outsideOnly: true,
    arg: "file",
    help: "file holding the S3 secret access key (re-read on use)",
  },
  s3SessionTokenFile: {
    group: "s3",
    type: "string",
    outsideOnly: true,
    arg: "file",
    help: "file holding an S3 session token (re-read on use)",
  },
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
