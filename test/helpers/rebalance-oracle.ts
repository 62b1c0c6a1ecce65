// A differential oracle for kafka:rebalance: a consumer group randomized from a seed grows, shrinks
// and fails (SyncGroup and Heartbeat answers made to fail through the mock broker's error stack)
// while kafkatrace traces its members' process and the broker, and tshark captures the traffic.
// Each generation kafkatrace reports, on each side, is compared with what the wire shows of it:
// the members its JoinGroup answers name, its leader, the SyncGroups of it answered with and
// without an error; and the members' own accounts (librdkafka's JoinGroup log) must agree with
// the wire, or the run is a truth disagreement.
import { startMockBroker } from '../../src/demo/mock-broker.js';
import { traceWhile, type Traced } from './cli-trace.js';
import { startConfluentConsumer } from './confluent-client.js';
import { startKafkajsConsumer } from './kafka-clients.js';
import type { Mismatch } from './kafka-oracle.js';
import { rng } from './seeded.js';
import { startCapture, tsharkGroupExchanges, type TsharkGroupExchange } from './tshark.js';

const SYNC_GROUP = 14;
const HEARTBEAT = 12;
/** Errors a coordinator answers a SyncGroup or Heartbeat with when a member must rejoin. */
const REJOIN_ERRORS = [27, 22, 25] as const; // REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID
const MAX_MEMBERS = 4;
/** kafkatrace closes a generation left without answers after 2 s; a step waits this long after the group settled. */
const QUIET_MS = 2500;
const SETTLE_MS = 60_000;

export type GroupStep =
  | { kind: 'join' }
  | { kind: 'leave'; member: number }
  | { kind: 'fail-sync'; codes: number[] }
  | { kind: 'fail-heartbeat'; code: number };

export interface GroupWorkload {
  seed: number;
  client: 'kafkajs' | 'confluent';
  partitions: number;
  steps: GroupStep[];
}

export function groupWorkloadOf(seed: number): GroupWorkload {
  const r = rng(seed ^ 0x6a0b);
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const steps: GroupStep[] = [{ kind: 'join' }];
  let live = 1;
  for (let i = int(3, 6); i > 0; i--) {
    const roll = r();
    if (roll < 0.35 && live < MAX_MEMBERS) {
      steps.push({ kind: 'join' });
      live++;
    } else if (roll < 0.55 && live > 1) {
      steps.push({ kind: 'leave', member: int(0, live - 1) });
      live--;
    } else if (roll < 0.8 && live < MAX_MEMBERS) {
      // SyncGroups fail, then a member joins to start a round: one or several of its syncs fail.
      steps.push({ kind: 'fail-sync', codes: Array.from({ length: int(1, live + 1) }, () => REJOIN_ERRORS[int(0, 2)]!) });
      live++;
    } else {
      steps.push({ kind: 'fail-heartbeat', code: REJOIN_ERRORS[int(0, 2)]! });
    }
  }
  return { seed, client: r() < 0.5 ? 'kafkajs' : 'confluent', partitions: int(1, 8), steps };
}

export function describeGroupWorkload(w: GroupWorkload): string {
  const steps = w.steps.map((s) => (s.kind === 'leave' ? `leave#${s.member}` : s.kind === 'fail-sync' ? `fail-sync(${s.codes.join(',')})` : s.kind === 'fail-heartbeat' ? `fail-heartbeat(${s.code})` : s.kind));
  return `group seed ${w.seed}: ${w.client} members, ${w.partitions} partitions, steps ${steps.join(' ')}`;
}

interface Member {
  /** Successful joins the member reported so far. */
  joins(): number;
  /** The member's own account of its JoinGroup answers, when it gives one (librdkafka's log). */
  ownJoins(): { generation: number; memberId: string; leaderId: string; listed: number }[] | undefined;
  /** The client gave up (kafkajs crashes on an error it does not retry, as the mock cluster answers some SyncGroups after a failed one). */
  crashed(): boolean;
  stop(): Promise<void>;
}

