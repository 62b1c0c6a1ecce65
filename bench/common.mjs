// What every bench section shares: settings from the environment, medians, and how a figure is
// compared with its target.

/** A positive integer from the environment variable `name`, or `fallback` when it is unset. */
export function positive(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got '${v}'`);
  return n;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const verdict = (ok, target) => `target ${target}: ${ok ? 'met' : 'NOT MET'}`;
