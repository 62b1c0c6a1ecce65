// Unknown values and decode health through the command line, against the mock broker: kcat's acks=0
// Produce requests fire with base_offset -1 (no response, so no offset), never 0, and with every
// record counted and nothing incomplete; acks=1 ones with real offsets; the kafka_decode record
// comes out at exit. kafkajs's keyed messages over several partitions (the reproduction):
// whatever the capture copies of the request, a partition fires either with its true figures or as
// incomplete with records -1, never as partition -1 or 0 records. Needs root, the addon, build/
// (node scripts/build-kafka.mjs) and a built dist/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { traceWhile } from '../helpers/cli-trace.js';
import { heldBpf } from '../helpers/bpf-held.js';
import { kafkajsClient, produceWithKcat } from '../helpers/kafka-clients.js';
import { canRun } from './runtime-helpers.js';

const run = canRun();

describe.runIf(run)('unknown values from the command line', () => {
  let broker: MockBroker;
  const topic = `unknown-${process.pid}`;
  const repro = `repro-${process.pid}`;

  beforeAll(async () => {
    broker = await startMockBroker({ brokers: 1, topics: { [topic]: 2, [repro]: 4 } });
  });

  afterAll(async () => {
    await broker?.stop();
    expect(heldBpf().fds).toBe(0);
  });

  it('acks=0 gives base_offset -1; the decoder health is printed at exit', { timeout: 120_000 }, async () => {
    const script = `kafka:produce /args.topic == "${topic}" && args.role == "client"/ {
      @records[args.acks, args.incomplete] = sum(args.records);
      @unknown_base[args.acks] = sum(args.base_offset < 0 ? 1 : 0);
      @firings[args.acks] = count();
    }`;
    const traced = await traceWhile(script, async () => {
      await produceWithKcat({ bootstrap: broker.bootstrap, topic, count: 40, partition: 0, config: { acks: '0', 'linger.ms': '5' } });
      await produceWithKcat({ bootstrap: broker.bootstrap, topic, count: 25, partition: 1, config: { acks: '1', 'linger.ms': '5' } });
    });
    expect(traced.code).toBe(0);
    // Every record counted, nothing incomplete; acks=0 firings all without an offset, acks=1 ones all with one.
    expect(traced.maps['@records']).toEqual({ '0,0': 40, '1,0': 25 });
    const firings = traced.maps['@firings'] as Record<string, number>;
    expect(traced.maps['@unknown_base']).toEqual({ '0': firings['0'], '1': 0 });
    // Other traffic on the machine is decoded too: only the record's shape and a lower bound are sure.
    expect(Object.keys(traced.decode!.frames_failed as object)).toContain('unknown_version');
    expect(traced.decode!.exchanges as number).toBeGreaterThan(2);
    for (const lost of ['frames_lost_ring_full', 'frames_lost_after_loss', 'frames_lost_too_many', 'capture_desyncs']) {
      expect(traced.decode![lost], lost).toBeTypeOf('number');
    }
  });

  it("kafkajs keyed messages over four partitions: each partition's firing is exact or says it is incomplete", { timeout: 120_000 }, async () => {
    const script = `kafka:produce /args.topic == "${repro}" && args.role == "client"/ {
      printf("P|%d|%d|%d|%d\\n", args.partition, args.records, args.base_offset, args.incomplete);
    }`;
    const client = kafkajsClient(broker.bootstrap, `repro-${process.pid}`);
    let ends: { partition: number; high: string }[] = [];
    const traced = await traceWhile(script, async () => {
      const producer = client.producer();
      await producer.connect();
      try {
        for (let i = 0; i < 2; i++) {
          await producer.send({ topic: repro, messages: Array.from({ length: 5 }, (_, j) => ({ key: `k${i}-${j}`, value: 'x'.repeat(100 + j) })) });
        }
      } finally {
        await producer.disconnect();
      }
      const admin = client.admin();
      await admin.connect();
      try {
        ends = await admin.fetchTopicOffsets(repro);
      } finally {
        await admin.disconnect();
      }
    });
    expect(traced.code).toBe(0);
    // The broker's log ends: the records each partition got (the topic starts empty).
    const truth = new Map(ends.map((e) => [e.partition, Number(e.high)]));
    expect([...truth.values()].reduce((a, b) => a + b, 0)).toBe(10);
    const firings = traced.lines.filter((l) => l.startsWith('P|')).map((l) => l.split('|').slice(1).map(Number) as [number, number, number, number]);
    expect(firings.length).toBeGreaterThan(0);
    const known = new Map<number, number>();
    for (const [partition, records, base, incomplete] of firings) {
      if (incomplete === 1) {
        expect(records).toBe(-1);
        continue;
      }
      expect(incomplete).toBe(0);
      expect(truth.has(partition)).toBe(true);
      expect(records).toBeGreaterThan(0);
      expect(base).toBeGreaterThanOrEqual(0);
      known.set(partition, (known.get(partition) ?? 0) + records);
    }
    for (const [partition, n] of known) expect(n).toBeLessThanOrEqual(truth.get(partition)!);
    // Nothing incomplete: every record is counted, in its partition.
    if (firings.every((f) => f[3] === 0)) expect(Object.fromEntries(known)).toEqual(Object.fromEntries([...truth].filter(([, n]) => n > 0)));
  });
});
