// The accuracy matrix: one workload on a three-broker Apache Kafka cluster (KRaft, replication factor 3)
// traced by one kafkatrace, which sees both sides (`role` says which fired): six topics, producers in four
// languages (the Java client, franz-go and sarama, confluent-kafka and kafka-python, kafkajs and
// @confluentinc/kafka-javascript, kcat and kafka-producer-perf-test; kafka-consumer-perf-test reads), a classic group and a KIP-848 group that each grow to two members and
// shrink back, a group whose member pauses while its topic grows, and a share group (KIP-932). Every figure kafkatrace reports is set against Kafka's own account, never against
// kafkatrace: the brokers' JMX counters (deltas over the workload, read at quiet points), kafka-get-offsets,
// kafka-consumer-groups --describe, and the clients' delivery reports and rebalance callbacks. Exact where
// the oracle is exact; the rows with a tolerance say why. The matrix is printed (what, truth, kafkatrace,
// verdict) and every verdict must be "ok".
// Needs root, the addon, a built dist/, java and scripts/install-kafka.sh.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import kafkajs from 'kafkajs';
import { apiName } from '../../src/kafka/wire/api-names.js';
import { produceWithConfluentPeer, produceWithKcatPeer, runConsumerPerformance, runProducerPerformance } from '../helpers/real-kafka-clients.js';
import { traceWhile, waitFor, type Traced } from '../helpers/cli-trace.js';
import { kafkajsClient } from '../helpers/kafka-clients.js';
import { describeGroupOffsets, jmxDelta, logEndOffsets, readJmx, type JmxCounters } from '../helpers/kafka-truth.js';
import {
  stopCluster,
  kafka3ClientsVersion,
  kafkaVersion,
  realKafkaProblem,
  runGoPeer,
  runJavaGroupsPeer,
  runJavaPeer,
  runPythonPeer,
  startJavaPeer,
  startKafkaCluster,
  type KafkaCluster,
  type PeerEvent,
  type PeerRun,
  type StartedPeer,
} from '../helpers/real-kafka.js';
import { rng } from '../helpers/seeded.js';
import { canRun } from './runtime-helpers.js';

const { Partitioners } = kafkajs;
const missing = realKafkaProblem();
if (missing && process.env['CI'] === 'true') throw new Error(missing);
if (missing) console.log(`real-kafka matrix not run: ${missing}`);
const run = canRun() && missing === undefined;
const TIMEOUT_MS = 420_000;
/** A client's run, JVM start included, on a shared two-core machine. */
const PEER_MS = 150_000;
const SEED = Number(process.env['SEED'] ?? Date.now() % 1_000_000_007);
/** Every topic, group and client id of the workload starts so: kafkatrace and the truth are both narrowed to it. */
const P = 'acc-';
/** Requests the brokers send one another or their controllers (replication, KRaft): outside a client's view, and never quiet. */
const INTERNAL = new Set(['Fetch', 'FetchFollower', 'Envelope', 'Vote', 'BeginQuorumEpoch', 'EndQuorumEpoch', 'FetchSnapshot', 'BrokerHeartbeat',
  'BrokerRegistration', 'ControllerRegistration', 'AlterPartition', 'AssignReplicasToDirs', 'UpdateRaftVoter', 'AddRaftVoter', 'RemoveRaftVoter',
  'DescribeQuorum', 'AllocateProducerIds']);

interface Row {
  what: string;
  truth: string;
  kafkatrace: string;
  ok: boolean;
}

/** Producers that report no deliveries, only their totals: their topic's truth per partition is kafka-get-offsets. */
type Tool = 'kcat' | 'kafka-producer-perf-test';
const TOOLS: ReadonlySet<string> = new Set<Tool>(['kcat', 'kafka-producer-perf-test']);

/** A producer of the workload: its client, a short name for its client id, how many records, and franz-go's version cap. */
interface Producer {
  client: 'kafka-clients' | 'franz-go' | 'sarama' | 'confluent-kafka' | 'kafka-python' | 'kafkajs' | '@confluentinc/kafka-javascript' | Tool;
  id: string;
  count: number;
  cap?: string;
}

