// The demo script's maps as figures: running totals read from one snapshot of every map, and the
// per-second rates between two such readings.
import { isAvgValue, type MapSnapshot } from '../runtime/values.js';

export interface TopicTotals {
  producedBytes: number;
  producedRecords: number;
  fetchedBytes: number;
  fetchedRecords: number;
}

export interface ApiTotals {
  requests: number;
  /** avg()'s parts, so that the average over any interval is a difference quotient. */
  latencyTotalUs: number;
  latencyCount: number;
}

export interface DemoTotals {
  topics: Map<string, TopicTotals>;
  /** Records produced, by client id. */
  producers: Map<string, number>;
  /** Records fetched, by client id. */
  consumers: Map<string, number>;
  apis: Map<string, ApiTotals>;
  /** kafka:rebalance firings, by group. */
  rebalanceFirings: Map<string, number>;
}

export interface TopicRates {
  producedBytes: number;
  producedRecords: number;
  fetchedBytes: number;
  fetchedRecords: number;
}

export interface ApiRates {
  requests: number;
  /** Mean latency of the interval's requests; undefined when there were none. */
  latencyUs: number | undefined;
}

/** Per second over one interval, keyed as DemoTotals. */
export interface DemoRates {
  topics: Map<string, TopicRates>;
  producers: Map<string, number>;
  consumers: Map<string, number>;
  apis: Map<string, ApiRates>;
}

export function emptyTotals(): DemoTotals {
  return { topics: new Map(), producers: new Map(), consumers: new Map(), apis: new Map(), rebalanceFirings: new Map() };
}

/** Entries of a one-key map as key text → number (avg maps are read by apiTotals). */
function byKey(s: MapSnapshot | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const e of s?.entries ?? []) {
    if (typeof e.value === 'bigint') out.set(String(e.keys[0] ?? ''), Number(e.value));
  }
  return out;
}

function topic(totals: DemoTotals, name: string): TopicTotals {
  let t = totals.topics.get(name);
  if (!t) {
    t = { producedBytes: 0, producedRecords: 0, fetchedBytes: 0, fetchedRecords: 0 };
    totals.topics.set(name, t);
  }
  return t;
}

export function totalsOf(snapshots: MapSnapshot[]): DemoTotals {
  const map = (name: string) => snapshots.find((s) => s.name === name);
  const totals = emptyTotals();
  const fields: [string, keyof TopicTotals][] = [
    ['@produce_bytes', 'producedBytes'],
    ['@produce_records', 'producedRecords'],
    ['@fetch_bytes', 'fetchedBytes'],
    ['@fetch_records', 'fetchedRecords'],
  ];
  for (const [name, field] of fields) {
    for (const [t, n] of byKey(map(name))) topic(totals, t)[field] = n;
  }
  totals.producers = byKey(map('@producer_records'));
  totals.consumers = byKey(map('@consumer_records'));
  totals.rebalanceFirings = byKey(map('@rebalance_firings'));
  for (const [api, n] of byKey(map('@requests'))) totals.apis.set(api, { requests: n, latencyTotalUs: 0, latencyCount: 0 });
  for (const e of map('@latency_us')?.entries ?? []) {
    if (!isAvgValue(e.value)) continue;
    const api = String(e.keys[0] ?? '');
    const a = totals.apis.get(api) ?? { requests: 0, latencyTotalUs: 0, latencyCount: 0 };
    a.latencyTotalUs = Number(e.value.total);
    a.latencyCount = Number(e.value.count);
    totals.apis.set(api, a);
  }
  return totals;
}

function perSecond(now: number, before: number | undefined, seconds: number): number {
  return Math.max(0, now - (before ?? 0)) / seconds;
}

/** Rates from `prev` to `cur`, `seconds` apart; without `prev`, the averages since the start. */
export function ratesBetween(prev: DemoTotals | undefined, cur: DemoTotals, seconds: number): DemoRates {
  const s = seconds > 0 ? seconds : 1;
  const base = prev ?? emptyTotals();
  const rates: DemoRates = { topics: new Map(), producers: new Map(), consumers: new Map(), apis: new Map() };
  for (const [name, t] of cur.topics) {
    const p = base.topics.get(name);
    rates.topics.set(name, {
      producedBytes: perSecond(t.producedBytes, p?.producedBytes, s),
      producedRecords: perSecond(t.producedRecords, p?.producedRecords, s),
      fetchedBytes: perSecond(t.fetchedBytes, p?.fetchedBytes, s),
      fetchedRecords: perSecond(t.fetchedRecords, p?.fetchedRecords, s),
    });
  }
  for (const [id, n] of cur.producers) rates.producers.set(id, perSecond(n, base.producers.get(id), s));
  for (const [id, n] of cur.consumers) rates.consumers.set(id, perSecond(n, base.consumers.get(id), s));
  for (const [api, a] of cur.apis) {
    const p = base.apis.get(api);
    const count = a.latencyCount - (p?.latencyCount ?? 0);
    const total = a.latencyTotalUs - (p?.latencyTotalUs ?? 0);
    rates.apis.set(api, { requests: perSecond(a.requests, p?.requests, s), latencyUs: count > 0 ? total / count : undefined });
  }
  return rates;
}
