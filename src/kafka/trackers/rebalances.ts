// Consumer-group rebalances and member events, tracked across every connection and process of one
// decoder, so that a rebalance seen from several sides (the broker and its clients, or several
// members) fires once.
//
// Classic protocol: a generation starts with the first JoinGroup request of a round and is complete
// when every member listed in the leader's JoinGroup response has its SyncGroup answered without
// error. Otherwise a later generation, a LeaveGroup, `settleNs` without a new JoinGroup or SyncGroup
// answer of it (before its first SyncGroup answer, its JoinGroups' rebalance timeout: members sync
// only after the leader's assignment, which may take long), or flush() ends it incomplete. Every generation seen fires once, also those whose
// SyncGroups all failed (a rejoin storm): its members are those that joined it, whether or not
// their SyncGroup succeeded.
// KIP-848 consumer protocol: a ConsumerGroupHeartbeat response that changes a member's epoch or
// assignment fires one `rebalance` event for that member.
import type { ConnectionInfo, DerivedEvent, KafkaExchange, ProbeArgs } from '../model.js';
import { API_KEYS } from '../wire/api-names.js';
import { BoundedMap } from '../exchange/bounded-map.js';
import type { DecodedStruct } from '../wire/values.js';
import { commonArgs } from '../probes/firings.js';
import type { ExchangeTracker } from './tracker.js';

export interface RebalanceOptions {
  /** A generation whose members are not all visible completes this long after its last SyncGroup answer (default 2 s). */
  settleNs?: bigint;
  /** Groups, and members per group (KIP-848 members; classic joiners, leavers and synced members of a round), remembered at once (default 10 000). */
  maxGroups?: number;
}

/** The start of a round: its first JoinGroup request, or the LeaveGroup that caused it. */
interface Round {
  start: bigint | null;
  initiator: string;
  reason: string;
  byLeave: boolean;
}

interface Generation {
  generation: number;
  start: bigint;
  initiator: string;
  reason: string;
  protocol: string;
  protocolType: string;
  leader: string;
  /** Member ids of the leader's JoinGroup response; null until it is seen. */
  members: Set<string> | null;
  /** Members seen joining it: JoinGroup answers of this generation, and SyncGroups (answered either way). */
  joined: Set<string>;
  synced: Set<string>;
  /** Members whose SyncGroup failed, with the error's name. */
  failed: Map<string, string>;
  /** The last SyncGroup answer, else the first JoinGroup request. */
  lastSync: bigint | null;
  /** The last JoinGroup or SyncGroup answer of it (settleNs runs from there). */
  lastSeen: bigint;
  /**
   * The longest rebalance timeout its JoinGroups asked for: until a first SyncGroup answer, the
   * generation waits that long (every member that joined syncs next, after the leader's assignment).
   */
  rebalanceNs: bigint;
  connection: ConnectionInfo;
  common: ProbeArgs;
}

interface ClassicGroup {
  round: Round | null;
  open: Generation | null;
  /** Highest generation that fired (or never completed); older views of it are duplicates. */
  done: number;
  /** Members of the last completed generation; null when they were not all visible. */
  previous: Set<string> | null;
  /** Members that left with a LeaveGroup since the last completed generation. */
  left: Set<string>;
  /** Members whose JoinGroup came without a member id (new to the group), not yet in a generation. */
  newcomers: Set<string>;
}

interface ConsumerMember {
  epoch: number;
  assignment: string;
  partitions: number;
  /** When the member's move to a new epoch began (its join, or a first assignment change). */
  pendingSince: bigint | null;
}

/** A FindCoordinator this shortly before a member's first JoinGroup of a round began that join. */
const LOOKUP_WINDOW_NS = 1_000_000_000n;

const FENCING_ERRORS = new Set(['UNKNOWN_MEMBER_ID', 'ILLEGAL_GENERATION', 'FENCED_INSTANCE_ID', 'FENCED_MEMBER_EPOCH']);

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const int = (v: unknown): number => (typeof v === 'number' ? v : -1);
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

function memberIds(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((m) => (m && typeof m === 'object' && !Array.isArray(m) && typeof (m as DecodedStruct).MemberId === 'string' ? [(m as DecodedStruct).MemberId as string] : []));
}

