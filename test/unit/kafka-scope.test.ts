// The scope arg: KRaft, controller and inter-broker requests are told from client traffic by their
// API, and Fetch, OffsetForLeaderEpoch, ListOffsets and AddPartitionsToTxn by their bodies, the same
// on the full path and under a demand for the arg alone (the lane declines it).
import { describe, expect, it } from 'vitest';
import { KafkaDecoder, type CaptureChunk, type KafkaDemand } from '../../src/kafka/index.js';
import { chunk } from '../fixtures/kafka/corpus.js';
import { recordBatch, requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';

const METADATA_TOPIC_ID = '00000000-0000-0000-0000-000000000001';
const ORDERS_ID = '6b1f0a52-3c1d-4e7a-9a51-0d2b7f1e4c11';

const fetchPartition = { Partition: 0, CurrentLeaderEpoch: 1, FetchOffset: 10n, LastFetchedEpoch: 1, LogStartOffset: 0n, PartitionMaxBytes: 1 << 20 };
const fetchRequest = (topic: { Topic?: string; TopicId?: string }, replica: Record<string, unknown>) => ({
  ...replica, MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1 << 20, IsolationLevel: 0, SessionId: 0, SessionEpoch: -1,
  Topics: [{ ...topic, Partitions: [fetchPartition] }], ForgottenTopicsData: [], RackId: '',
});
const fetchResponse = (topic: { Topic?: string; TopicId?: string }) => ({
  ThrottleTimeMs: 0, ErrorCode: 0, SessionId: 0,
  Responses: [{ ...topic, Partitions: [{ PartitionIndex: 0, ErrorCode: 0, HighWatermark: 12n, LastStableOffset: 12n, LogStartOffset: 0n, AbortedTransactions: [], PreferredReadReplica: -1, Records: recordBatch({ records: 2, baseOffset: 10n }) }] }],
});

/** [API key, version, request body, response body, the scope the exchange has, what it is]. */
const EXCHANGES: [number, number, object | Uint8Array, object | Uint8Array, string, string][] = [
  [1, 17, fetchRequest({ TopicId: ORDERS_ID }, {}), fetchResponse({ TopicId: ORDERS_ID }), 'client', "a consumer's Fetch (no replica state)"],
  [1, 17, fetchRequest({ TopicId: ORDERS_ID }, { ReplicaState: { ReplicaId: 2, ReplicaEpoch: 7n } }), fetchResponse({ TopicId: ORDERS_ID }), 'inter-broker', "a follower's Fetch v17"],
  [1, 11, fetchRequest({ Topic: 'orders' }, { ReplicaId: 3 }), fetchResponse({ Topic: 'orders' }), 'inter-broker', "a follower's Fetch v11"],
  [1, 11, fetchRequest({ Topic: 'orders' }, { ReplicaId: -1 }), fetchResponse({ Topic: 'orders' }), 'client', "a consumer's Fetch v11"],
  [1, 17, fetchRequest({ TopicId: METADATA_TOPIC_ID }, { ReplicaState: { ReplicaId: 1, ReplicaEpoch: -1n } }), fetchResponse({ TopicId: METADATA_TOPIC_ID }), 'controller', 'a Fetch of the metadata log by id'],
  [1, 12, fetchRequest({ Topic: '__cluster_metadata' }, { ReplicaId: 2 }), fetchResponse({ Topic: '__cluster_metadata' }), 'controller', 'a Fetch of the metadata log by name'],
  [1, 30, new Uint8Array(12), new Uint8Array(12), '', 'a Fetch of a version no schema knows (unknown)'],
  [63, 1, new Uint8Array([0, 0, 0, 1, 0]), new Uint8Array([0, 0, 0, 0, 0, 0, 0]), 'controller', 'BrokerHeartbeat'],
  [52, 0, new Uint8Array(4), new Uint8Array(4), 'controller', 'Vote'],
  [27, 1, new Uint8Array(4), new Uint8Array(4), 'inter-broker', 'WriteTxnMarkers'],
  [2, 5, { ReplicaId: 2, IsolationLevel: 0, Topics: [] }, { ThrottleTimeMs: 0, Topics: [] }, 'inter-broker', "a broker's ListOffsets"],
  [2, 5, { ReplicaId: -1, IsolationLevel: 0, Topics: [] }, { ThrottleTimeMs: 0, Topics: [] }, 'client', "a consumer's ListOffsets"],
  [24, 3, { V3AndBelowTransactionalId: 't', V3AndBelowProducerId: 5n, V3AndBelowProducerEpoch: 0, V3AndBelowTopics: [] }, { ThrottleTimeMs: 0, ResultsByTopicV3AndBelow: [] }, 'client', "a producer's AddPartitionsToTxn v3"],
  [24, 4, { Transactions: [] }, { ThrottleTimeMs: 0, ErrorCode: 0, ResultsByTransaction: [] }, 'inter-broker', "a broker's AddPartitionsToTxn v4"],
  [0, 9, { TransactionalId: null, Acks: -1, TimeoutMs: 1000, TopicData: [{ Name: 'orders', PartitionData: [{ Index: 0, Records: recordBatch({ records: 1 }) }] }] }, { Responses: [], ThrottleTimeMs: 0 }, 'client', 'Produce'],
];

function flow(): CaptureChunk[] {
  const c = { pid: 500, tid: 500, comm: 'kafka', fd: 11, laddr: '127.0.0.1', lport: 42000, raddr: '127.0.0.1', rport: 9093 };
  const out: CaptureChunk[] = [];
  let ts = 1_000n;
  EXCHANGES.forEach(([api, version, req, resp], i) => {
    out.push(chunk('out', requestFrame(api, version, i + 1, 'node-1', req as Uint8Array), (ts += 10n), 0, c));
    out.push(chunk('in', responseFrame(api, version, i + 1, resp as Uint8Array), (ts += 10n), 0, c));
  });
  return out;
}

/** [api_key, scope] of each kafka:request firing, and of each firing of another probe, by probe. */
function scopes(demand?: KafkaDemand): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const take = (probe: string, args: Record<string, bigint | string>): void => {
    (out[probe] ??= []).push(`${String(args['api_key'] ?? '')}:${String(args['scope'])}`);
  };
  const decoder: KafkaDecoder = demand
    ? new KafkaDecoder({ demand, onFiring: take })
    : new KafkaDecoder({ onExchange: (ex) => decoder.firings(ex).forEach((f) => take(f.probe, f.args)) });
  for (const c of flow()) decoder.push(c);
  decoder.closeAll();
  return out;
}

describe('the scope arg', () => {
  const want = EXCHANGES.map(([api, , , , scope]) => `${api}:${scope}`);

  it.each(EXCHANGES.map((e, i) => [e[5], i] as const))('says who %s is between', (_what, i) => {
    expect(scopes()['request']![i]).toBe(want[i]);
  });

  it('is the same demanded alone on kafka:request as on the full path', () => {
    expect(scopes({ probes: ['request'], args: ['api_key', 'scope'] })['request']).toEqual(want);
  });

  it('is the same on kafka:fetch demanded alone, where the lane declines it, as on the full path', () => {
    const fetches = EXCHANGES.filter(([api]) => api === 1).map(([, , , , scope]) => `1:${scope}`);
    expect(scopes()['fetch']).toEqual(fetches);
    expect(scopes({ probes: ['fetch'], args: ['api_key', 'scope'] })['fetch']).toEqual(fetches);
  });
});
