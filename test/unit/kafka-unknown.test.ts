// A value kafkatrace did not see is reported as its unknown sentinel, never as 0, and the firing says
// `incomplete` when bytes were lost; the schema decoder's path and the fast lane agree on both.
import { describe, expect, it } from 'vitest';
import { KafkaDecoder, probeFirings, type CaptureChunk, type KafkaDemand, type KafkaExchange, type ProbeArgs } from '../../src/kafka/index.js';
import { chunk, exchangeChunks } from '../fixtures/kafka/corpus.js';
import { concat, recordBatch, requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';

const hello = (): CaptureChunk[] => exchangeChunks(requestFrame(18, 0, 1, 'c', {}), responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1_000n);

const produce = (v: number, id: number, parts: [number, Uint8Array | null][], acks = -1): Uint8Array =>
  requestFrame(0, v, id, 'kafkajs', {
    TransactionalId: null, Acks: acks, TimeoutMs: 1000,
    TopicData: [{ Name: 'repro', PartitionData: parts.map(([Index, Records]) => ({ Index, Records })) }],
  });
const produced = (v: number, id: number, parts: number[]): Uint8Array =>
  responseFrame(0, v, id, {
    Responses: [{ Name: 'repro', PartitionResponses: parts.map((Index) => ({ Index, ErrorCode: 0, BaseOffset: 100n * BigInt(Index), LogAppendTimeMs: -1n, LogStartOffset: 0n, RecordErrors: [], ErrorMessage: null })) }],
    ThrottleTimeMs: 0,
  });

/** The firings of `probe` for `chunks`, with a demand (fast lane on or off) or without one (every arg). */
function firings(chunks: CaptureChunk[], probe: string, demand?: KafkaDemand, lane = true): ProbeArgs[] {
  const out: ProbeArgs[] = [];
  if (demand) {
    const decoder = new KafkaDecoder({ demand, lane, onFiring: (p, args) => void (p === probe && out.push(args)) });
    for (const c of chunks) decoder.push(c);
    decoder.closeAll();
    return out;
  }
  const exchanges: KafkaExchange[] = [];
  const decoder = new KafkaDecoder({ onExchange: (ex) => exchanges.push(ex) });
  for (const c of chunks) decoder.push(c);
  decoder.closeAll();
  for (const ex of exchanges) for (const f of probeFirings(ex)) if (f.probe === probe) out.push(f.args);
  return out;
}

/** The same values whichever way they are decoded: every arg, the demand's through the schema decoder, and through the lane. */
function everyWay(chunks: CaptureChunk[], probe: string, args: string[]): ProbeArgs[] {
  const pick = (all: ProbeArgs[]): ProbeArgs[] => all.map((a) => Object.fromEntries(args.map((n) => [n, a[n]])));
  const demand = { probes: [probe], args };
  const full = pick(firings(chunks, probe));
  expect(firings(chunks, probe, demand, false)).toEqual(full);
  expect(firings(chunks, probe, demand, true)).toEqual(full);
  return full;
}

describe('unknown values', () => {
  it('acks=0: no base offset, latency or response size, and nothing was lost', () => {
    const chunks = [...hello(), chunk('out', produce(7, 2, [[1, recordBatch({ records: 3 })]], 0), 2_000n)];
    expect(everyWay(chunks, 'produce', ['partition', 'records', 'acks', 'base_offset', 'latency', 'response_bytes', 'status', 'incomplete'])).toEqual([
      { partition: 1n, records: 3n, acks: 0n, base_offset: -1n, latency: -1n, response_bytes: -1n, status: 'no_response', incomplete: 0n },
    ]);
  });

  it('a request cut inside a partition index: that partition and the ones after it are unknown, not partition -1 with 0 records', () => {
    // kafkajs's keyed messages over partitions 1, 2 and 3; the capture kept the request up to the middle of partition 3's index.
    const batches = [recordBatch({ records: 1, payload: 100 }), recordBatch({ records: 2, payload: 203 }), recordBatch({ records: 2, payload: 205 })];
    const req = produce(7, 2, [[1, batches[0]!], [2, batches[1]!], [3, batches[2]!]]);
    const third = Buffer.from(req).indexOf(Buffer.from(batches[2]!));
    const chunks = [...hello(), ...exchangeChunks(req, produced(7, 2, [1, 2, 3]), 2_000n, { side: 'req', keep: third - 6 })];
    expect(everyWay(chunks, 'produce', ['partition', 'records', 'bytes', 'base_offset', 'incomplete'])).toEqual([
      { partition: 1n, records: 1n, bytes: BigInt(batches[0]!.length), base_offset: 100n, incomplete: 0n },
      { partition: 2n, records: 2n, bytes: BigInt(batches[1]!.length), base_offset: 200n, incomplete: 0n },
      { partition: -1n, records: -1n, bytes: -1n, base_offset: -1n, incomplete: 1n },
      { partition: 3n, records: -1n, bytes: -1n, base_offset: 300n, incomplete: 1n },
    ]);
  });

  it('a batch header the capture did not copy leaves that partition\'s record count unknown', () => {
    const batches = [recordBatch({ records: 4, payload: 300 }), recordBatch({ records: 5, payload: 300 })];
    const req = produce(3, 2, [[0, batches[0]!], [1, batches[1]!]]);
    const second = Buffer.from(req).indexOf(Buffer.from(batches[1]!));
    const chunks = [...hello(), ...exchangeChunks(req, produced(3, 2, [0, 1]), 2_000n, { side: 'req', keep: second + 20 })];
    expect(everyWay(chunks, 'produce', ['partition', 'records', 'bytes', 'incomplete'])).toEqual([
      { partition: 0n, records: 4n, bytes: BigInt(batches[0]!.length), incomplete: 0n },
      { partition: 1n, records: -1n, bytes: BigInt(batches[1]!.length), incomplete: 1n },
    ]);
  });

  it('a malformed batch header in a whole frame: the count is unknown on both paths', () => {
    const bad = recordBatch({ records: 3 });
    new DataView(bad.buffer).setInt32(8, 20);
    const chunks = [...hello(), ...exchangeChunks(produce(3, 2, [[0, concat(recordBatch({ records: 2 }), bad)], [1, recordBatch({ records: 6 })]]), produced(3, 2, [0, 1]), 2_000n)];
    expect(everyWay(chunks, 'produce', ['partition', 'records', 'incomplete'])).toEqual([
      { partition: 0n, records: -1n, incomplete: 1n },
      { partition: 1n, records: 6n, incomplete: 0n },
    ]);
  });

  it('Fetch fields a version lacks read -1, with nothing lost', () => {
    const req = requestFrame(1, 3, 2, 'c', { ReplicaId: -1, MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1 << 20, Topics: [{ Topic: 't', Partitions: [{ Partition: 0, FetchOffset: 5n, PartitionMaxBytes: 1 << 20 }] }] });
    const resp = responseFrame(1, 3, 2, { ThrottleTimeMs: 0, Responses: [{ Topic: 't', Partitions: [{ PartitionIndex: 0, ErrorCode: 0, HighWatermark: 9n, Records: recordBatch({ records: 4, baseOffset: 5n }) }] }] });
    expect(everyWay([...hello(), ...exchangeChunks(req, resp, 2_000n)], 'fetch', ['high_watermark', 'last_stable_offset', 'log_start_offset', 'lag', 'records', 'incomplete'])).toEqual([
      { high_watermark: 9n, last_stable_offset: -1n, log_start_offset: -1n, lag: 4n, records: 4n, incomplete: 0n },
    ]);
  });

  it('a ConsumerGroupHeartbeat answer without an assignment (unchanged): assigned_partitions -1, not 0', () => {
    const heartbeat = { GroupId: 'k', MemberId: 'm1', MemberEpoch: 3, InstanceId: null, RackId: null, RebalanceTimeoutMs: 30_000, SubscribedTopicNames: null, ServerAssignor: null, TopicPartitions: null };
    const answer = (partitions: number[] | null) => ({
      ErrorCode: 0, ErrorMessage: null, MemberId: 'm1', MemberEpoch: 3, HeartbeatIntervalMs: 5000,
      Assignment: partitions === null ? null : { TopicPartitions: [{ TopicId: '00000000-0000-4000-8000-000000000001', Partitions: partitions }] },
    });
    const chunks = [
      ...hello(),
      ...exchangeChunks(requestFrame(68, 0, 2, 'c', heartbeat), responseFrame(68, 0, 2, answer([0, 1])), 2_000n),
      ...exchangeChunks(requestFrame(68, 0, 3, 'c', heartbeat), responseFrame(68, 0, 3, answer(null)), 3_000n),
    ];
    expect(everyWay(chunks, 'consumergroupheartbeat', ['member_epoch', 'assigned_partitions'])).toEqual([
      { member_epoch: 3n, assigned_partitions: 2n },
      { member_epoch: 3n, assigned_partitions: -1n },
    ]);
  });

  it('a body of a version no schema knows is counted and its firings are incomplete', () => {
    const exchanges: KafkaExchange[] = [];
    const decoder = new KafkaDecoder({ onExchange: (ex) => exchanges.push(ex) });
    // Produce v11's frame (flexible, as a later version's would be) labelled v30.
    const req = requestFrame(0, 11, 2, 'c', { TransactionalId: null, Acks: 1, TimeoutMs: 1000, TopicData: [] });
    new DataView(req.buffer).setInt16(6, 30);
    for (const c of [...hello(), ...exchangeChunks(req, concat(new Uint8Array([0, 0, 0, 9, 0, 0, 0, 2, 0]), new Uint8Array(4)), 2_000n)]) decoder.push(c);
    expect(exchanges.map((e) => [e.api, e.version, e.incomplete])).toEqual([['ApiVersions', 0, false], ['Produce', 30, true]]);
    expect(probeFirings(exchanges[1]!).map((f) => [f.probe, f.args.incomplete, f.args.records, f.args.partition])).toEqual([['request', 1n, undefined, undefined], ['produce', 1n, -1n, -1n]]);
    expect(decoder.counters().framesFailed).toEqual({ unknown_version: 2 });
  });

  it('an incremental Fetch that names no partition and gets none back carries 0 records, not -1: a sum over its firings stays exact', () => {
    const chunks = [
      ...hello(),
      chunk('out', requestFrame(1, 13, 2, 'consumer', { Topics: [], ForgottenTopicsData: [], RackId: '' }), 2_000n),
      chunk('in', responseFrame(1, 13, 2, { ThrottleTimeMs: 0, ErrorCode: 0, SessionId: 7, Responses: [] }), 3_000n),
    ];
    expect(everyWay(chunks, 'fetch', ['partition', 'records', 'bytes', 'incomplete', 'status'])).toEqual([
      { partition: -1n, records: 0n, bytes: 0n, incomplete: 0n, status: 'complete' },
    ]);
  });

  it('a Fetch whose response was never seen still reads -1 records', () => {
    const chunks = [...hello(), chunk('out', requestFrame(1, 13, 2, 'consumer', { Topics: [], ForgottenTopicsData: [], RackId: '' }), 2_000n)];
    expect(everyWay(chunks, 'fetch', ['partition', 'records', 'bytes', 'status'])).toEqual([{ partition: -1n, records: -1n, bytes: -1n, status: 'closed' }]);
  });
});
