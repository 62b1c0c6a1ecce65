// Map snapshots and session health as Prometheus metric families: names, labels and samples, ready for
// prom-client to write out. Integers are exported as float64 (Prometheus has no other sample type),
// exact up to 2^53.
import type { MapValueKind } from '../frontend/ast.js';
import type { PlanMap } from '../plan/types.js';
import { valueText, type RenderContext } from '../runtime/format/value.js';
import type { SessionHealth } from '../runtime/session.js';
import { isAvgValue, type MapEntry, type MapSnapshot, type Value } from '../runtime/values.js';
import type { DecodeHealth } from '../kafka/exchange/counters.js';
import { familyNames, familyType, labelNames, PREFIX, type FamilyType } from './naming.js';

export interface Sample {
  /** The sample's name when it is not the family's (`_bucket`, `_count`, `_sum`). */
  metricName?: string;
  labels: Record<string, string>;
  value: number;
}

export interface MetricFamily {
  name: string;
  help: string;
  type: FamilyType;
  labelNames: string[];
  samples: Sample[];
}

/** How one map is exported; fixed for the session so that names do not move between scrapes. */
export interface ExportedMap {
  /** `@name` as written. */
  map: string;
  family: string;
  type: FamilyType;
  labelNames: string[];
  value: MapValueKind;
  /**
   * hist/lhist: buckets written, from the first up to the highest one that has ever held a value in
   * this session (then +Inf). It only grows, so a series once exported stays; the empty buckets
   * above (up to 2^63 for hist) would only multiply the series Prometheus stores.
   */
  bucketsShown: number;
}

/** The maps that have a Prometheus form (string and other non-integer scalars have none), and their names. */
export function exportedMaps(maps: PlanMap[]): ExportedMap[] {
  const typed = maps.flatMap((m) => {
    const type = familyType(m.value);
    return type ? [{ m, type }] : [];
  });
  const names = familyNames(typed.map(({ m, type }) => ({ name: m.name, type })));
  return typed.map(({ m, type }, i) => ({
    map: m.name,
    family: names[i]!,
    type,
    labelNames: labelNames(m.keyTypes.length, m.keyNames, type),
    value: m.value,
    bucketsShown: 0,
  }));
}

/** A key as a label value: as bpftrace prints it, a stack folded to `frame;frame;...` (outermost last). */
function labelValue(v: Value, render: RenderContext): string {
  const text = valueText(v, render, 0);
  return typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) && (v.kind === 'kstack' || v.kind === 'ustack')
    ? text.trim().split('\n').join(';')
    : text;
}

function labelsOf(entry: MapEntry, names: string[], render: RenderContext): Record<string, string> {
  const labels: Record<string, string> = {};
  names.forEach((name, i) => (labels[name] = entry.keys[i] === undefined ? '' : labelValue(entry.keys[i]!, render)));
  return labels;
}

/**
 * Upper bounds (Prometheus `le`, inclusive) of the buckets as the kernel fills them. The values are
 * integers, so [2^k, 2^(k+1)) is exactly le = 2^(k+1) - 1; the last bucket is +Inf.
 */
export function bucketBounds(value: MapValueKind, count: number): string[] {
  if (value.kind === 'hist') {
    return Array.from({ length: count }, (_, i) =>
      i === count - 1 ? '+Inf' : i === 0 ? '-1' : i === 1 ? '0' : String((1n << BigInt(i - 1)) - 1n),
    );
  }
  if (value.kind !== 'lhist') throw new Error(`${value.kind} maps have no buckets`);
  const { min, max, step } = value;
  return Array.from({ length: count }, (_, i) =>
    i === count - 1 ? '+Inf' : String(Math.min(min + i * step, max) - 1),
  );
}

