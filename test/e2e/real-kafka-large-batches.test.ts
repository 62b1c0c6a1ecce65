// Batches of close to a megabyte on a real Apache Kafka broker, in every codec Kafka has: Kafka's
// producer load tool (kafka-producer-perf-test) writes records of 8 KiB with a batch size of ~1 MB and
// a long linger, so that each Produce request carries several batches of ~100 records per partition,
// and kafka-consumer-perf-test reads them back in Fetch responses of several megabytes (sent by the
// broker with sendfile(2)). Records per partition produced and fetched, on the client's and the
// broker's side, equal the broker's log end offsets (kafka-get-offsets) and the tools' own totals.
// Needs root, the addon, a built dist/, java and scripts/install-kafka.sh.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceWhile } from '../helpers/cli-trace.js';
import { logEndOffsets } from '../helpers/kafka-truth.js';
import { runConsumerPerformance, runProducerPerformance } from '../helpers/real-kafka-clients.js';
import { realKafkaProblem, runJavaPeer, kafka3ClientsVersion, startKafkaCluster, stopCluster, type KafkaCluster } from '../helpers/real-kafka.js';
import { canRun } from './runtime-helpers.js';

const missing = realKafkaProblem();
if (missing && process.env['CI'] === 'true') throw new Error(missing);
if (missing) console.log(`real-kafka e2e tests not run: ${missing}`);
const run = canRun() && missing === undefined;
const TIMEOUT_MS = 300_000;
const CODECS = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;
const PARTITIONS = 3;
const RECORDS = 1200;
const RECORD_BYTES = 8192;
/** Under the broker's default message.max.bytes (1048588): a full batch is still accepted uncompressed. */
const BATCH_BYTES = 1_000_000;
const TOPIC = (codec: string) => `large-${codec}-${process.pid}`;

describe.runIf(run)('batches of close to a megabyte, in every codec, on Apache Kafka', () => {
  let cluster: KafkaCluster | undefined;

  beforeAll(async () => {
    cluster = await startKafkaCluster({ brokers: 1 });
    for (const codec of CODECS) {
      const r = await runJavaPeer(kafka3ClientsVersion(), ['create', cluster.bootstrap, TOPIC(codec), PARTITIONS, 1]);
      expect(r.code, r.stderr).toBe(0);
    }
  }, TIMEOUT_MS);

  afterAll(() => stopCluster(cluster));

  it('counts every record of every batch on both sides, as the log end offsets and the tools do', { timeout: TIMEOUT_MS }, async () => {
    const c = cluster!;
    const topics = CODECS.map(TOPIC);
    const named = `(${topics.map((t) => `args.topic == "${t}"`).join(' || ')})`;
    const script = `
      kafka:produce /${named} && args.records >= 0/ { @produced[args.role, args.topic, args.partition] = sum(args.records); @batches[args.role, args.topic] = max(args.bytes); }
      kafka:fetch /${named} && args.replica == -1 && args.records >= 0/ { @fetched[args.role, args.topic, args.partition] = sum(args.records); @fetch_bytes[args.role, args.topic] = max(args.bytes); }
      kafka:produce,kafka:fetch /${named} && args.records < 0/ { @unknown[probe, args.role, args.topic, args.partition] = count(); }`;
    const told: Record<string, { produced: number; consumed: number }> = {};
    const traced = await traceWhile(script, async () => {
      for (const codec of CODECS) {
        const topic = TOPIC(codec);
        const p = await runProducerPerformance({
          bootstrap: c.bootstrap, topic, records: RECORDS, recordSize: RECORD_BYTES, clientId: `large-producer-${codec}`,
          props: { acks: 'all', 'compression.type': codec, 'batch.size': String(BATCH_BYTES), 'linger.ms': '200', 'max.request.size': String(4 * BATCH_BYTES) },
        });
        expect(p.code, `${codec}: ${p.stderr}`).toBe(0);
        const f = await runConsumerPerformance({ bootstrap: c.bootstrap, topic, records: RECORDS, group: `large-${codec}`, clientId: `large-consumer-${codec}` });
        expect(f.code, `${codec}: ${f.stderr}`).toBe(0);
        told[codec] = { produced: p.records, consumed: f.records };
      }
    });
    expect(traced.stderr).toBe('');
    expect(traced.code).toBe(0);
    const ends = await logEndOffsets(c, 'large-.*');
    const health = `decoder ${JSON.stringify(traced.decode)}; events lost ${traced.lost}`;
    expect(traced.maps['@unknown'], health).toBeUndefined();
    const produced = traced.maps['@produced'] as Record<string, number>;
    const fetched = traced.maps['@fetched'] as Record<string, number>;
    for (const codec of CODECS) {
      const topic = TOPIC(codec);
      expect(told[codec], codec).toEqual({ produced: RECORDS, consumed: RECORDS });
      const truth: Record<string, number> = {};
      for (let p = 0; p < PARTITIONS; p++) truth[String(p)] = ends.get(`${topic},${p}`) ?? 0;
      expect(Object.values(truth).reduce((a, b) => a + b, 0), codec).toBe(RECORDS);
      for (const role of ['client', 'broker']) {
        const of = (m: Record<string, number>) => Object.fromEntries(Object.keys(truth).map((p) => [p, m[`${role},${topic},${p}`] ?? 0]));
        expect(of(produced), `${codec} produced, ${role} side; ${health}`).toEqual(truth);
        expect(of(fetched), `${codec} fetched, ${role} side; ${health}`).toEqual(truth);
      }
      // The batches were as large as asked: a partition's records field in one request near a megabyte
      // uncompressed; Fetch responses carried megabytes of one partition's data.
      const batchBytes = (traced.maps['@batches'] as Record<string, number>)[`client,${topic}`]!;
      console.log(`${codec}: ${RECORDS} records; largest records field produced ${batchBytes} bytes, fetched ${(traced.maps['@fetch_bytes'] as Record<string, number>)[`client,${topic}`]} bytes`);
      if (codec === 'none') expect(batchBytes).toBeGreaterThan(BATCH_BYTES / 2);
      expect((traced.maps['@fetch_bytes'] as Record<string, number>)[`client,${topic}`]).toBeGreaterThan(codec === 'none' ? BATCH_BYTES / 2 : 0);
    }
  });
});
