// The fast lane (src/kafka/lane/fast-lane.ts) must change nothing but speed: the same traffic decoded with and
// without it gives the same firings (probe, args, process, thread, time) and the same counters,
// over every Produce and Fetch version, and over what the lane declines halfway (responses out of
// order, split across chunks, empty; connections closed; acks=0), where the schema decoder's path
// finishes what the lane began.
import { describe, expect, it, vi } from 'vitest';
import { encodeCaptureRecord } from '../../src/kafka/capture/record.js';
import { DecodePlan } from '../../src/kafka/probes/demand.js';
import { Connection } from '../../src/kafka/exchange/connection.js';
import { KafkaDecoder, type CaptureChunk, type KafkaDemand, type ProbeArgs } from '../../src/kafka/index.js';
import { FastLane, laneArgKinds, laneRequestArgKinds } from '../../src/kafka/lane/fast-lane.js';
import { chunk, conn, corpus, exchangeChunks, lagFlow } from '../fixtures/kafka/corpus.js';
import { laneResponses } from '../helpers/lane-count.js';
import { concat, legacyMessage, recordBatch, requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';

interface Fired {
  probe: string;
  args: ProbeArgs;
  pid: number;
  tid: number;
  comm: string;
  nsecs: bigint;
}

function run(chunks: CaptureChunk[], demand: KafkaDemand, lane: boolean): { fired: Fired[]; decoder: KafkaDecoder } {
  const fired: Fired[] = [];
  const decoder = new KafkaDecoder({
    demand,
    lane,
    onFiring: (probe, args, c, tid, nsecs) => fired.push({ probe, args, pid: c.pid, tid, comm: c.comm, nsecs }),
  });
  for (const c of chunks) decoder.push(c);
  decoder.closeAll();
  return { fired, decoder };
}

/** Decodes `chunks` both ways; returns how many responses the lane took. */
function expectSame(chunks: CaptureChunk[], demand: KafkaDemand): number {
  const slow = run(chunks, demand, false);
  let fast!: ReturnType<typeof run>;
  const { taken } = laneResponses(() => (fast = run(chunks, demand, true)));
  expect(fast.fired).toEqual(slow.fired);
  expect(fast.decoder.counters()).toEqual(slow.decoder.counters());
  return taken;
}

const produce = (v: number, id: number, topics: [string, number[]][], acks = -1, records: Uint8Array | null = recordBatch({ records: 3 })): Uint8Array =>
  requestFrame(0, v, id, 'p', {
    TransactionalId: null, Acks: acks, TimeoutMs: 1000,
    TopicData: topics.map(([Name, parts]) => ({ Name, TopicId: Name, PartitionData: parts.map((Index) => ({ Index, Records: records })) })),
  });
const produced = (v: number, id: number, topics: [string, number[]][], base = 10n): Uint8Array =>
  responseFrame(0, v, id, {
    Responses: topics.map(([Name, parts]) => ({ Name, TopicId: Name, PartitionResponses: parts.map((Index) => ({ Index, ErrorCode: Index === 2 ? 6 : 0, BaseOffset: base + BigInt(Index) })) })),
    ThrottleTimeMs: 0,
  });
const fetch = (v: number, id: number, topics: [string, number[]][], offset = 40n, replica = -1): Uint8Array =>
  requestFrame(1, v, id, 'c', {
    ReplicaId: replica, ...(replica >= 0 && v >= 15 ? { ReplicaState: { ReplicaId: replica, ReplicaEpoch: 7n } } : {}), MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1 << 20, IsolationLevel: 0, SessionId: 0, SessionEpoch: -1,
    Topics: topics.map(([t, parts]) => ({ Topic: t, TopicId: t, Partitions: parts.map((Partition) => ({ Partition, FetchOffset: offset + BigInt(Partition), PartitionMaxBytes: 1 << 20 })) })),
  });
const fetched = (v: number, id: number, topics: [string, number[]][], hw = 50n): Uint8Array =>
  responseFrame(1, v, id, {
    ThrottleTimeMs: 0, ErrorCode: 0, SessionId: 0,
    Responses: topics.map(([t, parts]) => ({
      Topic: t, TopicId: t,
      Partitions: parts.map((PartitionIndex) => ({
        PartitionIndex, ErrorCode: 0, HighWatermark: hw + BigInt(PartitionIndex), LastStableOffset: hw, LogStartOffset: 0n,
        AbortedTransactions: null, PreferredReadReplica: -1, Records: PartitionIndex === 3 ? null : recordBatch({ records: 4, baseOffset: 40n }),
      })),
    })),
  });

const ID_A = '0a0a0a0a-0000-0000-0000-00000000000a';
const ID_B = '0b0b0b0b-0000-0000-0000-00000000000b';

/** The cases the lane takes and those it hands back, on one connection after the first pairing. */
function laneFlow(): CaptureChunk[] {
  const chunks = exchangeChunks(requestFrame(18, 0, 1, 'c', {}), responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1_000n);
  let ts = 2_000n;
  const exchange = (req: Uint8Array, resp: Uint8Array): void => void chunks.push(...exchangeChunks(req, resp, (ts += 1_000n)));
  const two: [string, number[]][] = [['orders', [0, 1, 2]], ['audit', [0]]];
  // Metadata teaches topic ids: Produce and Fetch v13 and later name topics by id alone.
  exchange(requestFrame(3, 12, 2, 'c', { Topics: null }), responseFrame(3, 12, 2, { Topics: [{ ErrorCode: 0, Name: 'orders', TopicId: ID_A, Partitions: [] }] }));
  let id = 3;
  const twoIds: [string, number[]][] = [[ID_A, [0, 1, 2]], [ID_B, [0]]];
  for (let v = 0; v <= 13; v++) exchange(produce(v, id, v >= 13 ? twoIds : two), produced(v, id++, v >= 13 ? twoIds : two));
  for (let v = 0; v <= 18; v++) {
    const topics: [string, number[]][] = v >= 13 ? [[ID_A, [0, 3]], [ID_B, [1]]] : [['orders', [0, 3]], ['audit', [1]]];
    exchange(fetch(v, id, topics), fetched(v, id++, topics));
  }
  // Answered out of order (as a broker answers from a map): the lane's. With a partition the request
  // did not name, or one partition answered twice and another not at all: the schema decoder's path.
  exchange(produce(7, id, two), produced(7, id++, [['audit', [0]], ['orders', [2, 1, 0]]]));
  exchange(produce(9, id, [['orders', [0]]]), produced(9, id++, [['orders', [0, 5]]]));
  exchange(produce(7, id, two), produced(7, id++, [['orders', [0, 1, 0]], ['audit', [0]]]));
  // A Fetch of a session answered with a partition the request left out: its offset is remembered.
  exchange(fetch(11, id, [['orders', [0, 1]]], 70n), fetched(11, id++, [['orders', [0, 1]]]));
  exchange(fetch(11, id, [['orders', [0]]], 80n), fetched(11, id++, [['orders', [0, 1]]]));
  // Followers' Fetches (ReplicaState, a tagged field, from v15: the schema decoder's path), and
  // Fetches of KRaft's metadata log, by name and by id: their kafka:request firings' scope.
  for (const v of [11, 12, 15, 17]) exchange(fetch(v, id, [['orders', [0]]], 40n, 2), fetched(v, id++, [['orders', [0]]]));
  exchange(fetch(12, id, [['__cluster_metadata', [0]]]), fetched(12, id++, [['__cluster_metadata', [0]]]));
  const metadataLog: [string, number[]][] = [['00000000-0000-0000-0000-000000000001', [0]]];
  exchange(fetch(17, id, metadataLog, 40n, 1), fetched(17, id++, metadataLog));
  exchange(fetch(17, id, metadataLog), fetched(17, id++, metadataLog));
  // An empty Fetch response; null records; acks=0 (no response); a null client id.
  exchange(fetch(11, id, [['orders', [0]]]), fetched(11, id++, []));
  exchange(produce(3, id, [['orders', [0]]], -1, null), produced(3, id++, [['orders', [0]]]));
  chunks.push(chunk('out', produce(5, id++, [['orders', [0]]], 0), (ts += 1_000n)));
  exchange(requestFrame(0, 8, id, null, { Acks: 1, TimeoutMs: 5, TopicData: [{ Name: 'orders', PartitionData: [{ Index: 1, Records: recordBatch({ records: 2 }) }] }] }), produced(8, id++, [['orders', [1]]]));
  // Two requests in one write, answered in one read; then one answered in two reads.
  const a = id++;
  const b = id++;
  chunks.push(chunk('out', concat(produce(3, a, two), fetch(4, b, [['orders', [0]]])), (ts += 1_000n)));
  chunks.push(chunk('in', concat(produced(3, a, two), fetched(4, b, [['orders', [0]]])), (ts += 5n)));
  const split = fetched(4, id, [['orders', [0, 1]]]);
  chunks.push(chunk('out', fetch(4, id++, [['orders', [0, 1]]]), (ts += 1_000n)));
  chunks.push(chunk('in', split.subarray(0, 30), (ts += 5n)), chunk('in', split.subarray(30), (ts += 5n)));
  // A whole request, then a frame cut short in the same chunk, then its rest.
  const cut = produce(3, id + 1, [['orders', [0]]]);
  chunks.push(chunk('out', concat(produce(3, id, [['orders', [1]]]), cut.subarray(0, 20)), (ts += 1_000n)));
  chunks.push(chunk('out', cut.subarray(20), (ts += 5n)));
  chunks.push(chunk('in', concat(produced(3, id, [['orders', [1]]]), produced(3, id + 1, [['orders', [0]]])), (ts += 5n)));
  id += 2;
  // Another thread of the same process; then a request the connection's close leaves unanswered.
  exchange(produce(3, id, [['orders', [0]]]), produced(3, id++, [['orders', [0]]]));
  chunks.push({ ...chunk('out', fetch(4, id, [['orders', [0]]]), (ts += 1_000n)), tid: 102 });
  chunks.push({ ...chunk('in', fetched(4, id++, [['orders', [0]]]), (ts += 5n)), tid: 102 });
  chunks.push(chunk('out', produce(3, id++, [['orders', [0]]]), (ts += 1_000n)));
  chunks.push({ ...chunk('out', new Uint8Array(0), (ts += 1_000n)), close: true });
  return chunks;
}

/**
 * What the lane's reading in place must get right: int64 fields, which it reads as numbers (past
 * 2^53 it declines them); a fetch session's offset the schema decoder kept; topics of one length in
 * turn (its string reuse compares bytes); a records field of two batches.
 */
function numbersFlow(): CaptureChunk[] {
  const chunks = exchangeChunks(requestFrame(18, 0, 1, 'c', {}), responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1_000n);
  let ts = 2_000n;
  const exchange = (req: Uint8Array, resp: Uint8Array): void => void chunks.push(...exchangeChunks(req, resp, (ts += 1_000n)));
  let id = 2;
  exchange(produce(3, id, [['orders', [0]]]), produced(3, id++, [['orders', [0]]], 2n ** 60n));
  exchange(fetch(4, id, [['orders', [0]]], 2n ** 60n), fetched(4, id++, [['orders', [0]]], 2n ** 60n + 5n));
  exchange(fetch(4, id, [['orders', [0]]], 2n ** 53n - 10n), fetched(4, id++, [['orders', [0]]], 2n ** 53n - 5n));
  // The session's first request, split across two writes: the lane takes it as the stream puts it together.
  const first = fetch(11, id, [['orders', [0, 1]]], 70n);
  chunks.push(chunk('out', first.subarray(0, 25), (ts += 1_000n)), chunk('out', first.subarray(25), (ts += 5n)));
  chunks.push(chunk('in', fetched(11, id++, [['orders', [0, 1]]]), (ts += 5n)));
  exchange(fetch(11, id, [['orders', [0]]], 80n), fetched(11, id++, [['orders', [0, 1]]]));
  for (const topic of ['topic-a', 'topic-b', 'topic-a']) exchange(produce(3, id, [[topic, [0]]]), produced(3, id++, [[topic, [0]]]));
  exchange(produce(3, id, [['orders', [0]]], -1, concat(recordBatch({ records: 3 }), recordBatch({ records: 2 }))), produced(3, id++, [['orders', [0]]]));
  // A batch header whose length is too short for one: the record count is unknown either way.
  const malformed = recordBatch({ records: 4 });
  new DataView(malformed.buffer).setInt32(8, 30);
  exchange(produce(3, id, [['orders', [0]]], -1, concat(recordBatch({ records: 1 }), malformed)), produced(3, id++, [['orders', [0]]]));
  return chunks;
}

/**
 * `frame` as the capture hands over a frame it walks (bpf-templates/kafka-capture.bpf.c; e2e:
 * kafka-produce-walk.test.ts): every byte but the data of each of `batches` past its 61-byte header,
 * which passes as skipped. The batches are found in the frame in order; `cutAt` also splits the first
 * piece in two chunks, as two syscalls would.
 */
function walked(dir: 'out' | 'in', frame: Uint8Array, batches: Uint8Array[], ts: bigint, cutAt = 0): CaptureChunk[] {
  const bytes = Buffer.from(frame);
  const chunks: CaptureChunk[] = [];
  let at = 0;
  let skipped = 0;
  for (const b of batches) {
    const start = bytes.indexOf(Buffer.from(b), at);
    if (start < 0) throw new Error('batch not in frame');
    if (b.length <= 61) continue;
    chunks.push({ ...chunk(dir, frame.subarray(at, start + 61), ts), skipped });
    at = start + b.length;
    skipped = b.length - 61;
  }
  chunks.push({ ...chunk(dir, frame.subarray(at), ts), skipped });
  if (cutAt > 0 && cutAt < chunks[0]!.data.length) {
    const first = chunks[0]!;
    chunks.splice(0, 1, { ...first, data: first.data.subarray(0, cutAt) }, { ...first, data: first.data.subarray(cutAt) });
  }
  return chunks;
}

/**
 * Produce requests and Fetch responses of every version as the capture walks them (record data
 * skipped), which the lane reads from their copied bytes laid end to end; and gaps it must not take.
 */
function walkedFlow(): CaptureChunk[] {
  const chunks = exchangeChunks(requestFrame(18, 0, 1, 'c', {}), responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1_000n);
  chunks.push(...exchangeChunks(requestFrame(3, 12, 2, 'c', { Topics: null }), responseFrame(3, 12, 2, { Topics: [{ ErrorCode: 0, Name: 'orders', TopicId: ID_A, Partitions: [] }] }), 1_500n));
  let ts = 2_000n;
  let id = 3;
  const big = (records: number): Uint8Array => recordBatch({ records, payload: 700 });
  const two: [string, number[]][] = [['orders', [0, 1, 2]], ['audit', [0]]];
  for (let v = 0; v <= 13; v++) {
    // Magic 0/1 message sets below v3, as producers of those versions send.
    const parts = v < 3 ? [legacyMessage(v < 2 ? 0 : 1, 0n, new Uint8Array(600)), legacyMessage(1, 1n, new Uint8Array(90))] : [big(7), big(2)];
    const records = concat(...parts);
    const topics: [string, number[]][] = v >= 13 ? [[ID_A, [0, 1, 2]], [ID_B, [0]]] : two;
    const req = produce(v, id, topics, -1, records);
    chunks.push(...walked('out', req, Array.from({ length: 4 }, () => parts).flat(), (ts += 1_000n), v * 7));
    chunks.push(chunk('in', produced(v, id++, topics), (ts += 5n)));
  }
  for (let v = 4; v <= 18; v++) {
    const topics: [string, number[]][] = v >= 13 ? [[ID_A, [0, 3]], [ID_B, [1]]] : [['orders', [0, 3]], ['audit', [1]]];
    const resp = responseFrame(1, v, id, {
      ThrottleTimeMs: 0, ErrorCode: 0, SessionId: 0,
      Responses: topics.map(([t, parts]) => ({
        Topic: t, TopicId: t,
        Partitions: parts.map((PartitionIndex) => ({
          PartitionIndex, ErrorCode: 0, HighWatermark: 90n, LastStableOffset: 90n, LogStartOffset: 0n, AbortedTransactions: null, PreferredReadReplica: -1,
          Records: concat(recordBatch({ records: 5, baseOffset: 40n, payload: 800 }), recordBatch({ records: 3, baseOffset: 45n, payload: 20 }), recordBatch({ records: 9, baseOffset: 48n, payload: 900 }).subarray(0, 300)),
        })),
      })),
    });
    chunks.push(chunk('out', fetch(v, id, topics), (ts += 1_000n)));
    const batches = [recordBatch({ records: 5, baseOffset: 40n, payload: 800 }), recordBatch({ records: 9, baseOffset: 48n, payload: 900 }).subarray(0, 300)];
    chunks.push(...walked('in', resp, Array.from({ length: 3 }, () => batches).flat(), (ts += 5n)));
    id++;
  }
  // Gaps the lane must leave to the schema decoder: in a topic name, over a batch's header, and a
  // batch's data but its last byte.
  const one: [string, number[]][] = [['orders', [0, 1]]];
  const batch = big(4);
  for (const gap of [(): [number, number] => [30, 33], (at: number): [number, number] => [at, at + 61], (at: number): [number, number] => [at + 61, at + batch.length - 1]]) {
    const req = produce(9, id, one, -1, batch);
    const [a, b] = gap(Buffer.from(req).indexOf(Buffer.from(batch)));
    chunks.push(chunk('out', req.subarray(0, a), (ts += 1_000n)), { ...chunk('out', req.subarray(b), ts), skipped: b - a });
    chunks.push(chunk('in', produced(9, id++, one), (ts += 5n)));
  }
  return chunks;
}

/**
 * librdkafka's mock cluster answers acks=0 Produce requests, which a broker never does. On the
 * broker side: requests sent back to back, one partition each, walked or whole, answered while the
 * next is half read, or in one read with an answer the lane takes. On a client connection whose
 * direction nothing taught yet: an answer that reads as a Produce request (correlation id 3 is api
 * key 0, version 3).
 */
function acks0Flow(): CaptureChunk[] {
  const broker = { ...conn, fd: 9, lport: 9092, rport: 50001 };
  const client = { ...conn, fd: 11, rport: 9093 };
  const at = (c: typeof conn) => (dir: 'out' | 'in', data: Uint8Array, ts: bigint, skipped = 0) => chunk(dir, data, ts, skipped, c);
  const b = at(broker);
  const k = at(client);
  const one = (p: number): [string, number[]][] => [['orders', [p]]];
  const batch = recordBatch({ records: 6, payload: 900 });
  const chunks: CaptureChunk[] = [b('in', requestFrame(18, 0, 1, 'c', {}), 1_000n), b('out', responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1_005n)];
  chunks.push(...walked('in', produce(7, 2, one(0), 0, batch), [batch], 2_000n).map((c) => ({ ...c, ...broker })));
  const next = produce(7, 3, one(1), 0);
  chunks.push(b('in', next.subarray(0, 30), 2_010n), b('out', produced(7, 2, one(0)), 2_015n), b('in', next.subarray(30), 2_020n));
  chunks.push(b('out', produced(7, 3, one(1)), 2_025n));
  chunks.push(b('in', produce(7, 4, one(2), 1), 3_000n), b('out', produced(7, 4, one(2)), 3_005n));
  chunks.push(b('in', concat(produce(7, 5, one(3), 0), produce(7, 6, one(0))), 4_000n), b('out', concat(produced(7, 5, one(3)), produced(7, 6, one(0))), 4_005n));
  chunks.push(k('out', produce(3, 3, one(1), 0), 5_000n), k('in', produced(3, 3, one(1)), 5_005n));
  chunks.push(k('out', produce(3, 4, one(2), 1), 6_000n), k('in', produced(3, 4, one(2)), 6_005n));
  return chunks;
}

/**
 * `chunks` as the JVM's clients and brokers read frames: a frame's 4-byte size in one read, then its
 * payload (here, the rest of the chunk) in the next.
 */
function sizesApart(chunks: CaptureChunk[]): CaptureChunk[] {
  return chunks.flatMap((c) => (c.data.length <= 4 || c.skipped > 0 ? [c] : [{ ...c, data: c.data.subarray(0, 4) }, { ...c, data: c.data.subarray(4), ts: c.ts + 1n }]));
}

const PRODUCE = ['topic', 'partition', 'acks', 'records', 'bytes', 'base_offset', 'error', 'error_name', 'incomplete'];
const FETCH = ['topic', 'partition', 'fetch_offset', 'high_watermark', 'last_stable_offset', 'log_start_offset', 'lag', 'records', 'bytes', 'error', 'error_name', 'incomplete'];
const COMMON = ['api', 'api_key', 'version', 'correlation_id', 'client_id', 'latency', 'role', 'status', 'incomplete', 'request_bytes', 'response_bytes', 'laddr', 'lport', 'raddr', 'rport'];
/** What stdlib/kafka-overview.ktr reads. */
const OVERVIEW = ['incomplete', 'topic', 'records', 'bytes', 'client_id', 'status', 'replica', 'api', 'latency'];

const DEMANDS: [string, KafkaDemand][] = [
  ['the bench script', { probes: ['produce', 'fetch'], args: ['topic', 'records', 'lag'] }],
  ['every produce arg', { probes: ['produce'], args: [...PRODUCE, ...COMMON] }],
  ['every fetch arg', { probes: ['fetch'], args: [...FETCH, ...COMMON] }],
  ['both, and another API', { probes: ['produce', 'fetch', 'metadata'], args: [...new Set([...FETCH, ...PRODUCE, 'latency'])] }],
  ['no args', { probes: ['fetch'], args: [] }],
  ['only whether values are known', { probes: ['produce', 'fetch'], args: ['incomplete'] }],
  ['kafka-overview', { probes: ['produce', 'fetch', 'request'], args: OVERVIEW }],
  ['every request arg the lane makes, with every produce and fetch arg', { probes: ['request', 'produce', 'fetch'], args: [...new Set([...COMMON, ...PRODUCE, ...FETCH, 'scope', 'replica'])].filter((a) => a !== 'error' && a !== 'error_name') }],
  ['kafka:request alone, reading bodies', { probes: ['request'], args: ['api', 'scope', 'replica', 'acks', 'incomplete', 'latency'] }],
];

describe('the fast lane', () => {
  const flows = {
    'every API and version': corpus(), 'the lag flow': lagFlow(), 'the lane flow': laneFlow(), 'the numbers flow': numbersFlow(), 'the walked flow': walkedFlow(), 'the acks=0 flow': acks0Flow(),
    'the lane flow, sizes read apart': sizesApart(laneFlow()),
  };

  for (const [name, demand] of DEMANDS) {
    it(`gives the schema decoder's firings and counters for ${name}`, () => {
      let taken = 0;
      for (const chunks of Object.values(flows)) taken += expectSame(chunks, demand);
      expect(taken).toBeGreaterThan(30);
    });
  }

  it("takes answers to acks=0 Produce requests for what they are: every request fires, in its role, and no orphan", () => {
    const demand = { probes: ['produce'], args: ['correlation_id', 'role', 'status', 'partition', 'records'] };
    let fast!: ReturnType<typeof run>;
    const { taken } = laneResponses(() => (fast = run(acks0Flow(), demand, true)));
    expect(fast.fired.map((f) => [f.args.correlation_id, f.args.role, f.args.status, f.args.partition, f.args.records])).toEqual([
      [2n, 'broker', 'no_response', 0n, 6n], [3n, 'broker', 'no_response', 1n, 3n], [4n, 'broker', 'complete', 2n, 3n],
      [5n, 'broker', 'no_response', 3n, 3n], [6n, 'broker', 'complete', 0n, 3n],
      [3n, 'client', 'no_response', 1n, 3n], [4n, 'client', 'complete', 2n, 3n],
    ]);
    expect(fast.decoder.counters()).toMatchObject({ resyncs: 0, framesFailed: { acks0_response: 4 } });
    // The answers to the acks=1 requests: the lane declines a chunk at an acks=0 request, and takes
    // the request after it as the stream hands it on.
    expect(taken).toBe(3);
  });

  it('reads walked Produce requests and Fetch responses from their copied bytes, and declines other gaps', () => {
    const demand = { probes: ['produce', 'fetch'], args: ['version', 'topic', 'partition', 'records', 'bytes', 'request_bytes', 'response_bytes'] };
    let fast!: ReturnType<typeof run>;
    const { taken } = laneResponses(() => (fast = run(walkedFlow(), demand, true)));
    // Every Produce and Fetch version, and none of the odd gaps.
    expect(taken).toBe(14 + 15);
    // Walked Produce v13: the 16-byte topic ids copied, names resolved from Metadata (or the id).
    const walked13 = fast.fired.filter((f) => f.probe === 'produce' && f.args.version === 13n);
    expect(walked13.map((f) => [f.args.topic, f.args.partition, f.args.records])).toEqual([['orders', 0n, 9n], ['orders', 1n, 9n], ['orders', 2n, 9n], [ID_B, 0n, 9n]]);
    const produces = fast.fired.filter((f) => f.probe === 'produce' && f.args.version === 7n);
    expect(produces.map((f) => [f.args.topic, f.args.partition, f.args.records, f.args.bytes])).toEqual([
      ['orders', 0n, 9n, BigInt(2 * (61 + 700))], ['orders', 1n, 9n, BigInt(2 * (61 + 700))], ['orders', 2n, 9n, BigInt(2 * (61 + 700))], ['audit', 0n, 9n, BigInt(2 * (61 + 700))],
    ]);
    const v1 = fast.fired.filter((f) => f.probe === 'produce' && f.args.version === 1n);
    expect(v1.every((f) => f.args.records === 2n)).toBe(true);
    // The last batch of each partition is cut short (the broker's size limit): it counts no record.
    const fetches = fast.fired.filter((f) => f.probe === 'fetch' && f.args.version === 16n);
    expect(fetches.map((f) => [f.args.partition, f.args.records])).toEqual([[0n, 8n], [3n, 8n], [1n, 8n]]);
    expect(fast.fired.filter((f) => f.probe === 'produce' && f.args.version === 9n).every((f) => (f.args.request_bytes as bigint) > 1500n)).toBe(true);
  });

  it('takes every Produce and Fetch version it can, and fires with their values', () => {
    const demand = { probes: ['produce', 'fetch'], args: ['version', 'topic', 'partition', 'records', 'lag', 'error_name', 'fetch_offset'] };
    let fast!: ReturnType<typeof run>;
    const { taken } = laneResponses(() => (fast = run(laneFlow(), demand, true)));
    // 14 Produce and 19 Fetch versions, the followers' and metadata log's 7 Fetches, the Produce
    // answered out of order, the two session
    // Fetches, null records, acks=1, the two answers of one read, the answer read in two reads (as
    // the stream puts it together), the answers to the whole request and to the one cut after it,
    // both threads.
    expect(taken).toBe(14 + 19 + 7 + 1 + 2 + 1 + 1 + 2 + 1 + 2 + 2);
    // Produce v13 names topics by id: the one Metadata named reads as its name, the other as its id.
    const p13 = fast.fired.filter((f) => f.probe === 'produce' && f.args.version === 13n);
    expect(p13.map((f) => [f.args.topic, f.args.partition, f.args.records, f.args.error_name])).toEqual([
      ['orders', 0n, 3n, 'NONE'], ['orders', 1n, 3n, 'NONE'], ['orders', 2n, 3n, 'NOT_LEADER_OR_FOLLOWER'], [ID_B, 0n, 3n, 'NONE'],
    ]);
    const v13 = fast.fired.filter((f) => f.probe === 'fetch' && f.args.version === 13n);
    expect(v13.map((f) => [f.args.topic, f.args.partition, f.args.records, f.args.fetch_offset, f.args.lag])).toEqual([
      ['orders', 0n, 4n, 40n, 10n], ['orders', 3n, 0n, 43n, 10n], [ID_B, 1n, 4n, 41n, 10n],
    ]);
    const v11 = fast.fired.filter((f) => f.probe === 'produce' && f.args.version === 11n);
    expect(v11.map((f) => f.args.error_name)).toEqual(['NONE', 'NONE', 'NOT_LEADER_OR_FOLLOWER', 'NONE']);
    // The session's second Fetch left partition 1 out: its offset is the one the first asked for.
    const inSession = (o: bigint | string | undefined): boolean => typeof o === 'bigint' && o >= 70n && o <= 80n;
    const session = fast.fired.filter((f) => f.probe === 'fetch' && inSession(f.args.fetch_offset));
    expect(session.map((f) => [f.args.partition, f.args.fetch_offset])).toEqual([[0n, 70n], [1n, 71n], [0n, 80n], [1n, 71n]]);
    expect(fast.fired.some((f) => f.tid === 102)).toBe(true);
  });

  it('fires kafka:request for the Produce and Fetch exchanges it takes, before their partitions, with the Fetches\' replica and scope', () => {
    const demand = { probes: ['request', 'fetch'], args: ['api', 'version', 'replica', 'scope', 'partition'] };
    let fast!: ReturnType<typeof run>;
    const { taken } = laneResponses(() => (fast = run(laneFlow(), demand, true)));
    expect(taken).toBeGreaterThan(40);
    const requests = fast.fired.filter((f) => f.probe === 'request' && f.args.api === 'Fetch' && (f.args.replica !== -1n || f.args.scope !== 'client'));
    // Followers (from v15 in ReplicaState, which the schema decoder's path reads), then the metadata log.
    expect(requests.map((f) => [f.args.version, f.args.replica, f.args.scope])).toEqual([
      [11n, 2n, 'inter-broker'], [12n, 2n, 'inter-broker'], [15n, 2n, 'inter-broker'], [17n, 2n, 'inter-broker'],
      [12n, -1n, 'controller'], [17n, 1n, 'controller'], [17n, -1n, 'controller'],
    ]);
    // Each exchange's kafka:request firing comes first, then one per partition.
    const v4 = fast.fired.filter((f) => f.args.api === 'Fetch' && f.args.version === 4n).slice(0, 3);
    expect(v4.map((f) => [f.probe, f.args.partition])).toEqual([['request', undefined], ['fetch', 0n], ['fetch', 3n]]);
    // Produce exchanges fire kafka:request alone under this demand.
    expect(fast.fired.filter((f) => f.args.api === 'Produce').every((f) => f.probe === 'request' && f.args.scope === 'client' && f.args.replica === undefined)).toBe(true);
  });

  it('reads int64 fields as numbers exactly, and leaves those past 2^53 to the schema decoder', () => {
    const demand = { probes: ['produce', 'fetch'], args: ['topic', 'partition', 'records', 'base_offset', 'fetch_offset', 'high_watermark', 'lag'] };
    let fast!: ReturnType<typeof run>;
    const { taken } = laneResponses(() => (fast = run(numbersFlow(), demand, true)));
    // The fetch near 2^53, the session's two fetches, the three topics, the two batches, the malformed one.
    expect(taken).toBe(1 + 2 + 3 + 1 + 1);
    const values = fast.fired.map((f) => [f.probe, f.args.topic, f.args.partition, f.args.records, f.args.base_offset ?? f.args.fetch_offset, f.args.high_watermark, f.args.lag]);
    expect(values).toEqual([
      ['produce', 'orders', 0n, 3n, 2n ** 60n, undefined, undefined],
      ['fetch', 'orders', 0n, 4n, 2n ** 60n, 2n ** 60n + 5n, 5n],
      ['fetch', 'orders', 0n, 4n, 2n ** 53n - 10n, 2n ** 53n - 5n, 5n],
      ['fetch', 'orders', 0n, 4n, 70n, 50n, -20n],
      ['fetch', 'orders', 1n, 4n, 71n, 51n, -20n],
      ['fetch', 'orders', 0n, 4n, 80n, 50n, -30n],
      // Partition 1 was left out of the request: its offset is the one the schema decoder kept.
      ['fetch', 'orders', 1n, 4n, 71n, 51n, -20n],
      ['produce', 'topic-a', 0n, 3n, 10n, undefined, undefined],
      ['produce', 'topic-b', 0n, 3n, 10n, undefined, undefined],
      ['produce', 'topic-a', 0n, 3n, 10n, undefined, undefined],
      ['produce', 'orders', 0n, 5n, 10n, undefined, undefined],
      ['produce', 'orders', 0n, -1n, 10n, undefined, undefined],
    ]);
  });

  it('is not used for what only the schema decoder gives', () => {
    const sink = (): void => undefined;
    for (const demand of [
      { probes: ['request'], args: ['error'] },
      { probes: ['request', 'produce'], args: ['error_name', 'topic'] },
      { probes: ['fetch'], args: ['time_lag'] },
      { probes: ['lag'], args: [] },
      { probes: ['member', 'produce'], args: ['topic'] },
      { probes: ['fetch'], args: ['group'] },
      { probes: ['produce'], args: ['transactional_id'] },
      { probes: ['fetch'], args: ['max_wait_ms'] },
    ]) {
      expect(FastLane.of(new DecodePlan(demand), sink), JSON.stringify(demand)).toBeUndefined();
    }
    // Args of other APIs are absent from Produce and Fetch firings either way.
    expect(FastLane.of(new DecodePlan({ probes: ['produce', 'joingroup'], args: ['topic', 'member'] }), sink)).toBeDefined();
    // A decoder with onExchange builds exchanges: no lane.
    const decoder = new KafkaDecoder({ demand: DEMANDS[0]![1], onExchange: () => undefined, onFiring: sink });
    expect(laneResponses(() => lagFlow().forEach((c) => decoder.push(c))).tried).toBe(0);
  });

  it('follows a changed demand, with requests read under the old one answered under the new one', () => {
    const chunks = laneFlow();
    const both = (lane: boolean): Fired[] => {
      const fired: Fired[] = [];
      const decoder = new KafkaDecoder({ demand: { probes: ['produce'], args: ['topic'] }, lane, onFiring: (probe, args, c, tid, nsecs) => fired.push({ probe, args, pid: c.pid, tid, comm: c.comm, nsecs }) });
      chunks.forEach((c, i) => {
        // Each change lands between a request and its response.
        if (i === 41) decoder.setDemand({ probes: ['produce', 'fetch'], args: ['records', 'lag', 'api'] });
        if (i === 83) decoder.setDemand({ probes: ['request'], args: ['api'] });
        decoder.push(c);
      });
      return fired;
    };
    const fired = both(true);
    expect(new Set(fired.map((f) => f.probe))).toEqual(new Set(['produce', 'fetch', 'request']));
    expect(fired).toEqual(both(false));
  });

  it('knows every arg the schema decoder gives Produce and Fetch firings, and their exchanges\' kafka:request firings', () => {
    const names = new Set<string>();
    const requestNames = { produce: new Set<string>(), fetch: new Set<string>() };
    const decoder = new KafkaDecoder({
      onExchange: (ex) => {
        for (const f of decoder.firings(ex)) {
          if (f.probe === 'produce' || f.probe === 'fetch') for (const a in f.args) names.add(a);
          if (f.probe === 'request' && (ex.api === 'Produce' || ex.api === 'Fetch')) for (const a in f.args) requestNames[ex.api === 'Produce' ? 'produce' : 'fetch'].add(a);
        }
      },
    });
    for (const c of [...corpus(), ...lagFlow(), ...laneFlow()]) decoder.push(c);
    expect(names.size).toBeGreaterThan(30);
    for (const name of names) expect(laneArgKinds(name), name).not.toBe('absent');
    for (const api of ['produce', 'fetch'] as const) {
      expect(requestNames[api].size).toBeGreaterThan(15);
      for (const name of requestNames[api]) expect(laneRequestArgKinds(api, name), `${api} ${name}`).not.toBe('absent');
    }
    // Their per-partition args are absent from kafka:request firings, on the lane too.
    expect(laneRequestArgKinds('produce', 'topic')).toBe('absent');
    expect(laneRequestArgKinds('fetch', 'acks')).toBe('absent');
    expect(laneRequestArgKinds('fetch', 'replica')).toBe('lane');
  });

  it("gives the schema decoder's firings and counters for corrupted Produce and Fetch frames", () => {
    // Bytes flipped in whole frames, which the lane reads: it must decline what the schema decoder
    // fails or reads otherwise, and read the rest the same way.
    let x = 0x1a4e;
    const next = (): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    const chunks = exchangeChunks(requestFrame(18, 0, 1, 'c', {}), responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1_000n);
    const pairs: [Uint8Array, Uint8Array][] = [];
    for (let v = 0; v <= 11; v++) pairs.push([produce(v, 0, [['orders', [0, 1]], ['audit', [2]]]), produced(v, 0, [['orders', [0, 1]], ['audit', [2]]])]);
    for (let v = 0; v <= 17; v++) pairs.push([fetch(v, 0, [['orders', [0, 3]]]), fetched(v, 0, [['orders', [0, 3]]])]);
    let ts = 2_000n;
    for (let i = 0; i < 3_000; i++) {
      const [req, resp] = pairs[i % pairs.length]!;
      const id = i + 2;
      const frames = [req.slice(), resp.slice()];
      new DataView(frames[0]!.buffer).setInt32(8, id);
      new DataView(frames[1]!.buffer).setInt32(4, id);
      // Past the size and the correlation id: a flip there only unpairs the exchange.
      const target = frames[next() % 2]!;
      for (let k = 1 + (next() % 3); k > 0; k--) target[12 + (next() % (target.length - 12))]! ^= 1 << (next() % 8);
      chunks.push(...exchangeChunks(frames[0]!, frames[1]!, (ts += 1_000n)));
    }
    const demand = { probes: ['produce', 'fetch'], args: ['topic', 'partition', 'records', 'bytes', 'lag', 'base_offset', 'error_name', 'client_id', 'last_stable_offset'] };
    expect(expectSame(chunks, demand)).toBeGreaterThan(500);
  });

  it('names Produce v13 and Fetch v13+ topics by ids that another process learnt from Metadata (a broker that did not answer it)', () => {
    // pid 100 is a client that asked broker A for Metadata; pid 200 is broker B, the partitions' leader.
    const leader = { ...conn, pid: 200, comm: 'broker-b', fd: 9, lport: 9092, raddr: '127.0.0.1', rport: 50002 };
    const b = (dir: 'out' | 'in', data: Uint8Array, ts: bigint): CaptureChunk => chunk(dir, data, ts, 0, leader);
    const one: [string, number[]][] = [[ID_A, [0, 1]], [ID_B, [2]]];
    const chunks: CaptureChunk[] = [
      ...exchangeChunks(requestFrame(18, 0, 1, 'c', {}), responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1_000n),
      ...exchangeChunks(requestFrame(3, 12, 2, 'c', { Topics: null }), responseFrame(3, 12, 2, { Topics: [{ ErrorCode: 0, Name: 'orders', TopicId: ID_A, Partitions: [] }] }), 2_000n),
      b('in', requestFrame(18, 0, 1, 'p', {}), 3_000n), b('out', responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 3_005n),
      b('in', produce(13, 2, one), 4_000n), b('out', produced(13, 2, one), 4_005n),
      b('in', fetch(18, 3, one), 5_000n), b('out', fetched(18, 3, one), 5_005n),
    ];
    const demand = { probes: ['produce', 'fetch'], args: ['role', 'topic', 'partition'] };
    for (const lane of [false, true]) {
      const { fired } = run(chunks, demand, lane);
      expect(fired.filter((f) => f.pid === 200).map((f) => [f.probe, f.args.role, f.args.topic, f.args.partition])).toEqual([
        ['produce', 'broker', 'orders', 0n], ['produce', 'broker', 'orders', 1n], ['produce', 'broker', ID_B, 2n],
        ['fetch', 'broker', 'orders', 0n], ['fetch', 'broker', 'orders', 1n], ['fetch', 'broker', ID_B, 2n],
      ]);
    }
  });

  it('keeps thread and connection of each exchange', () => {
    const other = { ...conn, pid: 300, tid: 301, comm: 'other', fd: 9, lport: 50001 };
    const chunks = [
      ...exchangeChunks(requestFrame(18, 0, 1, 'c', {}), responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1_000n),
      chunk('out', requestFrame(18, 0, 1, 'c', {}), 1_100n, 0, other),
      chunk('in', responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1_200n, 0, other),
      chunk('out', produce(3, 2, [['orders', [0]]]), 2_000n),
      chunk('out', produce(3, 2, [['orders', [1]]]), 2_100n, 0, other),
      chunk('in', produced(3, 2, [['orders', [1]]]), 2_500n, 0, other),
      chunk('in', produced(3, 2, [['orders', [0]]]), 2_600n),
    ];
    const { fired } = run(chunks, { probes: ['produce'], args: ['partition', 'latency', 'lport'] }, true);
    expect(fired).toEqual([
      { probe: 'produce', args: { partition: 1n, latency: 400n, lport: 50001n }, pid: 300, tid: 301, comm: 'other', nsecs: 2_500n },
      { probe: 'produce', args: { partition: 0n, latency: 600n, lport: 50000n }, pid: 100, tid: 101, comm: 'app', nsecs: 2_600n },
    ]);
  });
});

/**
 * `chunks` as the ring buffer delivers them: capture records, packed in batches of `perBatch`. A
 * chunk without a connection id gets one from its pid and fd, above 2^32 as the capture's are.
 */
function packed(chunks: CaptureChunk[], perBatch: number): Uint8Array[] {
  const records = chunks.map((c) => encodeCaptureRecord({ ...c, family: 4, conn: c.conn ?? 1_700_000_000_000_000_000n + BigInt(c.pid * 1000 + c.fd) }));
  const batches: Uint8Array[] = [];
  for (let i = 0; i < records.length; i += perBatch) batches.push(concat(...records.slice(i, i + perBatch)));
  return batches;
}

function runPacked(batches: Uint8Array[], demand: KafkaDemand, lane: boolean): { fired: Fired[]; decoder: KafkaDecoder } {
  const fired: Fired[] = [];
  const decoder = new KafkaDecoder({ demand, lane, onFiring: (probe, args, c, tid, nsecs) => fired.push({ probe, args, pid: c.pid, tid, comm: c.comm, nsecs }) });
  for (const b of batches) decoder.pushCapture(b);
  decoder.closeAll();
  return { fired, decoder };
}

describe('packed capture records (pushCapture)', () => {
  const flows = [corpus(), lagFlow(), laneFlow(), walkedFlow(), acks0Flow(), sizesApart(laneFlow())];

  for (const [name, demand] of DEMANDS) {
    it(`give the firings and counters of their chunks for ${name}, with and without the lane`, () => {
      for (const chunks of flows) {
        const expected = run(chunks, demand, false);
        for (const perBatch of [1, 7, 100_000]) {
          for (const lane of [true, false]) {
            const got = runPacked(packed(chunks, perBatch), demand, lane);
            expect(got.fired).toEqual(expected.fired);
            expect(got.decoder.counters()).toEqual(expected.decoder.counters());
          }
        }
      }
    });
  }

  it('read the lane\'s records in place, and the rest through whole records', () => {
    const demand = DEMANDS[0]![1];
    const batches = packed(laneFlow(), 100_000);
    const { taken } = laneResponses(() => runPacked(batches, demand, true));
    expect(taken).toBe(14 + 19 + 7 + 1 + 2 + 1 + 1 + 2 + 1 + 2 + 2);
  });

  it('read a walked frame where its pieces lie when the records after its first carry them, and copy it otherwise', () => {
    const demand = { probes: ['produce', 'fetch'], args: ['version', 'topic', 'partition', 'records', 'bytes', 'request_bytes', 'response_bytes'] };
    const gathered = (batches: Uint8Array[], chunks: CaptureChunk[]): number => {
      const spy = vi.spyOn(Connection.prototype, 'takeGathered');
      try {
        const got = runPacked(batches, demand, true);
        const expected = run(chunks, demand, false);
        expect(got.fired).toEqual(expected.fired);
        expect(got.decoder.counters()).toEqual(expected.decoder.counters());
        return spy.mock.results.filter((r) => r.value === true).length;
      } finally {
        spy.mockRestore();
      }
    };
    const flow = walkedFlow();
    // Produce v0 (the others' first pieces are cut in two chunks, the capture's pieces of two
    // syscalls) and every Fetch response; none of the odd gaps.
    expect(gathered(packed(flow, 100_000), flow)).toBe(1 + 15);
    // Pieces split across ring batches, or with another connection's record between them, are copied.
    expect(gathered(packed(flow, 1), flow)).toBe(0);
    const other = { ...conn, pid: 300, tid: 301, fd: 9, lport: 50001 };
    const hello = exchangeChunks(requestFrame(18, 0, 1, 'c', {}), responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1_000n);
    const batch = recordBatch({ records: 4, payload: 700 });
    const one: [string, number[]][] = [['orders', [0, 1]]];
    const pieces = walked('out', produce(9, 2, one, -1, batch), [batch, batch], 2_000n);
    const interleaved = [...hello, ...hello.map((c) => ({ ...c, ...other })), pieces[0]!, chunk('out', produce(9, 2, one), 2_001n, 0, other), ...pieces.slice(1),
      chunk('in', produced(9, 2, one), 2_005n), chunk('in', produced(9, 2, one), 2_006n, 0, other)];
    expect(gathered(packed(interleaved, 100), interleaved)).toBe(0);
    const alone = [...hello, ...pieces, chunk('in', produced(9, 2, one), 2_005n)];
    expect(gathered(packed(alone, 100), alone)).toBe(1);
  });

  it('keep resyncs and skipped bytes of known connections', () => {
    // Every seventh chunk marked as a resync (the capture's flag); the corpus has skipped tails.
    const chunks = corpus().map((c, i) => (i % 7 === 3 ? { ...c, resync: true } : c));
    const demand = DEMANDS[3]![1];
    const expected = run(chunks, demand, false);
    expect(expected.decoder.counters().resyncs).toBeGreaterThan(10);
    expect(expected.decoder.counters().bytesSkipped).toBeGreaterThan(0);
    for (const lane of [true, false]) {
      const got = runPacked(packed(chunks, 50), demand, lane);
      expect(got.fired).toEqual(expected.fired);
      expect(got.decoder.counters()).toEqual(expected.decoder.counters());
    }
  });

  it('count records that do not decode, and go on with the next', () => {
    const chunks = lagFlow();
    const demand = DEMANDS[0]![1];
    const good = packed(chunks, 1);
    // A record with an unknown address family, then a batch whose last record overruns it.
    const badFamily = packed([chunks[0]!], 1)[0]!.slice();
    badFamily[4 + 48] = 1;
    const cut = packed([chunks[0]!], 1)[0]!.subarray(0, 60);
    const got = runPacked([...good.slice(0, 3), badFamily, ...good.slice(3), cut], demand, true);
    const expected = run(chunks, demand, false);
    expect(got.fired).toEqual(expected.fired);
    expect(got.decoder.counters()).toEqual({ ...expected.decoder.counters(), badRecords: 2 });
  });

  it('tell connections apart by id when a fd is reused, on the lane too', () => {
    const req = produce(3, 5, [['orders', [0]]]);
    const resp = produced(3, 5, [['orders', [0]]]);
    const hello = exchangeChunks(requestFrame(18, 0, 1, 'c', {}), responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1_000n);
    const first = [...hello, chunk('out', req, 2_000n)].map((c) => ({ ...c, conn: 2n ** 40n + 1n }));
    // The same pid and fd, another socket (its close unseen): the first request ends unanswered, the
    // response on the new socket answers nothing.
    const second = [chunk('in', resp, 3_000n)].map((c) => ({ ...c, conn: 2n ** 40n + 2n }));
    const demand = { probes: ['produce'], args: ['topic', 'status'] };
    const expected = run([...first, ...second], demand, false);
    const got = runPacked(packed([...first, ...second], 1), demand, true);
    expect(got.fired).toEqual(expected.fired);
    expect(got.fired.length).toBeGreaterThan(0);
    expect(got.fired.every((f) => f.args.status === 'closed')).toBe(true);
    expect(got.decoder.counters()).toEqual(expected.decoder.counters());
  });
});

