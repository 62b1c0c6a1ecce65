// kafka:* probes proven against the clients' own accounts, through the command line (`-f json`):
// every request kafkajs reports through its instrumentation events is seen once by kafka:request;
// per-partition record counts equal what kafkajs and kcat produced, at the Produce versions each
// says it used; both members of a consumer group show their JoinGroup and SyncGroup; the broker's
// side of each connection agrees with the client's; -lv lists the catalogue. Also the kernel
// filters: a port predicate keeps other processes' traffic out of the capture, and why comm is not
// pushed. Needs root, the addon, build/ (node scripts/build-kafka.mjs) and a built dist/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import { realSystem } from '../../src/frontend/system.js';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { startKafkaProbes } from '../../src/runtime/kafka-source.js';
import { userMapsOf } from '../../src/runtime/user-maps.js';
import { createOutput } from '../../src/runtime/output.js';
import { ROOT, kafkatrace } from '../helpers/cli.js';
import { sorted, traceWhile, waitFor } from '../helpers/cli-trace.js';
import {
  produceWithKafkajs,
  produceWithKcat,
  runCommand,
  startKafkajsConsumer,
  type GroupMember,
  type KafkajsRequest,
} from '../helpers/kafka-clients.js';
import { canRun } from './runtime-helpers.js';
import { heldBpf } from '../helpers/bpf-held.js';

const run = canRun();
const TIMEOUT_MS = 240_000;


/** `all` without one of each of `some`; undefined when `some` holds an entry `all` lacks. */
function withoutAll(all: string[], some: string[]): string[] | undefined {
  const rest = [...all];
  for (const x of some) {
    const i = rest.indexOf(x);
    if (i < 0) return undefined;
    rest.splice(i, 1);
  }
  return rest;
}

/** The partitions of a member's latest assignment, as "topic/partition". */
function assigned(m: GroupMember): string[] {
  const last = m.joins.at(-1);
  if (!last) return [];
  return Object.entries(last.memberAssignment).flatMap(([t, ps]) => ps.map((p) => `${t}/${p}`));
}

