// kafka-lag end to end: the stdlib tool's kafka probes trace the mock broker while a kafkajs consumer
// group member consumes, is paused while a producer goes on, and is resumed. The lag kafkatrace
// computes from the wire is compared with what the kafkajs admin API computes (topic end offsets
// minus the group's committed offsets) at a moment when nothing moves, and must return to 0.
// Needs root, the addon and build/ from node scripts/build-kafka.mjs.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import { realSystem } from '../../src/frontend/system.js';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { createOutput } from '../../src/runtime/output.js';
import { privilegeProblem } from '../../src/runtime/privileges.js';
import { startKafkaProbes } from '../../src/runtime/kafka-source.js';
import { userMapsOf } from '../../src/runtime/user-maps.js';
import { ROOT } from '../helpers/cli.js';
import { kafkajsClient, startKafkajsConsumer, type GroupMember } from '../helpers/kafka-clients.js';
import { heldBpf } from '../helpers/bpf-held.js';

const problem = privilegeProblem();
if (problem && process.env['CI'] === 'true') throw new Error(problem);
if (problem) console.log(`kafka-lag e2e tests not run: ${problem}`);
const runnable = problem === undefined;

const TOPIC = 'ktl-orders';
const GROUP = 'ktl-billing';
const PARTITIONS = [0, 1, 2];

/** Resolves when `check` holds, polling the maps the capture fills as events arrive; rejects after `timeoutMs`. */
async function until(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe.runIf(runnable)('kafka-lag', () => {
  let broker: MockBroker;

  beforeAll(async () => {
    broker = await startMockBroker({ brokers: 1, topics: { [TOPIC]: PARTITIONS.length } });
  });

  afterAll(async () => {
    await broker?.stop();
    expect(heldBpf().progs.size).toBe(0);
  });

  it('reports the lag the kafkajs admin API computes while a consumer is paused, and 0 once it caught up', async () => {
    const r = planScript(readFileSync(join(ROOT, 'stdlib', 'kafka-lag.ktr'), 'utf8'), 'kafka-lag.ktr', { positional: [], unsafe: false, system: realSystem() });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    const maps = userMapsOf(r.compiled.plan);
    let out = '';
    let err = '';
    const output = createOutput({ format: 'text', write: (s) => void (out += s), writeError: (s) => void (err += s) });
    const probes = startKafkaProbes(r.compiled.plan, { output, maps, onExit: () => undefined, pid: broker.pid });
    expect(heldBpf().progs.size).toBeGreaterThan(0);

    const kafka = kafkajsClient(broker.bootstrap, 'ktl-admin');
    const admin = kafka.admin();
    const producer = kafkajsClient(broker.bootstrap, 'ktl-producer').producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    let member: GroupMember | undefined;
    const send = async (perPartition: number[]): Promise<void> => {
      const messages = perPartition.flatMap((n, partition) => Array.from({ length: n }, (_, i) => ({ partition, value: `p${partition}-${i}` })));
      await producer.send({ topic: TOPIC, messages });
    };
    const lagOf = (map: string, p: number): bigint | undefined => maps.get(map, [GROUP, TOPIC, BigInt(p)]) as bigint | undefined;
    const lags = (map: string): (bigint | undefined)[] => PARTITIONS.map((p) => lagOf(map, p));
    /** What the kafkajs admin API says: topic end offset minus the group's committed offset, per partition. */
    const adminLag = async (): Promise<bigint[]> => {
      const ends = await admin.fetchTopicOffsets(TOPIC);
      const [committed] = await admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] });
      return PARTITIONS.map((p) => {
        const end = BigInt(ends.find((e) => e.partition === p)!.high);
        const offset = BigInt(committed!.partitions.find((c) => c.partition === p)!.offset);
        return end - (offset < 0n ? 0n : offset);
      });
    };

    try {
      await admin.connect();
      await producer.connect();
      await send([5, 8, 3]);
      member = await startKafkajsConsumer({ bootstrap: broker.bootstrap, topic: TOPIC, groupId: GROUP, clientId: 'ktl-consumer' });
      await member.waitForMessages(16, 60_000);
      await until('the first commits', () => lags('@committed_lag').every((l) => l === 0n));

      member.consumer.pause([{ topic: TOPIC }]);
      const during = [7, 2, 11];
      await send(during);
      const sentAt = Date.now();
      // Produce responses move the log end; the consumer commits nothing and fetches no more once
      // its long poll in flight came back with the new records (which kafkajs drops while paused).
      const expected = during.map(BigInt).join();
      await until('the produced lag', () => lags('@committed_lag').join() === expected && lags('@lag').join() === expected);
      const seen = lags('@committed_lag');
      expect(await adminLag()).toEqual(seen);
      // The admin's own ListOffsets and OffsetFetch, traced too, changed nothing.
      expect(lags('@committed_lag')).toEqual(seen);
      expect(member.messages).toHaveLength(16);

      const resumedAt = Date.now();
      member.consumer.resume([{ topic: TOPIC }]);
      await member.waitForMessages(16 + 20, 60_000);
      await until('caught up', () => [...lags('@committed_lag'), ...lags('@lag')].every((l) => l === 0n));
      expect(await adminLag()).toEqual([0n, 0n, 0n]);

      // The records produced during the pause were asked for again after the resume.
      for (const p of PARTITIONS) {
        const ms = maps.get('@max_time_lag_ms', [GROUP, TOPIC, BigInt(p)]) as bigint;
        expect(ms).toBeGreaterThanOrEqual(BigInt(resumedAt - sentAt - 1));
      }
    } finally {
      await member?.stop();
      await producer.disconnect();
      await admin.disconnect();
      probes.stop();
    }
    expect(err).toBe('');
    expect(probes.counters().actionErrors).toBe(0);
    // The tool's lines: one per change of a group's lag, in its table columns.
    expect(out).toMatch(new RegExp(`^${GROUP} +${TOPIC} +2 +\\d+ +\\d+ +11 +\\d+ +11$`, 'm'));
    expect(heldBpf().progs.size).toBe(0);
  }, 120_000);
});
