// kafka:* probes on the Apache Kafka broker (KRaft, the release scripts/install-kafka.sh installs) with
// the Java, Python, Go and JavaScript clients, through the command line (`-f json`), tracing the broker's JVM and
// the client at once. Truth comes from Kafka: the producers' own delivery reports and the broker's log
// end offsets (the Java admin client). One node, then three with replication factor 3. Produce v13
// and Fetch v13+ name topics by id (kafka-clients 4.x and franz-go send Produce v13): the names come
// from the Metadata answers seen, on the client's side and on the broker's.
// Needs root, the addon, a built dist/, java and scripts/install-kafka.sh.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceWhile } from '../helpers/cli-trace.js';
import { deliveredPerPartition, proveFetch } from '../helpers/real-kafka-fetch.js';
import {
  stopCluster,
  kafka3ClientsVersion,
  kafkaVersion,
  realKafkaProblem,
  runGoPeer,
  runJavaPeer,
  runPythonPeer,
  startKafkaCluster,
  type KafkaCluster,
  type PeerEvent,
  type PeerRun,
  type PythonClient,
} from '../helpers/real-kafka.js';
import { produceWithConfluentPeer, produceWithKafkajsPeer, type SeededProduce } from '../helpers/real-kafka-clients.js';
import { canRun } from './runtime-helpers.js';

const missing = realKafkaProblem();
if (missing && process.env['CI'] === 'true') throw new Error(missing);
if (missing) console.log(`real-kafka e2e tests not run: ${missing}`);
const run = canRun() && missing === undefined;
const TIMEOUT_MS = 180_000;
/** Seeded workloads: the seed is in every failure message, and SEED=... replays one. */
const SEED = Number(process.env['SEED'] ?? Date.now() % 1_000_000_007);

/** Offsets per partition as delivered, sorted. */
function offsetsPerPartition(events: PeerEvent[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const e of events.filter((x) => x.event === 'delivery')) (out[String(e['partition'])] ??= []).push(Number(e['offset']));
  for (const list of Object.values(out)) list.sort((a, b) => a - b);
  return out;
}

