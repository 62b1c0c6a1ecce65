// kafka:rebalance, kafka:member and per-member join times end to end: kafkajs group members (each in
// its own process, so that the tracer's work never delays the times kafkajs measures) against the
// mock broker, with both the members and the broker traced: every rebalance is seen from several
// sides and must still fire once per generation. Needs root, the addon and build/ from
// node scripts/build-kafka.mjs.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import { realSystem } from '../../src/frontend/system.js';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { createOutput } from '../../src/runtime/output.js';
import { privilegeProblem } from '../../src/runtime/privileges.js';
import { startKafkaProbes } from '../../src/runtime/kafka-source.js';
import { userMapsOf } from '../../src/runtime/user-maps.js';
import { heldBpf } from '../helpers/bpf-held.js';
import { ROOT } from '../helpers/cli.js';

const problem = privilegeProblem();
if (problem && process.env['CI'] === 'true') throw new Error(problem);
if (problem) console.log(`kafka-rebalance e2e tests not run: ${problem}`);
const runnable = problem === undefined;

const TOPIC = 'ktr-rebalance';
const GROUP = `ktr-group-${process.pid}`;

/** Runs `source` on the kafka probes; `until` resolves once the printed lines satisfy a check. */
function trace(source: string) {
  const r = planScript(source, 'rebalance.ktr', { positional: [], unsafe: false, system: realSystem() });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  const plan = r.compiled.plan;
  let out = '';
  let err = '';
  const waiters: (() => void)[] = [];
  const output = createOutput({
    format: 'text',
    write: (s) => {
      out += s;
      for (const w of waiters) w();
    },
    writeError: (s) => void (err += s),
  });
  const probes = startKafkaProbes(plan, { output, maps: userMapsOf(plan), onExit: () => undefined });
  const lines = (): string[] => out.split('\n').filter((l) => l !== '');
  const until = (check: (lines: string[]) => boolean, what: string, timeoutMs = 30_000): Promise<void> =>
    new Promise((resolve, reject) => {
      if (check(lines())) return resolve();
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; output:\n${out}`)), timeoutMs);
      waiters.push(() => {
        if (!check(lines())) return;
        clearTimeout(timer);
        resolve();
      });
    });
  return { probes, lines, until, err: () => err };
}

/**
 * One kafkajs group member, printing each GROUP_JOIN as a JSON line; it leaves the group and exits
 * when its stdin closes. kafkajs loads (and V8 compiles) each request's code on first use, inside the
 * time it reports for a process's first join, where no wire event shows it: the member first joins
 * and leaves a group of its own to warm that code up. The mock cluster answers a
 * generation's SyncGroups as soon as the leader's arrives and refuses a follower's that comes later
 * (INVALID_REQUEST, which kafkajs does not retry): the leader assigns a little late so that
 * followers always sync first.
 */
const MEMBER = `
import { createRequire } from 'node:module';
import { join } from 'node:path';
const require = createRequire(join(process.cwd(), 'package.json'));
const kafkajs = require('kafkajs');
const { bootstrap, groupId, topic, clientId } = JSON.parse(process.env.KTR_MEMBER);
const lateRoundRobin = (config) => {
  const inner = kafkajs.PartitionAssigners.roundRobin(config);
  return {
    name: inner.name,
    version: inner.version,
    protocol: (s) => inner.protocol(s),
    assign: async (g) => {
      await new Promise((r) => setTimeout(r, 300));
      return inner.assign(g);
    },
  };
};
const start = async (group, onJoin) => {
  const kafka = new kafkajs.Kafka({ clientId, brokers: [bootstrap], logLevel: kafkajs.logLevel.NOTHING, retry: { retries: 5, initialRetryTime: 100 } });
  const consumer = kafka.consumer({ groupId: group, allowAutoTopicCreation: false, heartbeatInterval: 500, sessionTimeout: 10000, partitionAssigners: [lateRoundRobin] });
  consumer.on(consumer.events.GROUP_JOIN, onJoin);
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({ eachMessage: async () => undefined });
  return consumer;
};
let warmedUp;
const warm = new Promise((resolve) => (warmedUp = resolve));
const warmup = await start(groupId + '-warmup-' + clientId, () => warmedUp());
await warm;
await warmup.disconnect();
const consumer = await start(groupId, (e) => process.stdout.write(JSON.stringify({ memberId: e.payload.memberId, duration: e.payload.duration }) + '\\n'));
process.stdin.on('end', () => consumer.disconnect().then(() => process.exit(0)));
process.stdin.resume();
`;

interface Member {
  child: ChildProcess;
  /** GROUP_JOIN events: member id and kafkajs's join duration (ms). */
  joins: { memberId: string; duration: number }[];
  /** Resolves once the member has joined `n` times in all. */
  untilJoins(n: number, timeoutMs?: number): Promise<void>;
  /** Leaves the group; resolves when the process has exited. */
  stop(): Promise<void>;
}

function startMember(bootstrap: string, clientId: string): Member {
  const env = { ...process.env, KTR_MEMBER: JSON.stringify({ bootstrap, groupId: GROUP, topic: TOPIC, clientId }) };
  const child = spawn(process.execPath, ['--input-type=module', '-e', MEMBER], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
  const joins: Member['joins'] = [];
  const listeners: (() => void)[] = [];
  let stderr = '';
  let pending = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => void (stderr += s));
  child.stdout!.setEncoding('utf8').on('data', (s: string) => {
    pending += s;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const l of lines) joins.push(JSON.parse(l) as Member['joins'][number]);
    for (const l of listeners) l();
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const untilJoins = (n: number, timeoutMs = 60_000): Promise<void> =>
    new Promise((resolve, reject) => {
      if (joins.length >= n) return resolve();
      const timer = setTimeout(() => reject(new Error(`${clientId}: timed out waiting for join ${n}; stderr:\n${stderr}`)), timeoutMs);
      listeners.push(() => {
        if (joins.length < n) return;
        clearTimeout(timer);
        resolve();
      });
    });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
  return { child, joins, untilJoins, stop };
}

// Times are printed in microseconds: %d prints 32 bits.
const SCRIPT = `
kafka:rebalance /args.group == "${GROUP}"/ { printf("R %d %d %d %d\\n", args.generation, args.members, args.complete, args.duration / 1000); }
kafka:member /args.group == "${GROUP}"/ { printf("M %s %s\\n", args.member, args.event); }
kafka:syncgroup /args.group == "${GROUP}" && args.role == "client" && args.error == 0/ { printf("S %s %d %d\\n", args.member, args.join_time / 1000, args.join_to_sync / 1000); }
`;

describe.runIf(runnable)('kafka:rebalance', () => {
  let broker: MockBroker;

  beforeAll(async () => {
    broker = await startMockBroker({ brokers: 1, topics: { [TOPIC]: 2 } });
  });

  afterAll(async () => {
    await broker?.stop();
    expect(heldBpf().fds).toBe(0);
  });

  it('one rebalance per generation as a member joins and one leaves; each member its own join time', async () => {
    const t = trace(SCRIPT);
    expect(heldBpf().fds).toBeGreaterThan(0);
    const members: Member[] = [];
    try {
      const first = startMember(broker.bootstrap, 'ktr-first');
      members.push(first);
      await first.untilJoins(1);
      const second = startMember(broker.bootstrap, 'ktr-second');
      members.push(second);
      await Promise.all([second.untilJoins(1), first.untilJoins(2)]);
      await second.stop();
      await first.untilJoins(3);
      await t.until((lines) => lines.filter((l) => l.startsWith('R ')).length >= 3 && lines.filter((l) => l.startsWith('S ')).length >= 4, 'three rebalances');

      const rebalances = t.lines().filter((l) => l.startsWith('R ')).map((l) => l.split(' ').slice(1).map(Number));
      expect(rebalances.map(([, count, complete]) => [count, complete])).toEqual([[1, 1], [2, 1], [1, 1]]);
      const generations = rebalances.map(([g]) => g!);
      expect(generations[1]).toBeGreaterThan(generations[0]!);
      expect(generations[2]).toBeGreaterThan(generations[1]!);
      for (const r of rebalances) expect(r[3]).toBeGreaterThan(0);

      const events = t.lines().filter((l) => l.startsWith('M ')).map((l) => l.slice(2));
      const firstId = first.joins[0]!.memberId;
      const secondId = second.joins[0]!.memberId;
      expect(events).toContain(`${firstId} join`);
      expect(events).toContain(`${secondId} join`);
      expect(events.filter((e) => e === `${secondId} leave`)).toHaveLength(1);
      expect(events).not.toContain(`${secondId} timeout`);

      // Each GROUP_JOIN kafkajs reports for a member matches that member's SyncGroup, in order. kafkajs
      // times its coordinator lookup too: join_time does, join_to_sync (from the JoinGroup) does not.
      const syncs = t.lines().filter((l) => l.startsWith('S ')).map((l) => l.split(' '));
      for (const m of [first, second]) {
        const ours = syncs.filter(([, id]) => id === m.joins[0]!.memberId).map(([, , joinTime, joinToSync]) => [Number(joinTime) / 1e3, Number(joinToSync) / 1e3] as const);
        expect(ours).toHaveLength(m.joins.length);
        m.joins.forEach((j, i) => {
          const [joinTime, joinToSync] = ours[i]!;
          expect(Math.abs(joinTime - j.duration), `${j.memberId} join ${i}: join_time ${joinTime} ms, kafkajs ${j.duration} ms`).toBeLessThanOrEqual(10);
          expect(joinToSync).toBeGreaterThan(0);
          expect(joinToSync).toBeLessThanOrEqual(joinTime);
        });
      }
      expect(t.err()).toBe('');
      expect(t.probes.counters().actionErrors).toBe(0);
    } finally {
      t.probes.stop();
      await Promise.all(members.map((m) => m.stop()));
    }
    expect(heldBpf().fds).toBe(0);
  }, 180_000);
});