/**
 * Topics: name, partitions and the producers that write it (concurrently). kafka-clients 4.4.0 and
 * franz-go unpinned send Produce v13 (topic ids); franz-go capped at 3.9 sends v11.
 */
const TOPICS: readonly { topic: string; partitions: number; producers: readonly Producer[] }[] = [
  { topic: `${P}java`, partitions: 3, producers: [{ client: 'kafka-clients', id: 'java', count: 400 }] },
  { topic: `${P}go`, partitions: 4, producers: [{ client: 'franz-go', id: 'franz', count: 400 }, { client: 'sarama', id: 'sarama', count: 300 }] },
  { topic: `${P}confluent`, partitions: 2, producers: [{ client: 'confluent-kafka', id: 'confluent', count: 300 }] },
  { topic: `${P}kpython`, partitions: 5, producers: [{ client: 'kafka-python', id: 'kpython', count: 300 }] },
  { topic: `${P}kafkajs`, partitions: 1, producers: [{ client: 'kafkajs', id: 'kafkajs', count: 200 }, { client: '@confluentinc/kafka-javascript', id: 'confluent-js', count: 200 }] },
  // Written before its member pauses, and again while it is paused.
  { topic: `${P}lag`, partitions: 6, producers: [{ client: 'franz-go', id: 'franz-capped', cap: '3.9.0', count: 300 }] },
  // Read whole by kafka-consumer-perf-test once both are done.
  { topic: `${P}tools`, partitions: 4, producers: [{ client: 'kcat', id: 'kcat', count: 300 }, { client: 'kafka-producer-perf-test', id: 'perf', count: 2000 }] },
];
const TOOLS_TOPIC = TOPICS[6]!;
/** kafka-producer-perf-test's record size, bytes. */
const PERF_RECORD_BYTES = 300;
const LAG_MORE = 200;
/** The share group's topic: a share consumer reads all of it (every producer's records) after the producers are done. */
const SHARE_TOPIC = TOPICS[3]!;
const SHARE_GROUP = `${P}share`;

/**
 * The script, narrowed to this cluster (other brokers may run on the machine): a broker's side by the
 * port it serves (its client and controller listeners), a client's side by the port it talks to.
 */
function script(c: KafkaCluster): string {
  const ports = c.nodes.flatMap((n) => [n.port, n.controllerPort]);
  const served = `(${ports.map((p) => `args.lport == ${p}`).join(' || ')})`;
  const talked = `(${ports.map((p) => `args.rport == ${p}`).join(' || ')})`;
  const ours = `((args.role == "broker" && ${served}) || (args.role == "client" && ${talked}))`;
  const topic = `strncmp(args.topic, "${P}", ${P.length}) == 0`;
  const group = `strncmp(args.group, "${P}", ${P.length}) == 0`;
  // The workload's consumers, not the brokers' replica fetchers (whose Fetch v18 bodies the schemas of
  // Kafka 4.4.0 decode): JMX BytesOutPerSec counts consumers only.
  const consumer = `strncmp(args.client_id, "${P}", ${P.length}) == 0`;
  return `
    kafka:produce /${ours} && ${topic}/ { @produced[args.role, args.topic, args.partition] = sum(args.records); @produced_bytes[args.role, args.topic] = sum(args.bytes); }
    kafka:fetch /args.role == "client" && ${talked} && ${consumer} && ${topic}/ { @fetched[args.topic, args.partition] = sum(args.records); @fetched_bytes[args.topic] = sum(args.bytes); }
    kafka:fetch /args.role == "broker" && ${served} && ${consumer} && args.partition >= 0 && args.records < 0/ { @broker_fetch_unknown = count(); }
    kafka:fetch /args.role == "broker" && ${served} && ${consumer} && ${topic}/ { @broker_fetched[args.topic, args.partition] = sum(args.records); @broker_fetched_bytes[args.topic] = sum(args.bytes); }
    kafka:request /args.role == "broker" && ${served} && args.status == "complete"/ { @requests[args.api_key, args.version, args.client_id] = count(); @latency[args.api_key] = sum(args.latency); }
    kafka:lag /${ours} && ${group}/ { @lag[args.group, args.topic, args.partition] = args.committed_lag; }
    kafka:produce /${ours} && ${topic}/ { @produced_by[args.role, args.client_id, args.partition] = sum(args.records); }
    kafka:rebalance /${ours} && ${group}/ { @rebalances[args.kind, args.group, args.member, args.generation] = count(); }
    kafka:sharefetch /${ours} && ${topic} && args.records >= 0/ { @acquired[args.role, args.topic, args.partition] = sum(args.records); @share_bytes[args.role, args.topic] = sum(args.bytes); }
    kafka:sharefetch,kafka:shareacknowledge /${ours} && ${topic} && args.accepted >= 0/ {
      @acks[args.role, args.topic, args.partition, "accept"] = sum(args.accepted);
      @acks[args.role, args.topic, args.partition, "release"] = sum(args.released);
      @acks[args.role, args.topic, args.partition, "reject"] = sum(args.rejected);
    }`;
}

