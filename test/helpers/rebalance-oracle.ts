// A differential oracle for kafka:rebalance: a consumer group randomized from a seed grows, shrinks
// and fails (SyncGroup and Heartbeat answers made to fail through the mock broker's error stack)
// while kafkatrace traces its members' process and the broker, and tshark captures the traffic.
// Each generation kafkatrace reports, on each side, is compared with what the wire shows of it:
// the members its JoinGroup answers name, its leader, the SyncGroups of it answered with and
// without an error; and the members' own accounts (librdkafka's JoinGroup log) must agree with
// the wire, or the run is a truth disagreement.
import { startMockBroker } from '../../src/kafka/mock-broker.js';
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
  ownJoins(): { generation: number; memberId: string; leaderId: string }[] | undefined;
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
 * then) and no join came for QUIET_MS.
 */
async function settle(members: Member[], before: number[], any: boolean, what: string): Promise<void> {
  const until = Date.now() + 120_000;
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
    if ((any ? now.some(rejoined) : now.every(rejoined)) && Date.now() - quietSince >= QUIET_MS) return;
    if (Date.now() > until) throw new Error(`the group did not settle after ${what} (joins before ${before.join(',')}, now ${now.join(',')})`);
  }
}

/** A generation as the wire shows it. */
export interface WireGeneration {
  generation: number;
  /** Members given this generation by a JoinGroup answer. */
  members: Set<string>;
  leader: string;
  /**
   * How many members the leader's JoinGroup answer lists, 0 when no answer lists them (the mock
   * cluster can name as leader a member that left). The coordinator's list can hold a member that
   * never rejoined (it is waiting for it): then more than `members`.
   */
  listed: number;
  /** Per member, the error of its SyncGroup answer for this generation (the last, if it sent several). */
  syncs: Map<string, number>;
}

/** The generations of `group` on the wire, and the members given an id on a first JoinGroup (without one). */
export function generationsOf(exchanges: TsharkGroupExchange[], group: string): { generations: WireGeneration[]; newcomers: Set<string> } {
  const newcomers = new Set<string>();
  const byGeneration = new Map<number, WireGeneration>();
  const of = (g: number): WireGeneration => {
    let gen = byGeneration.get(g);
    if (!gen) byGeneration.set(g, (gen = { generation: g, members: new Set(), leader: '', listed: 0, syncs: new Map() }));
    return gen;
  };
  for (const ex of exchanges) {
    if (ex.group !== group || ex.error === undefined) continue;
    if (ex.apiKey === 11 && ex.memberId === '' && ex.assignedMemberId) newcomers.add(ex.assignedMemberId);
    if (ex.apiKey === 11 && ex.error === 0 && ex.generation !== undefined && ex.assignedMemberId !== undefined) {
      const gen = of(ex.generation);
      gen.members.add(ex.assignedMemberId);
      if (ex.leader) gen.leader = ex.leader;
      if (ex.listedMembers) gen.listed = ex.listedMembers;
    }
    if (ex.apiKey === SYNC_GROUP && ex.requestGeneration >= 0) of(ex.requestGeneration).syncs.set(ex.memberId, ex.error);
  }
  const generations = [...byGeneration.values()].filter((g) => g.members.size > 0).sort((a, b) => a.generation - b.generation);
  return { generations, newcomers };
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
  mismatches: Mismatch[];
  /** The generations on the wire and the firings, to read a mismatch by. */
  detail: string;
}

/**
 * What each generation's firing must carry, from the wire and the generation seen before it: its
 * members are the leader's list when an answer carries it, else those answered; it is complete when
 * every listed member synced. Who joined and departed is judged only where the list is exactly the
 * members answered (the dissector does not read the ids in the list), in this generation and the one
 * before; else undefined (not judged). Without both lists kafkatrace must say -1 for departed.
 */
