/**
 * One set of rules for every value, whether it came from a flag, the environment or a config
 * file: its type, its range, and what git, Node or S3 would later choke on. Everything is
 * checked here, before the state dir or the lock is touched, so a usage error changes
 * nothing and ends as one line with exit 2.
 */
import { ConfigError } from "./errors";
import { parseListen } from "./health";
import { flagName, type OptionSpec, type ValueRule } from "./options";
import { branchNameProblem } from "./refname";
import { stripUserinfo } from "./redact";
import { parseRemote } from "./remote";
import { WHEN_HINT, parseWhen } from "./time";
import { formatSize, parseDuration, parseSize } from "./units";

/** Node's timers take at most 2^31-1 ms (~24.8 days); a longer delay fires at once. */
export const MAX_DURATION_MS = 2 ** 31 - 1;

export interface ValueSource {
  /** For messages: `--debounce`, `MIRRORSHADE_DEBOUNCE`, `"debounce" in /path/file.json`. */
  source: string;
  /** From a config file: values keep their JSON/YAML type, and the wrong type is refused. */
  file: boolean;
}

/** Convert a raw value to its option's type and check it; throws ConfigError naming the option and its source. */
export function convertValue(key: string, spec: OptionSpec, raw: unknown, from: ValueSource): unknown {
  const flag = flagName(key);
  const bad = (what: string, hint: string) =>
    new ConfigError(`bad ${what} ${shown(raw)} for ${flag} (from ${from.source})`, { hint });
  switch (spec.type) {
    case "boolean":
      if (typeof raw === "boolean") return raw;
      if (typeof raw === "string" && /^(1|true|yes|on)$/i.test(raw)) return true;
      if (typeof raw === "string" && /^(0|false|no|off)$/i.test(raw)) return false;
      throw bad("boolean", "use true or false");
    case "duration": {
      const ms = typeof raw === "string" ? parseDuration(raw) : raw === 0 ? 0 : undefined;
      if (ms === undefined) throw bad("duration", "use a number with a unit: 500ms, 2s, 1m, 1h");
      if (ms > MAX_DURATION_MS) {
        throw new ConfigError(`${flag} ${shown(raw)} (from ${from.source}) is longer than Node's timers allow`, {
          hint: `use at most ${Math.floor(MAX_DURATION_MS / 3_600_000)}h`,
        });
      }
      return ms;
    }
    case "size": {
      const n = typeof raw === "number" ? raw : typeof raw === "string" ? parseSize(raw) : undefined;
      if (n === undefined || !Number.isSafeInteger(n) || n < 0) {
        throw bad("size", "use bytes (0 or more) or a unit: 512k, 50m, 1g");
      }
      return inRange(n, spec, (limit) => bad("size", `use ${limit}`), formatSize);
    }
    case "number": {
      const n = typeof raw === "number" ? raw : typeof raw === "string" && raw.trim() !== "" ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n) || n < 1) throw bad("number", "use a whole number, 1 or more");
      return inRange(n, spec, (limit) => bad("number", `use ${limit}`), String);
    }
    case "list": {
      // From the environment a list is newline- or comma-separated; a file may give one string.
      const items = Array.isArray(raw)
        ? raw
        : typeof raw === "string"
          ? from.file
            ? [raw]
            : raw.split(/[\n,]/).map((x) => x.trim())
          : undefined;
      if (!items || items.some((x) => typeof x !== "string")) {
        throw bad("list", "use a list of strings (a YAML/JSON array), or repeat the flag");
      }
      const list = (items as string[]).filter((x) => x !== "");
      for (const item of list) checkText(item, spec, (why, hint) => bad(`value (${why})`, hint));
      if (spec.rule) for (const item of list) checkRule(spec.rule, item, flag, from);
      return list;
    }
    case "enum":
      if (typeof raw !== "string" || !spec.choices!.includes(raw)) {
        throw bad("value", `use one of: ${spec.choices!.join(", ")}`);
      }
      return raw;
    default: {
      // YAML reads `branch: 2024` as a number: its text is what was meant. An object or a list is not.
      const text = typeof raw === "number" && Number.isFinite(raw) ? String(raw) : raw;
      if (typeof text !== "string" || text === "") throw bad("value", "use a non-empty string");
      checkText(text, spec, (why, hint) => bad(`value (${why})`, hint));
      if (spec.rule) checkRule(spec.rule, text, flag, from);
      return text;
    }
  }
}