describe.runIf(run)('kafka probes proven from the command line', () => {
  let broker: MockBroker;
  let other: MockBroker;
  // Names unique to this run: other tests on the machine may trace and produce at the same time.
  const tag = `${process.pid}`;
  const groupTopic = `proof-group-${tag}`;
  const countTopic = `proof-count-${tag}`;

  beforeAll(async () => {
    broker = await startMockBroker({ brokers: 1, topics: { [groupTopic]: 3, [countTopic]: 2 } });
    other = await startMockBroker({ brokers: 1, topics: { [countTopic]: 2 } });
  });

  afterAll(async () => {
    await broker?.stop();
    await other?.stop();
    expect(heldBpf().fds).toBe(0);
  });

  it('sees every kafkajs request once, both group members join and sync, and the broker agrees', { timeout: TIMEOUT_MS }, async () => {
    const fields = 'args.api_key, args.version, args.correlation_id, args.client_id, args.status';
    const script = `
      kafka:request /pid == ${process.pid}/ { printf("C|%d|%d|%d|%s|%s|%d|%d\\n", ${fields}, args.lport, args.rport); }
      kafka:request /pid == ${broker.pid}/ { printf("B|%d|%d|%d|%s|%s|%d|%d\\n", ${fields}, args.rport, args.lport); }
      kafka:joingroup /pid == ${process.pid}/ { printf("J|%s|%s|%s|%d\\n", args.client_id, args.group, args.member, args.error); }
      kafka:syncgroup /pid == ${process.pid}/ { printf("S|%s|%s|%s|%d\\n", args.client_id, args.group, args.member, args.error); }`;
    const requests: KafkajsRequest[] = [];
    const members: GroupMember[] = [];
    const traced = await traceWhile(script, async () => {
      requests.push(...(await produceWithKafkajs({ bootstrap: broker.bootstrap, topic: groupTopic, count: 30, clientId: `proof-producer-${tag}` })));
      // Both members start at once, within the mock group's initial rebalance delay, to join one
      // generation together. librdkafka's mock cluster completes a sync as soon as the leader's
      // SyncGroup brings every assignment, and answers a follower's SyncGroup that arrives later
      // with INVALID_REQUEST, which kafkajs treats as fatal (its consumer crashes and does not
      // restart); that attempt is then repeated with a new group. Requests of every attempt count.
      for (let attempt = 1; members.length === 0; attempt++) {
        const started = await Promise.allSettled([1, 2].map((n) =>
          startKafkajsConsumer({ bootstrap: broker.bootstrap, topic: groupTopic, groupId: `proof-group-${tag}-${attempt}`, clientId: `proof-member${n}-${tag}-${attempt}` })));
        const attemptMembers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
        // kafkajs's run() returns after the member's first join and sync, or after its crash: a
        // member without a join has crashed already; a later fatal crash is reported by CRASH.
        let crashed = attemptMembers.some((m) => m.joins.length === 0);
        for (const m of attemptMembers) m.consumer.on(m.consumer.events.CRASH, (e) => void (crashed ||= !e.payload.restart));
        try {
          for (const s of started) if (s.status === 'rejected') throw s.reason;
          // The group has settled when both members' latest assignments split the three partitions.
          await waitFor('both members to share the partitions', 100_000, () => {
            const [x, y] = attemptMembers.map(assigned);
            return crashed || (x!.length > 0 && y!.length > 0 && new Set([...x!, ...y!]).size === 3 && x!.length + y!.length === 3);
          });
        } finally {
          for (const m of attemptMembers) await m.stop();
          for (const m of attemptMembers) requests.push(...m.requests);
        }
        if (!crashed) members.push(...attemptMembers);
        else if (attempt === 5) throw new Error('a group member crashed in each of 5 attempts');
      }
    });
    expect(traced.stderr).toBe('');
    expect(traced.code).toBe(0);

    const client = traced.lines.filter((l) => l.startsWith('C|')).map((l) => l.split('|'));
    const brokerSide = traced.lines.filter((l) => l.startsWith('B|')).map((l) => l.split('|'));
    // (a) kafkajs reports answered requests only; kafkatrace also reports what never got an
    // answer (a fetch in flight at disconnect), with its status saying so.
    const key = (apiKey: number | string, version: number | string, corr: number | string, clientId: string) => `${apiKey}/${version}/${corr}/${clientId}`;
    const complete = client.filter((c) => c[5] === 'complete');
    expect(sorted(complete.map((c) => key(c[1]!, c[2]!, c[3]!, c[4]!)))).toEqual(
      sorted(requests.map((r) => key(r.apiKey, r.apiVersion, r.correlationId, r.clientId))),
    );
    for (const c of client.filter((x) => x[5] !== 'complete')) expect(['closed', 'timeout']).toContain(c[5]);
    expect(requests.length).toBeGreaterThan(20);
    const apis = new Set(requests.map((r) => r.apiName));
    for (const api of ['ApiVersions', 'Metadata', 'Produce', 'JoinGroup', 'SyncGroup', 'Fetch']) expect(apis).toContain(api);

    // (c) every GROUP_JOIN of each member: its JoinGroup and SyncGroup, with the member id kafkajs got.
    const joins = traced.lines.filter((l) => l.startsWith('J|')).map((l) => l.split('|'));
    const syncs = traced.lines.filter((l) => l.startsWith('S|')).map((l) => l.split('|'));
    expect(members).toHaveLength(2);
    const memberIds = new Set<string>();
    for (const m of members) {
      expect(m.joins.length).toBeGreaterThan(0);
      const clientId = m.requests[0]!.clientId;
      for (const j of m.joins) {
        memberIds.add(j.memberId);
        expect(joins).toContainEqual(['J', clientId, j.groupId, j.memberId, '0']);
        expect(syncs).toContainEqual(['S', clientId, j.groupId, j.memberId, '0']);
      }
    }
    expect(memberIds.size).toBe(2);

    // (d) per connection (client's local port, broker's port), the same exchanges from both ends.
    // Only a request in flight when the client closed may be seen by one end and not the other:
    // what the client saw answered the broker saw too, and the broker saw nothing the client did not send.
    const byConnection = (rows: string[][]): Map<string, string[]> => {
      const m = new Map<string, string[]>();
      for (const r of rows) {
        const conn = `${r[6]}->${r[7]}`;
        m.set(conn, [...(m.get(conn) ?? []), `${r[1]}/${r[2]}/${r[3]}/${r[4]}`]);
      }
      for (const [k, v] of m) m.set(k, sorted(v));
      return m;
    };
    const fromClient = byConnection(client);
    const answered = byConnection(complete);
    const fromBroker = byConnection(brokerSide.filter((b) => fromClient.has(`${b[6]}->${b[7]}`)));
    expect(fromClient.size).toBeGreaterThan(2);
    expect([...fromBroker.keys()].sort()).toEqual([...fromClient.keys()].sort());
    for (const [conn, exchanges] of fromBroker) {
      expect(withoutAll(exchanges, answered.get(conn) ?? []), `answered on ${conn}, unseen by the broker`).toBeDefined();
      expect(withoutAll(fromClient.get(conn)!, exchanges), `seen by the broker on ${conn} only`).toBeDefined();
    }
  });

  it('counts per topic and partition exactly what kafkajs and kcat produced, at the versions they used', { timeout: TIMEOUT_MS }, async () => {
    const script = `kafka:produce /args.topic == "${countTopic}"/ {
      @records[args.role, args.client_id, args.partition] = sum(args.records);
      @versions[args.role, args.client_id, args.version] = count();
    }`;
    const ids = { kafkajs: `proof-kafkajs-${tag}`, kcat: `proof-kcat-${tag}`, gzip: `proof-kcat-gzip-${tag}` };
    const kafkajsRequests: KafkajsRequest[] = [];
    const kcatVersions = new Map<string, number[]>();
    /** kcat with librdkafka's protocol log, whose "Sent ProduceRequest (vN" lines say the versions used. */
    const kcat = async (clientId: string, partition: number, count: number, extra: string[] = []): Promise<void> => {
      const args = ['-P', '-b', broker.bootstrap, '-t', countTopic, '-p', String(partition), '-X', `client.id=${clientId}`, '-d', 'protocol', ...extra];
      const input = Array.from({ length: count }, (_, i) => `m${i}`).join('\n') + '\n';
      const r = await runCommand('kcat', args, input);
      if (r.code !== 0) throw new Error(`kcat failed: ${r.stderr}`);
      const versions = [...r.stderr.matchAll(/Sent ProduceRequest \(v(\d+),/g)].map((m) => Number(m[1]));
      kcatVersions.set(clientId, [...(kcatVersions.get(clientId) ?? []), ...versions]);
    };
    const traced = await traceWhile(script, async () => {
      kafkajsRequests.push(...(await produceWithKafkajs({ bootstrap: broker.bootstrap, topic: countTopic, count: 20, partition: 0, clientId: ids.kafkajs, batch: 5 })));
      kafkajsRequests.push(...(await produceWithKafkajs({ bootstrap: broker.bootstrap, topic: countTopic, count: 9, partition: 1, clientId: ids.kafkajs })));
      await kcat(ids.kcat, 0, 15);
      await kcat(ids.kcat, 1, 25);
      // Compressed batches: their record count is in the batch header, outside the compressed part.
      await kcat(ids.gzip, 1, 7, ['-z', 'gzip']);
    });
    expect(traced.stderr).toBe('');
    expect(traced.code).toBe(0);
    const records = traced.maps['@records'] as Record<string, number>;
    const expected: Record<string, number> = {};
    for (const role of ['client', 'broker']) {
      Object.assign(expected, {
        [`${role},${ids.kafkajs},0`]: 20,
        [`${role},${ids.kafkajs},1`]: 9,
        [`${role},${ids.kcat},0`]: 15,
        [`${role},${ids.kcat},1`]: 25,
        [`${role},${ids.gzip},1`]: 7,
      });
    }
    // Nothing else produced to this run's topic: the map holds exactly both ends of each producer.
    expect(records).toEqual(expected);

    // Each Produce request (one partition each here) at the version its client says it sent, seen
    // from both ends.
    const versions = traced.maps['@versions'] as Record<string, number>;
    const sent = new Map<string, number>();
    const add = (clientId: string, v: number) => {
      for (const role of ['client', 'broker']) sent.set(`${role},${clientId},${v}`, (sent.get(`${role},${clientId},${v}`) ?? 0) + 1);
    };
    for (const r of kafkajsRequests.filter((x) => x.apiName === 'Produce')) add(r.clientId, r.apiVersion);
    for (const [clientId, vs] of kcatVersions) for (const v of vs) add(clientId, v);
    expect(kafkajsRequests.filter((x) => x.apiName === 'Produce')).toHaveLength(5);
    expect(kcatVersions.get(ids.kcat)!.length).toBeGreaterThanOrEqual(2);
    expect(versions).toEqual(Object.fromEntries(sent));
  });

  it('lists every catalogued probe and arg with -lv', () => {
    const catalogue = JSON.parse(readFileSync(join(ROOT, 'stdlib', 'kafka-probes.json'), 'utf8')) as {
      common: { name: string }[];
      probes: { name: string; args?: { name: string }[] }[];
    };
    const r = kafkatrace(['-lv', 'kafka:*']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const blocks = new Map<string, string[]>();
    let current = '';
    for (const line of r.stdout.split('\n')) {
      if (line.startsWith('kafka:')) blocks.set((current = line.trim()), []);
      else if (line.trim() !== '') blocks.get(current)?.push(line.trim().replace(/;$/, '').split(' ').at(-1)!);
    }
    expect([...blocks.keys()]).toEqual(catalogue.probes.map((p) => `kafka:${p.name}`));
    for (const p of catalogue.probes) {
      expect(blocks.get(`kafka:${p.name}`)).toEqual([...catalogue.common, ...(p.args ?? [])].map((a) => a.name));
    }
  });

  /** Runs `script` in process while kcat produces 10 records to each broker; its counters and maps. */
  async function traceInProcess(script: string) {
    const r = planScript(script, 'pushdown.ktr', { positional: [], unsafe: false, system: realSystem() });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    const maps = userMapsOf(r.compiled.plan);
    const output = createOutput({ format: 'text', write: () => undefined, writeError: () => undefined });
    const probes = startKafkaProbes(r.compiled.plan, { output, maps, onExit: () => undefined });
    try {
      expect(heldBpf().fds).toBeGreaterThan(0);
      await produceWithKcat({ bootstrap: broker.bootstrap, topic: countTopic, count: 10, partition: 0, clientId: `proof-push-${tag}` });
      await produceWithKcat({ bootstrap: other.bootstrap, topic: countTopic, count: 20, partition: 0, clientId: `proof-push-${tag}` });
    } finally {
      probes.stop();
    }
    return { counters: probes.counters(), records: maps.get('@', [0n]), requests: maps.get('@n', []) as bigint };
  }

  it('keeps another process\'s traffic out of the capture when every probe requires a port', { timeout: TIMEOUT_MS }, async () => {
    const port = Number(broker.bootstrap.split(':')[1]);
    const both = (predicate: string) =>
      traceInProcess(`kafka:produce /${predicate}/ { @[args.partition] = sum(args.records); } kafka:request /${predicate}/ { @n = count(); }`);
    // Pushed down: the capture copies only connections on the broker's port, so every exchange
    // decoded is one the predicate accepted (both ends of kcat's connections to it).
    const pushed = await both(`args.rport == ${port} || args.lport == ${port}`);
    expect(pushed.records).toBe(20n);
    expect(pushed.requests).toBeGreaterThan(0n);
    expect(pushed.counters.exchanges).toBe(Number(pushed.requests));
    // The same predicate written so that it cannot be pushed: the other broker's traffic is decoded too.
    const filtered = await both(`args.rport + 0 == ${port} || args.lport + 0 == ${port}`);
    expect(filtered.records).toBe(20n);
    expect(filtered.counters.exchanges).toBeGreaterThan(Number(filtered.requests));
  });

  it('keeps comm in user space, where a connection keeps the name of its first thread', { timeout: TIMEOUT_MS }, async () => {
    // librdkafka renames its bootstrap broker's thread (rdk:broker-1) to rdk:broker1 once it learns
    // the broker's id, and goes on producing on the same connection: every record belongs to a
    // connection first seen as rdk:broker-1, so `comm == "rdk:broker1"` matches none of them. A
    // per-thread kernel filter on rdk:broker1 would have reported all 30 (why comm is not pushed).
    const renamed = await traceInProcess(
      'kafka:produce /comm == "rdk:broker1"/ { @[args.partition] = sum(args.records); } kafka:request /comm == "rdk:broker1"/ { @n = count(); }');
    expect(renamed.records).toBeUndefined();
    expect(renamed.counters.exchanges).toBeGreaterThan(0);
    const first = await traceInProcess(
      'kafka:produce /comm == "rdk:broker-1" && args.role == "client"/ { @[args.partition] = sum(args.records); } kafka:request /comm == "rdk:broker-1"/ { @n = count(); }');
    expect(first.records).toBe(30n);
  });
});
