import { describe, expect, it } from 'vitest';
import { KafkaDecoder, probeFirings, type CaptureChunk, type KafkaExchange } from '../../src/kafka/index.js';
import { LagTracker } from '../../src/kafka/trackers/lag.js';
import { recordBatch, requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';

const base = { pid: 100, tid: 101, comm: 'app', laddr: '127.0.0.1', raddr: '127.0.0.1', rport: 9092 };
const producerConn = { ...base, fd: 7, lport: 50000 };
const consumerConn = { ...base, fd: 8, lport: 50001 };

function setup() {
  const events: KafkaExchange[] = [];
  const decoder = new KafkaDecoder({ onExchange: (e) => events.push(e) });
  let correlation = 0;
  const exchange = (conn: typeof producerConn, apiKey: number, version: number, clientId: string, req: object, resp: object, ts: bigint, respTs = ts + 10n): KafkaExchange => {
    const id = ++correlation;
    const chunk = (dir: 'out' | 'in', data: Uint8Array, at: bigint): CaptureChunk => ({ ...conn, dir, ts: at, skipped: 0, data });
    decoder.push(chunk('out', requestFrame(apiKey, version, id, clientId, req as never), ts));
    decoder.push(chunk('in', responseFrame(apiKey, version, id, resp as never), respTs));
    return events[events.length - 1]!;
  };
  const produce = (partition: number, records: number, baseOffset: bigint, ts: bigint, errorCode = 0) =>
    exchange(producerConn, 0, 7, 'producer', {
      TransactionalId: null, Acks: -1, TimeoutMs: 1000,
      TopicData: [{ Name: 'orders', PartitionData: [{ Index: partition, Records: recordBatch({ records }) }] }],
    }, { Responses: [{ Name: 'orders', PartitionResponses: [{ Index: partition, ErrorCode: errorCode, BaseOffset: baseOffset }] }] }, ts);
  const commit = (partition: number, offset: bigint, ts: bigint, errorCode = 0) =>
    exchange(consumerConn, 8, 2, 'c1', {
      GroupId: 'billing', GenerationIdOrMemberEpoch: 1, MemberId: 'm', RetentionTimeMs: -1n,
      Topics: [{ Name: 'orders', Partitions: [{ PartitionIndex: partition, CommittedOffset: offset, CommittedMetadata: null }] }],
    }, { Topics: [{ Name: 'orders', Partitions: [{ PartitionIndex: partition, ErrorCode: errorCode }] }] }, ts);
  const fetch = (partition: number, offset: bigint, hw: bigint, ts: bigint, respTs: bigint) =>
    exchange(consumerConn, 1, 4, 'c1', {
      ReplicaId: -1, MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1 << 20, IsolationLevel: 0,
      Topics: [{ Topic: 'orders', Partitions: [{ Partition: partition, FetchOffset: offset, PartitionMaxBytes: 1 << 20 }] }],
    }, {
      ThrottleTimeMs: 0,
      Responses: [{ Topic: 'orders', Partitions: [{ PartitionIndex: partition, ErrorCode: 0, HighWatermark: hw, LastStableOffset: hw, AbortedTransactions: null, Records: null }] }],
    }, ts, respTs);
  const listOffsets = (partition: number, timestamp: bigint, offset: bigint, ts: bigint) =>
    exchange(consumerConn, 2, 1, 'admin', {
      ReplicaId: -1, Topics: [{ Name: 'orders', Partitions: [{ PartitionIndex: partition, Timestamp: timestamp }] }],
    }, { Topics: [{ Name: 'orders', Partitions: [{ PartitionIndex: partition, ErrorCode: 0, Timestamp: -1n, Offset: offset }] }] }, ts);
  return { events, produce, commit, fetch, listOffsets, exchange };
}

const lagArgs = (ex: KafkaExchange) => probeFirings(ex).filter((f) => f.probe === 'lag').map((f) => f.args);

describe('lag from the wire', () => {
  it('committed lag on OffsetCommit, offset lag per group, both following the log end', () => {
    const { produce, commit, fetch, listOffsets } = setup();
    // No group knows the partition yet: the produce changes no lag view.
    expect(produce(0, 10, 0n, 1_000n).lag).toBeUndefined();
    const c = commit(0, 4n, 2_000n);
    expect(c.items[0]).toMatchObject({ group: 'billing', committed_offset: 4n, committed_lag: 6n });
    expect(probeFirings(c).find((f) => f.probe === 'offsetcommit')!.args).toMatchObject({ committed_lag: 6n });
    expect(lagArgs(c)).toEqual([expect.objectContaining({
      api: 'OffsetCommit', group: 'billing', topic: 'orders', partition: 0n, high_watermark: 10n,
      committed_offset: 4n, committed_lag: 6n, fetch_offset: -1n, lag: -1n,
    })]);
    const f = fetch(0, 4n, 10n, 3_000n, 3_100n);
    expect(f.items[0]).toMatchObject({ group: 'billing', fetch_offset: 4n, lag: 6n });
    expect(lagArgs(f)).toEqual([expect.objectContaining({ group: 'billing', fetch_offset: 4n, lag: 6n, committed_lag: 6n })]);
    // Producers go on: every group on the partition sees its lag grow.
    const p = produce(0, 5, 10n, 4_000n);
    expect(lagArgs(p)).toEqual([expect.objectContaining({ api: 'Produce', high_watermark: 15n, committed_lag: 11n, lag: 11n })]);
    expect(lagArgs(listOffsets(0, -1n, 20n, 5_000n))).toEqual([expect.objectContaining({ high_watermark: 20n, committed_lag: 16n })]);
    // Earliest offsets, and a high watermark below what was seen, tell nothing of the log end.
    expect(listOffsets(0, -2n, 0n, 6_000n).lag).toBeUndefined();
    expect(fetch(0, 4n, 12n, 7_000n, 7_100n).lag).toBeUndefined();
    // The consumer catches up and commits: lag back to 0.
    expect(lagArgs(fetch(0, 20n, 20n, 8_000n, 8_100n))).toEqual([expect.objectContaining({ fetch_offset: 20n, lag: 0n })]);
    expect(lagArgs(commit(0, 20n, 9_000n))).toEqual([expect.objectContaining({ committed_offset: 20n, committed_lag: 0n, lag: 0n })]);
    // The same commit seen again (say from the broker's end) changes no view.
    expect(commit(0, 20n, 9_500n).lag).toBeUndefined();
  });

  it('ignores failed produces and commits', () => {
    const { produce, commit } = setup();
    produce(1, 10, 0n, 1_000n);
    expect(produce(1, 50, -1n, 2_000n, 6).lag).toBeUndefined();
    const failed = commit(1, 3n, 3_000n, 25);
    expect(failed.items[0]!.committed_lag).toBeUndefined();
    expect(failed.lag).toBeUndefined();
    expect(probeFirings(failed).find((f) => f.probe === 'offsetcommit')!.args.committed_lag).toBe(-1n);
    expect(commit(1, 3n, 4_000n).items[0]!.committed_lag).toBe(7n);
  });

  it('committed lag is unknown until a log end is seen; OffsetFetch answers give committed offsets', () => {
    const { commit, exchange, produce } = setup();
    const c = commit(2, 7n, 1_000n);
    expect(c.items[0]!.committed_lag).toBeUndefined();
    expect(lagArgs(c)).toEqual([expect.objectContaining({ high_watermark: -1n, committed_offset: 7n, committed_lag: -1n })]);
    const of = exchange(consumerConn, 9, 3, 'admin', { GroupId: 'audit', Topics: [{ Name: 'orders', PartitionIndexes: [2] }] }, {
      ThrottleTimeMs: 0, ErrorCode: 0,
      Topics: [{ Name: 'orders', Partitions: [{ PartitionIndex: 2, CommittedOffset: 3n, Metadata: null, ErrorCode: 0 }] }],
    }, 2_000n);
    expect(lagArgs(of)).toEqual([expect.objectContaining({ group: 'audit', committed_offset: 3n, committed_lag: -1n })]);
    const views = lagArgs(produce(2, 10, 0n, 3_000n));
    expect(views.map((v) => [v.group, v.committed_lag])).toEqual([['billing', 3n], ['audit', 7n]]);
  });

  it('time lag: from the Produce of the record at the fetch offset to the fetch asking for it', () => {
    const { produce, fetch } = setup();
    produce(0, 10, 0n, 1_000n);
    produce(0, 10, 10n, 5_000n);
    // Before its Produce was seen, an offset has no time lag.
    const early = fetch(0, 20n, 20n, 5_500n, 6_000n);
    expect(early.items[0]!.time_lag).toBeUndefined();
    expect(probeFirings(early).find((f) => f.probe === 'fetch')!.args.time_lag).toBe(-1n);
    expect(fetch(0, 12n, 20n, 9_000n, 9_200n).items[0]!.time_lag).toBe(4_200n);
    // Asked again (the consumer discarded what it got): the position has grown older.
    expect(fetch(0, 12n, 20n, 9_300n, 9_400n).items[0]!.time_lag).toBe(4_400n);
    expect(fetch(0, 3n, 20n, 9_500n, 9_600n).items[0]!.time_lag).toBe(8_600n);
  });
});

describe('LagTracker bounds', () => {
  const ex = (api_key: number, items: KafkaExchange['items'], ts: bigint): KafkaExchange => ({
    api: '', api_key, version: 0, correlation_id: 0, client_id: 'c', role: 'client', status: 'complete', latency: 1n,
    error: 0, error_name: 'NONE', request_bytes: 0, response_bytes: 0, request_ts: ts, response_ts: ts + 1n, truncated: false, incomplete: false,
    connection: { ...producerConn }, details: {}, items,
  });

  it('forgets the oldest produced batches past its limit', () => {
    const t = new LagTracker({ batches: 2 });
    for (let i = 0; i < 3; i++) t.observe(ex(0, [{ topic: 't', partition: 0, records: 10, base_offset: BigInt(i * 10), error: 0 }], BigInt(i * 100)));
    const f1 = ex(1, [{ topic: 't', partition: 0, fetch_offset: 5n, high_watermark: 30n, error: 0 }], 1_000n);
    t.observe(f1);
    expect(f1.items[0]!.time_lag).toBeUndefined();
    const f2 = ex(1, [{ topic: 't', partition: 0, fetch_offset: 15n, high_watermark: 30n, error: 0 }], 1_000n);
    t.observe(f2);
    expect(f2.items[0]!.time_lag).toBe(1_001n - 100n);
  });

  it('keeps a bounded number of groups per partition, and drops a deleted topic', () => {
    const t = new LagTracker({ groups: 2 });
    for (const g of ['a', 'b', 'c']) t.observe(ex(8, [{ group: g, topic: 't', partition: 0, committed_offset: 1n, error: 0 }], 0n));
    expect(t.view('a', 't', 0)).toBeUndefined();
    expect(t.view('c', 't', 0)).toMatchObject({ committed_offset: 1n });
    t.observe(ex(20, [{ topic: 't', error: 0 }], 1n));
    expect(t.view('c', 't', 0)).toBeUndefined();
  });

  it('keeps a bounded number of partitions, forgetting the least recently updated', () => {
    const t = new LagTracker({ partitions: 2 });
    const commit = (partition: number) => t.observe(ex(8, [{ group: 'g', topic: 't', partition, committed_offset: 1n, error: 0 }], 0n));
    commit(0);
    commit(1);
    t.observe(ex(1, [{ topic: 't', partition: 0, fetch_offset: 1n, high_watermark: 5n, error: 0 }], 1n));
    commit(2);
    expect(t.view('g', 't', 1)).toBeUndefined();
    expect(t.view('g', 't', 0)).toMatchObject({ committed_lag: 4n });
    expect(t.view('g', 't', 2)).toMatchObject({ committed_offset: 1n });
  });

  it('counts a produced batch whose header was not copied as one record, and times records by batch starts', () => {
    const t = new LagTracker();
    t.observe(ex(8, [{ group: 'g', topic: 't', partition: 0, committed_offset: 0n, error: 0 }], 0n));
    t.observe(ex(0, [{ topic: 't', partition: 0, records: 0, base_offset: 10n, error: 0 }], 100n));
    expect(t.view('g', 't', 0)).toMatchObject({ high_watermark: 11n, committed_lag: 11n });
    t.observe(ex(0, [{ topic: 't', partition: 0, records: 0, base_offset: 30n, error: 0 }], 200n));
    const inFirst = ex(1, [{ topic: 't', partition: 0, fetch_offset: 25n, high_watermark: 40n, error: 0 }], 1_000n);
    const pastEnd = ex(1, [{ topic: 't', partition: 0, fetch_offset: 40n, high_watermark: 40n, error: 0 }], 1_000n);
    t.observe(inFirst);
    t.observe(pastEnd);
    expect(inFirst.items[0]!.time_lag).toBe(1_001n - 100n);
    expect(pastEnd.items[0]!.time_lag).toBeUndefined();
    expect(t.view('g', 't', 0)).toMatchObject({ high_watermark: 40n, committed_lag: 40n });
  });

  it('ignores exchanges without a response', () => {
    const t = new LagTracker();
    const e = { ...ex(8, [{ group: 'g', topic: 't', partition: 0, committed_offset: 1n }], 0n), status: 'closed' as const };
    t.observe(e);
    expect(e.lag).toBeUndefined();
    expect(t.view('g', 't', 0)).toBeUndefined();
  });
});

describe('the log end after a Produce', () => {
  const produceFrame = (id: number, records: Uint8Array): Uint8Array => requestFrame(0, 7, id, 'producer', {
    TransactionalId: null, Acks: -1, TimeoutMs: 1000, TopicData: [{ Name: 'orders', PartitionData: [{ Index: 0, Records: records }] }],
  });
  const producedFrame = (id: number, base: bigint): Uint8Array =>
    responseFrame(0, 7, id, { Responses: [{ Name: 'orders', PartitionResponses: [{ Index: 0, ErrorCode: 0, BaseOffset: base }] }] });
  const fetchFrames = (id: number, offset: bigint, hw: bigint): [Uint8Array, Uint8Array] => [
    requestFrame(1, 4, id, 'c1', { ReplicaId: -1, MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1 << 20, IsolationLevel: 0, Topics: [{ Topic: 'orders', Partitions: [{ Partition: 0, FetchOffset: offset, PartitionMaxBytes: 1 << 20 }] }] }),
    responseFrame(1, 4, id, { ThrottleTimeMs: 0, Responses: [{ Topic: 'orders', Partitions: [{ PartitionIndex: 0, ErrorCode: 0, HighWatermark: hw, LastStableOffset: hw, AbortedTransactions: null, Records: null }] }] }),
  ];
  const join = (id: number): [Uint8Array, Uint8Array] => [
    requestFrame(11, 5, id, 'c1', { GroupId: 'billing', SessionTimeoutMs: 10_000, RebalanceTimeoutMs: 30_000, MemberId: 'm', GroupInstanceId: null, ProtocolType: 'consumer', Protocols: [] }),
    responseFrame(11, 5, id, { ErrorCode: 0, GenerationId: 1, ProtocolName: 'range', Leader: 'm', MemberId: 'm', Members: [] }),
  ];

  /**
   * The lag views a script reading kafka:lag gets: a paused consumer, then a Produce of `batches`
   * (of which the capture copied `copied` bytes when given), then the fetches of `later`.
   */
  function lagAfter(batches: Uint8Array, base: bigint, copied?: number, later: [bigint, bigint][] = []): ProbeArgsLike[] {
    const fired: ProbeArgsLike[] = [];
    const decoder = new KafkaDecoder({ demand: { probes: ['lag'], args: ['high_watermark', 'fetch_offset', 'lag', 'incomplete'] }, onFiring: (_p, args) => void fired.push(args) });
    const push = (c: typeof producerConn, req: Uint8Array, resp: Uint8Array, ts: bigint): void => {
      if (copied === undefined || c !== producerConn) decoder.push({ ...c, dir: 'out', ts, skipped: 0, data: req });
      else {
        decoder.push({ ...c, dir: 'out', ts, skipped: 0, data: req.subarray(0, copied) });
        decoder.push({ ...c, dir: 'out', ts, skipped: req.length - copied, data: new Uint8Array(0) });
      }
      decoder.push({ ...c, dir: 'in', ts: ts + 5n, skipped: 0, data: resp });
    };
    push(consumerConn, ...join(1), 1_000n);
    push(consumerConn, ...fetchFrames(2, base, base), 2_000n);
    push(producerConn, produceFrame(1, batches), producedFrame(1, base), 3_000n);
    let id = 3;
    for (const [offset, hw] of later) push(consumerConn, ...fetchFrames(id++, offset, hw), 4_000n + BigInt(id));
    return fired;
  }

  it('is the base offset plus the offsets of every batch of the partition (last offset delta + 1 each)', () => {
    expect(lagAfter(recordBatch({ records: 11, payload: 500 }), 40n).at(-1)).toEqual({ high_watermark: 51n, fetch_offset: 40n, lag: 11n, incomplete: 0n });
    const two = new Uint8Array([...recordBatch({ records: 11 }), ...recordBatch({ records: 4 })]);
    expect(lagAfter(two, 40n).at(-1)).toEqual({ high_watermark: 55n, fetch_offset: 40n, lag: 15n, incomplete: 0n });
    // A batch whose last offset delta says it spans more offsets than it holds records.
    const sparse = recordBatch({ records: 3 });
    new DataView(sparse.buffer).setInt32(23, 9);
    expect(lagAfter(sparse, 40n).at(-1)).toEqual({ high_watermark: 50n, fetch_offset: 40n, lag: 10n, incomplete: 0n });
  });

  it('is a lower bound, and says so, when the batch headers were not copied, until an exact end is seen', () => {
    const batch = recordBatch({ records: 11, payload: 500 });
    const frame = produceFrame(1, batch);
    const at = Buffer.from(frame).indexOf(Buffer.from(batch));
    const fired = lagAfter(batch, 40n, at + 20, [[40n, 51n]]);
    expect(fired.slice(-2)).toEqual([
      { high_watermark: 41n, fetch_offset: 40n, lag: 1n, incomplete: 1n },
      { high_watermark: 51n, fetch_offset: 40n, lag: 11n, incomplete: 0n },
    ]);
  });
});

type ProbeArgsLike = Record<string, bigint | string>;

describe('follower replicas fetching', () => {
  const follow = (version: number, replica: Record<string, unknown>, offset: bigint, hw: bigint) => ({
    ...replica, MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1 << 20, IsolationLevel: 0, SessionId: 0, SessionEpoch: -1,
    Topics: [{ Topic: 'orders', TopicId: '00000000-0000-4000-8000-0000000000ab', Partitions: [{ Partition: 0, CurrentLeaderEpoch: 1, FetchOffset: offset, LastFetchedEpoch: 1, LogStartOffset: 0n, PartitionMaxBytes: 1 << 20 }] }],
    ForgottenTopicsData: [], RackId: '', hw, version,
  });
  const response = (hw: bigint) => ({
    ThrottleTimeMs: 0, ErrorCode: 0, SessionId: 0,
    Responses: [{ Topic: 'orders', TopicId: '00000000-0000-4000-8000-0000000000ab', Partitions: [{ PartitionIndex: 0, ErrorCode: 0, HighWatermark: hw, LastStableOffset: hw, LogStartOffset: 0n, AbortedTransactions: null, PreferredReadReplica: -1, Records: null }] }],
  });

  it('says which broker sent a Fetch (replica), and moves no group position with it', () => {
    const { commit, fetch, exchange } = setup();
    commit(0, 4n, 1_000n);
    expect(probeFirings(fetch(0, 4n, 10n, 2_000n, 2_100n)).find((f) => f.probe === 'fetch')!.args).toMatchObject({ replica: -1n, group: 'billing' });
    // A follower (broker 2) on the same process and client id as the group's member: its fetch offset
    // (9) is where its copy of the log ends, not the group's position.
    const f = exchange(consumerConn, 1, 12, 'c1', follow(12, { ReplicaId: 2 }, 9n, 12n), response(12n), 3_000n);
    expect(probeFirings(f).find((x) => x.probe === 'fetch')!.args).toMatchObject({ replica: 2n, fetch_offset: 9n });
    // The log end it reports still counts: the group's lag grows from its own position, 4.
    expect(lagArgs(f)).toEqual([expect.objectContaining({ group: 'billing', high_watermark: 12n, fetch_offset: 4n, lag: 8n })]);
    // From v15 the follower names itself in the ReplicaState tagged field; a consumer leaves it out.
    const v15 = exchange({ ...consumerConn, fd: 9 }, 1, 15, 'c1', follow(15, { ReplicaState: { ReplicaId: 3, ReplicaEpoch: 7n } }, 11n, 13n), response(13n), 4_000n);
    expect(probeFirings(v15).find((x) => x.probe === 'fetch')!.args).toMatchObject({ replica: 3n });
    const consumer15 = exchange({ ...consumerConn, fd: 10 }, 1, 15, 'c1', follow(15, {}, 13n, 13n), response(13n), 5_000n);
    expect(probeFirings(consumer15).find((x) => x.probe === 'fetch')!.args).toMatchObject({ replica: -1n });
  });
});
