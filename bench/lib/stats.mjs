// Statistics over a scenario's samples and the way the report prints them.

export function stats(values) {
  const v = values.filter((x) => typeof x === "number" && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return undefined;
  const mid = Math.floor(v.length / 2);
  const median = v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1], n: v.length, samples: values };
}

export function fmtNum(x, unit) {
  if (x === undefined || x === null || Number.isNaN(x)) return "—";
  if (unit === "ms") return x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${Math.round(x)} ms`;
  if (unit === "s") return `${x.toFixed(1)} s`;
  if (unit === "MB") return `${x.toFixed(1)} MB`;
  if (unit === "%") return `${x.toFixed(3)} %`;
  if (unit === "/min") return `${x.toFixed(1)}/min`;
  return `${Number.isInteger(x) ? x : x.toFixed(2)}${unit ? ` ${unit}` : ""}`;
}

/** "median (min–max)" of a stats object. */
export function fmtStats(s, unit) {
  if (!s) return "—";
  if (s.n === 1 || s.min === s.max) return fmtNum(s.median, unit);
  return `${fmtNum(s.median, unit)} (${fmtNum(s.min, unit)}–${fmtNum(s.max, unit)})`;
}

/** A count as the report names sizes: 10000 → "10k", 250 → "250". */
export const k = (n) => (n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : String(n));