/** What a failed (KIP-848 or classic) heartbeat means for its member. */
function heartbeatEvent(errorName: string): string {
  if (errorName === 'REBALANCE_IN_PROGRESS') return 'rebalancing';
  return FENCING_ERRORS.has(errorName) ? 'fenced' : 'heartbeat_error';
}

export class RebalanceTracker implements ExchangeTracker {
  private readonly settleNs: bigint;
  private readonly classic: BoundedMap<string, ClassicGroup>;
  private readonly consumer: BoundedMap<string, BoundedMap<string, ConsumerMember>>;
  private readonly maxGroups: number;
  /** Each member's current round, per connection and group: its first JoinGroup request, and the coordinator lookup before it. */
  private readonly memberRounds = new BoundedMap<string, { join: bigint; start: bigint }>(10_000);
  /** Latest FindCoordinator request for a group, per process and client id. */
  private readonly lookups = new BoundedMap<string, bigint>(10_000);
  /** Member events already reported (the same event seen from the broker and the client). */
  private readonly reported = new BoundedMap<string, true>(10_000);
  private nextSweep = 0n;

  constructor(options: RebalanceOptions = {}) {
    this.settleNs = options.settleNs ?? 2_000_000_000n;
    this.maxGroups = options.maxGroups ?? 10_000;
    this.classic = new BoundedMap(this.maxGroups);
    this.consumer = new BoundedMap(this.maxGroups);
  }

  /**
   * Takes one reported exchange (with its decoded bodies) and sets the events it completes in its
   * `derived`. Adds `join_to_sync` and `join_time` to the details of a SyncGroup that ends its
   * member's round.
   */
  observe(ex: KafkaExchange, request: DecodedStruct | null, response: DecodedStruct | null): void {
    const out: DerivedEvent[] = [];
    const group = ex.details.group;
    if (ex.status === 'complete' && typeof group === 'string') {
      switch (ex.api_key) {
        case API_KEYS.FindCoordinator:
          if (ex.error === 0) this.lookups.set(this.lookupKey(ex, group), ex.request_ts);
          break;
        case API_KEYS.JoinGroup:
          this.onJoin(ex, group, request, response, out);
          break;
        case API_KEYS.SyncGroup:
          this.onSync(ex, group, out);
          break;
        case API_KEYS.Heartbeat:
          this.onHeartbeat(ex, group, out);
          break;
        case API_KEYS.LeaveGroup:
          this.onLeave(ex, group, request, out);
          break;
        case API_KEYS.ConsumerGroupHeartbeat:
          this.onConsumerHeartbeat(ex, group, request, response, out);
          break;
      }
    }
    const now = ex.response_ts ?? ex.request_ts;
    if (now >= this.nextSweep) {
      this.nextSweep = now + this.settleNs / 4n;
      this.sweep(now, out);
    }
    if (out.length > 0) ex.derived = out;
  }

  /** Completes every open generation (at the end of a session). */
  flush(): DerivedEvent[] {
    const out: DerivedEvent[] = [];
    for (const [name, g] of this.classic) this.finish(name, g, out);
    return out;
  }

  private sweep(now: bigint, out: DerivedEvent[]): void {
    for (const [name, g] of this.classic) {
      const gen = g.open;
      if (gen && now - gen.lastSeen > (gen.lastSync === null && gen.rebalanceNs > this.settleNs ? gen.rebalanceNs : this.settleNs)) this.finish(name, g, out);
    }
  }

  private group(name: string): ClassicGroup {
    let g = this.classic.get(name);
    if (!g) {
      g = { round: null, open: null, done: -1, previous: null, left: new Set(), newcomers: new Set() };
      this.classic.set(name, g);
    }
    return g;
  }

  /** One member's rounds are told apart by connection: its first JoinGroup has no member id yet. */
  /** Adds a member to one of a group's sets, up to maxGroups of them: member ids come from the wire. */
  private remember(set: Set<string>, member: string): void {
    if (set.size < this.maxGroups || set.has(member)) set.add(member);
  }

  private memberRoundKey(ex: KafkaExchange, group: string): string {
    const c = ex.connection;
    return `${ex.role}\u0000${c.pid}\u0000${c.fd}\u0000${c.lport}\u0000${c.rport}\u0000${group}`;
  }

