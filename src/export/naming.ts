// Prometheus names for maps and their keys. A map `@bytesByTopic` becomes `kafkatrace_bytes_by_topic`
// (counters get `_total`), `@` becomes `kafkatrace_map`; units in the name stay as written (`@lat_ns`
// → `kafkatrace_lat_ns`). Keys become labels named after what the script indexes the map with
// (PlanMap.keyNames), else by position: key0, key1, ...
import type { MapValueKind } from '../frontend/ast.js';
import { decodeHealth, newCounters } from '../kafka/exchange/counters.js';

export const PREFIX = 'kafkatrace_';

/** What Prometheus calls the family: decides the suffixes and the TYPE line. */
export type FamilyType = 'counter' | 'gauge' | 'summary' | 'histogram';

/** Names of kafkatrace's own metrics, which no map may take. */
const HEALTH_BASES = [
  'events_lost', 'kafka_frames_failed', 'probes_attached', 'scrape_duration_seconds', 'kafka_frame_failures',
  ...decodeHealth(newCounters()).figures.map((f) => `kafka_${f.name}`),
];

/** `bytesByTopic` → `bytes_by_topic`, `HTTPReqs` → `http_reqs`; anything else than [a-z0-9_] becomes `_`. */
export function snakeCase(name: string): string {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '');
}

/**
 * How each kind of map is exported: count, and sum of unsigned values, only grow (until clear(), which
 * Prometheus sees as a counter reset); avg and stats are a count and a sum; hist and lhist keep their
 * buckets; the rest is a gauge. Undefined: not exported (scalars that are not integers).
 */
export function familyType(value: MapValueKind): FamilyType | undefined {
  switch (value.kind) {
    case 'count':
      return 'counter';
    case 'sum':
      return value.signed ? 'gauge' : 'counter';
    case 'avg':
    case 'stats':
      return 'summary';
    case 'hist':
    case 'lhist':
      return 'histogram';
    case 'min':
    case 'max':
      return 'gauge';
    case 'scalar':
      return value.type.kind === 'int' ? 'gauge' : undefined;
  }
}

/** The base of a map's metric names, without prefix or `_total`: `@` → `map`; a leading digit gets `map_`. */
export function mapBase(mapName: string): string {
  const base = snakeCase(mapName.replace(/^@/, '')).replace(/_total$/, '');
  if (base === '' || base === 'total') return 'map';
  return /^[0-9]/.test(base) ? `map_${base}` : base;
}

/**
 * Full family names of every map, in order, unique among themselves and apart from the health metrics:
 * a clash (`@fooBar` and `@foo_bar`) gets `_2`, `_3`, ... on the later map.
 */
export function familyNames(maps: { name: string; type: FamilyType }[]): string[] {
  const taken = new Set(HEALTH_BASES);
  return maps.map((m) => {
    const base = mapBase(m.name);
    let candidate = base;
    for (let n = 2; taken.has(candidate); n++) candidate = `${base}_${n}`;
    taken.add(candidate);
    return PREFIX + candidate + (m.type === 'counter' ? '_total' : '');
  });
}

const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Label names of a map's keys: the script's names where they make valid, distinct labels that are not
 * reserved (`__*`, and `le` on histograms, `quantile` on summaries), `key<i>` otherwise.
 */
export function labelNames(keyCount: number, keyNames: string[] | undefined, type: FamilyType): string[] {
  const reserved = type === 'histogram' ? 'le' : type === 'summary' ? 'quantile' : undefined;
  const positional = Array.from({ length: keyCount }, (_, i) => `key${i}`);
  const used = new Set<string>();
  return positional.map((fallback, i) => {
    const name = keyNames?.[i] ?? '';
    const usable = LABEL.test(name) && !name.startsWith('__') && name !== reserved && !used.has(name) && !positional.includes(name);
    const chosen = usable ? name : fallback;
    used.add(chosen);
    return chosen;
  });
}
