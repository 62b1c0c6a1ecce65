// Consumer lag across the connections of one decoder, from what is on the wire:
// - the log end of each topic-partition: the highest of the high watermarks in Fetch responses,
//   the offsets of ListOffsets "latest" answers and the ends of acknowledged Produce batches (the
//   highest, because responses of different connections are decoded in no guaranteed order): the
//   base offset the broker assigned plus the offsets the partition's batches span (each batch's last
//   offset delta + 1); a Produce whose batch headers were not copied raises the end to base + 1, the
//   least it can be, and the views say `incomplete` until an exact end reaches it;
// - committed offsets per group: acknowledged OffsetCommit requests and OffsetFetch answers;
// - where each produced batch starts and when it was sent, to time a record from its Produce to the
//   Fetch that asks for it. The first such fetch gives the record's time lag; a later one asking for
//   the same offset (the consumer paused, or seeked back) tells how old the consumer's position is.
// observe() annotates an exchange's items (committed_lag on OffsetCommit, time_lag on Fetch, when
// known) and lists in `lag` the per group/topic/partition views that the exchange changed.
import type { FieldValue, Fields, KafkaExchange } from '../model.js';
import { API_KEYS } from '../wire/api-names.js';
import { BoundedMap } from '../exchange/bounded-map.js';
import type { ExchangeTracker } from './tracker.js';

/** Bounds of the state; past them the least recently updated entry is forgotten. */
export interface LagLimits {
  /** Topic-partitions tracked (default 100000). */
  partitions: number;
  /** Groups tracked per partition (default 256). */
  groups: number;
  /** Produced batches remembered per partition for time lag (default 128). */
  batches: number;
}

const DEFAULT_LIMITS: LagLimits = { partitions: 100_000, groups: 256, batches: 128 };

interface GroupPartition {
  committed: bigint;
  fetchOffset: bigint;
}

interface Batch {
  base: bigint;
  /** CLOCK_MONOTONIC ns the Produce request was sent (the earliest side that saw it). */
  ts: bigint;
}

/** Records that a group's view of a partition changed. */
type Touch = (group: string, topic: string, partition: number, state: PartitionState) => void;

interface PartitionState {
  /** Log end as far as seen; -1 when unknown. */
  end: bigint;
  /** The end is a lower bound: a Produce whose batch headers were not copied raised it last. */
  endAtLeast: boolean;
  groups: BoundedMap<string, GroupPartition>;
  /** Produced batches in offset order. */
  batches: Batch[];
}

/** ListOffsets timestamp asking for the log end. */
const LATEST = -1n;

const int = (v: FieldValue | undefined): bigint | undefined =>
  typeof v === 'bigint' ? v : typeof v === 'number' && Number.isInteger(v) ? BigInt(v) : undefined;

const ok = (item: Fields): boolean => item.error === undefined || item.error === 0;

export class LagTracker implements ExchangeTracker {
  private readonly limits: LagLimits;
  /** By topic and partition (key: topic NUL partition). */
  private readonly partitions: BoundedMap<string, PartitionState>;

  constructor(limits: Partial<LagLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.partitions = new BoundedMap(this.limits.partitions);
  }

  /** Learns from a completed exchange, annotates its items and sets `ex.lag` to the views it changed. */
  observe(ex: KafkaExchange): void {
    if (ex.status !== 'complete') return;
    // Most exchanges change no view: the map is made on the first change.
    let changed: Map<string, { group: string; topic: string; partition: number; state: PartitionState }> | undefined;
    const touch: Touch = (group, topic, partition, state) => {
      changed ??= new Map();
      changed.set(`${group}\u0000${topic}\u0000${partition}`, { group, topic, partition, state });
    };
    const touchAll = (topic: string, partition: number, state: PartitionState): void => {
      for (const group of state.groups.keys()) touch(group, topic, partition, state);
    };
    switch (ex.api_key) {
      case API_KEYS.Produce:
        for (const item of ex.items) {
          const base = int(item.base_offset);
          if (!ok(item) || base === undefined || base < 0n) continue;
          // Batches whose headers were not copied span an unknown number of offsets, but at least one.
          const offsets = int(item.offsets) ?? -1n;
          const end = base + (offsets > 0n ? offsets : 1n);
          const s = this.partition(item);
          this.remember(s, { base, ts: ex.request_ts });
          if (this.raise(s, end, offsets < 0n)) touchAll(String(item.topic), Number(item.partition), s);
        }
        break;
      case API_KEYS.ListOffsets:
        for (const item of ex.items) {
          const offset = int(item.offset);
          if (!ok(item) || int(item.timestamp) !== LATEST || offset === undefined || offset < 0n) continue;
          const s = this.partition(item);
          if (this.raise(s, offset)) touchAll(String(item.topic), Number(item.partition), s);
        }
        break;
      case API_KEYS.Fetch: {
        // A follower replica's fetch moves no group's position; its high watermark is the log end all the same.
        const follower = (int(ex.details.replica) ?? -1n) >= 0n;
        for (const item of ex.items) this.fetched(ex, item, follower, touch, touchAll);
        break;
      }
      case API_KEYS.OffsetCommit:
        for (const item of ex.items) {
          const committed = int(item.committed_offset);
          if (typeof item.group !== 'string' || committed === undefined || item.error !== 0) continue;
          const s = this.partition(item);
          if (s.end >= 0n) item.committed_lag = s.end - committed;
          this.committed(s, item, item.group, committed, touch);
        }
        break;
      case API_KEYS.OffsetFetch:
        for (const item of ex.items) {
          const committed = int(item.committed_offset);
          if (typeof item.group !== 'string' || committed === undefined || committed < 0n || !ok(item)) continue;
          this.committed(this.partition(item), item, item.group, committed, touch);
        }
        break;
      case API_KEYS.DeleteTopics:
        for (const item of ex.items) if (ok(item) && typeof item.topic === 'string') this.forgetTopic(item.topic);
        break;
    }
    if (changed) ex.lag = [...changed.values()].map((c) => view(c.group, c.topic, c.partition, c.state));
  }

