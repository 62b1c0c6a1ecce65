// The JavaScript clients, kcat and Kafka's own load tools as peers of the Apache Kafka broker, with
// the same account as the Java, Python and Go peers (test/helpers/real-kafka.ts): a PeerRun whose
// events are {"event":"client",...} first, a "delivery" line per record (topic, partition, offset,
// bytes) and {"event":"produced","acked":...,"failed":...}, taken from each client's own reports.
// kafkajs and @confluentinc/kafka-javascript run inside the test's own process (pid: process.pid);
// kcat and the load tools are child processes, awaited or killed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import kafkajs from 'kafkajs';
import { ROOT } from './cli.js';
import { confluentLibrdkafkaVersion, produceMessagesWithConfluent } from './confluent-client.js';
import { kafkajsClient, runCommand } from './kafka-clients.js';
import type { PeerEvent, PeerRun } from './real-kafka.js';
import { rng } from './seeded.js';

const { CompressionTypes } = kafkajs;
const KAFKA_LIBS = join(ROOT, 'build', 'kafka', 'libs');

/** What a producer peer is asked for: COUNT seeded records to seeded partitions of TOPIC as CLIENTID. */
export interface SeededProduce {
  bootstrap: string;
  topic: string;
  partitions: number;
  count: number;
  seed: number;
  clientId: string;
}

interface SeededRecord {
  partition: number;
  key: string;
  value: Buffer;
}

/** The peers' workload: record i keyed "k<i>", 1..1000 random bytes, to a random partition. */
export function seededRecords(opts: Pick<SeededProduce, 'partitions' | 'count' | 'seed'>): SeededRecord[] {
  const next = rng(opts.seed);
  return Array.from({ length: opts.count }, (_, i) => {
    const value = Buffer.alloc(1 + Math.floor(next() * 1000));
    for (let b = 0; b < value.length; b++) value[b] = Math.floor(next() * 256);
    return { partition: Math.floor(next() * opts.partitions), key: `k${i}`, value };
  });
}

/** A package's version as its package.json in node_modules says. */
export function nodePackageVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The librdkafka kcat runs on, as `kcat -V` reports it ("2.0.2"). */
export function kcatLibrdkafkaVersion(): string {
  const out = spawnSync('kcat', ['-V'], { encoding: 'utf8' }).stdout;
  const m = /librdkafka (\S+)/.exec(out);
  if (!m) throw new Error(`kcat -V names no librdkafka: ${out}`);
  return m[1]!;
}

function produced(events: PeerEvent[], failed: number): PeerEvent[] {
  const acked = events.filter((e) => e.event === 'delivery').length;
  return [...events, { event: 'produced', acked, failed }];
}

/**
 * kafkajs's idempotent producer, batches of up to 50 records a send(); each record's offset is its
 * partition's base offset in the send's answer plus its place among that partition's records.
 */
export async function produceWithKafkajsPeer(opts: SeededProduce): Promise<PeerRun> {
  const events: PeerEvent[] = [{ event: 'client', name: 'kafkajs', version: nodePackageVersion('kafkajs') }];
  const producer = kafkajsClient(opts.bootstrap, opts.clientId).producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  const records = seededRecords(opts);
  let failed = 0;
  await producer.connect();
  try {
    for (let start = 0; start < records.length; start += 50) {
      const batch = records.slice(start, start + 50);
      try {
        const answers = await producer.send({
          topic: opts.topic,
          compression: CompressionTypes.None,
          messages: batch.map((r) => ({ partition: r.partition, key: r.key, value: r.value })),
        });
        const base = new Map(answers.map((a) => [a.partition, BigInt(a.baseOffset ?? '-1')]));
        const placed = new Map<number, bigint>();
        for (const r of batch) {
          const i = placed.get(r.partition) ?? 0n;
          placed.set(r.partition, i + 1n);
          events.push({ event: 'delivery', topic: opts.topic, partition: r.partition, offset: Number(base.get(r.partition)! + i), bytes: r.value.length });
        }
      } catch (e) {
        failed += batch.length;
        for (const r of batch) events.push({ event: 'delivery', topic: opts.topic, partition: r.partition, error: (e as Error).message });
      }
    }
  } finally {
    await producer.disconnect();
  }
  return { code: 0, events: produced(events, failed), stderr: '', pid: process.pid };
}