  /** A client looks up its coordinator on any connection: only its process and client id tie the lookup to its join. */
  private lookupKey(ex: KafkaExchange, group: string): string {
    return `${ex.role}\u0000${ex.connection.pid}\u0000${ex.client_id}\u0000${group}`;
  }

  private onJoin(ex: KafkaExchange, name: string, request: DecodedStruct | null, response: DecodedStruct | null, out: DerivedEvent[]): void {
    const roundKey = this.memberRoundKey(ex, name);
    if (!this.memberRounds.has(roundKey)) {
      const lookupKey = this.lookupKey(ex, name);
      const lookup = this.lookups.get(lookupKey);
      this.lookups.delete(lookupKey);
      const start = lookup !== undefined && lookup <= ex.request_ts && ex.request_ts - lookup <= LOOKUP_WINDOW_NS ? lookup : ex.request_ts;
      this.memberRounds.set(roundKey, { join: ex.request_ts, start });
    }
    const g = this.group(name);
    const member = str(ex.details.member);
    if (request?.MemberId === '' && member !== '') this.remember(g.newcomers, member);
    const generation = int(ex.details.generation);
    if (ex.error !== 0 || generation <= g.done) {
      if (ex.error !== 0) this.roundStarts(g, ex.request_ts, member, str(ex.details.reason));
      return;
    }
    if (g.open && g.open.generation < generation) this.finish(name, g, out);
    let gen = g.open;
    if (!gen) {
      this.roundStarts(g, ex.request_ts, member, str(ex.details.reason));
      gen = this.openGeneration(g, generation, ex);
    }
    gen.start = min(gen.start, ex.request_ts);
    if (gen.reason === '' && typeof ex.details.reason === 'string') gen.reason = ex.details.reason;
    gen.protocol ||= str(ex.details.protocol);
    gen.protocolType ||= str(ex.details.protocol_type);
    gen.leader ||= str(ex.details.leader);
    const listed = memberIds(response?.Members);
    if (listed.length > 0) gen.members = new Set(listed);
    if (member !== '') this.remember(gen.joined, member);
    const timeoutMs = request?.RebalanceTimeoutMs ?? request?.SessionTimeoutMs;
    if (typeof timeoutMs === 'number' && timeoutMs > 0 && BigInt(timeoutMs) * 1_000_000n > gen.rebalanceNs) gen.rebalanceNs = BigInt(timeoutMs) * 1_000_000n;
    this.seen(gen, ex);
  }

  /** An answer of the generation: it is the one its firing's connection and common args come from. */
  private seen(gen: Generation, ex: KafkaExchange): void {
    const now = ex.response_ts ?? ex.request_ts;
    if (now > gen.lastSeen) gen.lastSeen = now;
    gen.connection = ex.connection;
    gen.common = commonArgs(ex);
  }

  /** A JoinGroup or LeaveGroup at `ts` begins a round unless one is already under way. */
  private roundStarts(g: ClassicGroup, ts: bigint | null, member: string, reason: string, byLeave = false): void {
    const r = g.round;
    if (!r) {
      g.round = { start: ts, initiator: member, reason, byLeave };
      return;
    }
    if (ts === null) return;
    // The same round seen from both sides: the earliest request starts it.
    if (r.start === null || ts < r.start) {
      r.start = ts;
      if (!r.byLeave) {
        r.initiator = member;
        r.reason = reason;
      }
    }
  }

  private openGeneration(g: ClassicGroup, generation: number, ex: KafkaExchange): Generation {
    const r = g.round;
    g.round = null;
    const gen: Generation = {
      generation,
      start: r?.start ?? ex.request_ts,
      initiator: r?.initiator ?? str(ex.details.member),
      reason: r?.reason ?? '',
      protocol: '',
      protocolType: '',
      leader: '',
      members: null,
      joined: new Set(),
      synced: new Set(),
      failed: new Map(),
      lastSync: null,
      lastSeen: ex.response_ts ?? ex.request_ts,
      rebalanceNs: 0n,
      connection: ex.connection,
      common: commonArgs(ex),
    };
    g.open = gen;
    return gen;
  }