function expected(gen: WireGeneration, previous: WireGeneration | undefined, newcomers: Set<string>): Partial<Omit<RebalanceFiring, 'role' | 'incomplete'>> {
  const ok = [...gen.members].filter((m) => gen.syncs.get(m) === 0).length;
  const failed = [...gen.syncs].filter(([m, e]) => gen.members.has(m) && e !== 0).length;
  const exact = (g: WireGeneration | undefined): boolean => g !== undefined && g.listed === g.members.size;
  const want: Partial<Omit<RebalanceFiring, 'role' | 'incomplete'>> = {
    generation: gen.generation,
    members: gen.listed || gen.members.size,
    synced: ok,
    syncFailed: failed,
    complete: gen.listed > 0 && ok === gen.listed ? 1 : 0,
    leader: gen.leader,
  };
  if (gen.listed === 0 || !previous || previous.listed === 0) want.departed = -1;
  if (exact(gen) && exact(previous)) {
    want.joined = [...gen.members].filter((m) => newcomers.has(m) || !previous!.members.has(m)).length;
    want.departed = [...previous!.members].filter((m) => !gen.members.has(m)).length;
  } else if (exact(gen) && !previous) {
    want.joined = [...gen.members].filter((m) => newcomers.has(m)).length;
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
              ownJoins.push(...(gone!.ownJoins() ?? []));
              await gone!.stop();
            }
            if (step.kind === 'join' || step.kind === 'fail-sync') members.push(await startMember(w, broker.bootstrap, topic, group, joinedSoFar++));
            if (members.length > 0) await settle(members, before, step.kind === 'fail-heartbeat', describeGroupWorkload(w));
          }
        } finally {
          for (const m of members.splice(0)) {
            ownJoins.push(...(m.ownJoins() ?? []));
            await m.stop();
          }
        }
        await new Promise((res) => setTimeout(res, QUIET_MS));
      }, ['-p', String(broker.pid)]);
    }, ['-p', String(process.pid)]);
    pcap = await capture.stop();
    const { generations: wire, newcomers } = generationsOf(await tsharkGroupExchanges(pcap, ports), group);
    for (const t of [clientSide, brokerSide!]) {
      if (t.code !== 0 || t.stderr !== '') mismatches.push({ kind: 'exit', role: 'kafkatrace', where: `group seed ${seed}`, kafkatrace: `${t.code} ${t.stderr.slice(0, 500)}`, truth: 'status 0, no stderr' });
    }
    // The members' own accounts, where they give one, must agree with the wire.
    for (const j of ownJoins) {
      const gen = wire.find((g) => g.generation === j.generation);
      if (!gen?.members.has(j.memberId) || gen.leader !== j.leaderId) {
        mismatches.push({ kind: 'truth.join', role: 'truth', where: `generation ${j.generation}`, kafkatrace: '-', truth: `member ${j.memberId} logged leader ${j.leaderId}; tshark ${gen ? `${[...gen.members].join(',')} leader ${gen.leader}` : 'no such generation'}` });
      }
    }
    let compared = 0;
    const firings = [...firingsOf(clientSide), ...firingsOf(brokerSide!)];
    for (const role of ['client', 'broker']) {
      const mine = firings.filter((f) => f.role === role);
      const fresh = new Set(newcomers);
      for (const [i, gen] of wire.entries()) {
        const got = mine.filter((f) => f.generation === gen.generation);
        const want = expected(gen, wire[i - 1], fresh);
        for (const m of gen.members) fresh.delete(m);
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
        if (!wire.some((g) => g.generation === f.generation)) mismatches.push({ kind: 'rebalance.phantom', role, where: `${group} generation ${f.generation}`, kafkatrace: JSON.stringify(f), truth: 'no JoinGroup answer of it on the wire' });
      }
    }
    const failedSyncs = wire.filter((g) => [...g.syncs.values()].some((e) => e !== 0)).length;
    const allFailed = wire.filter((g) => g.syncs.size > 0 && [...g.syncs.values()].every((e) => e !== 0)).length;
    const detail = [
      ...wire.map((g) => `wire g${g.generation}: members ${[...g.members].join(',')} (listed ${g.listed}) leader ${g.leader} syncs ${[...g.syncs].map(([m, e]) => `${m}:${e}`).join(',')}`),
      ...firings.map((f) => `firing ${JSON.stringify(f)}`),
      ...[...clientSide.lines, ...brokerSide!.lines].filter((l) => l.startsWith('group|')),
      `decode health: client ${JSON.stringify(clientSide.decode)}, broker ${JSON.stringify(brokerSide!.decode)}`,
    ].join('\n');
    return { seed, workload: w, generations: wire.length, compared, failedSyncs, allFailed, mismatches, detail };
  } finally {
    if (!pcap) await capture.stop().catch(() => undefined);
    capture.remove();
    await broker.stop();
  }
}
