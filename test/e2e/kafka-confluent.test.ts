// kafka:* probes proven against @confluentinc/kafka-javascript (librdkafka 2.15, the newest protocol
// versions of the clients we test with), through the command line (`-f json`): records per
// topic-partition equal the producer's delivery reports, from the client's side and the broker's;
// Produce and Fetch go out at the flexible versions librdkafka negotiates, each request the client
// logs sending is seen at that version; both members of a classic consumer group show every
// JoinGroup and SyncGroup answer they logged, with their member ids and generations, and
// kafka:rebalance fires once per generation; fetched records per partition equal what the members
// received. A second test counts decode failures exactly, in process. The broker is the librdkafka
// mock cluster built against the library's own librdkafka (Debian's 2.0 mock offers no flexible
// Produce or Fetch). Needs root, the addon, build/ (node scripts/build-kafka.mjs) and a built dist/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import { realSystem } from '../../src/frontend/system.js';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { startKafkaProbes } from '../../src/runtime/kafka-source.js';
import { createOutput } from '../../src/runtime/output.js';
import { userMapsOf } from '../../src/runtime/user-maps.js';
import { heldBpf } from '../helpers/bpf-held.js';
import { sorted, traceWhile, waitFor } from '../helpers/cli-trace.js';
import {
  confluentLibrdkafkaVersion,
  confluentMockBroker,
  confluentProblem,
  produceWithConfluent,
  startConfluentConsumer,
  type ConfluentMember,
} from '../helpers/confluent-client.js';
import { alive } from '../helpers/processes.js';
import { canRun } from './runtime-helpers.js';

const missing = confluentProblem();
if (missing && process.env['CI'] === 'true') throw new Error(missing);
if (missing) console.log(`kafka-confluent e2e tests not run: ${missing}`);
const run = canRun() && missing === undefined;
const TIMEOUT_MS = 120_000;

/** API keys (Kafka protocol numbering). */
const PRODUCE = 0;
const FETCH = 1;
/** The first flexible (KIP-482) versions of Produce and Fetch. */
const FLEXIBLE = { Produce: 9, Fetch: 12 };
/** librdkafka 2.15's own highest versions (rdkafka_msgset_writer.c, rdkafka_fetcher.c). */
const CLIENT_MAX = { Produce: 10, Fetch: 16 };


/** How many times each entry occurs, as a record. */
function tally(xs: (string | number)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[String(x)] = (out[String(x)] ?? 0) + 1;
  return out;
}

/** Whether the member's latest join has a successful sync, and its assignment is the one handed over then. */
function syncedGeneration(m: ConfluentMember): number | undefined {
  const sync = m.syncs.at(-1);
  return sync?.ok === true && sync.generation === m.joins.at(-1)!.generation && m.current().length > 0 ? sync.generation : undefined;
}

/**
 * Two members of a fresh group, the second joining once the first holds all 3 partitions (two
 * generations at least); resolves once both synced the same (latest) generation and split the
 * partitions between them. The mock answers a follower's SyncGroup that comes after the leader's
 * with an error, and the follower's rejoin starts another generation: until both synced one, the
 * assignments seen may be about to be revoked.
 */
async function startGroup(bootstrap: string, topic: string, groupId: string, tag: string): Promise<ConfluentMember[]> {
  const members: ConfluentMember[] = [];
  const start = async (n: number) => members.push(await startConfluentConsumer({ bootstrap, topic, groupId, clientId: `confluent-member${n}-${tag}` }));
  try {
    await start(1);
    await waitFor('the first member to hold the 3 partitions', 60_000, () => syncedGeneration(members[0]!) !== undefined && members[0]!.current().length === 3);
    await start(2);
    await waitFor('both members to share the 3 partitions', 60_000, () => {
      const [g1, g2] = members.map(syncedGeneration);
      const [a, b] = members.map((m) => m.current());
      return g1 !== undefined && g1 === g2 && new Set([...a!, ...b!]).size === 3 && a!.length + b!.length === 3;
    });
  } catch (e) {
    for (const m of members) await m.stop();
    throw e;
  }
  return members;
}

