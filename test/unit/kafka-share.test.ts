// Share groups (KIP-932) and KIP-848 group describes: kafka:sharefetch counts the records a member
// acquired per partition (the offsets of the response's acquired ranges) and the acknowledgements its
// request carried by type, kafka:shareacknowledge those of its own requests, kafka:sharegroupheartbeat
// a member's epoch and assignment, kafka:consumergroupdescribe each group described. The same values
// on the full path and under a demand for each probe's args.
import { describe, expect, it } from 'vitest';
import { KafkaDecoder, probeFirings, type CaptureChunk, type KafkaExchange, type ProbeArgs } from '../../src/kafka/index.js';
import { exchangeChunks } from '../fixtures/kafka/corpus.js';
import { recordBatch, requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';

const ORDERS = '6b1f0a52-3c1d-4e7a-9a51-0d2b7f1e4c11';
const UNNAMED = '0c3d5e7f-1a2b-4c6d-8e9f-a0b1c2d3e4f5';

let id = 1;
let ts = 1_000n;
const exchange = (api: number, version: number, req: object, resp: object): CaptureChunk[] =>
  exchangeChunks(requestFrame(api, version, id, 'share-1', req as Uint8Array), responseFrame(api, version, id++, resp as Uint8Array), (ts += 1_000n));

/** A Metadata answer naming ORDERS (UNNAMED stays an id). */
const metadata = (): CaptureChunk[] => exchange(3, 12, { Topics: null, AllowAutoTopicCreation: false, IncludeTopicAuthorizedOperations: false }, {
  ThrottleTimeMs: 0, Brokers: [], ClusterId: 'c', ControllerId: 1,
  Topics: [{ ErrorCode: 0, Name: 'orders', TopicId: ORDERS, IsInternal: false, Partitions: [], TopicAuthorizedOperations: 0 }],
});

const batch = (first: bigint, last: bigint, types: number[]) => ({ FirstOffset: first, LastOffset: last, AcknowledgeTypes: types });
const leader = { LeaderId: 1, LeaderEpoch: 0 };
const acquired = recordBatch({ records: 3, baseOffset: 8n });

function shareFetch(): CaptureChunk[] {
  return exchange(78, 1, {
    GroupId: 'sg', MemberId: 'm-1', ShareSessionEpoch: 2, MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1 << 20, MaxRecords: 500, BatchSize: 500,
    Topics: [{ TopicId: ORDERS, Partitions: [
      // 5 accepted as one batch; 8 offsets one type each: 1 accept, 1 release, 1 reject, a gap; renewals; and a malformed batch (3 offsets, 2 types).
      { PartitionIndex: 0, AcknowledgementBatches: [batch(0n, 4n, [1]), batch(5n, 8n, [1, 2, 3, 0]), batch(9n, 10n, [4]), batch(11n, 13n, [1, 1])] },
      { PartitionIndex: 2, AcknowledgementBatches: [batch(3n, 3n, [3])] },
    ] }],
    ForgottenTopicsData: [],
  }, {
    ThrottleTimeMs: 0, ErrorCode: 0, ErrorMessage: null, AcquisitionLockTimeoutMs: 30_000,
    Responses: [{ TopicId: ORDERS, Partitions: [
      { PartitionIndex: 0, ErrorCode: 0, ErrorMessage: null, AcknowledgeErrorCode: 0, AcknowledgeErrorMessage: null, CurrentLeader: leader, Records: acquired,
        AcquiredRecords: [{ FirstOffset: 8n, LastOffset: 9n, DeliveryCount: 1 }, { FirstOffset: 10n, LastOffset: 10n, DeliveryCount: 3 }] },
      { PartitionIndex: 1, ErrorCode: 0, ErrorMessage: null, AcknowledgeErrorCode: 0, AcknowledgeErrorMessage: null, CurrentLeader: leader, Records: null, AcquiredRecords: [] },
    ] }, { TopicId: UNNAMED, Partitions: [
      { PartitionIndex: 4, ErrorCode: 3, ErrorMessage: null, AcknowledgeErrorCode: 0, AcknowledgeErrorMessage: null, CurrentLeader: leader, Records: null, AcquiredRecords: [] },
    ] }],
    NodeEndpoints: [],
  });
}

function shareAcknowledge(): CaptureChunk[] {
  return exchange(79, 1, {
    GroupId: 'sg', MemberId: 'm-1', ShareSessionEpoch: -1,
    Topics: [{ TopicId: ORDERS, Partitions: [{ PartitionIndex: 1, AcknowledgementBatches: [batch(20n, 29n, [2]), batch(30n, 31n, [1, 3])] }] }],
  }, {
    ThrottleTimeMs: 0, ErrorCode: 0, ErrorMessage: null,
    Responses: [{ TopicId: ORDERS, Partitions: [{ PartitionIndex: 1, ErrorCode: 0, ErrorMessage: null, CurrentLeader: leader }] }],
    NodeEndpoints: [],
  });
}

function shareHeartbeat(epoch: number, partitions: number[] | null): CaptureChunk[] {
  return exchange(76, 1, { GroupId: 'sg', MemberId: 'm-1', MemberEpoch: epoch - 1, RackId: null, SubscribedTopicNames: ['orders'] }, {
    ThrottleTimeMs: 0, ErrorCode: 0, ErrorMessage: null, MemberId: 'm-1', MemberEpoch: epoch, HeartbeatIntervalMs: 5000,
    Assignment: partitions === null ? null : { TopicPartitions: [{ TopicId: ORDERS, Partitions: partitions }] },
  });
}

function describeGroups(): CaptureChunk[] {
  const member = (memberId: string) => ({
    MemberId: memberId, InstanceId: null, RackId: null, MemberEpoch: 7, ClientId: 'c', ClientHost: '/127.0.0.1',
    SubscribedTopicNames: ['orders'], SubscribedTopicRegex: null, Assignment: { TopicPartitions: [] }, TargetAssignment: { TopicPartitions: [] }, MemberType: 1,
  });
  return exchange(69, 1, { GroupIds: ['g1', 'g2'], IncludeAuthorizedOperations: false }, {
    ThrottleTimeMs: 0,
    Groups: [
      { ErrorCode: 0, ErrorMessage: null, GroupId: 'g1', GroupState: 'Stable', GroupEpoch: 7, AssignmentEpoch: 7, AssignorName: 'uniform', Members: [member('a'), member('b')], AuthorizedOperations: 0 },
      { ErrorCode: 69, ErrorMessage: 'not found', GroupId: 'g2', GroupState: '', GroupEpoch: -1, AssignmentEpoch: -1, AssignorName: '', Members: [], AuthorizedOperations: 0 },
    ],
  });
}

const FLOW = [...metadata(), ...shareFetch(), ...shareAcknowledge(), ...shareHeartbeat(1, [0, 1, 2]), ...shareHeartbeat(1, null), ...describeGroups()];

/** The firings of `probe`, in `args`: every arg's path, then the same under a demand for them (which must agree). */
function firings(probe: string, args: string[]): ProbeArgs[] {
  const pick = (all: ProbeArgs[]): ProbeArgs[] => all.map((a) => Object.fromEntries(args.map((n) => [n, a[n]])));
  const exchanges: KafkaExchange[] = [];
  const full = new KafkaDecoder({ onExchange: (ex) => exchanges.push(ex) });
  for (const c of FLOW) full.push(c);
  full.closeAll();
  const out = pick(exchanges.flatMap((ex) => probeFirings(ex)).filter((f) => f.probe === probe).map((f) => f.args));
  const demanded: ProbeArgs[] = [];
  const decoder = new KafkaDecoder({ demand: { probes: [probe], args }, onFiring: (p, a) => void (p === probe && demanded.push(a)) });
  for (const c of FLOW) decoder.push(c);
  decoder.closeAll();
  expect(pick(demanded)).toEqual(out);
  return out;
}

describe('share group probes', () => {
  it('kafka:sharefetch: records acquired and acknowledgements by type per partition, either side only where it names the partition', () => {
    const args = ['group', 'member', 'session_epoch', 'topic', 'partition', 'records', 'acquired_ranges', 'max_delivery_count', 'bytes', 'accepted', 'released', 'rejected', 'renewed', 'ack_error', 'error_name'];
    const row = (v: (bigint | string)[]) => Object.fromEntries(args.map((a, i) => [a, v[i]]));
    expect(firings('sharefetch', args)).toEqual([
      // Offsets 0-4 and 5 accepted, 6 released, 7 rejected, 8 a gap, 9-10 renewed; 11-13 malformed, left out.
      row(['sg', 'm-1', 2n, 'orders', 0n, 3n, 2n, 3n, BigInt(acquired.length), 6n, 1n, 1n, 2n, 0n, 'NONE']),
      // Left out of the response, seen whole: nothing acquired; its error is the exchange's (the first partition error), as on other probes.
      row(['sg', 'm-1', 2n, 'orders', 2n, 0n, 0n, -1n, 0n, 0n, 0n, 1n, 0n, -1n, 'UNKNOWN_TOPIC_OR_PARTITION']),
      row(['sg', 'm-1', 2n, 'orders', 1n, 0n, 0n, -1n, 0n, 0n, 0n, 0n, 0n, 0n, 'NONE']),
      row(['sg', 'm-1', 2n, UNNAMED, 4n, 0n, 0n, -1n, 0n, 0n, 0n, 0n, 0n, 0n, 'UNKNOWN_TOPIC_OR_PARTITION']),
    ]);
  });

  it('kafka:shareacknowledge: acknowledgements by type per partition', () => {
    expect(firings('shareacknowledge', ['session_epoch', 'topic', 'partition', 'accepted', 'released', 'rejected', 'renewed', 'error'])).toEqual([
      { session_epoch: -1n, topic: 'orders', partition: 1n, accepted: 1n, released: 10n, rejected: 1n, renewed: 0n, error: 0n },
    ]);
  });

  it('kafka:sharegroupheartbeat: the member epoch, and the assignment only when the answer carries one', () => {
    expect(firings('sharegroupheartbeat', ['group', 'member', 'member_epoch', 'assigned_partitions', 'assignment'])).toEqual([
      { group: 'sg', member: 'm-1', member_epoch: 1n, assigned_partitions: 3n, assignment: 'orders[0,1,2]' },
      // A str arg not seen is absent from the firing: scripts read it as ''.
      { group: 'sg', member: 'm-1', member_epoch: 1n, assigned_partitions: -1n, assignment: undefined },
    ]);
  });

  it('kafka:consumergroupdescribe: once per group described, with its own error', () => {
    expect(firings('consumergroupdescribe', ['group', 'state', 'epoch', 'assignment_epoch', 'assignor', 'members', 'error_name'])).toEqual([
      { group: 'g1', state: 'Stable', epoch: 7n, assignment_epoch: 7n, assignor: 'uniform', members: 2n, error_name: 'NONE' },
      { group: 'g2', state: '', epoch: -1n, assignment_epoch: -1n, assignor: '', members: 0n, error_name: 'GROUP_ID_NOT_FOUND' },
    ]);
  });
});