/** @confluentinc/kafka-javascript's idempotent producer (its node-rdkafka API), a delivery report per record. */
export async function produceWithConfluentPeer(opts: SeededProduce): Promise<PeerRun> {
  const records = seededRecords(opts);
  const r = await produceMessagesWithConfluent({
    bootstrap: opts.bootstrap,
    clientId: opts.clientId,
    messages: records.map((x) => ({ topic: opts.topic, partition: x.partition, key: x.key, value: x.value })),
    config: { 'enable.idempotence': true, 'linger.ms': 5 },
  });
  const events: PeerEvent[] = [
    { event: 'client', name: '@confluentinc/kafka-javascript', version: nodePackageVersion('@confluentinc/kafka-javascript'), librdkafka: confluentLibrdkafkaVersion() },
    ...r.reports.map((d): PeerEvent => ({ event: 'delivery', topic: d.topic, partition: d.partition, offset: d.offset })),
  ];
  return { code: 0, events: produced(events, 0), stderr: '', pid: process.pid };
}

/**
 * kcat (librdkafka) producing COUNT records "k<i>:<value>" keyed by its partitioner, to its end. kcat
 * reports no deliveries: its account is the client line and its exit status.
 */
export async function produceWithKcatPeer(opts: Omit<SeededProduce, 'partitions' | 'seed'>): Promise<PeerRun> {
  const lines = Array.from({ length: opts.count }, (_, i) => `k${i}:m${i}`);
  const r = await runCommand('kcat', ['-P', '-b', opts.bootstrap, '-t', opts.topic, '-K', ':', '-X', `client.id=${opts.clientId}`], lines.join('\n') + '\n');
  return { code: r.code, events: [{ event: 'client', name: 'kcat', librdkafka: kcatLibrdkafkaVersion() }], stderr: r.stderr, pid: r.pid };
}

/** What a Kafka load tool printed last: its totals. */
export interface PerfRun {
  code: number | null;
  pid: number;
  stderr: string;
  /** Records sent (producer) or consumed (consumer). */
  records: number;
  /** MB/s as the tool reports it (MB of 2^20 bytes). */
  mbPerSec: number;
}

/**
 * Kafka's producer load tool (kafka-producer-perf-test, org.apache.kafka.tools.ProducerPerformance)
 * at full speed: RECORDS records of RECORDSIZE bytes, as CLIENTID, with `props` for the producer.
 */
export async function runProducerPerformance(opts: {
  bootstrap: string;
  topic: string;
  records: number;
  recordSize: number;
  clientId: string;
  props?: Record<string, string>;
  timeoutMs?: number;
}): Promise<PerfRun> {
  const props = Object.entries({ 'client.id': opts.clientId, ...opts.props }).map(([k, v]) => `${k}=${v}`);
  const r = await runCommand('java', ['-Xmx256m', '-cp', `${KAFKA_LIBS}/*`, 'org.apache.kafka.tools.ProducerPerformance',
    '--bootstrap-server', opts.bootstrap, '--topic', opts.topic, '--num-records', String(opts.records),
    '--record-size', String(opts.recordSize), '--throughput', '-1', '--command-property', ...props], '', opts.timeoutMs ?? 120_000);
  // "N records sent, R records/sec (M MB/sec), ..." is the last line.
  const m = /(\d+) records sent, [\d.]+ records\/sec \(([\d.]+) MB\/sec\)[^\n]*\n?$/.exec(r.stdout);
  return { code: r.code, pid: r.pid, stderr: r.stderr, records: m ? Number(m[1]) : -1, mbPerSec: m ? Number(m[2]) : -1 };
}

/**
 * Kafka's consumer load tool (kafka-consumer-perf-test, org.apache.kafka.tools.ConsumerPerformance):
 * RECORDS records of TOPIC in group GROUP, as CLIENTID.
 */
export async function runConsumerPerformance(opts: {
  bootstrap: string;
  topic: string;
  records: number;
  group: string;
  clientId: string;
  timeoutMs?: number;
}): Promise<PerfRun> {
  const r = await runCommand('java', ['-Xmx256m', '-cp', `${KAFKA_LIBS}/*`, 'org.apache.kafka.tools.ConsumerPerformance',
    '--bootstrap-server', opts.bootstrap, '--topic', opts.topic, '--num-records', String(opts.records), '--group', opts.group,
    '--timeout', '30000', '--hide-header', '--command-property', `client.id=${opts.clientId}`, 'auto.offset.reset=earliest'], '', opts.timeoutMs ?? 120_000);
  // One line: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, ...
  const line = r.stdout.trim().split('\n').at(-1) ?? '';
  const cols = line.split(',').map((c) => c.trim());
  const ok = cols.length >= 6;
  return { code: r.code, pid: r.pid, stderr: r.stderr, records: ok ? Number(cols[4]) : -1, mbPerSec: ok ? Number(cols[3]) : -1 };
}