describe.runIf(run)('kafka probes proven with @confluentinc/kafka-javascript', () => {
  let broker: MockBroker;
  const tag = `${process.pid}`;
  const topic = `confluent-${tag}`;
  const countTopic = `confluent-count-${tag}`;
  const N = 300;

  beforeAll(async () => {
    broker = await startMockBroker({ brokers: 1, topics: { [topic]: 3, [countTopic]: 3 }, binary: confluentMockBroker() });
  });

  afterAll(async () => {
    const pid = broker?.pid;
    await broker?.stop();
    if (pid !== undefined) expect(alive(pid)).toBe(false);
    expect(heldBpf().fds).toBe(0);
  });

  it('records per partition, flexible Produce and Fetch versions, group joins and syncs, consumed records', { timeout: TIMEOUT_MS }, async () => {
    expect(confluentLibrdkafkaVersion()).toMatch(/^2\.15\./);
    const group = `confluent-group-${tag}`;
    // Fetches the members leave unanswered when they stop fire with records -1 (unknown): not summed.
    const script = `
      kafka:produce /args.topic == "${topic}"/ { @records[args.role, args.partition] = sum(args.records); }
      kafka:fetch /args.topic == "${topic}" && args.role == "client" && args.status == "complete"/ { @fetched[args.partition] = sum(args.records); }
      kafka:request /pid == ${process.pid} && (args.api_key == ${PRODUCE} || args.api_key == ${FETCH})/ { @sent[args.client_id, args.api, args.version] = count(); }
      kafka:joingroup /args.group == "${group}" && args.role == "client"/ { printf("J|%s|%s|%d|%d|%s|%s\\n", args.client_id, args.member, args.generation, args.error, args.status, args.leader); }
      kafka:syncgroup /args.group == "${group}" && args.role == "client"/ { printf("S|%s|%s|%d|%d|%s\\n", args.client_id, args.member, args.generation, args.error, args.status); }
      kafka:rebalance /args.group == "${group}"/ { printf("R|%d\\n", args.generation); }`;
    const producerId = `confluent-producer-${tag}`;
    let produced: Awaited<ReturnType<typeof produceWithConfluent>> | undefined;
    const members: ConfluentMember[] = [];
    const traced = await traceWhile(script, async () => {
      // The group settles before any record exists, so that no record is fetched twice; and the long
      // polls the first member sent under its old assignment (fetch.wait.max.ms, 100 ms here) are
      // answered, empty, before records come: else one answered with them fetches them again.
      members.push(...(await startGroup(broker.bootstrap, topic, group, tag)));
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      try {
        produced = await produceWithConfluent({ bootstrap: broker.bootstrap, topic, count: N, clientId: producerId });
        await waitFor(`the group to receive ${N} records`, 30_000, () => members.reduce((n, m) => n + m.records.length, 0) >= N);
      } finally {
        for (const m of members) await m.stop();
      }
    });
    expect(alive(traced.pid)).toBe(false);
    expect(traced.stderr).toBe('');
    expect(traced.code).toBe(0);
    const p = produced!;

    // 1. Records per partition: the delivery reports, seen by the client and by the broker.
    expect(p.reports).toHaveLength(N);
    expect(Object.keys(p.perPartition).sort()).toEqual(['0', '1', '2']);
    const expectedRecords: Record<string, number> = {};
    for (const role of ['client', 'broker']) for (const [part, n] of Object.entries(p.perPartition)) expectedRecords[`${role},${part}`] = n;
    expect(traced.maps['@records']).toEqual(expectedRecords);
    /** Offsets per partition, sorted: each partition's must be 0..n-1, once each. */
    const offsets = (rs: { partition: number; offset: number }[]) => {
      const by: Record<string, number[]> = {};
      for (const r of rs) (by[r.partition] ??= []).push(r.offset);
      for (const list of Object.values(by)) list.sort((a, b) => a - b);
      return by;
    };
    const firstOffsets = Object.fromEntries(Object.entries(p.perPartition).map(([part, n]) => [part, Array.from({ length: n }, (_, i) => i)]));
    expect(offsets(p.reports)).toEqual(firstOffsets);

    // 2. Versions: librdkafka sends the highest it and the broker share, flexible for both APIs, and
    // every request it logs sending is seen at that version.
    const offeredProduce = p.protocol.offered.get(PRODUCE)!;
    const offeredFetch = members[0]!.protocol.offered.get(FETCH)!;
    const produceVersion = Math.min(CLIENT_MAX.Produce, offeredProduce[1]);
    const fetchVersion = Math.min(CLIENT_MAX.Fetch, offeredFetch[1]);
    expect(produceVersion).toBeGreaterThanOrEqual(FLEXIBLE.Produce);
    expect(fetchVersion).toBeGreaterThanOrEqual(FLEXIBLE.Fetch);
    const sent: Record<string, number> = {};
    const logged = (clientId: string, api: string, versions: number[]) => {
      for (const [v, n] of Object.entries(tally(versions))) sent[`${clientId},${api},${v}`] = n;
    };
    expect(new Set(p.protocol.sent.get('Produce'))).toEqual(new Set([produceVersion]));
    logged(producerId, 'Produce', p.protocol.sent.get('Produce')!);
    for (const m of members) {
      expect(new Set(m.protocol.sent.get('Fetch'))).toEqual(new Set([fetchVersion]));
      logged(m.clientId, 'Fetch', m.protocol.sent.get('Fetch')!);
    }
    expect(traced.maps['@sent']).toEqual(sent);

    // 3. Each member's successful JoinGroup answers and SyncGroups, as the member logged them; one
    // kafka:rebalance per generation.
    const rows = (kind: string) => traced.lines.filter((l) => l.startsWith(`${kind}|`)).map((l) => l.split('|'));
    // A request in flight when a member closed is reported too, unanswered (status "closed").
    const ok = (kind: string) => rows(kind).filter((r) => r[4] === '0' && r[5] === 'complete').map((r) => [r[1], r[2], r[3], ...r.slice(6)].join('|'));
    const sentBy = (api: string) => members.reduce((n, m) => n + (m.protocol.sent.get(api)?.length ?? 0), 0);
    const joins = members.flatMap((m) => m.joins.map((j) => `${m.clientId}|${j.memberId}|${j.generation}|${j.leaderId}`));
    const syncs = members.flatMap((m) => m.syncs.filter((s) => s.ok).map((s) => `${m.clientId}|${s.memberId}|${s.generation}`));
    expect(members.map((m) => m.joins.length)).not.toContain(0);
    expect(new Set(members.map((m) => m.joins[0]!.memberId)).size).toBe(2);
    expect(sorted(ok('J'))).toEqual(sorted(joins));
    expect(sorted(ok('S'))).toEqual(sorted(syncs));
    expect(rows('J')).toHaveLength(sentBy('JoinGroup'));
    expect(rows('S')).toHaveLength(sentBy('SyncGroup'));
    const generations = [...new Set(members.flatMap((m) => m.joins.map((j) => j.generation)))].sort((a, b) => a - b);
    expect(generations.length).toBeGreaterThanOrEqual(2);
    expect(rows('R').map((r) => Number(r[1])).sort((a, b) => a - b)).toEqual(generations);

    // 4. Consumed records: fetched per partition equals received per partition equals delivered.
    const received = tally(members.flatMap((m) => m.records.map((r) => r.partition)));
    expect(received).toEqual(p.perPartition);
    expect(offsets(members.flatMap((m) => m.records))).toEqual(firstOffsets);
    expect(traced.maps['@fetched']).toEqual(received);
    for (const m of members) expect(m.errors).toEqual([]);
  });

  it('counts as decode failures exactly the frames librdkafka and its mock get wrong', { timeout: TIMEOUT_MS }, async () => {
    const port = Number(broker.bootstrap.split(':')[1]);
    const near = `args.rport == ${port} || args.lport == ${port}`;
    const script = `kafka:request /${near}/ { @n[args.role, args.api, args.version, args.status] = count(); }
      kafka:metadata /${near}/ { printf("M|%s|%d|%s|%d|%s\\n", args.role, args.version, args.client_id, args.request_bytes, args.status); }
      kafka:syncgroup /(${near}) && args.status == "complete" && args.error != 0/ { @syncFailed = count(); }
      kafka:produce /${near}/ { @produced[args.role] = sum(args.records); }
      kafka:fetch /(${near}) && args.role == "client" && args.status == "complete"/ { @fetched = sum(args.records); }`;
    const r = planScript(script, 'confluent.ktr', { positional: [], unsafe: false, system: realSystem() });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    const maps = userMapsOf(r.compiled.plan);
    let printed = '';
    const output = createOutput({ format: 'text', write: (t) => void (printed += t), writeError: (t) => void (printed += t) });
    const probes = startKafkaProbes(r.compiled.plan, { output, maps, onExit: () => undefined });
    let members: ConfluentMember[] = [];
    try {
      expect(heldBpf().fds).toBeGreaterThan(0);
      members = await startGroup(broker.bootstrap, countTopic, `confluent-count-group-${tag}`, `count-${tag}`);
      // As above: the old assignment's long polls answered before records come.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      await produceWithConfluent({ bootstrap: broker.bootstrap, topic: countTopic, count: 30, clientId: `confluent-count-${tag}` });
      await waitFor('the group to receive 30 records', 30_000, () => members.reduce((n, m) => n + m.records.length, 0) >= 30);
    } finally {
      for (const m of members) await m.stop();
      probes.stop();
    }
    expect(heldBpf().fds).toBe(0);
    const counters = probes.counters();
    expect(counters.actionErrors).toBe(0);
    expect(counters.lostRecords).toBe(0);
    expect(maps.get('@produced', ['client'])).toBe(30n);
    expect(maps.get('@produced', ['broker'])).toBe(30n);
    expect(maps.get('@fetched', [])).toBe(30n);

    // Four kinds of frame, each seen once from each end (client and broker), fail to decode; nothing
    // else may. With bytes left over ('trailing'):
    // - the mock's answer to ApiVersions v3 (it supports v0..v2): an error in a frame the v3 layout
    //   does not fit; the client then asks again at v0;
    // - every flexible Metadata response of the mock: its handler writes the top-level tagged
    //   fields and rd_kafka_mock_connection_send_response() writes them again (one byte more);
    // - librdkafka's "all topics" Metadata request (v9+): it keeps the 4-byte placeholder of its
    //   null topic array, so 3 bytes more than a brokers-only request (header + 1 + 3 bytes).
    // With a null where the protocol allows none ('bad_length'): the mock's SyncGroup error answers
    // (a follower's SyncGroup that comes after the leader's completed the generation gets one),
    // whose MemberState bytes it writes as null.
    const count = (role: string, api: string, version: bigint, status = 'complete') => Number(maps.get('@n', [role, api, version, status]) ?? 0n);
    const metadata = printed.split('\n').filter((l) => l.startsWith('M|')).map((l) => l.split('|'));
    expect(count('client', 'ApiVersions', 3n)).toBeGreaterThan(0);
    expect(count('broker', 'ApiVersions', 3n)).toBe(count('client', 'ApiVersions', 3n));
    for (const role of ['client', 'broker']) {
      expect(metadata.filter((m) => m[1] === role && Number(m[2]) < 9), role).toEqual([]);
    }
    // Request frame: size 4, api key 2, version 2, correlation id 4, client id 2 + n, tags 1, body 7.
    const allTopics = metadata.filter((m) => Number(m[4]) === 22 + Buffer.byteLength(m[3]!));
    const answered = metadata.filter((m) => m[5] === 'complete');
    const v3 = count('client', 'ApiVersions', 3n) + count('broker', 'ApiVersions', 3n);
    expect(allTopics.length).toBeGreaterThan(0);
    const syncFailed = Number(maps.get('@syncFailed', []) ?? 0n);
    expect(counters.framesFailed).toEqual({ trailing: v3 + answered.length + allTopics.length, ...(syncFailed > 0 ? { bad_length: syncFailed } : {}) });
  });
});
