import { describe, expect, it } from 'vitest';
import { KafkaDecoder, probeFirings, type CaptureChunk, type KafkaExchange } from '../../src/kafka/index.js';
import { requestFrame, responseFrame, recordBatch, concat } from '../fixtures/kafka/encoder.js';
import { laneResponses } from '../helpers/lane-count.js';

const conn = { pid: 100, tid: 101, comm: 'app', fd: 7, laddr: '127.0.0.1', lport: 50000, raddr: '127.0.0.1', rport: 9092 };

function setup(options: Partial<ConstructorParameters<typeof KafkaDecoder>[0]> = {}) {
  const events: KafkaExchange[] = [];
  const decoder = new KafkaDecoder({ onExchange: (e) => events.push(e), ...options });
  const send = (dir: 'out' | 'in', data: Uint8Array, ts: bigint, extra: Partial<CaptureChunk> = {}) =>
    decoder.push({ ...conn, dir, ts, skipped: 0, data, ...extra });
  return { decoder, events, send };
}

describe('exchange pairing', () => {
  it('pairs a Produce request and response on the client side', () => {
    const { events, send, decoder } = setup();
    const req = requestFrame(0, 7, 11, 'producer-1', {
      TransactionalId: null, Acks: -1, TimeoutMs: 1000,
      TopicData: [{ Name: 'orders', PartitionData: [{ Index: 0, Records: recordBatch({ records: 3, payload: 100 }) }, { Index: 1, Records: recordBatch({ records: 2 }) }] }],
    });
    const resp = responseFrame(0, 7, 11, {
      Responses: [{ Name: 'orders', PartitionResponses: [{ Index: 0, ErrorCode: 0, BaseOffset: 40n }, { Index: 1, ErrorCode: 6, BaseOffset: -1n }] }],
      ThrottleTimeMs: 0,
    });
    send('out', req, 1_000n);
    expect(events).toHaveLength(0);
    send('in', resp, 1_750n);
    expect(events).toHaveLength(1);
    const ex = events[0]!;
    expect(ex).toMatchObject({
      api: 'Produce', api_key: 0, version: 7, correlation_id: 11, client_id: 'producer-1', role: 'client',
      status: 'complete', latency: 750n, error: 6, error_name: 'NOT_LEADER_OR_FOLLOWER',
      request_bytes: req.length, response_bytes: resp.length, truncated: false,
    });
    expect(ex.connection).toMatchObject({ pid: 100, fd: 7, rport: 9092 });
    expect(ex.details).toEqual({ acks: -1 });
    expect(ex.items).toEqual([
      { topic: 'orders', partition: 0, acks: -1, records: 3, offsets: 3, bytes: 61 + 100, incomplete: false, base_offset: 40n, error: 0, error_name: 'NONE' },
      { topic: 'orders', partition: 1, acks: -1, records: 2, offsets: 2, bytes: 71, incomplete: false, base_offset: -1n, error: 6, error_name: 'NOT_LEADER_OR_FOLLOWER' },
    ]);
    expect(decoder.counters()).toMatchObject({ framesDecoded: 2, exchanges: 1, unanswered: 0, framesFailed: {} });
  });

  it('broker role when requests are read; out-of-order responses pair by correlation id', () => {
    const { events, send } = setup();
    send('in', requestFrame(12, 4, 1, 'c1', { GroupId: 'g', GenerationId: 3, MemberId: 'm1', GroupInstanceId: null }), 10n);
    send('in', requestFrame(12, 4, 2, 'c1', { GroupId: 'g', GenerationId: 3, MemberId: 'm1', GroupInstanceId: null }), 20n);
    send('out', responseFrame(12, 4, 2, { ThrottleTimeMs: 0, ErrorCode: 27 }), 25n);
    send('out', responseFrame(12, 4, 1, { ThrottleTimeMs: 0, ErrorCode: 0 }), 40n);
    expect(events.map((e) => [e.correlation_id, e.role, e.latency, e.error_name])).toEqual([
      [2, 'broker', 5n, 'REBALANCE_IN_PROGRESS'],
      [1, 'broker', 30n, 'NONE'],
    ]);
    expect(events[0]!.details).toEqual({ group: 'g', generation: 3, member: 'm1' });
  });

  it('reports acks=0 Produce at once, and pending requests as closed on close', () => {
    const { events, send, decoder } = setup();
    send('out', requestFrame(0, 3, 1, 'p', { TransactionalId: null, Acks: 0, TimeoutMs: 1, TopicData: [] }), 5n);
    expect(events.map((e) => e.status)).toEqual(['no_response']);
    send('out', requestFrame(3, 1, 2, 'p', { Topics: null }), 6n);
    decoder.close(conn);
    expect(events.map((e) => [e.status, e.latency, e.error])).toEqual([['no_response', null, null], ['closed', null, null]]);
    expect(decoder.counters()).toMatchObject({ exchanges: 2, unanswered: 2 });
    expect(decoder.connectionCount).toBe(0);
  });

  // librdkafka's mock cluster answers acks=0 Produce requests, which a broker never does.
  const acks0 = (id: number, topic: string, partition: number, records: number) =>
    requestFrame(0, 7, id, 'rdkafka', { TransactionalId: null, Acks: 0, TimeoutMs: 1000, TopicData: [{ Name: topic, PartitionData: [{ Index: partition, Records: recordBatch({ records }) }] }] });
  const acks0Answer = (id: number, topic: string, partition: number) =>
    responseFrame(0, 7, id, { Responses: [{ Name: topic, PartitionResponses: [{ Index: partition, ErrorCode: 0, BaseOffset: 5n, LogAppendTimeMs: -1n, LogStartOffset: 0n }] }], ThrottleTimeMs: 0 });

  it('an answer to an acks=0 Produce is no orphan: the request in progress behind it is kept', () => {
    const { events, send, decoder } = setup();
    send('in', requestFrame(18, 0, 1, 'rdkafka', {}), 0n);
    send('out', responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1n);
    // Broker side: pipelined requests, one partition each; the next one is half read when the answer goes out.
    send('in', acks0(7, 'orders', 0, 2), 2n);
    const next = acks0(9, 'orders', 1, 3);
    send('in', next.subarray(0, 30), 3n);
    send('out', acks0Answer(7, 'orders', 0), 4n);
    send('in', next.subarray(30), 5n);
    send('out', acks0Answer(9, 'orders', 1), 6n);
    expect(events.map((e) => [e.api, e.correlation_id, e.role, e.status, e.items.map((i) => [i.topic, i.partition, i.records])])).toEqual([
      ['ApiVersions', 1, 'broker', 'complete', []],
      ['Produce', 7, 'broker', 'no_response', [['orders', 0, 2]]],
      ['Produce', 9, 'broker', 'no_response', [['orders', 1, 3]]],
    ]);
    expect(decoder.counters()).toMatchObject({ resyncs: 0, framesFailed: { acks0_response: 2 } });
  });

  it('an answer to an acks=0 Produce is never read as a request the other way, and teaches the direction', () => {
    const { events, send, decoder } = setup();
    // Correlation id 3 reads as api key 0 (Produce) version 3: the answer looks like a Produce request.
    send('out', acks0(3, 'orders', 2, 4), 1n);
    send('in', acks0Answer(3, 'orders', 2), 2n);
    // Known to carry responses now: a frame answering nothing is an orphan, not a request.
    send('in', responseFrame(3, 1, 99, { Brokers: [], ControllerId: 1, Topics: [] }), 3n);
    decoder.close(conn);
    expect(events.map((e) => [e.api, e.correlation_id, e.role, e.status, e.items.map((i) => [i.topic, i.partition, i.records])])).toEqual([
      ['Produce', 3, 'client', 'no_response', [['orders', 2, 4]]],
    ]);
    expect(decoder.counters().framesFailed).toEqual({ acks0_response: 1, orphan_response: 1 });
  });

  it('times out requests without a response', () => {
    const { events, send, decoder } = setup({ requestTimeoutNs: 1000n });
    send('out', requestFrame(18, 0, 1, 'x', {}), 0n);
    decoder.expire(500n);
    expect(events).toHaveLength(0);
    decoder.expire(2000n);
    expect(events.map((e) => e.status)).toEqual(['timeout']);
  });

  it('counts responses that match no request once the direction is known', () => {
    const { events, send, decoder } = setup();
    send('out', requestFrame(18, 0, 1, 'x', {}), 0n);
    send('in', responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [{ ApiKey: 0, MinVersion: 0, MaxVersion: 9 }] }), 1n);
    send('in', responseFrame(18, 0, 99, { ErrorCode: 0, ApiKeys: [] }), 2n);
    expect(events).toHaveLength(1);
    expect(events[0]!.details).toEqual({ api_count: 1 });
    expect(decoder.counters().framesFailed).toEqual({ orphan_response: 1 });
  });

  it('Fetch v13+: topic ids named from Metadata, lag from the fetch offset, group from the client id', () => {
    const { events, send } = setup();
    const id = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    send('out', requestFrame(3, 12, 1, 'consumer', { Topics: [{ TopicId: '00000000-0000-0000-0000-000000000000', Name: 'orders' }] }), 0n);
    send('in', responseFrame(3, 12, 1, { Brokers: [{ NodeId: 1, Host: 'h', Port: 9092, Rack: null }], ClusterId: null, ControllerId: 1, Topics: [{ ErrorCode: 0, Name: 'orders', TopicId: id, Partitions: [] }] }), 1n);
    send('out', requestFrame(11, 9, 2, 'consumer', { GroupId: 'billing', MemberId: '', GroupInstanceId: null, ProtocolType: 'consumer', Protocols: [], Reason: null }), 2n);
    send('out', requestFrame(1, 13, 3, 'consumer', { Topics: [{ TopicId: id, Partitions: [{ Partition: 0, FetchOffset: 90n, CurrentLeaderEpoch: -1, LastFetchedEpoch: -1, LogStartOffset: -1n, PartitionMaxBytes: 1 }] }], ForgottenTopicsData: [], RackId: '' }), 3n);
    send('in', responseFrame(1, 13, 3, { Responses: [{ TopicId: id, Partitions: [{ PartitionIndex: 0, ErrorCode: 0, HighWatermark: 100n, LastStableOffset: 100n, LogStartOffset: 0n, AbortedTransactions: null, PreferredReadReplica: -1, Records: recordBatch({ records: 4 }) }] }] }), 13n);
    // An incremental fetch that leaves the partition out: its last fetch offset still applies.
    send('out', requestFrame(1, 13, 4, 'consumer', { Topics: [], ForgottenTopicsData: [], RackId: '' }), 14n);
    send('in', responseFrame(1, 13, 4, { Responses: [{ TopicId: id, Partitions: [{ PartitionIndex: 0, HighWatermark: 120n, AbortedTransactions: null, Records: null }] }] }), 20n);
    const fetches = events.filter((e) => e.api === 'Fetch');
    expect(fetches).toHaveLength(2);
    expect(fetches[0]!.items).toEqual([{ topic: 'orders', partition: 0, fetch_offset: 90n, high_watermark: 100n, last_stable_offset: 100n, log_start_offset: 0n, lag: 10n, records: 4, bytes: 71, incomplete: false, error: 0, error_name: 'NONE', group: 'billing' }]);
    expect(fetches[1]!.items[0]).toMatchObject({ topic: 'orders', fetch_offset: 90n, high_watermark: 120n, lag: 30n, records: 0, bytes: 0 });
    const metadata = events.find((e) => e.api === 'Metadata')!;
    expect(metadata.details).toMatchObject({ brokers: 1, topics: 1, controller_id: 1, requested_topics: 1 });
  });

  it('JoinGroup then SyncGroup of a member makes a rebalance', () => {
    const { events, send } = setup();
    send('out', requestFrame(11, 5, 1, 'c', { GroupId: 'g', SessionTimeoutMs: 10, RebalanceTimeoutMs: 20, MemberId: '', GroupInstanceId: null, ProtocolType: 'consumer', Protocols: [{ Name: 'range', Metadata: new Uint8Array(3) }] }), 1_000n);
    send('in', responseFrame(11, 5, 1, { ErrorCode: 0, GenerationId: 4, ProtocolName: 'range', Leader: 'm-1', MemberId: 'm-1', Members: [{ MemberId: 'm-1', GroupInstanceId: null, Metadata: new Uint8Array(3) }, { MemberId: 'm-2', GroupInstanceId: null, Metadata: new Uint8Array(0) }] }), 5_000n);
    send('out', requestFrame(14, 3, 2, 'c', { GroupId: 'g', GenerationId: 4, MemberId: 'm-1', GroupInstanceId: null, Assignments: [{ MemberId: 'm-1', Assignment: new Uint8Array(8) }] }), 6_000n);
    send('in', responseFrame(14, 3, 2, { ErrorCode: 0, Assignment: new Uint8Array(8) }), 7_000n);
    const [join, sync] = events;
    expect(join!.details).toMatchObject({ group: 'g', member: 'm-1', generation: 4, protocol: 'range', protocol_type: 'consumer', leader: 'm-1', members: 2, is_leader: true, protocols: 1 });
    expect(sync!.details).toMatchObject({ group: 'g', member: 'm-1', generation: 4, assignments: 1, assignment_bytes: 8 });
    // m-2's SyncGroup is not seen, so the generation is not complete yet (test/unit/kafka-rebalance.test.ts).
    expect(sync!.details.join_to_sync).toBe(6_000n);
    expect(probeFirings(sync!).map((f) => f.probe)).toEqual(['request', 'syncgroup']);
  });

  it('SASL: handshake v0 tokens are never decoded and never reach events', () => {
    const { events, send, decoder } = setup();
    send('out', requestFrame(17, 0, 1, 'c', new Uint8Array([0, 5, 0x50, 0x4c, 0x41, 0x49, 0x4e])), 1n);
    send('in', responseFrame(17, 0, 1, new Uint8Array([0, 0, 0, 0, 0, 0])), 2n);
    const token = new TextEncoder().encode('\u0000alice\u0000s3cret');
    send('out', concat(new Uint8Array([0, 0, 0, token.length]), token), 3n);
    send('in', new Uint8Array([0, 0, 0, 4, 1, 2, 3, 4]), 4n);
    send('out', requestFrame(18, 0, 3, 'c', {}), 7n);
    send('in', responseFrame(18, 0, 3, { ErrorCode: 0, ApiKeys: [] }), 8n);
    expect(events.map((e) => e.api)).toEqual(['SaslHandshake', 'ApiVersions']);
    expect(JSON.stringify(events, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('s3cret');
    expect(decoder.counters().framesFailed.sasl_token).toBe(2);
  });

  it('SASL: SaslAuthenticate bodies are never decoded', () => {
    const { events, send } = setup();
    send('out', requestFrame(17, 1, 1, 'c', new Uint8Array([0, 5, 0x50, 0x4c, 0x41, 0x49, 0x4e])), 1n);
    send('in', responseFrame(17, 1, 1, new Uint8Array([0, 0, 0, 0, 0, 0])), 2n);
    send('out', requestFrame(36, 2, 2, 'c', new TextEncoder().encode('\u0000alice\u0000s3cret')), 5n);
    send('in', responseFrame(36, 2, 2, new Uint8Array([0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0])), 6n);
    expect(events.map((e) => [e.api, e.status])).toEqual([['SaslHandshake', 'complete'], ['SaslAuthenticate', 'complete']]);
    expect(events[1]!.details).toEqual({});
    expect(JSON.stringify(events, (_k, v) => (typeof v === 'bigint' ? String(v) : v))).not.toContain('s3cret');
  });

  it('truncated frame heads still make exchanges', () => {
    const { events, send } = setup();
    const req = requestFrame(0, 9, 5, 'p', { TransactionalId: null, Acks: 1, TimeoutMs: 5, TopicData: [{ Name: 't', PartitionData: [{ Index: 3, Records: recordBatch({ records: 1000, payload: 100_000 }) }] }] });
    send('out', req.subarray(0, 200), 10n);
    send('out', new Uint8Array(0), 11n, { skipped: req.length - 200 });
    send('in', responseFrame(0, 9, 5, { Responses: [{ Name: 't', PartitionResponses: [{ Index: 3, ErrorCode: 0, BaseOffset: 7n, RecordErrors: [] }] }] }), 30n);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ truncated: true, latency: 20n, request_bytes: req.length });
    expect(events[0]!.items).toEqual([{ topic: 't', partition: 3, acks: 1, records: 1000, offsets: 1000, bytes: 61 + 100_000, incomplete: false, base_offset: 7n, error: 0, error_name: 'NONE' }]);
  });

  it('probe firings: one per item for per-partition APIs, common args as bigint or string', () => {
    const { events, send } = setup();
    send('out', requestFrame(8, 2, 1, 'c', { GroupId: 'g', GenerationIdOrMemberEpoch: 1, MemberId: 'm', RetentionTimeMs: -1n, Topics: [{ Name: 't', Partitions: [{ PartitionIndex: 0, CommittedOffset: 5n, CommittedMetadata: null }, { PartitionIndex: 1, CommittedOffset: 6n, CommittedMetadata: null }] }] }), 0n);
    send('in', responseFrame(8, 2, 1, { Topics: [{ Name: 't', Partitions: [{ PartitionIndex: 0, ErrorCode: 0 }, { PartitionIndex: 1, ErrorCode: 0 }] }] }), 9n);
    const firings = probeFirings(events[0]!);
    expect(firings.map((f) => f.probe)).toEqual(['request', 'offsetcommit', 'offsetcommit', 'lag', 'lag']);
    expect(firings[2]!.args).toMatchObject({ api: 'OffsetCommit', latency: 9n, group: 'g', member: 'm', generation: 1n, topic: 't', partition: 1n, committed_offset: 6n, error: 0n, role: 'client', status: 'complete', rport: 9092n });
  });

  it('a reused fd with other addresses starts a new connection', () => {
    const { events, send } = setup();
    send('out', requestFrame(18, 0, 1, 'x', {}), 0n);
    send('out', requestFrame(18, 0, 1, 'x', {}), 1n, { rport: 9093 });
    expect(events.map((e) => [e.status, e.connection.rport])).toEqual([['closed', 9092]]);
  });

  it('capture flags: a close record closes, a new connection id on the same fd starts afresh', () => {
    const { events, send, decoder } = setup();
    send('out', requestFrame(18, 0, 1, 'x', {}), 0n, { conn: 1n });
    send('out', requestFrame(18, 0, 2, 'x', {}), 1n, { conn: 2n });
    expect(events.map((e) => [e.correlation_id, e.status])).toEqual([[1, 'closed']]);
    send('out', new Uint8Array(0), 2n, { conn: 2n, close: true });
    expect(events.map((e) => [e.correlation_id, e.status])).toEqual([[1, 'closed'], [2, 'closed']]);
    expect(decoder.connectionCount).toBe(0);
  });

  it('capture resync flag: the frame in progress is reported truncated, framing restarts at the data', () => {
    const { events, send, decoder } = setup();
    const req = requestFrame(3, 1, 1, 'x', { Topics: [{ Name: 'a' }, { Name: 'b' }] });
    send('out', req.subarray(0, 20), 0n);
    send('out', requestFrame(18, 0, 2, 'x', {}), 5n, { resync: true });
    send('in', responseFrame(18, 0, 2, { ErrorCode: 0, ApiKeys: [] }), 9n);
    send('in', responseFrame(3, 1, 1, { Brokers: [], ControllerId: 0, Topics: [] }), 10n);
    expect(events.map((e) => [e.api, e.correlation_id, e.truncated, e.latency])).toEqual([
      ['ApiVersions', 2, false, 4n],
      ['Metadata', 1, true, 10n],
    ]);
    expect(decoder.counters().resyncs).toBe(1);
  });

  it('a response answering no request makes the request stream drop a frame with a bogus size', () => {
    const { events, send, decoder } = setup();
    send('out', requestFrame(18, 0, 1, 'x', {}), 0n);
    send('in', responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1n);
    // A plausible size (1 MiB) in front of a valid-looking head: the stream would wait for 1 MiB.
    send('out', Uint8Array.from([0, 0x10, 0, 0, 0, 18, 0, 0, 0, 0, 0, 2, 0, 0]), 2n);
    send('out', requestFrame(18, 0, 3, 'x', {}), 3n);
    send('in', responseFrame(18, 0, 3, { ErrorCode: 0, ApiKeys: [] }), 4n);
    send('out', requestFrame(18, 0, 4, 'x', {}), 5n);
    send('in', responseFrame(18, 0, 4, { ErrorCode: 0, ApiKeys: [] }), 6n);
    expect(events.map((e) => [e.correlation_id, e.status])).toEqual([[1, 'complete'], [4, 'complete']]);
    expect(decoder.counters().framesFailed.orphan_response).toBe(1);
  });

  const apiVersionsAnswer = (id: number): Uint8Array => responseFrame(18, 0, id, { ErrorCode: 0, ApiKeys: [] });

  it('after a ring-buffer loss, an answer to a lost request is counted as such, and the request in progress survives', () => {
    const { events, send, decoder } = setup();
    send('out', requestFrame(18, 0, 1, 'x', {}), 0n);
    send('in', apiVersionsAnswer(1), 1n);
    // Request 2 went in a record the ring refused; request 3 is half written.
    const req3 = requestFrame(3, 1, 3, 'x', { Topics: [{ Name: 'a' }, { Name: 'b' }] });
    send('out', req3.subarray(0, 20), 3n, { skipped: 30, resync: true, loss: true });
    send('in', apiVersionsAnswer(2), 4n, { loss: true });
    send('out', req3.subarray(20), 5n);
    send('in', responseFrame(3, 1, 3, { Brokers: [], ControllerId: 0, Topics: [] }), 6n);
    expect(events.map((e) => [e.correlation_id, e.status, e.truncated])).toEqual([[1, 'complete', false], [3, 'complete', false]]);
    expect(decoder.counters()).toMatchObject({ framesDecoded: 4, framesFailed: { request_lost: 1 }, resyncs: 1 });
  });

  it('an answer to a request lost by the ring can come before the request stream says so: the other stream is told', () => {
    const { events, send, decoder } = setup();
    send('out', requestFrame(18, 0, 1, 'x', {}), 0n);
    send('in', apiVersionsAnswer(1), 1n);
    const req3 = requestFrame(3, 1, 3, 'x', { Topics: [{ Name: 'a' }, { Name: 'b' }] });
    send('out', req3.subarray(0, 20), 2n);
    // The rest of request 3 and request 2 after it were refused; 2's answer comes first.
    send('in', responseFrame(3, 1, 3, { Brokers: [], ControllerId: 0, Topics: [] }), 4n, { loss: true });
    send('in', apiVersionsAnswer(2), 5n);
    send('out', requestFrame(18, 0, 4, 'x', {}), 6n, { skipped: req3.length - 20 + 30, resync: true, loss: true });
    send('in', apiVersionsAnswer(4), 7n);
    expect(events.map((e) => [e.correlation_id, e.status, e.truncated])).toEqual([[1, 'complete', false], [3, 'complete', true], [4, 'complete', false]]);
    expect(decoder.counters().framesFailed).toEqual({ request_lost: 1 });
  });

  it('the loss ends at the answer to a request sent after its last flag: then an answer to nothing means lost sync again', () => {
    const { send, decoder } = setup();
    send('out', requestFrame(18, 0, 1, 'x', {}), 0n);
    send('in', apiVersionsAnswer(1), 1n);
    send('out', requestFrame(18, 0, 3, 'x', {}), 3n, { skipped: 30, resync: true, loss: true });
    send('in', apiVersionsAnswer(2), 4n, { loss: true });
    send('in', apiVersionsAnswer(3), 5n);
    send('out', requestFrame(18, 0, 5, 'x', {}), 6n);
    send('in', apiVersionsAnswer(5), 7n);
    send('in', apiVersionsAnswer(9), 8n);
    expect(decoder.counters().framesFailed).toEqual({ request_lost: 1, orphan_response: 1 });
  });

  it('the loss ends the same way when the fast lane pairs the answer', () => {
    const fired: string[] = [];
    const { send, decoder } = setup({ onExchange: undefined, onFiring: (_p, _a, _c, _t, ns) => void fired.push(`${ns}`), demand: { probes: ['produce'], args: ['records'] } });
    const produce = (id: number): Uint8Array => requestFrame(0, 7, id, 'p', {
      TransactionalId: null, Acks: 1, TimeoutMs: 1000, TopicData: [{ Name: 'orders', PartitionData: [{ Index: 0, Records: recordBatch({ records: 2 }) }] }],
    });
    const produced = (id: number): Uint8Array => responseFrame(0, 7, id, { Responses: [{ Name: 'orders', PartitionResponses: [{ Index: 0, ErrorCode: 0, BaseOffset: 5n }] }], ThrottleTimeMs: 0 });
    const { taken } = laneResponses(() => {
      send('out', produce(1), 0n);
      send('in', produced(1), 1n);
      send('out', produce(3), 3n, { skipped: 30, resync: true, loss: true });
      send('in', produced(2), 4n, { loss: true });
      send('in', produced(3), 5n);
      send('out', produce(5), 6n);
      send('in', produced(5), 7n);
      send('in', produced(9), 8n);
    });
    // The lane answers request 3, the first after the loss (its window ends there as on the schema
    // decoder's path), and request 5; the first exchange, which teaches the direction, is that path's.
    expect(fired).toEqual(['1', '5', '7']);
    expect(taken).toBe(2);
    expect(decoder.counters().framesFailed).toEqual({ request_lost: 1, orphan_response: 1 });
  });

  it('before the direction is known, an answer to a lost request is a frame too (no search inside it for frames)', () => {
    const { events, send, decoder } = setup();
    send('out', requestFrame(18, 0, 1051, 'x', {}), 0n);
    // Request 1052 was lost; its answer (whose first bytes read as no request) comes first.
    send('in', concat(responseFrame(18, 0, 1052, { ErrorCode: 0, ApiKeys: [{ ApiKey: 0, MinVersion: 0, MaxVersion: 9 }] }), apiVersionsAnswer(1051)), 2n, { loss: true });
    expect(events.map((e) => [e.correlation_id, e.status])).toEqual([[1051, 'complete']]);
    expect(decoder.counters()).toMatchObject({ framesDecoded: 2, framesFailed: { request_lost: 1 } });
  });

  it('counts a frame cut short inside its header by a loss (it cannot be decoded)', () => {
    const { events, send, decoder } = setup();
    send('out', requestFrame(18, 0, 1, 'x', {}), 0n);
    send('in', apiVersionsAnswer(1), 1n);
    send('out', requestFrame(18, 0, 2, 'client', {}).subarray(0, 9), 2n);
    send('in', apiVersionsAnswer(2).subarray(0, 6), 3n);
    send('out', requestFrame(18, 0, 3, 'x', {}), 4n, { skipped: 20, resync: true, loss: true });
    send('in', apiVersionsAnswer(3), 5n, { skipped: 10, resync: true, loss: true });
    expect(events.map((e) => [e.correlation_id, e.status])).toEqual([[1, 'complete'], [3, 'complete']]);
    expect(decoder.counters()).toMatchObject({ framesDecoded: 4, framesFailed: { truncated_header: 2 } });
  });

  it('a connection whose start the capture saw knows its direction: an answer to a lost request is never read as a request', () => {
    const produce = (id: number) => requestFrame(0, 7, id, 'p', {
      TransactionalId: null, Acks: -1, TimeoutMs: 1000, TopicData: [{ Name: 'orders', PartitionData: [{ Index: 0, Records: recordBatch({ records: 3 }) }] }],
    });
    const answer = (id: number) => responseFrame(0, 7, id, { Responses: [{ Name: 'orders', PartitionResponses: [{ Index: 0, ErrorCode: 0, BaseOffset: 40n }] }], ThrottleTimeMs: 0 });
    const run = (origin?: 'accept') => {
      const events: KafkaExchange[] = [];
      const decoder = new KafkaDecoder({ onExchange: (e) => events.push(e) });
      const broker = { ...conn, lport: 9092, rport: 50000, ...(origin ? { origin } : {}) };
      // The broker's side, request 1 lost by the ring: its answer goes out first. Its correlation id
      // reads as api key 0, version 1: a Produce v1 request, when nothing says which way requests go.
      decoder.push({ ...broker, dir: 'out', ts: 1n, skipped: 0, data: answer(1), loss: true });
      decoder.push({ ...broker, dir: 'in', ts: 2n, skipped: 0, data: produce(2) });
      decoder.push({ ...broker, dir: 'out', ts: 3n, skipped: 0, data: answer(2) });
      return { exchanges: events.map((e) => [e.correlation_id, e.role, e.status]), failed: decoder.counters().framesFailed };
    };
    expect(run('accept')).toEqual({ exchanges: [[2, 'broker', 'complete']], failed: { request_lost: 1 } });
    // Joined mid-stream, the decoder can only guess, and the answer passes for a client's request.
    expect(run().exchanges).toContainEqual([1, 'client', 'no_response']);
  });
});
