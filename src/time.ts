/**
 * `<when>`, as `log --since` and `restore --at` take it: a save's id (hex, as `log` prints
 * it, 4 characters or more), an ISO 8601 time (`2026-12-02`, `2026-12-02T10:15`, with `Z`
 * or an offset; without one it is local time, as git reads it), or an age before now
 * (`90s`, `30m`, `2h`, `3d`, `1w`).
 */

/** A past point: a save's id (or a unique prefix of it), or a time. */
export type When = { id: string } | { time: Date };

const AGE = /^(\d+)\s*(s|m|h|d|w)$/i;
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;
const ID = /^[0-9a-f]{4,64}$/i;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * Parse `text`; undefined when it is none of the three. `ids: false` (log --since) accepts
 * times and ages only.
 */
export function parseWhen(text: string, now: Date = new Date(), opts: { ids?: boolean } = {}): When | undefined {
  const t = text.trim();
  const age = AGE.exec(t);
  if (age) return { time: new Date(now.getTime() - Number(age[1]) * UNIT_MS[age[2]!.toLowerCase()]!) };
  const iso = ISO.exec(t);
  if (iso) {
    const time = isoTime(iso);
    return time && { time };
  }
  if (opts.ids !== false && ID.test(t)) return { id: t.toLowerCase() };
  return undefined;
}

function isoTime(m: RegExpExecArray): Date | undefined {
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? 0));
  const ms = Math.round(Number(`0.${m[7] ?? "0"}`) * 1000);
  const zone = m[8];
  // 2026-02-31 would roll over to March: refuse it rather than guess.
  const day = new Date(Date.UTC(y!, mo! - 1, d!));
  if (day.getUTCMonth() !== mo! - 1 || day.getUTCDate() !== d || h! > 23 || mi! > 59 || s! > 59) return undefined;
  if (zone === undefined) return new Date(y!, mo! - 1, d!, h!, mi!, s!, ms);
  const off = zone.toUpperCase() === "Z" ? 0 : zoneMinutes(zone);
  return new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!, ms) - off * 60_000);
}

function zoneMinutes(zone: string): number {
  const m = /^([+-])(\d{2}):?(\d{2})$/.exec(zone)!;
  return (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));
}

/** What a value of `--at` / `--since` may look like, for hints. */
export const WHEN_HINT =
  "use a save id from `mirrorshade log`, an ISO time (2026-12-02T10:15Z) or an age (30m, 2h, 3d)";

/** `YYYYMMDDTHHMMSSZ` (UTC): conflict copy names, S3 record keys. */
export function compactUtc(when: Date): string {
  return when
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}