function entrySamples(m: ExportedMap, entry: MapEntry, labels: Record<string, string>): Sample[] {
  const v = entry.value;
  if (m.type === 'summary' && isAvgValue(v)) {
    return [
      { metricName: `${m.family}_sum`, labels, value: Number(v.total) },
      { metricName: `${m.family}_count`, labels, value: Number(v.count) },
    ];
  }
  if (m.type === 'histogram' && Array.isArray(v)) {
    const buckets = v as bigint[];
    const bounds = bucketBounds(m.value, buckets.length);
    const bucket = (le: string, count: bigint): Sample => ({ metricName: `${m.family}_bucket`, labels: { ...labels, le }, value: Number(count) });
    const shown = Math.min(m.bucketsShown, buckets.length - 1);
    let cumulative = 0n;
    const samples: Sample[] = [];
    for (let i = 0; i < shown; i++) samples.push(bucket(bounds[i]!, (cumulative += buckets[i]!)));
    const total = buckets.reduce((a, b) => a + b, 0n);
    samples.push(bucket('+Inf', total), { metricName: `${m.family}_count`, labels, value: Number(total) });
    return samples;
  }
  return typeof v === 'bigint' ? [{ labels, value: Number(v) }] : [];
}

const HELP: Record<MapValueKind['kind'], string> = {
  count: 'count()',
  sum: 'sum()',
  avg: 'avg(): _sum / _count is the average',
  stats: 'stats(): _sum / _count is the average',
  min: 'min()',
  max: 'max()',
  hist: 'hist(): power-of-two buckets, no _sum (the kernel keeps none)',
  lhist: 'lhist(): linear buckets, no _sum (the kernel keeps none)',
  scalar: 'the value last assigned',
};

/** One map's family; a map with no entry yet (or no snapshot) has no samples. */
export function mapFamily(m: ExportedMap, snapshot: MapSnapshot | undefined, render: RenderContext): MetricFamily {
  if (m.type === 'histogram') {
    for (const e of snapshot?.entries ?? []) {
      const buckets = e.value as bigint[];
      for (let i = buckets.length - 1; i >= m.bucketsShown; i--) {
        if (buckets[i]! > 0n) {
          m.bucketsShown = i + 1;
          break;
        }
      }
    }
  }
  const samples = (snapshot?.entries ?? []).flatMap((e) => entrySamples(m, e, labelsOf(e, m.labelNames, render)));
  return { name: m.family, help: `map ${m.map}: ${HELP[m.value.kind]}`, type: m.type, labelNames: m.labelNames, samples };
}

function single(name: string, type: FamilyType, help: string, value: number): MetricFamily {
  return { name: PREFIX + name, help, type, labelNames: [], samples: [{ labels: {}, value }] };
}

/** kafkatrace's own metrics; `lastScrapeSeconds` is how long the previous scrape took (0 before any). */
export function healthFamilies(h: SessionHealth, lastScrapeSeconds: number): MetricFamily[] {
  return [
    single('events_lost_total', 'counter', 'ring-buffer records the kernel could not send to kafkatrace', Number(h.eventsLost)),
    single('kafka_frames_failed_total', 'counter', 'Kafka frames that could not be decoded', h.kafkaFramesFailed),
    ...(h.kafka ? kafkaHealthFamilies(h.kafka) : []),
    single('probes_attached', 'gauge', 'attach points of the running script', h.probesAttached),
    single('scrape_duration_seconds', 'gauge', 'how long the previous scrape of these metrics took', lastScrapeSeconds),
  ];
}

/** The Kafka decoder's health: kafkatrace_kafka_<figure>_total, and failed frames by reason. */
export function kafkaHealthFamilies(k: DecodeHealth): MetricFamily[] {
  return [
    ...k.figures.map((f) => single(`kafka_${f.name}_total`, 'counter', f.help, f.value)),
    {
      name: `${PREFIX}kafka_frame_failures_total`,
      help: 'Kafka frames that could not be decoded, by reason',
      type: 'counter',
      labelNames: ['reason'],
      samples: Object.entries(k.failed).map(([reason, value]) => ({ labels: { reason }, value })),
    },
  ];
}