/** kafkajs produces `count` records of seeded sizes to seeded partitions, acks=all; resolves to the records each partition took (its own send results). */
async function produceKafkajs(bootstrap: string, topic: string, partitions: number, count: number, rnd: () => number, clientId: string): Promise<Record<string, number>> {
  const producer = kafkajsClient(bootstrap, clientId).producer({ allowAutoTopicCreation: false, createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  const per: Record<string, number> = {};
  try {
    for (let start = 0; start < count; start += 50) {
      const messages = [];
      for (let i = start; i < Math.min(count, start + 50); i++) {
        const partition = Math.floor(rnd() * partitions);
        messages.push({ key: `k${i}`, value: 'v'.repeat(1 + Math.floor(rnd() * 1000)), partition });
      }
      const answers = await producer.send({ topic, messages, acks: -1 });
      for (const a of answers) expect(a.errorCode, `seed ${SEED}`).toBe(0);
      for (const m of messages) per[String(m.partition)] = (per[String(m.partition)] ?? 0) + 1;
    }
  } finally {
    await producer.disconnect();
  }
  return per;
}

/** Whether the broker at `address` lists every workload topic with all its partitions led and fully in sync (kcat -L). */
function topicsInSync(address: string): boolean {
  const r = spawnSync('kcat', ['-b', address, '-L', '-J', '-m', '5'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return false;
  const md = JSON.parse(r.stdout) as { topics: { topic: string; partitions: { leader: number; isrs: number[] }[] }[] };
  return TOPICS.every((t) => {
    const found = md.topics.find((x) => x.topic === t.topic);
    return found !== undefined && found.partitions.length === t.partitions && found.partitions.every((p) => p.leader > 0 && p.isrs.length === 3);
  });
}

/** Delivered records per partition from a peer's delivery reports; every record acknowledged. */
function delivered(client: string, r: PeerRun, count: number): Record<string, number> {
  expect(r.code, `seed ${SEED}: ${client}: ${r.stderr}`).toBe(0);
  expect(r.events.at(-1), `seed ${SEED}`).toEqual({ event: 'produced', acked: count, failed: 0 });
  const out: Record<string, number> = {};
  for (const e of r.events.filter((x) => x.event === 'delivery')) out[String(e['partition'])] = (out[String(e['partition'])] ?? 0) + 1;
  return out;
}

const add = (into: Record<string, number>, from: Record<string, number>) => {
  for (const [k, n] of Object.entries(from)) into[k] = (into[k] ?? 0) + n;
};

const fmt = (x: unknown) => (x === undefined ? 'unknown' : typeof x === 'object' ? JSON.stringify(x) : String(x));

function exact(rows: Row[], what: string, truth: unknown, traced: unknown): void {
  rows.push({ what, truth: fmt(truth), kafkatrace: fmt(traced), ok: JSON.stringify(truth) === JSON.stringify(traced) });
}

/** The traced map `name` narrowed to keys starting with `prefix` ("a,b,"), the prefix cut off. */
function slice(traced: Traced, name: string, prefix: string): Record<string, number> {
  const m = (traced.maps[name] ?? {}) as Record<string, number>;
  return sortedRecord(Object.fromEntries(Object.entries(m).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v])));
}

const sortedRecord = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));