  /** The current view of one group's partition; undefined when nothing is known of it. */
  view(group: string, topic: string, partition: number): Fields | undefined {
    const s = this.partitions.get(`${topic}\u0000${partition}`);
    return s?.groups.has(group) ? view(group, topic, partition, s) : undefined;
  }

  private fetched(
    ex: KafkaExchange,
    item: Fields,
    follower: boolean,
    touch: Touch,
    touchAll: (topic: string, partition: number, s: PartitionState) => void,
  ): void {
    const hw = int(item.high_watermark);
    const fetchOffset = int(item.fetch_offset);
    if (!ok(item) || (hw === undefined && fetchOffset === undefined)) return;
    const s = this.partition(item);
    const topic = String(item.topic);
    const partition = Number(item.partition);
    if (hw !== undefined && hw >= 0n && this.raise(s, hw)) touchAll(topic, partition, s);
    if (follower || fetchOffset === undefined || fetchOffset < 0n) return;
    if (typeof item.group === 'string' && item.group !== '') {
      const g = this.groupOf(s, item.group);
      if (g.fetchOffset !== fetchOffset) {
        g.fetchOffset = fetchOffset;
        touch(item.group, topic, partition, s);
      }
    }
    const batch = findBatch(s, fetchOffset);
    const at = ex.response_ts ?? ex.request_ts;
    if (batch && batch.ts <= at) item.time_lag = at - batch.ts;
  }

  private partition(item: Fields): PartitionState {
    const key = `${String(item.topic ?? '')}\u0000${String(item.partition ?? -1)}`;
    let s = this.partitions.get(key);
    if (!s) s = { end: -1n, endAtLeast: false, groups: new BoundedMap(this.limits.groups), batches: [] };
    // Set again when present too: the least recently updated partition is the one forgotten.
    this.partitions.set(key, s);
    return s;
  }

  /** A deleted topic's partitions start afresh if it is created again. */
  private forgetTopic(topic: string): void {
    const prefix = `${topic}\u0000`;
    for (const key of [...this.partitions.keys()]) if (key.startsWith(prefix)) this.partitions.delete(key);
  }

  /** A group's committed offset of an item's partition; its view changes when the offset does. */
  private committed(s: PartitionState, item: Fields, group: string, committed: bigint, touch: Touch): void {
    const g = this.groupOf(s, group);
    if (g.committed === committed) return;
    g.committed = committed;
    touch(group, String(item.topic), Number(item.partition), s);
  }

  private groupOf(s: PartitionState, group: string): GroupPartition {
    let g = s.groups.get(group);
    if (!g) {
      g = { committed: -1n, fetchOffset: -1n };
      s.groups.set(group, g);
    }
    return g;
  }

  /** Raises the log end (to `end` or more, when `atLeast`); true when it moved. */
  private raise(s: PartitionState, end: bigint, atLeast = false): boolean {
    if (end < s.end || (end === s.end && (atLeast || !s.endAtLeast))) return false;
    s.end = end;
    s.endAtLeast = atLeast;
    return true;
  }

  /** Keeps batches in offset order; a batch seen from both ends of a connection keeps its earliest time. */
  private remember(s: PartitionState, b: Batch): void {
    const list = s.batches;
    let i = list.length;
    while (i > 0 && list[i - 1]!.base > b.base) i--;
    const prev = list[i - 1];
    if (prev && prev.base === b.base) {
      if (b.ts < prev.ts) prev.ts = b.ts;
      return;
    }
    list.splice(i, 0, b);
    if (list.length > this.limits.batches) list.shift();
  }
}

/**
 * The batch holding `offset`: the last one starting at or before it, when the offset is below the
 * next batch (or the log end). Batches are told apart by where they start, since the record counts
 * of batches whose headers were not copied are unknown.
 */
function findBatch(s: PartitionState, offset: bigint): Batch | undefined {
  const batches = s.batches;
  let lo = 0;
  let hi = batches.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (batches[mid]!.base <= offset) lo = mid + 1;
    else hi = mid - 1;
  }
  const found = batches[hi];
  const limit = batches[hi + 1]?.base ?? s.end;
  return found && offset < limit ? found : undefined;
}

function view(group: string, topic: string, partition: number, s: PartitionState): Fields {
  const g = s.groups.get(group) ?? { committed: -1n, fetchOffset: -1n };
  const known = s.end >= 0n;
  const v: Fields = {
    group,
    topic,
    partition,
    high_watermark: s.end,
    committed_offset: g.committed,
    committed_lag: known && g.committed >= 0n ? s.end - g.committed : -1n,
    fetch_offset: g.fetchOffset,
    lag: known && g.fetchOffset >= 0n ? s.end - g.fetchOffset : -1n,
  };
  // A log end known only as a lower bound makes the lags lower bounds: the view says so.
  if (s.endAtLeast) v.incomplete = 1;
  return v;
}
