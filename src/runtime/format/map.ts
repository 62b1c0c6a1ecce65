// Map printing as bpftrace 0.17 does it: entry order (by value for count/sum/min/max and integer
// maps, by total count for hist/lhist, by average for avg/stats, by key otherwise), `top` and `div`,
// and the text and JSON shapes of each value kind, blank lines included.
import type { KType, MapValueKind } from '../../frontend/ast.js';
import { isAvgValue, type MapEntry, type MapEntryValue, type MapSnapshot, type Value } from '../values.js';
import { histJson, histText, lhistJson, lhistText } from './hist.js';
import { jsonEscape, jsonString } from './json.js';
import { escapeControls, type RenderContext, recordText, valueJson, valueTerminalText, valueText } from './value.js';

function cmp(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function average(v: MapEntryValue): bigint {
  if (!isAvgValue(v) || v.count === 0n) return 0n;
  return v.total / v.count;
}

function bucketTotal(v: MapEntryValue): bigint {
  return Array.isArray(v) ? (v as bigint[]).reduce((s, b) => s + b, 0n) : 0n;
}

/** bpftrace's sort_by_key: stable sorts from the last key to the first; ints unsigned, strings bytewise. */
function sortByKey(entries: MapEntry[], keyTypes: KType[]): MapEntry[] {
  let out = entries;
  for (let i = keyTypes.length - 1; i >= 0; i--) {
    const t = keyTypes[i]!;
    if (t.kind === 'int' || t.kind === 'ptr') {
      out = [...out].sort((a, b) => cmp(BigInt.asUintN(64, a.keys[i] as bigint), BigInt.asUintN(64, b.keys[i] as bigint)));
    } else if (t.kind === 'str') {
      out = [...out].sort((a, b) => Buffer.compare(Buffer.from(a.keys[i] as string), Buffer.from(b.keys[i] as string)));
    }
  }
  return out;
}

/**
 * Entries in the order bpftrace prints them. Ties keep key order (bpftrace leaves them in hash order),
 * so output is deterministic.
 */
function sortEntries(s: MapSnapshot): MapEntry[] {
  const byKey = sortByKey(s.entries, s.keyTypes);
  const v = s.value;
  switch (v.kind) {
    case 'count':
    case 'sum':
    case 'min':
    case 'max':
      return [...byKey].sort((a, b) => cmp(a.value as bigint, b.value as bigint));
    case 'scalar':
      if (v.type.kind === 'int') return [...byKey].sort((a, b) => cmp(a.value as bigint, b.value as bigint));
      return byKey;
    case 'hist':
    case 'lhist':
      return [...byKey].sort((a, b) => cmp(bucketTotal(a.value), bucketTotal(b.value)));
    case 'avg':
    case 'stats':
      return [...byKey].sort((a, b) => cmp(average(a.value), average(b.value)));
  }
}

function applyTop(entries: MapEntry[], top: number): MapEntry[] {
  return top > 0 && entries.length > top ? entries.slice(entries.length - top) : entries;
}

function divide(v: bigint, div: bigint): bigint {
  return div > 1n ? v / div : v;
}

function isHist(v: MapValueKind): boolean {
  return v.kind === 'hist' || v.kind === 'lhist';
}

function isStats(v: MapValueKind): boolean {
  return v.kind === 'avg' || v.kind === 'stats';
}

function bucketsText(kind: MapValueKind, value: MapEntryValue, div: bigint): string {
  const buckets = value as bigint[];
  return kind.kind === 'lhist' ? lhistText(buckets, kind) : histText(buckets, div);
}

function bucketsJson(kind: MapValueKind, value: MapEntryValue, div: bigint): string {
  const buckets = value as bigint[];
  return kind.kind === 'lhist' ? lhistJson(buckets, kind) : histJson(buckets, div);
}

function statsParts(value: MapEntryValue): { count: bigint; average: bigint; total: bigint } {
  const v = isAvgValue(value) ? value : { count: 0n, total: 0n };
  return { count: v.count, average: average(v), total: v.total };
}

function scalarText(s: MapSnapshot, value: MapEntryValue, ctx: RenderContext, div: bigint): string {
  if (s.value.kind === 'stats') {
    const p = statsParts(value);
    return `count ${p.count}, average ${p.average}, total ${p.total}`;
  }
  if (s.value.kind === 'avg') return divide(average(value), div).toString();
  if (typeof value === 'bigint') return divide(value, div).toString();
  return valueTerminalText(value as Value, ctx);
}

function scalarJson(s: MapSnapshot, value: MapEntryValue, ctx: RenderContext, div: bigint): string {
  if (s.value.kind === 'stats') {
    const p = statsParts(value);
    return `{"count": ${p.count}, "average": ${p.average}, "total": ${p.total}}`;
  }
  if (s.value.kind === 'avg') return divide(average(value), div).toString();
  if (typeof value === 'bigint') return divide(value, div).toString();
  return valueJson(value as Value, ctx);
}

/** Value types whose text already ends a line (stacks) or never separated entries in bpftrace. */
function noDelimiter(v: MapValueKind): boolean {
  return v.kind === 'scalar' && ['kstack', 'ustack', 'ksym', 'usym', 'inet'].includes(v.type.kind);
}

/** A key prints as its value does, but a pointer key in hex (bpftrace's `@m[0x10]`). */
function keyPart(s: MapSnapshot, k: Value, i: number, ctx: RenderContext, text: typeof valueText): string {
  if (s.keyTypes[i]?.kind === 'ptr' && typeof k === 'bigint') return `0x${k.toString(16)}`;
  if (typeof k === 'object' && !(k instanceof Uint8Array) && !Array.isArray(k) && k.kind === 'record') return text === valueTerminalText ? escapeControls(recordText(k, ctx, true)) : recordText(k, ctx, true);
  return text(k, ctx, 4);
}

function keyText(s: MapSnapshot, keys: Value[], ctx: RenderContext): string {
  if (keys.length === 0) return s.name;
  return `${s.name}[${keys.map((k, i) => keyPart(s, k, i, ctx, valueTerminalText)).join(', ')}]`;
}

/** A map in bpftrace's text format; an empty map prints as an empty line (two for avg/stats). */
export function mapText(s: MapSnapshot, ctx: RenderContext, top = 0, div = 1): string {
  const d = BigInt(Math.max(1, div));
  const entries = applyTop(sortEntries(s), top);
  if (isHist(s.value)) {
    const elems = entries.map((e) => `${keyText(s, e.keys, ctx)}: \n${bucketsText(s.value, e.value, d)}`);
    return elems.join('\n') + '\n';
  }
  const elems = entries.map((e) => `${keyText(s, e.keys, ctx)}: ${scalarText(s, e.value, ctx, d)}`);
  if (isStats(s.value)) return elems.join('\n') + '\n\n';
  return elems.join(noDelimiter(s.value) ? '' : '\n') + '\n';
}

/** A map as one bpftrace JSON line (`map`, `hist` or `stats`); an empty map prints nothing. */
export function mapJson(s: MapSnapshot, ctx: RenderContext, top = 0, div = 1): string {
  if (s.entries.length === 0) return '';
  const d = BigInt(Math.max(1, div));
  const entries = applyTop(sortEntries(s), top);
  const type = isHist(s.value) ? 'hist' : isStats(s.value) ? 'stats' : 'map';
  const hasKeys = s.keyTypes.length > 0;
  const elems = entries.map((e) => {
    const val = isHist(s.value) ? bucketsJson(s.value, e.value, d) : scalarJson(s, e.value, ctx, d);
    if (!hasKeys) return val;
    return `${jsonString(e.keys.map((k, i) => keyPart(s, k, i, ctx, valueText)).join(','))}: ${val}`;
  });
  const body = hasKeys ? `{${elems.join(', ')}}` : elems.join(', ');
  return `{"type": "${type}", "data": {"${jsonEscape(s.name)}": ${body}}}\n`;
}
