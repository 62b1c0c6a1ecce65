// Fetch responses as the capture delivers them: every structural byte copied, each record batch's
// first 61 bytes (its header) copied and the rest skipped, in pieces cut at arbitrary points.
// Every partition must be decoded: high watermark, lag, records and bytes from the batch headers.
import { describe, expect, it } from 'vitest';
import { KafkaDecoder, type CaptureChunk, type KafkaExchange } from '../../src/kafka/index.js';
import { Reader } from '../../src/kafka/wire/reader.js';
import { summarizeRecordWindows, summarizeRecords } from '../../src/kafka/wire/records.js';
import { concat, recordBatch, requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';

const conn = { pid: 100, tid: 101, comm: 'consumer', fd: 7, laddr: '127.0.0.1', lport: 50000, raddr: '127.0.0.1', rport: 9092 };
const MiB = 1 << 20;
const BATCH_HEADER = 61;
const PARTITIONS = 8;
const TOPIC_ID = '0000abcd-0000-4000-8000-000000000001';

interface Partition {
  index: number;
  fetchOffset: bigint;
  highWatermark: bigint;
  batches: Uint8Array[];
}

function partitions(payload: number, batchesPer = 1): Partition[] {
  const out: Partition[] = [];
  for (let i = 0; i < PARTITIONS; i++) {
    const fetchOffset = BigInt(100 * i);
    const batches: Uint8Array[] = [];
    for (let b = 0; b < batchesPer; b++) {
      batches.push(recordBatch({ baseOffset: fetchOffset + BigInt(b * 3), records: 3, payload }));
    }
    out.push({ index: i, fetchOffset, highWatermark: fetchOffset + 1000n + BigInt(i), batches });
  }
  return out;
}

function fetchRequest(version: number, correlationId: number, parts: Partition[]): Uint8Array {
  const topic: Record<string, string> = version >= 13 ? { TopicId: TOPIC_ID } : { Topic: 'big' };
  return requestFrame(1, version, correlationId, 'consumer-1', {
    ReplicaId: -1, MaxWaitMs: 500, MinBytes: 1, MaxBytes: 64 * MiB, IsolationLevel: 0, SessionId: 0, SessionEpoch: -1,
    Topics: [{ ...topic, Partitions: parts.map((p) => ({ Partition: p.index, CurrentLeaderEpoch: -1, FetchOffset: p.fetchOffset, LogStartOffset: -1, PartitionMaxBytes: 2 * MiB })) }],
    ForgottenTopicsData: [],
    RackId: '',
  });
}

function fetchResponse(version: number, correlationId: number, parts: Partition[]): Uint8Array {
  const topic: Record<string, string> = version >= 13 ? { TopicId: TOPIC_ID } : { Topic: 'big' };
  const body: Record<string, unknown> = {
    ThrottleTimeMs: 0, ErrorCode: 0, SessionId: 7,
    Responses: [{
      ...topic,
      Partitions: parts.map((p) => ({
        PartitionIndex: p.index, ErrorCode: 0, HighWatermark: p.highWatermark, LastStableOffset: p.highWatermark, LogStartOffset: 0n,
        AbortedTransactions: p.index === 1 ? [{ ProducerId: 9n, FirstOffset: 3n }] : null,
        PreferredReadReplica: -1,
        Records: concat(...p.batches),
        ...(version >= 12 && p.index === 2 ? { CurrentLeader: { LeaderId: 1, LeaderEpoch: 4 } } : {}),
      })),
    }],
  };
  if (version >= 16) body.NodeEndpoints = [{ NodeId: 1, Host: 'localhost', Port: 9092, Rack: null }];
  return responseFrame(1, version, correlationId, body as never);
}

/**
 * The frame as the capture sends it: batch records skipped past each header, the copied runs cut
 * every `cut` bytes (syscall boundaries), `drop` (frame offsets) runs left out as skipped too.
 */
function capturedPieces(frame: Uint8Array, batches: Uint8Array[], cut: number, drop: [number, number][] = []): { data: Uint8Array; skipped: number }[] {
  const gaps: [number, number][] = [...drop];
  const buf = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  // Batches appear in order: each search starts after the previous batch.
  let from = 0;
  for (const b of batches) {
    const at = buf.indexOf(Buffer.from(b.buffer, b.byteOffset, b.byteLength), from);
    expect(at).toBeGreaterThan(0);
    if (b.length > BATCH_HEADER) gaps.push([at + BATCH_HEADER, at + b.length]);
    from = at + b.length;
  }
  gaps.sort((a, b) => a[0] - b[0]);
  const out: { data: Uint8Array; skipped: number }[] = [];
  let pos = 0;
  let skipped = 0;
  const copyTo = (end: number): void => {
    while (pos < end) {
      const n = Math.min(cut, end - pos);
      out.push({ data: frame.subarray(pos, pos + n), skipped });
      skipped = 0;
      pos += n;
    }
  };
  for (const [from, to] of gaps) {
    copyTo(from);
    skipped += to - Math.max(pos, from);
    pos = Math.max(pos, to);
  }
  copyTo(frame.length);
  if (skipped > 0) out.push({ data: new Uint8Array(0), skipped });
  return out;
}

function run(version: number, parts: Partition[], cut: number, drop: (frame: Uint8Array) => [number, number][] = () => []) {
  const events: KafkaExchange[] = [];
  const decoder = new KafkaDecoder({ onExchange: (e) => events.push(e) });
  const push = (dir: 'out' | 'in', ts: bigint, c: { data: Uint8Array; skipped: number }): void =>
    decoder.push({ ...conn, dir, ts, ...c } satisfies CaptureChunk);
  push('out', 1_000n, { data: fetchRequest(version, 42, parts), skipped: 0 });
  const frame = fetchResponse(version, 42, parts);
  const pieces = capturedPieces(frame, parts.flatMap((p) => p.batches), cut, drop(frame));
  for (const p of pieces) push('in', 2_000n, p);
  const copied = pieces.reduce((n, p) => n + p.data.length, 0);
  return { events, decoder, frame, copied };
}

function expectAllPartitions(ex: KafkaExchange, parts: Partition[], topic: string, batchBytes: number): void {
  expect(ex).toMatchObject({ api: 'Fetch', status: 'complete', truncated: true, error: 0 });
  expect(ex.items).toHaveLength(parts.length);
  for (const p of parts) {
    expect(ex.items[p.index]).toMatchObject({
      topic, partition: p.index, fetch_offset: p.fetchOffset, high_watermark: p.highWatermark,
      lag: p.highWatermark - p.fetchOffset, records: 3 * p.batches.length, bytes: batchBytes * p.batches.length,
      error: 0,
    });
  }
}

describe('sparse Fetch responses', () => {
  for (const version of [4, 11, 12, 16]) {
    it(`v${version}: 8 partitions of 1 MiB batches decode from headers alone`, () => {
      const parts = partitions(MiB);
      const { events, frame, copied } = run(version, parts, 4096);
      expect(events).toHaveLength(1);
      expectAllPartitions(events[0]!, parts, version >= 13 ? TOPIC_ID : 'big', MiB + BATCH_HEADER);
      expect(frame.length).toBeGreaterThan(PARTITIONS * MiB);
      expect(copied).toBeLessThan(2048);
    });
  }

  it('pieces cut every few bytes, several batches per partition', () => {
    for (const version of [11, 12]) {
      const parts = partitions(5000, 3);
      const { events, decoder } = run(version, parts, 5);
      expect(events).toHaveLength(1);
      expectAllPartitions(events[0]!, parts, 'big', 5000 + BATCH_HEADER);
      expect(events[0]!.items[3]!.records).toBe(9);
      expect(decoder.counters().framesFailed).toEqual({});
    }
  });

  it('a batch header the capture missed leaves only that partition incomplete', () => {
    const parts = partitions(MiB);
    const target = parts[5]!.batches[0]!;
    const { events } = run(12, parts, 4096, (frame) => {
      const at = Buffer.from(frame).indexOf(Buffer.from(target));
      return [[at, at + BATCH_HEADER]];
    });
    const items = events[0]!.items;
    expect(items).toHaveLength(PARTITIONS);
    // Its record count is unknown (left out, so -1 in firings), never 0.
    expect(items[5]).toMatchObject({ partition: 5, incomplete: true, bytes: MiB + BATCH_HEADER, lag: parts[5]!.highWatermark - parts[5]!.fetchOffset });
    expect(items[5]!.records).toBeUndefined();
    for (const i of [0, 4, 6, 7]) expect(items[i]).toMatchObject({ partition: i, records: 3, incomplete: false, lag: parts[i]!.highWatermark - parts[i]!.fetchOffset });
  });

  it('a malformed batch header stops that records field only', () => {
    const parts = partitions(2000, 2);
    const bad = parts[3]!.batches[0]!;
    new DataView(bad.buffer, bad.byteOffset).setInt32(8, -5);
    const { events, decoder } = run(11, parts, 4096);
    const items = events[0]!.items;
    expect(items[3]).toMatchObject({ partition: 3, incomplete: true, lag: parts[3]!.highWatermark - parts[3]!.fetchOffset });
    expect(items[3]!.records).toBeUndefined();
    expect(items[4]).toMatchObject({ partition: 4, records: 6, incomplete: false });
    expect(decoder.counters().framesFailed).toEqual({});
  });
});

describe('summarizeRecordWindows', () => {
  it('walks batch headers through gaps, and tells missing from malformed', () => {
    const a = recordBatch({ records: 4, payload: 300 });
    const b = recordBatch({ records: 2, baseOffset: 4n, payload: 10 });
    const data = concat(a, b);
    const copied = [[0, BATCH_HEADER], [a.length, a.length + BATCH_HEADER]] as const;
    const view = new DataView(data.buffer);
    const window = (at: number, n: number) => (copied.some(([s, e]) => at >= s && at + n <= e) ? { view, index: at } : null);
    expect(summarizeRecordWindows(window, data.length)).toMatchObject({ records: 6, complete: true, malformed: false });
    expect(summarizeRecordWindows((at, n) => (at === 0 ? window(at, n) : null), data.length)).toMatchObject({ records: 4, complete: false, malformed: false });
    const bad = data.slice();
    new DataView(bad.buffer).setInt32(a.length + 8, -1);
    expect(summarizeRecords(bad, bad.length)).toMatchObject({ records: 4, complete: true, malformed: true });
  });
});

describe('many sparse pieces', () => {
  it('a response of 8 x 2000 small batches: every header counted', () => {
    const parts = partitions(400, 2000);
    const { events, copied, frame } = run(11, parts, 4096);
    expectAllPartitions(events[0]!, parts, 'big', 400 + BATCH_HEADER);
    expect(events[0]!.items[7]!.records).toBe(6000);
    expect(copied).toBeLessThan(frame.length / 5);
  });
});

describe('Reader over many segments', () => {
  it('finds each of 100000 segments by binary search (a linear scan would take seconds)', () => {
    const segments = Array.from({ length: 100_000 }, (_, i) => ({ offset: 100 * i, data: Uint8Array.of(i & 0xff, 1, 2, 3) }));
    const r = new Reader(segments, 100 * segments.length);
    const t0 = performance.now();
    let sum = 0;
    for (let i = 0; i < segments.length; i++) {
      const w = r.window(100 * i, 4);
      sum += w ? w.view.getUint8(w.index) : 1000;
    }
    expect(performance.now() - t0).toBeLessThan(500);
    expect(sum).toBe(segments.reduce((n, s) => n + s.data[0]!, 0));
    expect(r.window(50, 1)).toBeNull();
    expect(r.window(102, 4)).toBeNull();
    r.pos = 300;
    expect(r.int32()).toBe((3 << 24) | (1 << 16) | (2 << 8) | 3);
    expect(() => r.int8()).toThrow(/not copied/);
  });
});