async function startMember(w: GroupWorkload, bootstrap: string, topic: string, group: string, n: number): Promise<Member> {
  const clientId = `${group}-m${n}`;
  if (w.client === 'kafkajs') {
    const m = await startKafkajsConsumer({ bootstrap, topic, groupId: group, clientId, rebalanceTimeout: 15_000 });
    let crashed = false;
    m.consumer.on(m.consumer.events.CRASH, (e) => (crashed ||= !e.payload.restart));
    return { joins: () => m.joins.length, ownJoins: () => undefined, crashed: () => crashed, stop: () => m.stop() };
  }
  const m = await startConfluentConsumer({ bootstrap, topic, groupId: group, clientId });
  return { joins: () => m.joins.length, ownJoins: () => m.joins, crashed: () => false, stop: () => m.stop() };
}

/**
 * Waits until every member (or, with `any`, one) joined again since `before` (their join counts
 * then) and no join came for QUIET_MS; false when that did not happen within SETTLE_MS (the mock
 * cluster can keep a group in a rejoin storm: the wire is the truth either way, the run goes on).
 */
async function settle(members: Member[], before: number[], any: boolean): Promise<boolean> {
  const until = Date.now() + SETTLE_MS;
  let last = members.map((m) => m.joins());
  let quietSince = Date.now();
  for (;;) {
    await new Promise((res) => setTimeout(res, 100));
    for (let i = members.length - 1; i >= 0; i--) {
      if (!members[i]!.crashed()) continue;
      await members.splice(i, 1)[0]!.stop();
      before.splice(i, 1);
      last.splice(i, 1);
    }
    const now = members.map((m) => m.joins());
    if (now.some((n, i) => n !== last[i])) quietSince = Date.now();
    last = now;
    const rejoined = (n: number, i: number): boolean => n > (before[i] ?? 0);
    if ((any ? now.some(rejoined) : now.every(rejoined)) && Date.now() - quietSince >= QUIET_MS) return true;
    if (Date.now() > until) return false;
  }
}

/** A generation as the wire shows it. */
export interface WireGeneration {
  generation: number;
  /** Members given this generation by a JoinGroup answer. */
  members: Set<string>;
  /** Those of them new to the group (see generationsOf). */
  newcomers: Set<string>;
  leader: string;
  /**
   * How many members the leader's JoinGroup answer lists, 0 when no answer lists them (the mock
   * cluster can name as leader a member that left). The coordinator's list can hold a member that
   * never rejoined (it is waiting for it): then more than `members`.
   */
  listed: number;
  /** How many members the leader's own account (librdkafka's log) says its answer listed. */
  leaderListed?: number;
  /** The ids the leader's answer lists, when read (see TsharkGroupExchange.listedIds). */
  listedIds?: Set<string>;
  /** When its JoinGroup and SyncGroup answers were sent (seconds since the epoch). */
  answered: number[];
  /** Per member, the error of its SyncGroup answer for this generation (the last, if it sent several). */
  syncs: Map<string, number>;
}

/**
 * The generations of `group` on the wire. A member is new in a generation when an id was given to
 * it on a first JoinGroup (one without an id) since its last generation: the mock cluster names
 * members by address, so a later member can get the id of one gone before.
 */
export function generationsOf(exchanges: TsharkGroupExchange[], group: string): WireGeneration[] {
  const byGeneration = new Map<number, WireGeneration>();
  const of = (g: number): WireGeneration => {
    let gen = byGeneration.get(g);
    if (!gen) byGeneration.set(g, (gen = { generation: g, members: new Set(), newcomers: new Set(), leader: '', listed: 0, answered: [], syncs: new Map() }));
    return gen;
  };
  /** Members given an id on a first JoinGroup and not yet in a generation. */
  const pending = new Set<string>();
  for (const ex of exchanges) {
    if (ex.group !== group || ex.error === undefined) continue;
    if (ex.apiKey === 11 && ex.memberId === '' && ex.assignedMemberId) pending.add(ex.assignedMemberId);
    if (ex.apiKey === 11 && ex.error === 0 && ex.generation !== undefined && ex.assignedMemberId !== undefined) {
      const gen = of(ex.generation);
      gen.members.add(ex.assignedMemberId);
      if (pending.delete(ex.assignedMemberId)) gen.newcomers.add(ex.assignedMemberId);
      gen.answered.push(ex.answeredAt ?? 0);
      if (ex.leader) gen.leader = ex.leader;
      if (ex.listedMembers) gen.listed = ex.listedMembers;
      if (ex.listedIds && ex.listedIds.length > 0) gen.listedIds = new Set(ex.listedIds);
    }
    if (ex.apiKey === SYNC_GROUP && ex.requestGeneration >= 0) {
      const gen = of(ex.requestGeneration);
      gen.syncs.set(ex.memberId, ex.error);
      gen.answered.push(ex.answeredAt ?? 0);
    }
  }
  return [...byGeneration.values()].filter((g) => g.members.size > 0).sort((a, b) => a.generation - b.generation);
}