  private onSync(ex: KafkaExchange, name: string, out: DerivedEvent[]): void {
    const now = ex.response_ts ?? ex.request_ts;
    const ok = ex.error === 0;
    if (ok) {
      const roundKey = this.memberRoundKey(ex, name);
      const round = this.memberRounds.get(roundKey);
      if (round !== undefined) {
        this.memberRounds.delete(roundKey);
        ex.details.join_to_sync = now - round.join;
        ex.details.join_time = now - round.start;
      }
    }
    const g = this.group(name);
    const generation = int(ex.details.generation);
    if (generation < 0 || generation <= g.done) return;
    if (g.open && g.open.generation < generation) this.finish(name, g, out);
    const gen = g.open ?? this.openGeneration(g, generation, ex);
    const member = str(ex.details.member);
    this.remember(gen.joined, member);
    if (ok) {
      this.remember(gen.synced, member);
      gen.failed.delete(member);
    } else if (!gen.synced.has(member) && (gen.failed.size < this.maxGroups || gen.failed.has(member))) {
      gen.failed.set(member, ex.error_name ?? '');
    }
    gen.lastSync = gen.lastSync !== null && gen.lastSync > now ? gen.lastSync : now;
    gen.protocol ||= str(ex.details.protocol);
    gen.protocolType ||= str(ex.details.protocol_type);
    this.seen(gen, ex);
    if (gen.members && [...gen.members].every((m) => gen.synced.has(m) || gen.failed.has(m))) this.finish(name, g, out);
  }

  private onHeartbeat(ex: KafkaExchange, name: string, out: DerivedEvent[]): void {
    const generation = int(ex.details.generation);
    if (ex.error !== 0) {
      this.memberEvent(out, ex, name, str(ex.details.member), heartbeatEvent(ex.error_name ?? ''), generation);
      return;
    }
    const g = this.classic.get(name);
    // A member is stable in a later generation: the open one is over.
    if (g?.open && g.open.generation < generation) this.finish(name, g, out);
  }

  private onLeave(ex: KafkaExchange, name: string, request: DecodedStruct | null, out: DerivedEvent[]): void {
    if (ex.error !== 0) return;
    const g = this.group(name);
    // The leaving member was part of the open generation: it is over.
    if (g.open) this.finish(name, g, out);
    const listed = memberIds(request?.Members);
    const members = listed.length > 0 ? listed : [str(ex.details.member)];
    const reason = str(ex.details.reason);
    for (const m of members) {
      this.remember(g.left, m);
      this.memberEvent(out, ex, name, m, 'leave', g.done);
      this.roundStarts(g, null, m, reason === '' ? 'leave' : reason, true);
    }
  }

  /** Fires the open generation of a group and its member events. */
  private finish(name: string, g: ClassicGroup, out: DerivedEvent[]): void {
    const gen = g.open;
    if (!gen) return;
    g.open = null;
    g.done = gen.generation;
    const complete = gen.members !== null && gen.failed.size === 0 && [...gen.members].every((m) => gen.synced.has(m));
    // The leader's list, when seen, is every member of the generation; else those seen joining it.
    const listed = gen.members !== null;
    const members = listed ? new Set([...gen.members!, ...gen.joined]) : gen.joined;
    members.delete('');
    const joined = [...members].filter((m) => g.newcomers.has(m) || (listed && g.previous && !g.previous.has(m)));
    const gone = listed && g.previous ? [...g.previous].filter((m) => !members.has(m)) : [];
    const ts = gen.lastSync ?? gen.lastSeen;
    const errors = [...new Set(gen.failed.values())];
    out.push({
      probe: 'rebalance',
      ts,
      connection: gen.connection,
      common: gen.common,
      fields: {
        kind: 'classic',
        group: name,
        generation: gen.generation,
        previous_generation: -1,
        member: '',
        members: members.size,
        synced: gen.synced.size,
        sync_failed: gen.failed.size,
        sync_error: errors.join(','),
        complete: complete ? 1 : 0,
        duration: gen.lastSync === null ? -1n : gen.lastSync - gen.start,
        reason: gen.reason,
        initiator: gen.initiator,
        protocol: gen.protocol,
        protocol_type: gen.protocolType,
        leader: gen.leader,
        joined: joined.length,
        departed: listed && g.previous ? gone.length : -1,
        assignment: '',
        assigned_partitions: -1,
      },
    });
    const at = { ts, connection: gen.connection, common: gen.common };
    for (const m of joined) this.pushMember(out, at, name, m, 'join', gen.generation);
    for (const m of gone) if (!g.left.has(m)) this.pushMember(out, at, name, m, 'timeout', gen.generation);
    for (const m of members) g.newcomers.delete(m);
    g.previous = listed ? members : null;
    g.left = new Set();
  }