function printMatrix(rows: Row[]): void {
  const w = [4, 5, 10].map((min, i) => Math.max(min, ...rows.map((r) => [r.what, r.truth, r.kafkatrace][i]!.length)));
  const line = (a: string, b: string, c: string, d: string) => `${a.padEnd(w[0]!)}  ${b.padEnd(w[1]!)}  ${c.padEnd(w[2]!)}  ${d}`;
  console.log([`accuracy matrix, seed ${SEED}`, line('what', 'truth', 'kafkatrace', 'verdict'), ...rows.map((r) => line(r.what, r.truth, r.kafkatrace, r.ok ? 'ok' : 'DIFFERS'))].join('\n'));
}

describe.runIf(run)('the accuracy matrix on a three-broker Apache Kafka cluster', () => {
  let cluster: KafkaCluster | undefined;

  beforeAll(async () => {
    cluster = await startKafkaCluster({ brokers: 3, jmx: true });
    const admin = kafkajsClient(cluster.bootstrap, `${P}admin`).admin();
    await admin.connect();
    try {
      await admin.createTopics({ waitForLeaders: false, topics: TOPICS.map((t) => ({ topic: t.topic, numPartitions: t.partitions, replicationFactor: 3 })) });
    } finally {
      await admin.disconnect();
    }
    // Ready once every broker's Metadata gives every partition a leader and three replicas in sync, so
    // that no first Produce is refused (kafkajs' own wait asks one broker, which may not know yet).
    await waitFor('the topics to be in sync on every broker', 60_000, () => cluster!.nodes.every((n) => topicsInSync(`127.0.0.1:${n.port}`)));
  }, TIMEOUT_MS);

  afterAll(() => stopCluster(cluster));

  it('per topic, partition, API and group, kafkatrace equals what Kafka and its clients report', { timeout: TIMEOUT_MS }, async () => {
    const c = cluster!;
    const v3 = kafka3ClientsVersion();
    const rnd = rng(SEED);
    const truthProduced: Record<string, Record<string, number>> = {};
    /** Delivered records per partition, per producer's client id. */
    const truthBy: Record<string, Record<string, number>> = {};
    /** Records each tool producer says it sent (kcat: every line, as its exit status 0 says). */
    const toolTotals: Record<string, number> = {};
    let perfConsumed = -1;
    let shared: PeerEvent[] = [];
    const members: StartedPeer[] = [];
    let before: JmxCounters | undefined;
    let after: JmxCounters | undefined;
    let lagTruth: { topic: string; partition: number; lag?: number }[] = [];
    let ends = new Map<string, number>();
    const member = (group: string, id: string, protocol: string, topics: string[], stayMs: number, pauseRecords?: number) => {
      const m = startJavaPeer(v3, 'Member', [c.bootstrap, topics.join(','), group, id, protocol, stayMs, ...(pauseRecords === undefined ? [] : [pauseRecords])], PEER_MS);
      members.push(m);
      return m;
    };
    const produce = async (t: (typeof TOPICS)[number], p: Producer, count: number, seed: number): Promise<void> => {
      const id = `${P}p-${p.id}`;
      if (p.client === 'kcat') {
        const r = await produceWithKcatPeer({ bootstrap: c.bootstrap, topic: t.topic, count, clientId: id });
        expect(r.code, `seed ${SEED}: kcat: ${r.stderr}`).toBe(0);
        toolTotals[id] = count;
        return;
      }
      if (p.client === 'kafka-producer-perf-test') {
        const r = await runProducerPerformance({ bootstrap: c.bootstrap, topic: t.topic, records: count, recordSize: PERF_RECORD_BYTES, clientId: id, props: { acks: 'all' }, timeoutMs: PEER_MS });
        expect(r.code, `seed ${SEED}: kafka-producer-perf-test: ${r.stderr}`).toBe(0);
        toolTotals[id] = r.records;
        return;
      }
      const args = [c.bootstrap, t.topic, t.partitions, count, seed, id];
      const r =
        p.client === 'kafka-clients' ? await runJavaPeer(kafkaVersion(), ['produce', ...args], PEER_MS)
        : p.client === 'franz-go' ? await runGoPeer(['produce', ...args, ...(p.cap === undefined ? [] : [p.cap])], PEER_MS)
        : p.client === 'sarama' ? await runGoPeer(['sarama-produce', ...args], PEER_MS)
        : p.client === '@confluentinc/kafka-javascript' ? await produceWithConfluentPeer({ bootstrap: c.bootstrap, topic: t.topic, partitions: t.partitions, count, seed, clientId: id })
        : p.client === 'kafkajs' ? undefined
        : await runPythonPeer(p.client, ['produce', ...args], PEER_MS);
      const per = r ? delivered(p.client, r, count) : await produceKafkajs(c.bootstrap, t.topic, t.partitions, count, rnd, id);
      add((truthProduced[t.topic] ??= {}), per);
      add((truthBy[id] ??= {}), per);
    };

    const traced = await traceWhile(script(c), async () => {
      before = await readJmx(c);
      const classic = [`${P}java`, `${P}go`];
      const consumer = [`${P}confluent`, `${P}kpython`, `${P}kafkajs`];
      const lagTopic = TOPICS[5];
      const classicA = member(`${P}classic`, `${P}classic-a`, 'classic', classic, 14_000);
      const consumerA = member(`${P}consumer`, `${P}consumer-a`, 'consumer', consumer, 14_000);
      const paused = member(`${P}paused`, `${P}paused-a`, 'classic', [lagTopic.topic], 8_000, lagTopic.producers[0]!.count);
      await Promise.all(TOPICS.flatMap((t, i) => t.producers.map((p, j) => produce(t, p, p.count, SEED + 10 * i + j))));
      const shareCount = SHARE_TOPIC.producers.reduce((n, p) => n + p.count, 0);
      const toolsCount = TOOLS_TOPIC.producers.reduce((n, p) => n + p.count, 0);
      const perfConsumer = runConsumerPerformance({ bootstrap: c.bootstrap, topic: TOOLS_TOPIC.topic, records: toolsCount, group: `${P}perf`, clientId: `${P}perf-consumer`, timeoutMs: PEER_MS });
      const share = runJavaGroupsPeer(['share', c.bootstrap, SHARE_TOPIC.topic, SHARE_GROUP, shareCount, SEED, `${P}share-a`], PEER_MS);
      // The groups grow once their first member holds partitions, and shrink when the second leaves.
      await Promise.all([classicA.reported('assigned'), consumerA.reported('assigned')]);
      member(`${P}classic`, `${P}classic-b`, 'classic', classic, 3_000);
      member(`${P}consumer`, `${P}consumer-b`, 'consumer', consumer, 3_000);
      await paused.reported('paused');
      await produce(lagTopic, lagTopic.producers[0]!, LAG_MORE, SEED + 100);
      for (const m of members) {
        const r = await m.done;
        expect(r.code, `seed ${SEED}: ${r.stderr}`).toBe(0);
      }
      const perf = await perfConsumer;
      expect(perf.code, `seed ${SEED}: kafka-consumer-perf-test: ${perf.stderr}`).toBe(0);
      perfConsumed = perf.records;
      const s = await share;
      expect(s.code, `seed ${SEED}: ${s.stderr}`).toBe(0);
      shared = s.events;
      // A quiet point: every client is gone; the tools' own requests finish before the second reading.
      lagTruth = await describeGroupOffsets(c, `${P}paused`);
      ends = await logEndOffsets(c, `${P}.*`);
      after = await readJmx(c);
    });
    expect(traced.stderr).toBe('');
    expect(traced.code).toBe(0);
    const d = jmxDelta(before!, after!);
    const rows: Row[] = [];

    // Records and bytes produced, per topic and partition.
    const logEndsOf = (topic: string) => sortedRecord(Object.fromEntries([...ends].filter(([k]) => k.startsWith(`${topic},`)).map(([k, v]) => [k.slice(topic.length + 1), v]).filter(([, v]) => v !== 0)));
    const total = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
    for (const t of TOPICS) {
      const logEnds = logEndsOf(t.topic);
      const tools = t.producers.every((p) => TOOLS.has(p.client));
      if (tools) {
        const told = t.producers.reduce((n, p) => n + (toolTotals[`${P}p-${p.id}`] ?? 0), 0);
        exact(rows, `${t.topic} records: ${t.producers.map((p) => p.client).join(' and ')}'s own totals = kafka-get-offsets`, told, total(logEnds));
      }
      const truth = tools ? logEnds : sortedRecord(truthProduced[t.topic]!);
      if (!tools) exact(rows, `${t.topic} records per partition: delivery reports = kafka-get-offsets`, truth, logEnds);
      exact(rows, `${t.topic} records produced per partition (${t.producers.map((p) => p.client).join(' and ')}), client side`, truth, slice(traced, '@produced', `client,${t.topic},`));
      if (t.producers.length > 1) {
        for (const p of t.producers) {
          const id = `${P}p-${p.id}`;
          for (const role of ['client', 'broker']) {
            if (TOOLS.has(p.client)) exact(rows, `${t.topic} records produced by ${p.client} (its own total), ${role} side`, toolTotals[id], total(slice(traced, '@produced_by', `${role},${id},`)));
            else exact(rows, `${t.topic} records produced per partition by ${p.client}, ${role} side`, sortedRecord(truthBy[id]!), slice(traced, '@produced_by', `${role},${id},`));
          }
        }
      }
      exact(rows, `${t.topic} records produced per partition, broker side`, truth, slice(traced, '@produced', `broker,${t.topic},`));
      const jmx = d.topics.get(t.topic);
      exact(rows, `${t.topic} records in (JMX MessagesInPerSec), broker side`, jmx?.messagesIn, Object.values(slice(traced, '@produced', `broker,${t.topic},`)).reduce((a, b) => a + b, 0));
      exact(rows, `${t.topic} bytes in (JMX BytesInPerSec), broker side`, jmx?.bytesIn, slice(traced, '@produced_bytes', 'broker,')[t.topic]);
      exact(rows, `${t.topic} bytes in (JMX BytesInPerSec), client side`, jmx?.bytesIn, slice(traced, '@produced_bytes', 'client,')[t.topic]);
    }

    // Records and bytes fetched, per topic and partition.
    const received: Record<string, number> = {};
    for (const m of members) for (const e of m.events.filter((x) => x.event === 'records')) received[`${e['topic']},${e['partition']}`] = (received[`${e['topic']},${e['partition']}`] ?? 0) + Number(e['count']);
    // kafka-consumer-perf-test reports only its total: once that is the whole topic, it read every partition to its end.
    const toolsEnds = logEndsOf(TOOLS_TOPIC.topic);
    exact(rows, `${TOOLS_TOPIC.topic} records consumed: kafka-consumer-perf-test's own total = kafka-get-offsets`, total(toolsEnds), perfConsumed);
    for (const [p, n] of Object.entries(toolsEnds)) received[`${TOOLS_TOPIC.topic},${p}`] = n;
    const fetched = slice(traced, '@fetched', '');
    // BytesOutPerSec counts the bytes a share group's ShareFetch answers carry as well as consumers' Fetch.
    const bytesOut = (role: string, fetchedBytes: number | undefined, topic: string) => {
      const share = slice(traced, '@share_bytes', `${role},`)[topic];
      return share === undefined ? fetchedBytes : (fetchedBytes ?? 0) + share;
    };
    for (const t of TOPICS) {
      const jmx = d.topics.get(t.topic);
      exact(rows, `${t.topic} bytes fetched by consumers${t === SHARE_TOPIC ? ' and the share group' : ''} (JMX BytesOutPerSec), client side`, jmx?.bytesOut, bytesOut('client', slice(traced, '@fetched_bytes', '')[t.topic], t.topic));
      // A member may fetch records it never returns (prefetched when its partition is revoked) and fetch
      // them again after a rebalance: kafkatrace counts each fetch, the client each record it returned.
      for (let p = 0; p < t.partitions; p++) {
        const k = `${t.topic},${p}`;
        if (received[k] === undefined) continue;
        rows.push({ what: `${k} records fetched, client side (at least those returned)`, truth: String(received[k]), kafkatrace: fmt(fetched[k]), ok: (fetched[k] ?? -1) >= received[k] });
      }
    }
    // The broker sends record data with sendfile(2): its side reads each batch back from the log
    // segment, so it sees the very exchanges the members saw, record for record.
    const brokerFetched = slice(traced, '@broker_fetched', '');
    for (const t of TOPICS) {
      exact(rows, `${t.topic} bytes fetched by consumers${t === SHARE_TOPIC ? ' and the share group' : ''} (JMX BytesOutPerSec), broker side`, d.topics.get(t.topic)?.bytesOut, bytesOut('broker', slice(traced, '@broker_fetched_bytes', '')[t.topic], t.topic));
      for (let p = 0; p < t.partitions; p++) {
        const k = `${t.topic},${p}`;
        if (received[k] === undefined) continue;
        exact(rows, `${k} records fetched, broker side (as the client side saw them)`, fetched[k], brokerFetched[k]);
      }
    }
    const brokerUnknown = traced.maps['@broker_fetch_unknown'];
    rows.push({ what: 'Fetch partitions with records unknown (-1), broker side', truth: 'none', kafkatrace: fmt(brokerUnknown), ok: brokerUnknown === undefined });

    // Requests per API and version, as the brokers served them.
    const tracedRequests: Record<string, number> = {};
    let envelopes = 0;
    for (const [k, n] of Object.entries((traced.maps['@requests'] ?? {}) as Record<string, number>)) {
      const [key, version, ...id] = k.split(',');
      const name = apiName(Number(key)) ?? `api ${key}`;
      const clientId = id.join(',');
      // JMX tells a consumer's Fetch (FetchConsumer) from a follower's: the workload's consumers are ours.
      const jmxName = name === 'Fetch' ? (clientId.startsWith(P) ? 'FetchConsumer' : 'Fetch') : name;
      if (name === 'Envelope') envelopes += n;
      if (INTERNAL.has(jmxName)) continue;
      tracedRequests[`${jmxName},${version}`] = (tracedRequests[`${jmxName},${version}`] ?? 0) + n;
    }
    // A broker forwards a config change to the controllers in an Envelope, and the controller counts the
    // request inside under its own API again (and not the Envelope). The workload's only one is the share
    // consumer's IncrementalAlterConfigs of its group's config: each Envelope served counts it once more.
    for (const k of Object.keys(tracedRequests).filter((x) => x.startsWith('IncrementalAlterConfigs,'))) tracedRequests[k]! += envelopes;
    const jmxRequests = Object.fromEntries([...d.requests].filter(([k]) => !INTERNAL.has(k.split(',')[0]!)));
    for (const k of [...new Set([...Object.keys(jmxRequests), ...Object.keys(tracedRequests)])].sort()) {
      exact(rows, `${k.replace(',', ' v')} requests (JMX RequestsPerSec)`, jmxRequests[k], tracedRequests[k]);
    }
    // Mean time per Produce: the broker times from reading the request to sending the response, kafkatrace
    // from the syscalls either side; the broker's TotalTimeMs histogram is in whole milliseconds.
    const produceTime = d.totalTimeMs.get('Produce');
    const produceLatency = slice(traced, '@latency', '')['0'];
    const produceCount = Object.entries(tracedRequests).filter(([k]) => k.startsWith('Produce,')).reduce((a, [, n]) => a + n, 0);
    if (produceTime && produceLatency !== undefined) {
      const truthMs = produceTime.sumMs / produceTime.count;
      const tracedMs = produceLatency / produceCount / 1e6;
      rows.push({ what: 'Produce mean time, ms (JMX TotalTimeMs; within 1 ms or 25%)', truth: truthMs.toFixed(2), kafkatrace: tracedMs.toFixed(2), ok: Math.abs(truthMs - tracedMs) <= Math.max(1, 0.25 * truthMs) });
    }

    // Lag of the paused group, per partition, at the quiet point.
    const tracedLag = slice(traced, '@lag', `${P}paused,`);
    for (const row of lagTruth.sort((a, b) => a.partition - b.partition)) {
      exact(rows, `${P}paused ${row.topic},${row.partition} lag (kafka-consumer-groups)`, row.lag, tracedLag[`${row.topic},${row.partition}`]);
    }

    // The share group: records acquired per partition equal the deliveries the share consumer received
    // (a released record is acquired and delivered again), acknowledgements per type what it acknowledged.
    const shareReceived: Record<string, number> = {};
    const shareAcks: Record<string, number> = {};
    for (const e of shared.filter((x) => x.event === 'record')) shareReceived[String(e['partition'])] = (shareReceived[String(e['partition'])] ?? 0) + 1;
    for (const e of shared.filter((x) => x.event === 'ack')) shareAcks[`${e['partition']},${e['type']}`] = (shareAcks[`${e['partition']},${e['type']}`] ?? 0) + 1;
    for (const role of ['client', 'broker']) {
      exact(rows, `${SHARE_GROUP} ${SHARE_TOPIC.topic} records acquired per partition (kafka:sharefetch), ${role} side`, sortedRecord(shareReceived), slice(traced, '@acquired', `${role},${SHARE_TOPIC.topic},`));
      for (const type of ['accept', 'release', 'reject']) {
        const truth = sortedRecord(Object.fromEntries(Object.keys(shareReceived).map((p) => [p, shareAcks[`${p},${type}`] ?? 0])));
        const seen = sortedRecord(Object.fromEntries(Object.entries(slice(traced, '@acks', `${role},${SHARE_TOPIC.topic},`)).filter(([k]) => k.endsWith(`,${type}`)).map(([k, v]) => [k.split(',')[0]!, v])));
        exact(rows, `${SHARE_GROUP} ${SHARE_TOPIC.topic} acknowledged ${type} per partition, ${role} side`, truth, seen);
      }
    }

    // Generations, members and rebalances per group, from the members' own rebalance callbacks.
    for (const [group, kind] of [[`${P}classic`, 'classic'], [`${P}consumer`, 'consumer'], [`${P}paused`, 'classic']] as const) {
      const assigned = members.flatMap((m) => m.events).filter((e: PeerEvent) => e.event === 'assigned' && e['group'] === group && e['partitions'] !== '');
      const memberIds = [...new Set(assigned.map((e) => String(e['member'])))].sort();
      const tracedRebalances = slice(traced, '@rebalances', `${kind},${group},`);
      if (kind === 'classic') {
        // One rebalance per generation, however many members: every generation a member was given partitions in.
        const truth = [...new Set(assigned.map((e) => Number(e['generation'])))].sort((a, b) => a - b);
        const seen = Object.keys(tracedRebalances).map((k) => Number(k.split(',')[1])).sort((a, b) => a - b);
        exact(rows, `${group} generations with partitions assigned`, truth, seen.filter((g) => truth.includes(g)));
        rows.push({ what: `${group} rebalances (generations)`, truth: `>= ${truth.length}`, kafkatrace: String(seen.length), ok: seen.length >= truth.length });
      } else {
        // KIP-848: the callback runs on an assignment change; kafkatrace fires on every epoch change too.
        const seenMembers = [...new Set(Object.keys(tracedRebalances).map((k) => k.split(',')[0]!))].sort();
        exact(rows, `${group} members (KIP-848)`, memberIds, seenMembers);
        const truth = [...new Set(assigned.map((e) => `${e['member']},${e['generation']}`))].sort();
        const seen = Object.keys(tracedRebalances).sort();
        rows.push({ what: `${group} member epochs with an assignment`, truth: String(truth.length), kafkatrace: `${seen.filter((x) => truth.includes(x)).length} of ${seen.length}`, ok: truth.every((x) => seen.includes(x)) });
      }
    }

    printMatrix(rows);
    expect(rows.filter((r) => !r.ok), `seed ${SEED}`).toEqual([]);
  });
});