/** A kafka:rebalance firing, as printed by the oracle's script. */
interface RebalanceFiring {
  role: string;
  generation: number;
  members: number;
  synced: number;
  syncFailed: number;
  complete: number;
  joined: number;
  departed: number;
  incomplete: number;
  leader: string;
}

function firingsOf(traced: Traced): RebalanceFiring[] {
  return traced.lines.filter((l) => l.startsWith('rebalance|')).map((l) => {
    const f = l.split('|');
    const n = (i: number): number => Number(f[i]);
    return { role: f[1]!, generation: n(2), members: n(3), synced: n(4), syncFailed: n(5), complete: n(6), joined: n(7), departed: n(8), incomplete: n(9), leader: f[10]! };
  });
}

export interface GroupReport {
  seed: number;
  workload: GroupWorkload;
  /** Generations on the wire, and the firings compared with them (both sides). */
  generations: number;
  compared: number;
  /** Generations with a failed SyncGroup, and those where every SyncGroup failed. */
  failedSyncs: number;
  allFailed: number;
  /** Steps after which the group did not settle within SETTLE_MS. */
  unsettled: number;
  mismatches: Mismatch[];
  /** The generations on the wire and the firings, to read a mismatch by. */
  detail: string;
}

/**
 * How many members the generation's leader's list holds, when known: the ids read from the answer,
 * the leader's own account, or tshark's count when it agrees with the members answered (tshark 4.0
 * misreads these lists at times); 0 when no answer carried a list; undefined when not known.
 */
function listedOf(g: WireGeneration): number | undefined {
  if (g.listedIds) return g.listedIds.size;
  if (g.leaderListed !== undefined) return g.leaderListed;
  return g.listed === 0 || g.listed === g.members.size ? g.listed : undefined;
}

/** The generation's members as kafkatrace must count them: the list with those answered, when the list's ids are known. */
function membersOf(g: WireGeneration): Set<string> | undefined {
  if (g.listedIds) return new Set([...g.listedIds, ...g.members]);
  return listedOf(g) === g.members.size ? g.members : undefined;
}

/**
 * What each generation's firing must carry, from the wire and the generation seen before it: its
 * members are the leader's list (the coordinator's list can hold a member that never rejoined: it
 * waits for it) with those answered; it is complete when every listed member synced. Who joined
 * and departed is judged where both generations' lists are known; without a list in either,
 * kafkatrace must say -1 for departed. Fields left out are not judged.
 */
function expected(gen: WireGeneration, previous: WireGeneration | undefined): Partial<Omit<RebalanceFiring, 'role' | 'incomplete'>> {
  const failed = [...gen.syncs].filter(([m, e]) => gen.members.has(m) && e !== 0).length;
  const ok = [...gen.members].filter((m) => gen.syncs.get(m) === 0);
  const listed = listedOf(gen);
  const members = membersOf(gen);
  const want: Partial<Omit<RebalanceFiring, 'role' | 'incomplete'>> = { generation: gen.generation, synced: ok.length, syncFailed: failed, leader: gen.leader };
  if (members) {
    want.members = members.size;
    want.complete = gen.listedIds ? ([...gen.listedIds].every((m) => gen.syncs.get(m) === 0) ? 1 : 0) : listed! > 0 && ok.length === listed ? 1 : 0;
  } else if (listed === 0) {
    want.members = gen.members.size;
    want.complete = 0;
  }
  if (listed === 0 || !previous || listedOf(previous) === 0) want.departed = -1;
  const before = previous ? membersOf(previous) : undefined;
  if (members && listed! > 0 && before && listedOf(previous!)! > 0) {
    want.joined = [...members].filter((m) => gen.newcomers.has(m) || !before.has(m)).length;
    want.departed = [...before].filter((m) => !members.has(m)).length;
  } else if (members && !previous) {
    want.joined = [...members].filter((m) => gen.newcomers.has(m)).length;
  }
  return want;
}