/** NUL ends a C string early and Node refuses it in paths; newlines would start new git config lines. */
function checkText(text: string, spec: OptionSpec, bad: (why: string, hint: string) => ConfigError): void {
  // eslint-disable-next-line no-control-regex -- control characters are what this looks for
  const control = spec.multiline ? /[\x00-\x08\x0b-\x1f\x7f]/ : /[\x00-\x1f\x7f]/;
  if (control.test(text)) throw bad("a control character", "remove it");
}

function inRange(n: number, spec: OptionSpec, bad: (limit: string) => ConfigError, fmt: (n: number) => string) {
  const bound = (b: string | number | undefined) => (typeof b === "string" ? parseSize(b)! : b);
  const min = bound(spec.min);
  const max = bound(spec.max);
  if (min !== undefined && n < min) throw bad(max === undefined ? `${fmt(min)} or more` : `${fmt(min)} to ${fmt(max)}`);
  if (max !== undefined && n > max) throw bad(min === undefined ? `at most ${fmt(max)}` : `${fmt(min)} to ${fmt(max)}`);
  return n;
}

/** The rule's problem with `value`, as a ConfigError naming the option and its source. */
function checkRule(rule: ValueRule, value: string, flag: string, from: ValueSource): void {
  const noun = {
    branch: "name",
    author: "value",
    trailer: "value",
    listen: "address",
    remote: "",
    httpUrl: "URL",
    s3Region: "region",
    when: "value",
    since: "value",
  }[rule];
  const fail = (why: string, hint: string) =>
    new ConfigError(`bad --${flag} ${noun} ${shown(value)} (from ${from.source}): ${why}`, { hint });
  switch (rule) {
    case "branch": {
      const why = branchNameProblem(value);
      if (why) throw fail(why, "use a name git accepts (git check-ref-format --branch), e.g. main or notes/backup");
      return;
    }
    case "author": {
      const m = /^\s*([^<>]*?)\s*<([^<>\s]*)>\s*$/.exec(value);
      if (!m || !/\S/.test(m[1]!) || m[2] === "") throw fail("not Name <email>", 'use "Name <name@example.com>"');
      return;
    }
    case "trailer":
      // git interpret-trailers: a token of letters, digits and '-', a ':' and a value.
      if (!/^\s*[A-Za-z0-9][A-Za-z0-9-]*\s*:\s*\S/.test(value)) {
        throw fail("not Key: value", 'use "Key: value", e.g. "Saved-by: mirrorshade"');
      }
      return;
    case "listen":
      try {
        parseListen(value);
      } catch (err) {
        throw fail("not an address", (err as ConfigError).hint ?? "use :8787 or 127.0.0.1:8787");
      }
      return;
    case "remote":
      try {
        parseRemote(value);
      } catch (err) {
        const e = err as ConfigError;
        throw new ConfigError(`${e.message} (from ${from.source})`, { hint: e.hint });
      }
      return;
    case "httpUrl": {
      let u: URL | undefined;
      try {
        u = new URL(value);
      } catch {
        u = undefined;
      }
      if (!u || !/^https?:$/.test(u.protocol) || u.hostname === "")
        throw fail("not an http(s) URL", "use http(s)://host[:port]");
      return;
    }
    case "when":
    case "since":
      if (!parseWhen(value, new Date(), { ids: rule === "when" })) {
        throw fail(
          rule === "when" ? "not a save id, a time or an age" : "not a time or an age",
          rule === "when" ? WHEN_HINT : "use an ISO time (2026-12-02T10:15Z) or an age (30m, 2h, 3d)",
        );
      }
      return;
    case "s3Region":
      if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(value)) {
        throw fail("not an S3 region", "e.g. us-east-1, eu-central-1 (MinIO: us-east-1)");
      }
      return;
  }
}

/** A value for a message: JSON-quoted, short; URLs keep no credentials (main redacts the line too). */
function shown(raw: unknown): string {
  let s: string;
  try {
    s = JSON.stringify(raw) ?? String(raw);
  } catch {
    s = String(raw);
  }
  s = stripUserinfo(s);
  return s.length > 120 ? s.slice(0, 120) + "…" : s;
}