/** The broker's log end offset per partition. */
async function endOffsets(version: string, bootstrap: string, topic: string): Promise<Record<string, number>> {
  const r = await runJavaPeer(version, ['offsets', bootstrap, topic]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return Object.fromEntries(r.events.filter((e) => e.event === 'offset').map((e) => [String(e['partition']), Number(e['end'])]));
}

/** A producer peer: produces COUNT seeded records to PARTITIONS partitions of TOPIC as client CLIENTID. */
interface Producer {
  /** Its first report line (client name and version). */
  client: PeerEvent;
  /** The Produce version it sends to this broker. */
  version: number;
  run(args: (string | number)[]): Promise<PeerRun>;
}

const javaProducer = (): Producer => ({
  client: { event: 'client', version: kafka3ClientsVersion() },
  version: 11,
  run: (args) => runJavaPeer(kafka3ClientsVersion(), ['produce', ...args]),
});

const pythonProducer = (name: PythonClient, version: number): Producer => ({
  client: { event: 'client', name },
  version,
  run: (args) => runPythonPeer(name, ['produce', ...args]),
});

/** franz-go, its versions capped at Kafka 3.9's (Produce v11) when `cap` is given. */
const goProducer = (version: number, cap?: string): Producer => ({
  client: { event: 'client', name: 'franz-go' },
  version,
  run: (args) => runGoPeer(['produce', ...args, ...(cap === undefined ? [] : [cap])]),
});

/** sarama, at the newest versions it knows (Kafka 4.0's). */
const saramaProducer = (version: number): Producer => ({
  client: { event: 'client', name: 'sarama' },
  version,
  run: (args) => runGoPeer(['sarama-produce', ...args]),
});

/** A JavaScript client in the test's own process, given the peers' arguments. */
const nodeProducer = (name: string, version: number, produce: (o: SeededProduce) => Promise<PeerRun>): Producer => ({
  client: { event: 'client', name },
  version,
  run: ([bootstrap, topic, partitions, count, seed, clientId]) =>
    produce({ bootstrap: String(bootstrap), topic: String(topic), partitions: Number(partitions), count: Number(count), seed: Number(seed), clientId: String(clientId) }),
});

const java4Producer = (): Producer => ({
  client: { event: 'client', version: kafkaVersion() },
  version: 13,
  run: (args) => runJavaPeer(kafkaVersion(), ['produce', ...args]),
});

/**
 * Creates a topic (every replica in sync), produces `count` records to seeded random partitions with
 * `producer` while kafkatrace traces both sides, and checks kafkatrace's records per role and
 * partition against the delivery reports and the broker's log end offsets.
 */
async function proveProduce(
  cluster: KafkaCluster,
  producer: Producer,
  opts: { topic: string; partitions: number; replicas: number; count: number },
): Promise<void> {
  const v3 = kafka3ClientsVersion();
  const { topic, partitions, replicas, count } = opts;
  const created = await runJavaPeer(v3, ['create', cluster.bootstrap, topic, partitions, replicas]);
  expect(created.stderr).toBe('');
  expect(created.code).toBe(0);
  const clientId = `producer-${topic}`;
  const script = `
    kafka:produce /args.topic == "${topic}"/ { @records[args.role, args.partition] = sum(args.records); }
    kafka:request /args.api_key == 0 && args.client_id == "${clientId}"/ { @versions[args.role, args.version, args.status] = count(); }`;
  let produced: PeerEvent[] = [];
  const traced = await traceWhile(script, async () => {
    const r = await producer.run([cluster.bootstrap, topic, partitions, count, SEED, clientId]);
    expect(r.stderr, `seed ${SEED}`).toBe('');
    expect(r.code).toBe(0);
    produced = r.events;
  });
  expect(traced.stderr).toBe('');
  expect(traced.code).toBe(0);
  expect(produced[0]).toMatchObject(producer.client);
  expect(produced.at(-1), `seed ${SEED}`).toEqual({ event: 'produced', acked: count, failed: 0 });

  // Each partition's records are at offsets 0..n-1, once each (idempotence: no duplicates), and the
  // broker's log ends there.
  const delivered = deliveredPerPartition(produced);
  expect(Object.keys(delivered).length, `seed ${SEED}`).toBeGreaterThan(1);
  const offsets = offsetsPerPartition(produced);
  for (const [p, n] of Object.entries(delivered)) expect(offsets[p], `seed ${SEED}`).toEqual(Array.from({ length: n }, (_, i) => i));
  const ends = await endOffsets(v3, cluster.bootstrap, topic);
  const nonEmptyEnds = Object.fromEntries(Object.entries(ends).filter(([, end]) => end > 0));
  expect(nonEmptyEnds, `seed ${SEED}`).toEqual(delivered);

  // kafkatrace: the same records per partition from the client's side and from the leaders' side.
  const expected: Record<string, number> = {};
  for (const role of ['client', 'broker']) for (const [p, n] of Object.entries(delivered)) expected[`${role},${p}`] = n;
  expect(traced.maps['@records'], `seed ${SEED}`).toEqual(expected);
  // One Produce version (the newest both the client and the broker know), each request answered.
  const versions = traced.maps['@versions'] as Record<string, number>;
  const v = producer.version;
  expect(Object.keys(versions).sort()).toEqual([`broker,${v},complete`, `client,${v},complete`]);
  expect(versions[`client,${v},complete`]).toBe(versions[`broker,${v},complete`]);
}


describe.runIf(run)('kafka probes on an Apache Kafka broker', () => {
  let cluster: KafkaCluster;

  beforeAll(async () => {
    cluster = await startKafkaCluster({ brokers: 1 });
  }, TIMEOUT_MS);

  afterAll(() => stopCluster(cluster));

  it('records per partition of an idempotent Java producer (Produce v11) equal its delivery reports and the log end offsets', { timeout: TIMEOUT_MS }, async () => {
    await proveProduce(cluster, javaProducer(), { topic: `real-one-${process.pid}`, partitions: 6, replicas: 1, count: 500 });
  });

  it.each([
    ['confluent-kafka', 10],
    ['kafka-python', 9],
  ] as [PythonClient, number][])('records per partition of a %s producer (Produce v%d) equal its delivery reports and the log end offsets', { timeout: TIMEOUT_MS }, async (name, version) => {
    await proveProduce(cluster, pythonProducer(name, version), { topic: `real-${name}-${process.pid}`, partitions: 5, replicas: 1, count: 400 });
  });

  it('records per partition of a franz-go producer capped at Kafka 3.9 (Produce v11) equal its delivery reports and the log end offsets', { timeout: TIMEOUT_MS }, async () => {
    await proveProduce(cluster, goProducer(11, '3.9.0'), { topic: `real-franz-go-${process.pid}`, partitions: 5, replicas: 1, count: 400 });
  });

  it.each([
    ['sarama', () => saramaProducer(10)],
    ['kafkajs', () => nodeProducer('kafkajs', 7, produceWithKafkajsPeer)],
    ['@confluentinc/kafka-javascript', () => nodeProducer('@confluentinc/kafka-javascript', 10, produceWithConfluentPeer)],
  ] as [string, () => Producer][])('records per partition of an idempotent %s producer equal its delivery reports and the log end offsets', { timeout: TIMEOUT_MS }, async (name, make) => {
    await proveProduce(cluster, make(), { topic: `real-${name.replace(/\W/g, '')}-${process.pid}`, partitions: 5, replicas: 1, count: 400 });
  });

  it.each([
    ['3.9', 'classic', 17],
    ['3.9', 'consumer', 17],
    ['4.4', 'consumer', 18],
  ] as const)('records fetched per partition by a Java %s group member (group.protocol=%s, Fetch v%d) equal what it received and what was delivered, on both sides', { timeout: TIMEOUT_MS }, async (client, protocol, fetchVersion) => {
    const member = client === '3.9' ? kafka3ClientsVersion() : kafkaVersion();
    await proveFetch(cluster, protocol, { topic: `real-fetch-${client}-${protocol}-${process.pid}`, partitions: 4, replicas: 1, count: 300, followers: false, member, fetchVersion });
  });

  it('records per partition of an idempotent kafka-clients 4.x producer (Produce v13, topic ids) equal its delivery reports and the log end offsets', { timeout: TIMEOUT_MS }, async () => {
    await proveProduce(cluster, java4Producer(), { topic: `real-v13-java-${process.pid}`, partitions: 6, replicas: 1, count: 500 });
  });

  it('records per partition of a franz-go producer (Produce v13, topic ids) equal its delivery reports and the log end offsets', { timeout: TIMEOUT_MS }, async () => {
    await proveProduce(cluster, goProducer(13), { topic: `real-v13-franz-go-${process.pid}`, partitions: 5, replicas: 1, count: 400 });
  });
});

describe.runIf(run)('kafka probes on a three-broker Apache Kafka cluster', () => {
  let cluster: KafkaCluster;

  beforeAll(async () => {
    cluster = await startKafkaCluster({ brokers: 3 });
  }, TIMEOUT_MS);

  afterAll(() => stopCluster(cluster));

  it('records per partition with replication factor 3 equal the delivery reports and the log end offsets', { timeout: TIMEOUT_MS }, async () => {
    await proveProduce(cluster, javaProducer(), { topic: `real-three-${process.pid}`, partitions: 6, replicas: 3, count: 500 });
  });

  // Its brokers fetch from each other at v18: follower fetches are checked too.
  it('records fetched per partition with replication factor 3 by a KIP-848 group member and by the followers, exact on both sides', { timeout: TIMEOUT_MS }, async () => {
    await proveFetch(cluster, 'consumer', { topic: `real-three-fetch-${process.pid}`, partitions: 6, replicas: 3, count: 400, followers: true });
  });

  it('records per partition of kafka-clients 4.x (Produce v13) with replication factor 3 equal the delivery reports and the log end offsets, every leader naming the topic', { timeout: TIMEOUT_MS }, async () => {
    await proveProduce(cluster, java4Producer(), { topic: `real-three-v13-${process.pid}`, partitions: 6, replicas: 3, count: 500 });
  });
});
