// What kafkatrace reports after its capture lost records, on a real Apache Kafka broker: the capture's
// ring is made tiny and the tracer's event loop held busy at times (as on a node too busy to drain
// it), while kafka-producer-perf-test writes batches of many records to three partitions in every
// codec. Every Produce partition the decoder reports complete (incomplete 0) must be exactly what the
// broker's log holds there, by Kafka's own kafka-dump-log: its base offset is the first offset of a
// batch in the log, and its records the count of the batches it wrote from there. Nothing is
// reported on a partition the topic lacks. Needs root, the addon, a built dist/, java and
// scripts/install-kafka.sh.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCapture } from '../../src/kafka/capture/loader.js';
import { KafkaDecoder, type ProbeArgs } from '../../src/kafka/index.js';
import { logBatches } from '../helpers/kafka-truth.js';
import { runProducerPerformance } from '../helpers/real-kafka-clients.js';
import { kafka3ClientsVersion, realKafkaProblem, runJavaPeer, startKafkaCluster, stopCluster, type KafkaCluster } from '../helpers/real-kafka.js';
import { canRun } from './runtime-helpers.js';

const missing = realKafkaProblem();
if (missing && process.env['CI'] === 'true') throw new Error(missing);
if (missing) console.log(`real-kafka e2e tests not run: ${missing}`);
const run = canRun() && missing === undefined;
const TIMEOUT_MS = 300_000;
const PARTITIONS = 3;
const CODECS = ['none', 'gzip', 'lz4', 'zstd'] as const;
const TOPIC = `loss-${process.pid}`;

describe.runIf(run)('after the capture lost records, on Apache Kafka', () => {
  let cluster: KafkaCluster | undefined;

  beforeAll(async () => {
    cluster = await startKafkaCluster({ brokers: 1 });
    const r = await runJavaPeer(kafka3ClientsVersion(), ['create', cluster.bootstrap, TOPIC, PARTITIONS, 1]);
    expect(r.code, r.stderr).toBe(0);
  }, TIMEOUT_MS);

  afterAll(() => stopCluster(cluster));

  it('reports each Produce partition it calls complete exactly as the log holds it', { timeout: TIMEOUT_MS }, async () => {
    const c = cluster!;
    const fired: ProbeArgs[] = [];
    const decoder = new KafkaDecoder({
      demand: { probes: ['produce'], args: ['topic', 'partition', 'records', 'base_offset', 'incomplete', 'status', 'error', 'role'] },
      onFiring: (_probe, args) => void fired.push(args),
    });
    const capture = startCapture({ ports: [c.nodes[0]!.port], ringBytes: 8192 }, (batch) => decoder.pushCapture(batch));
    // The tracer's loop held for 40 ms in every 100: the ring fills meanwhile.
    const busy = setInterval(() => {
      const until = performance.now() + 40;
      while (performance.now() < until);
    }, 100);
    let lost = 0;
    try {
      for (const codec of CODECS) {
        const p = await runProducerPerformance({
          bootstrap: c.bootstrap, topic: TOPIC, records: 30_000, recordSize: 512, clientId: `loss-${codec}`,
          props: { acks: 'all', 'compression.type': codec, 'batch.size': '65536', 'linger.ms': '5' },
        });
        expect(p.code, `${codec}: ${p.stderr}`).toBe(0);
        expect(p.records).toBe(30_000);
      }
    } finally {
      clearInterval(busy);
      decoder.pushCapture(capture.poll());
      const frames = capture.frames();
      lost = frames.out.ring + frames.in.ring;
      capture.close();
      decoder.closeAll();
    }
    // The test means something only if the ring overflowed.
    expect(lost).toBeGreaterThan(0);
    const mine = fired.filter((a) => a.topic === TOPIC);
    expect(mine.every((a) => typeof a.partition === 'bigint' && a.partition >= -1n && a.partition < BigInt(PARTITIONS))).toBe(true);
    const complete = mine.filter((a) => a.incomplete === 0n && a.status === 'complete' && a.error === 0n);
    // Both ends of the connections were traced: most partitions of most requests are seen whole.
    expect(complete.length).toBeGreaterThan(100);
    const node = c.nodes[0]!;
    let checked = 0;
    let logged = 0;
    for (let part = 0; part < PARTITIONS; part++) {
      const batches = await logBatches(join(node.dir, 'data', `${TOPIC}-${part}`));
      logged += batches.reduce((n, b) => n + b.count, 0);
      const at = new Map(batches.map((b, i) => [b.base, i]));
      for (const a of complete.filter((f) => f.partition === BigInt(part))) {
        const base = Number(a.base_offset);
        const first = at.get(base);
        // The first offset of a batch in the log...
        expect(first, `partition ${part}: base offset ${base} (${a.role}) begins no batch of the log`).toBeDefined();
        // ...and records spanning whole batches from there.
        let sum = 0;
        let i = first!;
        while (sum < Number(a.records) && i < batches.length) sum += batches[i++]!.count;
        expect(sum, `partition ${part}: ${a.records} records at ${base} (${a.role}) end inside a batch of the log`).toBe(Number(a.records));
        checked++;
      }
    }
    console.log(`${lost} frames lost to the full ring; ${mine.length} Produce partitions fired, ${complete.length} complete, each found in the log; ${mine.filter((a) => a.incomplete === 1n).length} incomplete`);
    expect(checked).toBe(complete.length);
    // The log's batches are every record the producers sent.
    expect(logged).toBe(30_000 * CODECS.length);
  });
});
