// Group-generation tracking (src/kafka/trackers/rebalances.ts) from protocol bytes: one kafka:rebalance per
// generation however many sides see it, per-member join_to_sync, member events, KIP-848 heartbeats.
import { describe, expect, it } from 'vitest';
import { KafkaDecoder, derivedFiring, probeFirings, type DerivedEvent, type KafkaExchange } from '../../src/kafka/index.js';
import { requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';

const FIND_COORDINATOR = 10;
const JOIN = 11;
const HEARTBEAT = 12;
const LEAVE = 13;
const SYNC = 14;
const CGH = 68;
const BROKER_PID = 9;

type Side = 'client' | 'broker';
type Body = Parameters<typeof requestFrame>[4];

/** A group's traffic as seen by the traced sides: each member has one coordinator connection. */
function scenario(sides: Side[], tracedMembers?: number[]) {
  const exchanges: KafkaExchange[] = [];
  const flushed: DerivedEvent[] = [];
  const decoder = new KafkaDecoder({ onExchange: (e) => exchanges.push(e), onDerived: (e) => flushed.push(e) });
  const corr = new Map<number, number>();
  const visible = (m: number, side: Side) => sides.includes(side) && (side === 'broker' || !tracedMembers || tracedMembers.includes(m));
  const conn = (m: number, side: Side) =>
    side === 'client'
      ? { pid: 100 + m, tid: 100 + m, comm: `member${m}`, fd: 10, laddr: '127.0.0.1', lport: 40_000 + m, raddr: '127.0.0.1', rport: 9092 }
      : { pid: BROKER_PID, tid: BROKER_PID, comm: 'broker', fd: 20 + m, laddr: '127.0.0.1', lport: 9092, raddr: '127.0.0.1', rport: 40_000 + m };
  const request = (m: number, api: number, version: number, body: Body, ts: bigint): void => {
    const id = (corr.get(m) ?? 0) + 1;
    corr.set(m, id);
    for (const side of ['client', 'broker'] as const) {
      if (!visible(m, side)) continue;
      // The broker reads what the client wrote a little later.
      decoder.push({ ...conn(m, side), dir: side === 'client' ? 'out' : 'in', ts: side === 'client' ? ts : ts + 10n, skipped: 0, data: requestFrame(api, version, id, `c${m}`, body) });
    }
  };
  const response = (m: number, api: number, version: number, body: Body, ts: bigint): void => {
    for (const side of ['broker', 'client'] as const) {
      if (!visible(m, side)) continue;
      decoder.push({ ...conn(m, side), dir: side === 'client' ? 'in' : 'out', ts: side === 'client' ? ts : ts - 10n, skipped: 0, data: responseFrame(api, version, corr.get(m)!, body) });
    }
  };
  const derived = (probe?: string): DerivedEvent[] => [...exchanges.flatMap((e) => e.derived ?? []), ...flushed].filter((d) => !probe || d.probe === probe);
  return { decoder, exchanges, flushed, request, response, derived };
}

const joinRequest = (member: string, reason?: string) => ({
  GroupId: 'g', SessionTimeoutMs: 10_000, RebalanceTimeoutMs: 30_000, MemberId: member, GroupInstanceId: null,
  ProtocolType: 'consumer', Protocols: [{ Name: 'range', Metadata: new Uint8Array(4) }], ...(reason === undefined ? {} : { Reason: reason }),
});
const joinResponse = (generation: number, member: string, leader: string, members: string[] = []) => ({
  ErrorCode: 0, GenerationId: generation, ProtocolName: 'range', Leader: leader, MemberId: member,
  Members: members.map((m) => ({ MemberId: m, GroupInstanceId: null, Metadata: new Uint8Array(4) })),
});
const syncRequest = (generation: number, member: string, assignments: string[] = []) => ({
  GroupId: 'g', GenerationId: generation, MemberId: member, GroupInstanceId: null,
  Assignments: assignments.map((m) => ({ MemberId: m, Assignment: new Uint8Array(8) })),
});
const syncResponse = { ErrorCode: 0, Assignment: new Uint8Array(8) };
const heartbeat = (generation: number, member: string) => ({ GroupId: 'g', GenerationId: generation, MemberId: member, GroupInstanceId: null });

const MS = 1_000_000n;

/**
 * m1 alone (generation 1), m2 joins (generation 2: m2's first JoinGroup has no member id and is
 * answered MEMBER_ID_REQUIRED, m1 learns of the rebalance from a heartbeat), m2 leaves (generation 3).
 */
function threeGenerations(s: ReturnType<typeof scenario>, opts: { m2Leaves?: boolean } = {}): void {
  s.request(1, JOIN, 5, joinRequest(''), 0n);
  s.response(1, JOIN, 5, { ErrorCode: 79, GenerationId: -1, ProtocolName: '', Leader: '', MemberId: 'm1', Members: [] }, 1n * MS);
  s.request(1, JOIN, 5, joinRequest('m1'), 2n * MS);
  s.response(1, JOIN, 5, joinResponse(1, 'm1', 'm1', ['m1']), 100n * MS);
  s.request(1, SYNC, 3, syncRequest(1, 'm1', ['m1']), 103n * MS);
  s.response(1, SYNC, 3, syncResponse, 105n * MS);

  s.request(2, JOIN, 5, joinRequest(''), 1_000n * MS);
  s.response(2, JOIN, 5, { ErrorCode: 79, GenerationId: -1, ProtocolName: '', Leader: '', MemberId: 'm2', Members: [] }, 1_001n * MS);
  s.request(2, JOIN, 5, joinRequest('m2'), 1_002n * MS);
  s.request(1, HEARTBEAT, 3, heartbeat(1, 'm1'), 1_200n * MS);
  s.response(1, HEARTBEAT, 3, { ErrorCode: 27 }, 1_201n * MS);
  s.request(1, JOIN, 5, joinRequest('m1'), 1_205n * MS);
  s.response(2, JOIN, 5, joinResponse(2, 'm2', 'm1'), 1_300n * MS);
  s.response(1, JOIN, 5, joinResponse(2, 'm1', 'm1', ['m1', 'm2']), 1_300n * MS);
  s.request(2, SYNC, 3, syncRequest(2, 'm2'), 1_301n * MS);
  s.request(1, SYNC, 3, syncRequest(2, 'm1', ['m1', 'm2']), 1_310n * MS);
  s.response(1, SYNC, 3, syncResponse, 1_320n * MS);
  s.response(2, SYNC, 3, syncResponse, 1_321n * MS);

  if (opts.m2Leaves ?? true) {
    s.request(2, LEAVE, 5, { GroupId: 'g', Members: [{ MemberId: 'm2', GroupInstanceId: null, Reason: 'the consumer is being closed' }] }, 2_000n * MS);
    s.response(2, LEAVE, 5, { ErrorCode: 0, Members: [{ MemberId: 'm2', GroupInstanceId: null, ErrorCode: 0 }] }, 2_001n * MS);
  }
  s.request(1, HEARTBEAT, 3, heartbeat(2, 'm1'), 2_100n * MS);
  s.response(1, HEARTBEAT, 3, { ErrorCode: 27 }, 2_101n * MS);
  s.request(1, JOIN, 5, joinRequest('m1'), 2_105n * MS);
  s.response(1, JOIN, 5, joinResponse(3, 'm1', 'm1', ['m1']), 2_200n * MS);
  s.request(1, SYNC, 3, syncRequest(3, 'm1', ['m1']), 2_201n * MS);
  s.response(1, SYNC, 3, syncResponse, 2_210n * MS);
}

describe('classic rebalances', () => {
  it('remembers at most 10,000 members of one round, whatever member ids the wire brings', () => {
    const s = scenario(['broker']);
    const n = 10_050;
    for (let m = 1; m <= n; m++) {
      s.request(m, JOIN, 5, joinRequest(''), BigInt(m) * MS);
      s.response(m, JOIN, 5, joinResponse(1, `m${m}`, 'm1'), BigInt(m) * MS + 1n);
    }
    for (let m = 1; m <= n; m++) {
      s.request(m, SYNC, 3, syncRequest(1, `m${m}`), BigInt(n + m) * MS);
      s.response(m, SYNC, 3, syncResponse, BigInt(n + m) * MS + 1n);
    }
    s.decoder.closeAll();
    const [r] = s.derived('rebalance').map((d) => d.fields);
    expect([r!.members, r!.joined]).toEqual([10_000, 10_000]);
  }, 60_000);

  for (const sides of [['client'], ['broker'], ['client', 'broker']] as Side[][]) {
    it(`fires once per generation, seen from ${sides.join(' and ')}`, () => {
      const s = scenario(sides);
      threeGenerations(s);
      const rebalances = s.derived('rebalance').map((d) => d.fields);
      // Generation 1 is the first seen: who departed from the one before is unknown.
      expect(rebalances.map((r) => [r.generation, r.members, r.complete, r.joined, r.departed])).toEqual([
        [1, 1, 1, 1, -1],
        [2, 2, 1, 1, 0],
        [3, 1, 1, 0, 1],
      ]);
      expect(rebalances.every((r) => r.kind === 'classic' && r.group === 'g' && r.protocol === 'range' && r.leader === 'm1')).toBe(true);
      // From the first JoinGroup request of the round (the client's write when the client is traced)
      // to the last SyncGroup response (the broker's write when the broker is traced: seen first).
      const early = sides.includes('client') ? 0n : 10n;
      const late = sides.includes('broker') ? 10n : 0n;
      expect(rebalances[0]!.duration).toBe(105n * MS - early - late);
      expect(rebalances[1]!.duration).toBe(321n * MS - early - late);
      expect(rebalances.map((r) => [r.initiator, r.reason])).toEqual([
        ['m1', ''],
        ['m2', ''],
        ['m2', 'the consumer is being closed'],
      ]);
      const members = s.derived('member').map((d) => [d.fields.member, d.fields.event, d.fields.generation]);
      expect(members).toEqual([
        ['m1', 'join', 1],
        ['m1', 'rebalancing', 1],
        ['m2', 'join', 2],
        ['m2', 'leave', 2],
        ['m1', 'rebalancing', 2],
      ]);
    });
  }

  it("gives each member its own JoinGroup-request-to-SyncGroup-response time, on each side", () => {
    const s = scenario(['client', 'broker']);
    threeGenerations(s);
    const syncs = s.exchanges.filter((e) => e.api === 'SyncGroup').map((e) => [e.role, e.details.member, e.details.generation, e.details.join_to_sync]);
    expect(syncs).toEqual([
      ['broker', 'm1', 1, 105n * MS - 20n],
      ['client', 'm1', 1, 105n * MS],
      // m1's round starts at its rejoin after the heartbeat told it of the rebalance.
      ['broker', 'm1', 2, 115n * MS - 20n],
      ['client', 'm1', 2, 115n * MS],
      // m2's round starts at its first (member-id-less) JoinGroup.
      ['broker', 'm2', 2, 321n * MS - 20n],
      ['client', 'm2', 2, 321n * MS],
      ['broker', 'm1', 3, 105n * MS - 20n],
      ['client', 'm1', 3, 105n * MS],
    ]);
    const firings = probeFirings(s.exchanges.find((e) => e.api === 'SyncGroup' && e.role === 'client')!);
    expect(firings.find((f) => f.probe === 'syncgroup')!.args.join_to_sync).toBe(105n * MS);
  });

  it('join_time starts at the coordinator lookup that began the join, if it came shortly before', () => {
    const s = scenario(['client']);
    const lookup = (t: bigint) => {
      s.request(1, FIND_COORDINATOR, 3, { Key: 'g', KeyType: 0 }, t);
      s.response(1, FIND_COORDINATOR, 3, { ErrorCode: 0, ErrorMessage: null, NodeId: 1, Host: 'h', Port: 9092 }, t + 2n * MS);
    };
    const round = (generation: number, t: bigint) => {
      s.request(1, JOIN, 5, joinRequest('m1'), t + 5n * MS);
      s.response(1, JOIN, 5, joinResponse(generation, 'm1', 'm1', ['m1']), t + 50n * MS);
      s.request(1, SYNC, 3, syncRequest(generation, 'm1', ['m1']), t + 51n * MS);
      s.response(1, SYNC, 3, syncResponse, t + 60n * MS);
    };
    lookup(0n);
    round(1, 0n);
    lookup(1_000n * MS);
    round(2, 3_000n * MS);
    const syncs = s.exchanges.filter((e) => e.api === 'SyncGroup').map((e) => [e.details.join_to_sync, e.details.join_time]);
    expect(syncs).toEqual([[55n * MS, 60n * MS], [55n * MS, 55n * MS]]);
  });

  it('a member gone from the next generation without a LeaveGroup timed out', () => {
    const s = scenario(['client']);
    threeGenerations(s, { m2Leaves: false });
    expect(s.derived('rebalance').map((d) => [d.fields.generation, d.fields.members, d.fields.departed, d.fields.initiator])).toEqual([
      [1, 1, -1, 'm1'],
      [2, 2, 0, 'm2'],
      [3, 1, 1, 'm1'],
    ]);
    expect(s.derived('member').filter((d) => d.fields.member === 'm2').map((d) => [d.fields.event, d.fields.generation])).toEqual([['join', 2], ['timeout', 3]]);
  });

  it('the firing carries the exchange that completed it, with the rebalance args over the common ones', () => {
    const s = scenario(['client']);
    threeGenerations(s);
    const carrier = s.exchanges.find((e) => e.derived?.some((d) => d.probe === 'rebalance' && d.fields.generation === 2))!;
    expect(carrier).toMatchObject({ api: 'SyncGroup', details: { member: 'm2' } });
    const firings = probeFirings(carrier);
    expect(firings.map((f) => f.probe)).toEqual(['request', 'syncgroup', 'rebalance', 'member']);
    expect(firings[3]!.args).toMatchObject({ event: 'join', member: 'm2', generation: 2n });
    expect(firings[2]!.args).toMatchObject({ api: 'SyncGroup', group: 'g', generation: 2n, members: 2n, complete: 1n, duration: 321n * MS, kind: 'classic' });
  });

  it('with only a follower traced, a later generation, the settle time or the end of the session completes a generation', () => {
    const s = scenario(['client'], [2]);
    threeGenerations(s, { m2Leaves: false });
    // Generation 2 is complete once m1's next generation is seen... which m2 never sees: the settle
    // time passes on m2's next group exchange.
    expect(s.derived('rebalance')).toEqual([]);
    s.request(2, HEARTBEAT, 3, heartbeat(2, 'm2'), 5_000n * MS);
    s.response(2, HEARTBEAT, 3, { ErrorCode: 0 }, 5_001n * MS);
    expect(s.derived('rebalance').map((d) => [d.fields.generation, d.fields.members, d.fields.complete, d.fields.leader])).toEqual([[2, 1, 0, 'm1']]);

    const t = scenario(['client'], [2]);
    threeGenerations(t, { m2Leaves: false });
    t.decoder.closeAll();
    expect(t.flushed.map((d) => [d.probe, d.fields.generation, d.fields.complete ?? d.fields.event])).toEqual([['rebalance', 2, 0], ['member', 2, 'join']]);
    const f = derivedFiring(t.flushed[0]!);
    expect(f).toMatchObject({ probe: 'rebalance', args: { group: 'g', generation: 2n, members: 1n, rport: 9092n } });
    t.decoder.closeAll();
    expect(t.flushed).toHaveLength(2);
  });

  it('a later generation completes one whose members were not all seen', () => {
    const s = scenario(['client'], [2]);
    threeGenerations(s, { m2Leaves: false });
    s.request(2, HEARTBEAT, 3, heartbeat(2, 'm2'), 1_400n * MS);
    s.response(2, HEARTBEAT, 3, { ErrorCode: 27 }, 1_401n * MS);
    s.request(2, JOIN, 5, joinRequest('m2'), 1_402n * MS);
    s.response(2, JOIN, 5, joinResponse(4, 'm2', 'm1'), 1_500n * MS);
    expect(s.derived('rebalance').map((d) => d.fields.generation)).toEqual([2]);
    // m2's heartbeat failed (generation 2 still open), then its JoinGroup of generation 4 ended generation 2.
    expect(s.derived('member').map((d) => [d.fields.event, d.fields.generation])).toEqual([['rebalancing', 2], ['join', 2]]);
  });

  it('JoinGroup v8+ reasons name why the round started', () => {
    const s = scenario(['client']);
    s.request(1, JOIN, 9, joinRequest('m1', 'rebalance failed due to UnknownMemberId'), 0n);
    s.response(1, JOIN, 9, joinResponse(7, 'm1', 'm1', ['m1']), 10n);
    s.request(1, SYNC, 5, { ...syncRequest(7, 'm1', ['m1']), ProtocolType: 'consumer', ProtocolName: 'range' }, 11n);
    s.response(1, SYNC, 5, { ...syncResponse, ProtocolType: 'consumer', ProtocolName: 'range' }, 30n);
    expect(s.derived('rebalance').map((d) => d.fields)).toEqual([expect.objectContaining({
      generation: 7, members: 1, duration: 30n, reason: 'rebalance failed due to UnknownMemberId', initiator: 'm1', protocol_type: 'consumer',
      // Tracing began after m1 joined: it is not known to be new.
      joined: 0,
    })]);
  });

  it('failed heartbeats: fenced members, once per member and generation', () => {
    const s = scenario(['client', 'broker']);
    for (const [t, code] of [[0n, 25], [10n, 25], [20n, 22]] as const) {
      s.request(1, HEARTBEAT, 3, heartbeat(5, 'm1'), t);
      s.response(1, HEARTBEAT, 3, { ErrorCode: code }, t + 5n);
    }
    expect(s.derived('member').map((d) => [d.fields.member, d.fields.event, d.fields.generation])).toEqual([['m1', 'fenced', 5]]);
    const carrier = s.exchanges.find((e) => e.derived)!;
    expect(probeFirings(carrier).at(-1)).toMatchObject({ probe: 'member', args: { event: 'fenced', error_name: 'UNKNOWN_MEMBER_ID', group: 'g' } });
  });
});

describe('KIP-848 consumer group heartbeats', () => {
  const TOPIC = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
  const cghRequest = (member: string, epoch: number) => ({
    GroupId: 'g', MemberId: member, MemberEpoch: epoch, InstanceId: null, RackId: null, RebalanceTimeoutMs: 30_000,
    SubscribedTopicNames: epoch === 0 ? ['orders'] : null, ServerAssignor: epoch === 0 ? 'uniform' : null, TopicPartitions: null,
  });
  const cghResponse = (member: string | null, epoch: number, partitions: number[] | null, errorCode = 0) => ({
    ErrorCode: errorCode, ErrorMessage: null, MemberId: member, MemberEpoch: epoch, HeartbeatIntervalMs: 5000,
    Assignment: partitions === null ? null : { TopicPartitions: [{ TopicId: TOPIC, Partitions: partitions }] },
  });

  it('epoch and assignment changes fire kafka:rebalance per member, joins and leaves kafka:member, once for both sides', () => {
    const s = scenario(['client', 'broker']);
    s.request(1, CGH, 0, cghRequest('', 0), 0n);
    s.response(1, CGH, 0, cghResponse('m1', 1, [0, 1]), 5n * MS);
    s.request(1, CGH, 0, cghRequest('m1', 1), 100n * MS);
    s.response(1, CGH, 0, cghResponse(null, 1, null), 101n * MS);
    // m2 joins: m1 first gives up partition 1 in its epoch, then moves to epoch 2.
    s.request(2, CGH, 0, cghRequest('', 0), 200n * MS);
    s.response(2, CGH, 0, cghResponse('m2', 2, []), 202n * MS);
    s.request(1, CGH, 0, cghRequest('m1', 1), 300n * MS);
    s.response(1, CGH, 0, cghResponse(null, 1, [0]), 301n * MS);
    s.request(1, CGH, 0, cghRequest('m1', 1), 400n * MS);
    s.response(1, CGH, 0, cghResponse(null, 2, null), 401n * MS);
    s.request(2, CGH, 0, cghRequest('m2', 2), 500n * MS);
    s.response(2, CGH, 0, cghResponse(null, 2, [1]), 501n * MS);
    s.request(2, CGH, 0, cghRequest('m2', -1), 600n * MS);
    s.response(2, CGH, 0, cghResponse(null, -1, null), 601n * MS);
    s.request(1, CGH, 0, cghRequest('m1', 2), 700n * MS);
    s.response(1, CGH, 0, cghResponse(null, 2, null, 110), 701n * MS);

    expect(s.derived('rebalance').map((d) => {
      const f = d.fields;
      return [f.kind, f.member, f.previous_generation, f.generation, f.complete, f.members, f.assignment, f.assigned_partitions, f.duration];
    })).toEqual([
      // The broker's view comes first: it reads the join 10 ns after the client wrote it, and answers
      // 10 ns before the client reads the answer.
      ['consumer', 'm1', 0, 1, 1, 1, `${TOPIC}[0,1]`, 2, 5n * MS - 20n],
      ['consumer', 'm2', 0, 2, 1, 2, `${TOPIC}[]`, 0, 2n * MS - 20n],
      ['consumer', 'm1', 1, 1, 0, 2, `${TOPIC}[0]`, 1, 0n],
      ['consumer', 'm1', 1, 2, 1, 2, `${TOPIC}[0]`, 1, 100n * MS],
      ['consumer', 'm2', 2, 2, 0, 2, `${TOPIC}[1]`, 1, 0n],
    ]);
    expect(s.derived('member').map((d) => [d.fields.member, d.fields.event, d.fields.generation])).toEqual([
      ['m1', 'join', 1],
      ['m2', 'join', 2],
      ['m2', 'leave', -1],
      ['m1', 'fenced', 2],
    ]);
    expect(s.derived('rebalance')[0]!.fields).toMatchObject({ reason: 'join', joined: 1, protocol: 'uniform', group: 'g' });
  });

  it('a member first seen mid-life fires nothing until it changes', () => {
    const s = scenario(['client']);
    s.request(1, CGH, 0, cghRequest('m1', 4), 0n);
    s.response(1, CGH, 0, cghResponse(null, 4, [3]), 1n);
    s.request(1, CGH, 0, cghRequest('m1', 4), 2n);
    s.response(1, CGH, 0, cghResponse(null, 4, [3]), 3n);
    expect(s.derived()).toEqual([]);
    s.request(1, CGH, 0, cghRequest('m1', 4), 4n);
    s.response(1, CGH, 0, cghResponse(null, 5, [3, 4]), 5n);
    expect(s.derived('rebalance').map((d) => [d.fields.previous_generation, d.fields.generation, d.fields.assigned_partitions])).toEqual([[4, 5, 2]]);
  });
});

describe('classic rebalances whose SyncGroups fail', () => {
  /**
   * Generation `gen` of members a, b, c (leader a), each SyncGroup answered with `errors[member]` (0:
   * success), the SyncGroups sent `syncAfter` after the JoinGroup answers, `meanwhile` in between.
   */
  function generation(s: ReturnType<typeof scenario>, gen: number, errors: number[], t: bigint, syncAfter = 1n * MS, meanwhile = (): void => {}): void {
    const ids = ['a', 'b', 'c'];
    ids.forEach((id, i) => s.request(i + 1, JOIN, 5, joinRequest(id), t + BigInt(i)));
    ids.forEach((id, i) => s.response(i + 1, JOIN, 5, joinResponse(gen, id, 'a', id === 'a' ? ids : []), t + 50n * MS));
    meanwhile();
    ids.forEach((id, i) => s.request(i + 1, SYNC, 3, syncRequest(gen, id, id === 'a' ? ids : []), t + 50n * MS + syncAfter));
    ids.forEach((_, i) => s.response(i + 1, SYNC, 3, { ErrorCode: errors[i]!, Assignment: new Uint8Array(8) }, t + 59n * MS + syncAfter + BigInt(i)));
  }
  const fields = (s: ReturnType<typeof scenario>) =>
    s.derived('rebalance').map((d) => [d.fields.generation, d.fields.members, d.fields.synced, d.fields.sync_failed, d.fields.sync_error, d.fields.complete]);

  it('a failed SyncGroup does not shrink the group: the generation is incomplete, with its members and the error', () => {
    const s = scenario(['client']);
    generation(s, 5, [0, 27, 0], 0n);
    expect(fields(s)).toEqual([[5, 3, 2, 1, 'REBALANCE_IN_PROGRESS', 0]]);
  });

  it('every generation of a rejoin storm is reported, also those whose SyncGroups all failed', () => {
    const s = scenario(['client', 'broker']);
    for (let gen = 1; gen <= 3; gen++) generation(s, gen, [22, 22, 22], BigInt(gen) * 1_000n * MS);
    generation(s, 4, [0, 0, 0], 4_000n * MS);
    expect(fields(s)).toEqual([
      [1, 3, 0, 3, 'ILLEGAL_GENERATION', 0],
      [2, 3, 0, 3, 'ILLEGAL_GENERATION', 0],
      [3, 3, 0, 3, 'ILLEGAL_GENERATION', 0],
      [4, 3, 3, 0, '', 1],
    ]);
  });

  it('SyncGroups that come long after the joins (a slow assignment, a client backing off) still count in their generation', () => {
    const s = scenario(['client', 'broker']);
    // Past the 2 s settle time, within the JoinGroups' 30 s rebalance timeout; meanwhile other
    // exchanges move the decoder's clock on (here a fourth member's heartbeat).
    s.request(4, HEARTBEAT, 3, heartbeat(4, 'd'), 0n);
    s.response(4, HEARTBEAT, 3, { ErrorCode: 0 }, 1n * MS);
    generation(s, 5, [27, 27, 27], 2n * MS, 5_000n * MS, () => {
      s.request(4, HEARTBEAT, 3, heartbeat(4, 'd'), 3_000n * MS);
      s.response(4, HEARTBEAT, 3, { ErrorCode: 27 }, 3_001n * MS);
    });
    generation(s, 6, [0, 0, 0], 10_000n * MS, 4_000n * MS);
    expect(fields(s)).toEqual([
      [5, 3, 0, 3, 'REBALANCE_IN_PROGRESS', 0],
      [6, 3, 3, 0, '', 1],
    ]);
  });

  it("reports a member's join in the generation it joined, whether or not its SyncGroup succeeded", () => {
    const s = scenario(['client']);
    // m1 alone (already a member when tracing began), then m2 joins generation 2 (its SyncGroup
    // fails), and generation 3 goes through.
    s.request(1, JOIN, 5, joinRequest('m1'), 0n);
    s.response(1, JOIN, 5, joinResponse(1, 'm1', 'm1', ['m1']), 10n * MS);
    s.request(1, SYNC, 3, syncRequest(1, 'm1', ['m1']), 11n * MS);
    s.response(1, SYNC, 3, syncResponse, 12n * MS);
    s.request(2, JOIN, 5, joinRequest(''), 1_000n * MS);
    s.response(2, JOIN, 5, { ErrorCode: 79, GenerationId: -1, ProtocolName: '', Leader: '', MemberId: 'm2', Members: [] }, 1_001n * MS);
    s.request(2, JOIN, 5, joinRequest('m2'), 1_002n * MS);
    s.request(1, JOIN, 5, joinRequest('m1'), 1_003n * MS);
    s.response(1, JOIN, 5, joinResponse(2, 'm1', 'm1', ['m1', 'm2']), 1_100n * MS);
    s.response(2, JOIN, 5, joinResponse(2, 'm2', 'm1'), 1_100n * MS);
    s.request(1, SYNC, 3, syncRequest(2, 'm1', ['m1', 'm2']), 1_101n * MS);
    s.request(2, SYNC, 3, syncRequest(2, 'm2'), 1_101n * MS);
    s.response(1, SYNC, 3, syncResponse, 1_110n * MS);
    s.response(2, SYNC, 3, { ErrorCode: 27, Assignment: new Uint8Array(0) }, 1_111n * MS);
    s.request(2, JOIN, 5, joinRequest('m2'), 1_200n * MS);
    s.request(1, JOIN, 5, joinRequest('m1'), 1_201n * MS);
    s.response(1, JOIN, 5, joinResponse(3, 'm1', 'm1', ['m1', 'm2']), 1_300n * MS);
    s.response(2, JOIN, 5, joinResponse(3, 'm2', 'm1'), 1_300n * MS);
    s.request(1, SYNC, 3, syncRequest(3, 'm1', ['m1', 'm2']), 1_301n * MS);
    s.request(2, SYNC, 3, syncRequest(3, 'm2'), 1_301n * MS);
    s.response(1, SYNC, 3, syncResponse, 1_310n * MS);
    s.response(2, SYNC, 3, syncResponse, 1_311n * MS);
    expect(s.derived('member').filter((d) => d.fields.event === 'join').map((d) => [d.fields.member, d.fields.generation])).toEqual([['m2', 2]]);
    expect(fields(s).map((f) => [f[0], f[1], f[5]])).toEqual([[1, 1, 1], [2, 2, 0], [3, 2, 1]]);
  });
});

describe('derived events completed while another exchange is decoded', () => {
  it("carry their own group's connection and common args, not those of the exchange being decoded", () => {
    const fired: { probe: string; args: Record<string, unknown>; pid: number; nsecs: bigint }[] = [];
    const decoder = new KafkaDecoder({ demand: { probes: ['rebalance', 'member'], args: ['group', 'generation', 'lport', 'rport', 'error_name', 'role', 'api', 'event'] }, onFiring: (probe, args, c, _tid, nsecs) => fired.push({ probe, args, pid: c.pid, nsecs }) });
    // Only the follower m2 is traced: its generation completes when the settle time has passed.
    const m2 = { pid: 102, tid: 102, comm: 'member2', fd: 10, laddr: '127.0.0.1', lport: 40_002, raddr: '127.0.0.1', rport: 9092 };
    const push = (c: typeof m2, dir: 'out' | 'in', data: Uint8Array, ts: bigint): void => decoder.push({ ...c, dir, ts, skipped: 0, data });
    push(m2, 'out', requestFrame(JOIN, 5, 1, 'c2', joinRequest('')), 0n);
    push(m2, 'in', responseFrame(JOIN, 5, 1, { ErrorCode: 79, GenerationId: -1, ProtocolName: '', Leader: '', MemberId: 'm2', Members: [] }), 1n * MS);
    push(m2, 'out', requestFrame(JOIN, 5, 2, 'c2', joinRequest('m2')), 2n * MS);
    push(m2, 'in', responseFrame(JOIN, 5, 2, joinResponse(7, 'm2', 'm1')), 50n * MS);
    push(m2, 'out', requestFrame(SYNC, 3, 3, 'c2', syncRequest(7, 'm2')), 51n * MS);
    push(m2, 'in', responseFrame(SYNC, 3, 3, syncResponse), 60n * MS);
    expect(fired).toEqual([]);
    // Another process talks to another broker, 3 s later, and is answered UNSUPPORTED_VERSION.
    const other = { pid: 300, tid: 300, comm: 'admin', fd: 4, laddr: '127.0.0.1', lport: 51_000, raddr: '127.0.0.1', rport: 9093 };
    push(other, 'out', requestFrame(JOIN, 5, 1, 'admin', { ...joinRequest('x'), GroupId: 'other' }), 3_000n * MS);
    push(other, 'in', responseFrame(JOIN, 5, 1, { ErrorCode: 35, GenerationId: -1, ProtocolName: '', Leader: '', MemberId: '', Members: [] }), 3_001n * MS);
    expect(fired.map((f) => [f.probe, f.args.group, f.args.generation, f.args.lport, f.args.rport, f.args.error_name, f.args.role, f.args.api, f.pid, f.nsecs])).toEqual([
      ['rebalance', 'g', 7n, 40_002n, 9092n, 'NONE', 'client', 'SyncGroup', 102, 60n * MS],
      ['member', 'g', 7n, 40_002n, 9092n, 'NONE', 'client', 'SyncGroup', 102, 60n * MS],
    ]);
  });
});