  private onConsumerHeartbeat(ex: KafkaExchange, name: string, request: DecodedStruct | null, response: DecodedStruct | null, out: DerivedEvent[]): void {
    const member = str(ex.details.member);
    let members = this.consumer.get(name);
    if (!members) this.consumer.set(name, (members = new BoundedMap(this.maxGroups)));
    const requestEpoch = int(request?.MemberEpoch);
    const epoch = int(response?.MemberEpoch);
    if (ex.error !== 0) {
      const event = heartbeatEvent(ex.error_name ?? '');
      if (event === 'fenced') members.delete(member);
      this.memberEvent(out, ex, name, member, event, requestEpoch);
      return;
    }
    // -1: the member leaves; -2: a static member leaves for now.
    if (requestEpoch === -1 || requestEpoch === -2) {
      members.delete(member);
      this.memberEvent(out, ex, name, member, 'leave', requestEpoch);
      return;
    }
    let m = members.get(member);
    if (requestEpoch === 0 && !m) {
      this.memberEvent(out, ex, name, member, 'join', epoch);
      m = { epoch: 0, assignment: '', partitions: 0, pendingSince: ex.request_ts };
      members.set(member, m);
    }
    // A response without an assignment leaves it unchanged.
    const assignment = typeof ex.details.assignment === 'string' ? ex.details.assignment : null;
    const partitions = typeof ex.details.assigned_partitions === 'number' ? ex.details.assigned_partitions : 0;
    if (!m) {
      // First seen mid-life: nothing to compare with yet.
      members.set(member, { epoch, assignment: assignment ?? '', partitions, pendingSince: null });
      return;
    }
    const epochChanged = epoch !== m.epoch;
    if (!epochChanged && (assignment === null || assignment === m.assignment)) return;
    const now = ex.response_ts ?? ex.request_ts;
    const since = m.pendingSince ?? now;
    m.pendingSince = epochChanged ? null : since;
    const previousEpoch = m.epoch;
    m.epoch = epoch;
    if (assignment !== null) {
      m.assignment = assignment;
      m.partitions = partitions;
    }
    out.push({
      probe: 'rebalance',
      ts: now,
      connection: ex.connection,
      common: commonArgs(ex),
      fields: {
        kind: 'consumer',
        group: name,
        generation: epoch,
        previous_generation: previousEpoch,
        member,
        members: members.size,
        complete: epochChanged ? 1 : 0,
        duration: now - since,
        reason: requestEpoch === 0 ? 'join' : '',
        initiator: '',
        protocol: str(ex.details.assignor),
        protocol_type: 'consumer',
        leader: '',
        assignment: m.assignment,
        assigned_partitions: m.partitions,
        joined: requestEpoch === 0 ? 1 : 0,
        departed: 0,
        synced: -1,
        sync_failed: -1,
        sync_error: '',
      },
    });
  }

  private memberEvent(out: DerivedEvent[], ex: KafkaExchange, group: string, member: string, event: string, generation: number): void {
    this.pushMember(out, { ts: ex.response_ts ?? ex.request_ts, connection: ex.connection, common: commonArgs(ex) }, group, member, event, generation);
  }

  /** One member event, once however many sides saw it. */
  private pushMember(
    out: DerivedEvent[], at: { ts: bigint; connection: ConnectionInfo; common: ProbeArgs }, group: string, member: string, event: string, generation: number,
  ): void {
    const key = `${group}\u0000${member}\u0000${event}\u0000${generation}`;
    if (this.reported.has(key)) return;
    this.reported.set(key, true);
    out.push({ probe: 'member', ts: at.ts, connection: at.connection, common: at.common, fields: { group, member, event, generation } });
  }
}
