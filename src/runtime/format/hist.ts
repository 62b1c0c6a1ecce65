// hist and lhist rendering as bpftrace prints them: one line per bucket from the first to the last
// non-empty one, a 16-wide label, an 8-wide count and a bar of up to 52 `@`s scaled to the largest
// bucket (computed in single precision, as bpftrace does, so bar lengths match to the character).

const BAR_WIDTH = 52;
const SUFFIXES = ['', 'K', 'M', 'G', 'T', 'P', 'E'];

/** `2^power` with a K/M/G/T/P/E suffix per factor of 1024: 1024 → `1K`, 2^21 → `2M`. */
export function histIndexLabel(power: number): string {
  const suffix = SUFFIXES[Math.floor(power / 10)]!;
  return String(1n << BigInt(power % 10)) + suffix;
}

/** lhist bounds: `0`, a multiple of 1M as `nM`, of 1K as `nK`, anything else in decimal. */
export function lhistIndexLabel(n: number): string {
  if (n === 0) return '0';
  if (n % 1048576 === 0) return `${n / 1048576}M`;
  if (n % 1024 === 0) return `${n / 1024}K`;
  return String(n);
}

/** Text label of hist bucket i: [0] negative, [1] zero, [k + 2] counts [2^k, 2^(k+1)). */
export function histBucketLabel(i: number): string {
  if (i === 0) return '(..., 0)';
  if (i === 1) return '[0]';
  if (i === 2) return '[1]';
  return `[${histIndexLabel(i - 2)}, ${histIndexLabel(i - 1)})`;
}

interface LhistParams {
  min: number;
  max: number;
  step: number;
}

/** Number of in-range lhist buckets (without the below-min and at-or-above-max ones). */
function lhistInner(buckets: bigint[]): number {
  return buckets.length - 2;
}

function lhistBucketLabel(i: number, p: LhistParams, inner: number): string {
  if (i === 0) return `(..., ${lhistIndexLabel(p.min)})`;
  if (i === inner + 1) return `[${lhistIndexLabel(p.max)}, ...)`;
  return `[${lhistIndexLabel((i - 1) * p.step + p.min)}, ${lhistIndexLabel(i * p.step + p.min)})`;
}

/** First and last non-empty bucket, or undefined when all are empty. */
function nonEmptyRange(buckets: bigint[]): [number, number] | undefined {
  let first = -1;
  let last = -1;
  buckets.forEach((b, i) => {
    if (b > 0n) {
      if (first < 0) first = i;
      last = i;
    }
  });
  return first < 0 ? undefined : [first, last];
}

function barWidth(value: bigint, max: bigint): number {
  if (max === 0n) return 0;
  const ratio = Math.fround(Math.fround(Number(value)) / Math.fround(Number(max)));
  return Math.trunc(Math.fround(ratio * BAR_WIDTH));
}

function line(label: string, shown: bigint, value: bigint, max: bigint): string {
  const bar = '@'.repeat(barWidth(value, max));
  return `${label.padEnd(16)}${String(shown).padStart(8)} |${bar.padEnd(BAR_WIDTH)}|\n`;
}

function maxOf(buckets: bigint[]): bigint {
  return buckets.reduce((m, b) => (b > m ? b : m), 0n);
}

export function histText(buckets: bigint[], div = 1n): string {
  const range = nonEmptyRange(buckets);
  if (!range) return '';
  const max = maxOf(buckets);
  let out = '';
  for (let i = range[0]; i <= range[1]; i++) out += line(histBucketLabel(i), buckets[i]! / div, buckets[i]!, max);
  return out;
}

export function lhistText(buckets: bigint[], p: LhistParams): string {
  const range = nonEmptyRange(buckets);
  if (!range) return '';
  const max = maxOf(buckets);
  const inner = lhistInner(buckets);
  let out = '';
  for (let i = range[0]; i <= range[1]; i++) out += line(lhistBucketLabel(i, p, inner), buckets[i]!, buckets[i]!, max);
  return out;
}

export function histJson(buckets: bigint[], div = 1n): string {
  const range = nonEmptyRange(buckets);
  if (!range) return '[]';
  const parts: string[] = [];
  for (let i = range[0]; i <= range[1]; i++) {
    let bounds: string;
    if (i === 0) bounds = '"max": -1, ';
    else if (i === 1) bounds = '"min": 0, "max": 0, ';
    else if (i === 2) bounds = '"min": 1, "max": 1, ';
    else bounds = `"min": ${1n << BigInt(i - 2)}, "max": ${(1n << BigInt(i - 1)) - 1n}, `;
    parts.push(`{${bounds}"count": ${buckets[i]! / div}}`);
  }
  return '[' + parts.join(', ') + ']';
}

export function lhistJson(buckets: bigint[], p: LhistParams): string {
  const range = nonEmptyRange(buckets);
  if (!range) return '[]';
  const inner = lhistInner(buckets);
  const parts: string[] = [];
  for (let i = range[0]; i <= range[1]; i++) {
    let bounds: string;
    if (i === 0) bounds = `"max": ${p.min - 1}, `;
    else if (i === inner + 1) bounds = `"min": ${p.max}, `;
    else bounds = `"min": ${(i - 1) * p.step + p.min}, "max": ${i * p.step + p.min - 1}, `;
    parts.push(`{${bounds}"count": ${buckets[i]!}}`);
  }
  return '[' + parts.join(', ') + ']';
}

/** Log2 bucket index of a value, identical to the kernel side: [0] negative, [1] zero, [k+2] [2^k, 2^(k+1)). */
export function histBucketIndex(v: bigint): number {
  const x = BigInt.asIntN(64, v);
  if (x < 0n) return 0;
  if (x === 0n) return 1;
  return x.toString(2).length + 1;
}

/** lhist bucket index of a value, identical to the kernel side. */
export function lhistBucketIndex(v: bigint, p: LhistParams): number {
  const x = BigInt.asIntN(64, v);
  if (x < BigInt(p.min)) return 0;
  if (x >= BigInt(p.max)) return Math.ceil((p.max - p.min) / p.step) + 1;
  return Number((x - BigInt(p.min)) / BigInt(p.step)) + 1;
}