export async function runGroupOracle(seed: number): Promise<GroupReport> {
  const w = groupWorkloadOf(seed);
  const topic = `rb-${seed}`;
  const group = `rb-${seed}-group`;
  const broker = await startMockBroker({ brokers: 1, topics: { [topic]: w.partitions } });
  const ports = broker.bootstrap.split(',').map((h) => Number(h.split(':')[1]));
  const mismatches: Mismatch[] = [];
  const script = `kafka:rebalance /args.group == "${group}"/ { printf("rebalance|%s|%d|%d|%d|%d|%d|%d|%d|%d|%s\\n", args.role, args.generation, args.members, args.synced, args.sync_failed, args.complete, args.joined, args.departed, args.incomplete, args.leader); }
    kafka:joingroup, kafka:syncgroup /args.group == "${group}"/ { printf("group|%s|%s|%d|%d|%s|%d|%d\\n", probe, args.role, args.correlation_id, args.generation, args.member, args.error, args.incomplete); }`;
  const capture = await startCapture(ports);
  let pcap = '';
  const members: Member[] = [];
  const ownJoins: NonNullable<ReturnType<Member['ownJoins']>> = [];
  let joinedSoFar = 0;
  // A member that stops may leave without reading its last answers, and what a process never read
  // its side cannot report: rounds answered while a member was stopping are the broker side's
  // alone. The rounds of the final teardown, all of whose members stop, are not judged.
  const stopping: [number, number][] = [];
  const stopMember = async (m: Member): Promise<void> => {
    const from = Date.now() / 1000;
    ownJoins.push(...(m.ownJoins() ?? []));
    await m.stop();
    stopping.push([from, Date.now() / 1000 + 1]);
  };
  let teardown = Infinity;
  let unsettled = 0;
  try {
    let brokerSide: Traced | undefined;
    // The members live in this process: one kafkatrace traces it (the client side), one the broker.
    const clientSide = await traceWhile(script, async () => {
      brokerSide = await traceWhile(script, async () => {
        try {
          for (const step of w.steps) {
            const before = members.map((m) => m.joins());
            if (step.kind === 'fail-sync') await broker.injectErrors(SYNC_GROUP, step.codes);
            if (step.kind === 'fail-heartbeat') await broker.injectErrors(HEARTBEAT, [step.code]);
            if (step.kind === 'leave' && members.length > 1) {
              const at = step.member % members.length;
              const [gone] = members.splice(at, 1);
              before.splice(at, 1);
              await stopMember(gone!);
            }
            if (step.kind === 'join' || step.kind === 'fail-sync') members.push(await startMember(w, broker.bootstrap, topic, group, joinedSoFar++));
            if (members.length > 0 && !(await settle(members, before, step.kind === 'fail-heartbeat'))) unsettled++;
          }
        } finally {
          teardown = Date.now() / 1000;
          for (const m of members.splice(0)) await stopMember(m);
        }
        await new Promise((res) => setTimeout(res, QUIET_MS));
      }, ['-p', String(broker.pid)]);
    }, ['-p', String(process.pid)]);
    pcap = await capture.stop();
    const wire = generationsOf(await tsharkGroupExchanges(pcap, ports), group);
    for (const t of [clientSide, brokerSide!]) {
      if (t.code !== 0 || t.stderr !== '') mismatches.push({ kind: 'exit', role: 'kafkatrace', where: `group seed ${seed}`, kafkatrace: `${t.code} ${t.stderr.slice(0, 500)}`, truth: 'status 0, no stderr' });
    }
    // The members' own accounts, where they give one, must agree with the wire.
    for (const j of ownJoins) {
      const gen = wire.find((g) => g.generation === j.generation);
      if (gen && j.memberId === j.leaderId) gen.leaderListed = j.listed;
      if (!gen?.members.has(j.memberId) || gen.leader !== j.leaderId) {
        mismatches.push({ kind: 'truth.join', role: 'truth', where: `generation ${j.generation}`, kafkatrace: '-', truth: `member ${j.memberId} logged leader ${j.leaderId}; tshark ${gen ? `${[...gen.members].join(',')} leader ${gen.leader}` : 'no such generation'}` });
      }
    }
    let compared = 0;
    const firings = [...firingsOf(clientSide), ...firingsOf(brokerSide!)];
    for (const role of ['client', 'broker']) {
      const mine = firings.filter((f) => f.role === role);
      // What this side could not see of a generation, it cannot compare the next one with.
      let blind = false;
      for (const [i, gen] of wire.entries()) {
        const end = Math.max(...gen.answered);
        const unread = role === 'client' && gen.answered.some((t) => stopping.some(([from, to]) => t >= from && t <= to));
        const after = blind;
        blind = unread;
        if (end >= teardown || unread) continue;
        const got = mine.filter((f) => f.generation === gen.generation);
        const want = expected(gen, wire[i - 1]);
        if (after) {
          delete want.joined;
          delete want.departed;
        }
        const where = `${group} generation ${gen.generation}`;
        if (got.length !== 1) {
          mismatches.push({ kind: got.length === 0 ? 'rebalance.missing' : 'rebalance.repeated', role, where, kafkatrace: `${got.length} firings`, truth: `1 (${JSON.stringify(want)})` });
          continue;
        }
        compared++;
        const f = got[0]!;
        const have = { generation: f.generation, members: f.members, synced: f.synced, syncFailed: f.syncFailed, complete: f.complete, joined: f.joined, departed: f.departed, leader: f.leader };
        for (const k of Object.keys(want) as (keyof typeof want)[]) {
          if (have[k] !== want[k]) mismatches.push({ kind: `rebalance.${k}`, role, where, kafkatrace: String(have[k]), truth: `${String(want[k])} on the wire` });
        }
        // A failed SyncGroup's answer from the mock cluster has a null assignment, which the schema
        // does not allow: kafkatrace may call such a generation incomplete, never one without.
        if (f.incomplete !== 0 && [...gen.syncs.values()].every((e) => e === 0)) {
          mismatches.push({ kind: 'rebalance.incomplete', role, where, kafkatrace: '1', truth: 'every exchange of the generation captured and well formed' });
        }
      }
      for (const f of mine) {
        if (f.generation > Math.max(...wire.filter((g) => Math.max(...g.answered) < teardown).map((g) => g.generation))) continue;
        if (!wire.some((g) => g.generation === f.generation)) mismatches.push({ kind: 'rebalance.phantom', role, where: `${group} generation ${f.generation}`, kafkatrace: JSON.stringify(f), truth: 'no JoinGroup answer of it on the wire' });
      }
    }
    const failedSyncs = wire.filter((g) => [...g.syncs.values()].some((e) => e !== 0)).length;
    const allFailed = wire.filter((g) => g.syncs.size > 0 && [...g.syncs.values()].every((e) => e !== 0)).length;
    const detail = [
      ...wire.map((g) => `wire g${g.generation}: members ${[...g.members].join(',')} (listed ${g.listed}${g.leaderListed === undefined ? '' : `, by the leader ${g.leaderListed}`}${g.listedIds ? `: ${[...g.listedIds].join(',')}` : ''}) leader ${g.leader} syncs ${[...g.syncs].map(([m, e]) => `${m}:${e}`).join(',')}`),
      ...firings.map((f) => `firing ${JSON.stringify(f)}`),
      ...[...clientSide.lines, ...brokerSide!.lines].filter((l) => l.startsWith('group|')),
      `decode health: client ${JSON.stringify(clientSide.decode)}, broker ${JSON.stringify(brokerSide!.decode)}`,
    ].join('\n');
    return { seed, workload: w, generations: wire.length, compared, failedSyncs, allFailed, unsettled, mismatches, detail };
  } finally {
    if (!pcap) await capture.stop().catch(() => undefined);
    capture.remove();
    await broker.stop();
  }
}
