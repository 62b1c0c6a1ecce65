// A differential oracle for kafka:produce and kafka:fetch: a workload randomized from a seed (topics
// and partitions, batch sizes from one record to several MiB, keys, headers, codecs, acks,
// idempotence) is produced by real clients to the mock cluster and read back by a real consumer
// while kafkatrace traces both ends (the clients by broker port, the broker with -p) and tshark
// captures the same traffic. Every Produce and Fetch exchange and partition kafkatrace reports is
// compared with truth it did not compute: tshark's Kafka dissector per exchange and partition, the
// clients' own reports (kafkajs instrumentation events and send() results, librdkafka delivery
// reports and protocol logs), and the broker's log end offsets (ListOffsets) before and after.
import kafkajs from 'kafkajs';
import type { Admin } from 'kafkajs';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { traceWhile, type Traced } from './cli-trace.js';
import { produceMessagesWithConfluent } from './confluent-client.js';
import { kafkajsClient, requestOf, runCommand, startKafkajsConsumer, type KafkajsRequest } from './kafka-clients.js';
import { rng } from './seeded.js';
import { startCapture, tsharkExchanges, unfinishedConnections, type TsharkExchange, type TsharkPartition } from './tshark.js';

const { CompressionTypes } = kafkajs;

export type Client = 'kafkajs' | 'confluent' | 'kcat';
type Codec = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

/** The codecs each client can write: kafkajs has gzip built in only; the bundled librdkafka lacks zstd. */
export const CODECS: Record<Client, Codec[]> = {
  kafkajs: ['none', 'gzip'],
  confluent: ['none', 'gzip', 'snappy', 'lz4'],
  kcat: ['none', 'gzip', 'snappy', 'lz4', 'zstd'],
};

interface OracleMessage {
  topic: string;
  partition: number;
  key: string | null;
  valueSize: number;
  /** Fill character of the value (after an index prefix), so that values differ and compress. */
  fill: string;
  headers: Record<string, string>;
}

interface ProduceStep {
  client: Client;
  codec: Codec;
  acks: 0 | 1 | -1;
  /** librdkafka clients only: kafkajs finds no controller on the mock cluster for InitProducerId. */
  idempotent: boolean;
  messages: OracleMessage[];
}

export interface Workload {
  seed: number;
  brokers: number;
  topics: { name: string; partitions: number }[];
  steps: ProduceStep[];
  /** What reads everything back: kcat (librdkafka, no group) or a kafkajs group member (no snappy, lz4, zstd). */
  consumer: 'kcat' | 'kafkajs';
}

const KB = 1024;
const MB = 1024 * KB;
/** A bound on a seed's bytes, so that a run stays within seconds and tshark's JSON within memory. */
const MAX_WORKLOAD_BYTES = 8 * MB;

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)]!;
}

function between(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** Value sizes: mostly small, some KiB, a few hundred KiB; a "large" message is up to 1.5 MiB. */
function valueSize(r: () => number, large: boolean): number {
  if (large) return between(r, 256 * KB, 1536 * KB);
  const x = r();
  if (x < 0.6) return between(r, 0, 200);
  if (x < 0.9) return between(r, 200, 16 * KB);
  return between(r, 16 * KB, 256 * KB);
}

/** The workload of `seed`. */
export function workloadOf(seed: number): Workload {
  const r = rng(seed);
  const brokers = r() < 0.7 ? 1 : between(r, 2, 3);
  const topics = Array.from({ length: between(r, 1, 4) }, (_, i) => ({ name: `oracle-${seed}-t${i}`, partitions: between(r, 1, 8) }));
  const steps: ProduceStep[] = [];
  let total = 0;
  const stepCount = between(r, 2, 7);
  for (let s = 0; s < stepCount; s++) {
    const client = pick(r, ['kafkajs', 'kafkajs', 'confluent', 'kcat'] as const);
    const codec = pick(r, CODECS[client]);
    const idempotent = client !== 'kafkajs' && r() < 0.3;
    const acks = idempotent ? -1 : pick(r, [0, 1, -1] as const);
    // kcat writes one partition per run, with one set of headers for every message.
    const targets = client === 'kcat'
      ? [(() => { const t = pick(r, topics); return { topic: t.name, partition: between(r, 0, t.partitions - 1) }; })()]
      : topics.flatMap((t) => Array.from({ length: t.partitions }, (_, p) => ({ topic: t.name, partition: p }))).filter(() => r() < 0.6);
    if (targets.length === 0) targets.push({ topic: topics[0]!.name, partition: 0 });
    const large = total < MAX_WORKLOAD_BYTES / 2 && r() < 0.15;
    const largeTarget = large ? pick(r, targets) : undefined;
    const sharedHeaders: Record<string, string> = r() < 0.5 ? {} : { [`h${between(r, 0, 9)}`]: `v${between(r, 0, 999)}` };
    const messages: OracleMessage[] = [];
    for (const t of targets) {
      const big = t === largeTarget;
      const count = big ? between(r, 2, 5) : r() < 0.3 ? 1 : between(r, 2, 60);
      for (let i = 0; i < count; i++) {
        const size = valueSize(r, big);
        if (total + size > MAX_WORKLOAD_BYTES) break;
        total += size;
        const headers: Record<string, string> = client === 'kcat' ? sharedHeaders : {};
        if (client !== 'kcat') for (let h = between(r, 0, 3); h > 0; h--) headers[`h${h}`] = `v${between(r, 0, 99999)}`;
        messages.push({
          topic: t.topic,
          partition: t.partition,
          key: r() < 0.3 ? null : `k${between(r, 0, 9999)}`,
          valueSize: size,
          fill: String.fromCharCode(97 + between(r, 0, 25)),
          headers,
        });
      }
    }
    if (messages.length > 0) steps.push({ client, codec, acks, idempotent, messages });
  }
  // kafkajs reads only the codecs it can write.
  const kafkajsReads = steps.every((s) => CODECS.kafkajs.includes(s.codec));
  const consumer = r() < 0.5 || !kafkajsReads ? 'kcat' : 'kafkajs';
  return { seed, brokers, topics, steps, consumer };
}

function valueOf(m: OracleMessage, index: number): Buffer {
  const v = Buffer.alloc(m.valueSize, m.fill);
  v.write(`${index}:`.slice(0, m.valueSize));
  return v;
}

/** Per-partition counts, keyed "topic/partition". */
type Counts = Map<string, number>;
const tp = (topic: string, partition: number): string => `${topic}/${partition}`;
const add = (m: Counts, k: string, n: number): void => void m.set(k, (m.get(k) ?? 0) + n);

/** What the clients said they did. */
interface ClientTruth {
  /** Produce requests each client reported: kafkajs's "clientId/brokerPort/correlationId" → version; librdkafka's "clientId/#n" → version. */
  produceRequests: Map<string, number>;
  /** Base offsets the clients were told, "topic/partition" → offsets (kafkajs results, librdkafka reports' first offsets per partition and run). */
  baseOffsets: Map<string, Set<number>>;
  /** Records delivered per partition by the consumer. */
  consumed: Counts;
}

const KAFKAJS_CODEC: Partial<Record<Codec, kafkajs.CompressionTypes>> = { none: CompressionTypes.None, gzip: CompressionTypes.GZIP };
// librdkafka's limits raised so that batches of several MiB go out as they are.
const RDKAFKA_LARGE = { 'message.max.bytes': 64 * MB, 'batch.size': 16 * MB };

async function runStep(step: ProduceStep, clientId: string, bootstrap: string, truth: ClientTruth): Promise<void> {
  const noteOffset = (t: string, p: number, offset: number): void => {
    const k = tp(t, p);
    truth.baseOffsets.set(k, (truth.baseOffsets.get(k) ?? new Set()).add(offset));
  };
  if (step.client === 'kafkajs') {
    const producer = kafkajsClient(bootstrap, clientId).producer({ allowAutoTopicCreation: false });
    const requests: KafkajsRequest[] = [];
    producer.on(producer.events.REQUEST, (e) => requests.push(requestOf('producer', e)));
    await producer.connect();
    try {
      const byTopic = new Map<string, { partition: number; key: string | null; value: Buffer; headers: Record<string, string> }[]>();
      step.messages.forEach((m, i) => {
        byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), { partition: m.partition, key: m.key, value: valueOf(m, i), headers: m.headers }]);
      });
      const results = await producer.sendBatch({
        acks: step.acks,
        compression: KAFKAJS_CODEC[step.codec]!,
        topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
      });
      for (const r of results) if (r.baseOffset !== undefined) noteOffset(r.topicName, r.partition, Number(r.baseOffset));
    } finally {
      await producer.disconnect();
    }
    // Correlation ids count per connection: one per broker.
    for (const r of requests) if (r.apiName === 'Produce') truth.produceRequests.set(`${r.clientId}/${r.broker.split(':').at(-1)}/${r.correlationId}`, r.apiVersion);
    return;
  }
  const config: Record<string, string | number | boolean> = {
    ...RDKAFKA_LARGE,
    acks: step.acks,
    'compression.codec': step.codec,
    'enable.idempotence': step.idempotent,
    'linger.ms': 20,
  };
  if (step.client === 'confluent') {
    const produced = await produceMessagesWithConfluent({
      bootstrap,
      clientId,
      config,
      messages: step.messages.map((m, i) => ({
        topic: m.topic,
        partition: m.partition,
        key: m.key,
        value: valueOf(m, i),
        headers: Object.entries(m.headers).map(([k, v]) => ({ [k]: v })),
      })),
      timeoutMs: 60_000,
    });
    // A delivery report's offset is its record's (-1 with acks=0): a partition's first is a batch's base offset.
    const seen = new Set<string>();
    for (const r of produced.reports) {
      const k = tp(r.topic, r.partition);
      if (!seen.has(k) && r.offset >= 0) noteOffset(r.topic, r.partition, r.offset);
      seen.add(k);
    }
    for (const [i, v] of (produced.protocol.sent.get('Produce') ?? []).entries()) truth.produceRequests.set(`${clientId}/#${i}`, v);
    return;
  }
  const m0 = step.messages[0]!;
  const args = ['-P', '-b', bootstrap, '-t', m0.topic, '-p', String(m0.partition), '-K', '\t', '-d', 'protocol',
    '-X', `client.id=${clientId}`, ...Object.entries(config).flatMap(([k, v]) => ['-X', `${k}=${v}`]),
    ...Object.entries(m0.headers).flatMap(([k, v]) => ['-H', `${k}=${v}`])];
  // kcat reads "key<TAB>value" lines; a null key is not expressible, so such messages get key "".
  const input = step.messages.map((m, i) => `${m.key ?? ''}\t${valueOf(m, i).toString('latin1')}\n`).join('');
  const r = await runCommand('kcat', args, input, 120_000);
  if (r.code !== 0) throw new Error(`kcat failed (${r.code}): ${r.stderr.slice(-2000)}`);
  for (const [i, v] of [...r.stderr.matchAll(/Sent ProduceRequest \(v(\d+),/g)].entries()) truth.produceRequests.set(`${clientId}/#${i}`, Number(v[1]));
}

/** Reads every partition of every topic from the beginning to its log end; counts per partition. */
async function consumeAll(w: Workload, bootstrap: string, ends: Counts, clientId: string): Promise<Counts> {
  const counts: Counts = new Map();
  const topics = w.topics;
  if (w.consumer === 'kafkajs') {
    const member = await startKafkajsConsumer({ bootstrap, topic: topics.map((t) => t.name), groupId: `${clientId}-group`, clientId });
    try {
      await member.waitForMessages(sum([...ends.values()]), 60_000);
    } finally {
      await member.stop();
    }
    for (const m of member.messages) add(counts, tp(m.topic, m.partition), 1);
    return counts;
  }
  for (const t of topics) {
    const r = await runCommand('kcat', ['-C', '-b', bootstrap, '-t', t.name, '-o', 'beginning', '-e', '-q', '-X', `client.id=${clientId}`,
      '-f', '%p\\n'], '', 120_000);
    if (r.code !== 0) throw new Error(`kcat -C failed (${r.code}): ${r.stderr.slice(-2000)}`);
    for (const line of r.stdout.split('\n')) if (line !== '') add(counts, tp(t.name, Number(line)), 1);
  }
  return counts;
}

async function logEnds(admin: Admin, topics: Workload['topics']): Promise<Counts> {
  const ends: Counts = new Map();
  for (const t of topics) {
    for (const o of await admin.fetchTopicOffsets(t.name)) ends.set(tp(t.name, o.partition), Number(o.high));
  }
  return ends;
}

/** One kafka:produce or kafka:fetch firing, as printed by FIRING_FORMAT. */
interface Firing {
  probe: 'produce' | 'fetch';
  role: string;
  pid: number;
  clientPort: number;
  brokerPort: number;
  correlationId: number;
  version: number;
  clientId: string;
  status: string;
  error: number;
  topic: string;
  partition: number;
  records: number;
  bytes: number;
  /** produce: acks; fetch: fetch_offset. */
  a: number;
  /** produce: base_offset; fetch: high_watermark. */
  b: number;
}

const COMMON = 'args.role, pid, args.lport, args.rport, args.correlation_id, args.version, args.client_id, args.status, args.error, args.topic, args.partition, args.records, args.bytes';
const FORMAT = '%s|%d|%d|%d|%d|%d|%s|%s|%d|%s|%d|%d|%d|%d|%d';

function traceScript(predicate: string): string {
  return `
    kafka:produce ${predicate} { printf("produce|${FORMAT}\\n", ${COMMON}, args.acks, args.base_offset); }
    kafka:fetch ${predicate} { printf("fetch|${FORMAT}\\n", ${COMMON}, args.fetch_offset, args.high_watermark); }`;
}

function firingsOf(traced: Traced): Firing[] {
  return traced.lines.filter((l) => l.startsWith('produce|') || l.startsWith('fetch|')).map((l) => {
    const f = l.split('|');
    const role = f[1]!;
    const lport = Number(f[3]);
    const rport = Number(f[4]);
    return {
      probe: f[0] as Firing['probe'],
      role,
      pid: Number(f[2]),
      clientPort: role === 'client' ? lport : rport,
      brokerPort: role === 'client' ? rport : lport,
      correlationId: Number(f[5]),
      version: Number(f[6]),
      clientId: f[7]!,
      status: f[8]!,
      error: Number(f[9]),
      topic: f[10]!,
      partition: Number(f[11]),
      records: Number(f[12]),
      bytes: Number(f[13]),
      a: Number(f[14]),
      b: Number(f[15]),
    };
  });
}

export interface Mismatch {
  /** What disagreed, e.g. "produce.records", "produce.missing", "truth.log-end". */
  kind: string;
  /** client or broker (kafkatrace's side), kafkatrace (the process), or "truth" when two outside sources disagree. */
  role: string;
  where: string;
  kafkatrace: string;
  truth: string;
}

export interface OracleReport {
  seed: number;
  workload: Workload;
  /** Exchanges (Produce and Fetch, per role) compared with tshark's. */
  exchanges: number;
  /** Partition firings compared. */
  partitions: number;
  records: number;
  mismatches: Mismatch[];
  /** What each side's kafkatrace said it lost or could not follow (events lost, frames lost, desyncs), to read a mismatch by. */
  losses?: string;
}

/** What one kafkatrace run reported it lost or could not follow. */
function lossesOf(role: string, t: Traced): string {
  const d = t.decode ?? {};
  const n = (k: string): number => Number(d[k] ?? 0);
  return `${role}: ${t.lost} events lost, frames lost ${n('frames_lost_ring_full')} ring full/${n('frames_lost_after_loss')} after a loss/${n('frames_lost_too_many')} too many, ` +
    `${n('capture_desyncs')} desyncs, ${n('resyncs')} resyncs, of ${n('exchanges')} exchanges`;
}

interface Expected {
  probe: Firing['probe'];
  topic: string;
  partition: number;
  records: number;
  bytes: number;
  a: number;
  b: number;
  error: number;
  version: number;
}

const sum = (xs: number[]): number => xs.reduce((x, y) => x + y, 0);

/** The firings tshark's reading of one exchange calls for, one per topic-partition. */
function expectedOf(ex: TsharkExchange): Expected[] {
  const req = ex.request!;
  const version = req.version ?? -1;
  const responseParts = new Map((ex.response?.partitions ?? []).map((p) => [tp(p.topic, p.partition), p] as [string, TsharkPartition]));
  if (ex.apiKey === 0) {
    return req.partitions.map((p) => {
      const resp = responseParts.get(tp(p.topic, p.partition));
      return {
        probe: 'produce', topic: p.topic, partition: p.partition, version,
        records: sum(p.batches.map((b) => b.records)), bytes: sum(p.batches.map((b) => b.bytes)),
        // acks=0 asks for no answer (the mock cluster answers anyway): the base offset is unknown.
        a: req.acks ?? -2, b: req.acks === 0 ? -1 : (resp?.offset ?? -1), error: resp?.error ?? 0,
      };
    });
  }
  const fetchOffsets = new Map(req.partitions.map((p) => [tp(p.topic, p.partition), p.offset ?? -1]));
  return (ex.response?.partitions ?? []).map((p) => ({
    probe: 'fetch', topic: p.topic, partition: p.partition, version,
    records: sum(p.batches.map((b) => b.records)), bytes: sum(p.batches.map((b) => b.bytes)),
    a: fetchOffsets.get(tp(p.topic, p.partition)) ?? -1, b: p.highWatermark ?? -1, error: p.error ?? 0,
  }));
}

const FIELDS: { name: string; of: (x: Expected | Firing, probe: Firing['probe']) => number }[] = [
  { name: 'records', of: (x) => x.records },
  { name: 'bytes', of: (x) => x.bytes },
  { name: 'acks|fetch_offset', of: (x) => x.a },
  { name: 'base_offset|high_watermark', of: (x) => x.b },
  { name: 'error', of: (x) => x.error },
  { name: 'version', of: (x) => x.version },
];

function fieldName(name: string, probe: Firing['probe']): string {
  const [p, f] = name.split('|');
  return probe === 'produce' ? p! : (f ?? p!);
}

/** Compares one role's firings with tshark's exchanges; appends mismatches, returns [exchanges, partitions] compared. */
function compareRole(role: string, firings: Firing[], exchanges: Map<string, TsharkExchange>, out: Mismatch[]): [number, number] {
  const byExchange = new Map<string, Firing[]>();
  for (const f of firings) {
    const k = `${f.clientPort}/${f.brokerPort}/${f.correlationId}`;
    byExchange.set(k, [...(byExchange.get(k) ?? []), f]);
  }
  let nEx = 0;
  let nParts = 0;
  for (const [k, ex] of exchanges) {
    if (!ex.request) {
      out.push({ kind: 'truth.response-without-request', role: 'truth', where: k, kafkatrace: '', truth: 'tshark saw a response without its request' });
      continue;
    }
    const probe = ex.apiKey === 0 ? 'produce' : 'fetch';
    const got = byExchange.get(k) ?? [];
    byExchange.delete(k);
    nEx++;
    // A Fetch still waiting when its consumer closed the connection has no response to compare
    // with: what kafkatrace reports of it must say that it was not answered.
    if (!ex.response && probe === 'fetch') {
      for (const f of got.filter((x) => x.status === 'complete')) {
        out.push({ kind: 'fetch.status', role, where: `${k} fetch ${f.topic}/${f.partition}`, kafkatrace: f.status, truth: 'no response on the wire' });
      }
      continue;
    }
    const want = expectedOf(ex);
    const left = [...got];
    for (const e of want) {
      nParts++;
      const where = `${k} ${probe} ${e.topic}/${e.partition}`;
      const i = left.findIndex((f) => f.topic === e.topic && f.partition === e.partition);
      if (i < 0) {
        out.push({ kind: `${probe}.missing`, role, where, kafkatrace: 'no firing', truth: `records ${e.records}` });
        continue;
      }
      const f = left.splice(i, 1)[0]!;
      for (const field of FIELDS) {
        const a = field.of(f, probe);
        const b = field.of(e, probe);
        const acks0 = probe === 'produce' && e.a === 0 ? '[acks=0]' : '';
        if (a !== b) out.push({ kind: `${probe}.${fieldName(field.name, probe)}${acks0}`, role, where, kafkatrace: String(a), truth: String(b) });
      }
    }
    for (const f of left) {
      out.push({ kind: `${probe}.extra`, role, where: `${k} ${probe} ${f.topic}/${f.partition}`, kafkatrace: `records ${f.records}`, truth: 'not in the exchange' });
    }
  }
  for (const [k, fs] of byExchange) {
    for (const f of fs) out.push({ kind: `${f.probe}.extra-exchange`, role, where: `${k} ${f.topic}/${f.partition}`, kafkatrace: `records ${f.records}`, truth: 'no such exchange on the wire' });
  }
  return [nEx, nParts];
}

/**
 * Runs the workload of `seed` under kafkatrace and tshark and compares; needs root, tshark, kcat.
 * A run that fails (a client, the broker, kafkatrace) is reported as a mismatch "run". A run in
 * which the outside sources disagree among themselves (now and then tshark leaves out an exchange
 * of a busy capture) judges nothing: it is run once more, and said so.
 */
export async function runOracle(seed: number): Promise<OracleReport> {
  const first = await runOracleCaught(seed);
  const truthIssues = first.mismatches.filter((m) => m.role === 'truth' && m.kind !== 'run');
  if (truthIssues.length === 0) return first;
  console.log(`seed ${seed}: the truth sources disagreed (${truthIssues.map((m) => `${m.kind} ${m.where}: ${m.kafkatrace} vs ${m.truth}`).slice(0, 3).join('; ')}): run again`);
  return runOracleCaught(seed);
}

async function runOracleCaught(seed: number): Promise<OracleReport> {
  try {
    return await runOracleOnce(seed);
  } catch (e) {
    const mismatch: Mismatch = { kind: 'run', role: 'truth', where: `seed ${seed}`, kafkatrace: '', truth: (e as Error).stack ?? String(e) };
    return { seed, workload: workloadOf(seed), exchanges: 0, partitions: 0, records: 0, mismatches: [mismatch] };
  }
}

async function runOracleOnce(seed: number): Promise<OracleReport> {
  const workload = workloadOf(seed);
  const broker: MockBroker = await startMockBroker({ brokers: workload.brokers, topics: workload.topics });
  const mismatches: Mismatch[] = [];
  const truthMismatch = (kind: string, where: string, a: string, b: string): void =>
    void mismatches.push({ kind: `truth.${kind}`, role: 'truth', where, kafkatrace: a, truth: b });
  try {
    const ports = broker.bootstrap.split(',').map((h) => Number(h.split(':')[1]));
    const admin = kafkajsClient(broker.bootstrap, `oracle-${seed}-admin`).admin();
    await admin.connect();
    const truth: ClientTruth = { produceRequests: new Map(), baseOffsets: new Map(), consumed: new Map() };
    let before: Counts = new Map();
    let after: Counts = new Map();
    let brokerSide: Traced | undefined;
    let pcap = '';
    const capture = await startCapture(ports);
    try {
      const clientPredicate = `/${ports.map((p) => `args.rport == ${p}`).join(' || ')}/`;
      const clientSide = await traceWhile(traceScript(clientPredicate), async () => {
        brokerSide = await traceWhile(traceScript(''), async () => {
          before = await logEnds(admin, workload.topics);
          for (const [i, step] of workload.steps.entries()) {
            await runStep(step, `oracle-${seed}-s${i}-${step.client}`, broker.bootstrap, truth);
          }
          after = await logEnds(admin, workload.topics);
          truth.consumed = await consumeAll(workload, broker.bootstrap, after, `oracle-${seed}-consumer`);
          await admin.disconnect();
        }, ['-p', String(broker.pid)]);
      });
      pcap = await capture.stop();
      const exchanges = await tsharkExchanges(pcap, ports);
      for (const c of await unfinishedConnections(pcap, ports)) truthMismatch('capture', c, '', 'the capture saw this connection neither end nor reset');
      for (const t of [clientSide, brokerSide!]) {
        if (t.code !== 0 || t.stderr !== '') mismatches.push({ kind: 'exit', role: 'kafkatrace', where: `seed ${seed}`, kafkatrace: `${t.code} ${t.stderr.slice(0, 500)}`, truth: 'status 0, no stderr' });
        // -f json reports ring-buffer loss on stdout: a run that lost events cannot be judged whole.
        if (t.lost > 0) mismatches.push({ kind: 'lost', role: 'kafkatrace', where: `seed ${seed}`, kafkatrace: `${t.lost} events lost`, truth: 'no loss' });
      }
      const ours = new Set(ports);
      const all = [...firingsOf(clientSide), ...firingsOf(brokerSide!)];
      // A firing whose client end is a broker's listening port has its direction backwards.
      const firings = all.filter((f) => !ours.has(f.clientPort));
      for (const f of all.filter((x) => ours.has(x.clientPort))) {
        mismatches.push({ kind: `${f.probe}.role-inverted`, role: f.role, where: `pid ${f.pid} ${f.brokerPort}->${f.clientPort} #${f.correlationId} ${f.topic}/${f.partition}`,
          kafkatrace: `role ${f.role}, records ${f.records}`, truth: `no such exchange: ${f.brokerPort} is a client port` });
      }
      let nEx = 0;
      let nParts = 0;
      for (const role of ['client', 'broker']) {
        const mine = firings.filter((f) => f.role === role && (role === 'client' || f.pid === broker.pid));
        for (const f of firings.filter((x) => x.role === role && !mine.includes(x))) {
          mismatches.push({ kind: 'pid', role, where: `${f.clientPort}/${f.brokerPort}/${f.correlationId}`, kafkatrace: `pid ${f.pid}`, truth: `broker pid ${broker.pid}` });
        }
        const [e, p] = compareRole(role, mine, exchanges, mismatches);
        nEx += e;
        nParts += p;
      }
      // A Fetch answered on both ends (the broker's write and the client's read, seen by two
      // kafkatrace runs apart) whose answer tshark lacks: the capture missed it, not kafkatrace.
      const unanswered = (role: string): Set<string> => new Set(mismatches.filter((m) => m.kind === 'fetch.status' && m.role === role).map((m) => m.where));
      const client = unanswered('client');
      for (const where of unanswered('broker')) {
        if (!client.has(where)) continue;
        for (let i = mismatches.length - 1; i >= 0; i--) if (mismatches[i]!.kind === 'fetch.status' && mismatches[i]!.where === where) mismatches.splice(i, 1);
        mismatches.push({ kind: 'truth.fetch-response', role: 'truth', where, kafkatrace: 'answered on both ends', truth: 'tshark saw no answer' });
      }

      // The outside sources among themselves and against kafkatrace's totals.
      const produced: Counts = new Map();
      for (const s of workload.steps) for (const m of s.messages) add(produced, tp(m.topic, m.partition), 1);
      const onWire: Counts = new Map();
      const wireBase = new Map<string, Set<number>>();
      for (const ex of exchanges.values()) {
        if (ex.apiKey !== 0 || !ex.request) continue;
        for (const p of ex.request.partitions) add(onWire, tp(p.topic, p.partition), sum(p.batches.map((b) => b.records)));
        for (const p of ex.response?.partitions ?? []) {
          const k = tp(p.topic, p.partition);
          wireBase.set(k, (wireBase.get(k) ?? new Set()).add(p.offset ?? -1));
        }
      }
      const traced: Record<string, Counts> = { client: new Map(), broker: new Map() };
      for (const f of firings) if (f.probe === 'produce' && traced[f.role]) add(traced[f.role]!, tp(f.topic, f.partition), f.records);
      for (const t of workload.topics) {
        for (let p = 0; p < t.partitions; p++) {
          const k = tp(t.name, p);
          const n = produced.get(k) ?? 0;
          const delta = (after.get(k) ?? 0) - (before.get(k) ?? 0);
          if (delta !== n) truthMismatch('log-end', k, `log end moved ${delta}`, `${n} produced`);
          if ((onWire.get(k) ?? 0) !== n) truthMismatch('tshark-records', k, `tshark ${onWire.get(k) ?? 0} (${capture.log().trim().split('\n').at(-1)})`, `${n} produced`);
          if ((truth.consumed.get(k) ?? 0) !== after.get(k)) truthMismatch('consumed', k, `consumed ${truth.consumed.get(k) ?? 0}`, `log end ${after.get(k)}`);
          for (const role of ['client', 'broker']) {
            const got = traced[role]!.get(k) ?? 0;
            if (got !== delta) mismatches.push({ kind: 'produce.total', role, where: k, kafkatrace: String(got), truth: `log end moved ${delta}` });
          }
          for (const o of truth.baseOffsets.get(k) ?? []) {
            if (!wireBase.get(k)?.has(o)) truthMismatch('base-offset', k, `tshark ${[...(wireBase.get(k) ?? [])].join(',')}`, `client told ${o}`);
          }
        }
      }
      // Each Produce request a client reported: kafkajs by correlation id, librdkafka by count and version.
      const clientProduce = firings.filter((f) => f.role === 'client' && f.probe === 'produce');
      const seen = new Map<string, number>();
      for (const f of clientProduce) seen.set(`${f.clientId}/${f.brokerPort}/${f.correlationId}`, f.version);
      for (const [k, v] of truth.produceRequests) {
        const [clientId, second] = k.split('/') as [string, string];
        if (!second.startsWith('#')) {
          if (seen.get(k) !== v) mismatches.push({ kind: 'produce.request', role: 'client', where: k, kafkatrace: String(seen.get(k) ?? 'none'), truth: `kafkajs sent v${v}` });
          continue;
        }
        const versions = [...seen].filter(([s]) => s.startsWith(`${clientId}/`)).map(([, x]) => x);
        const reported = [...truth.produceRequests].filter(([s]) => s.startsWith(`${clientId}/#`)).map(([, x]) => x);
        if (second === '#0' && versions.sort().join(',') !== reported.sort().join(',')) {
          mismatches.push({ kind: 'produce.request', role: 'client', where: clientId, kafkatrace: versions.join(','), truth: `librdkafka sent ${reported.join(',')}` });
        }
      }
      return { seed, workload, exchanges: nEx, partitions: nParts, records: sum([...produced.values()]), mismatches, losses: `${lossesOf('client', clientSide)}; ${lossesOf('broker', brokerSide!)}` };
    } finally {
      await admin.disconnect().catch(() => undefined);
      if (!pcap) await capture.stop().catch(() => undefined);
      if (process.env.ORACLE_KEEP_PCAP === undefined) capture.remove();
      else console.log(`seed ${seed}: capture kept at ${pcap}`);
    }
  } finally {
    await broker.stop();
  }
}

/**
 * Mismatches from user-space decode bugs of issue 14 being fixed elsewhere: tolerated only in a run
 * whose workload has their trigger, and asserted to occur where their trigger makes them certain,
 * so that an entry must go when its bug is fixed.
 */
export const KNOWN_ISSUES: {
  name: string;
  matches: (m: Mismatch) => boolean;
  /** The workload has what the bug needs. */
  triggered: (w: Workload) => boolean;
  /** The trigger makes the bug show in every such run. */
  certain: boolean;
}[] = [];

/** The report's mismatches that no known issue explains, and the known issues seen. */
export function unexplained(r: OracleReport): { rest: Mismatch[]; known: Set<string> } {
  const known = new Set<string>();
  const rest = r.mismatches.filter((m) => {
    const k = KNOWN_ISSUES.find((x) => x.triggered(r.workload) && x.matches(m));
    if (k) known.add(k.name);
    return !k;
  });
  return { rest, known };
}

/** One line per produce step: client, codec, acks, idempotence, messages, partitions, bytes. */
export function describeWorkload(w: Workload): string {
  const steps = w.steps.map((s, i) => {
    const parts = new Set(s.messages.map((m) => tp(m.topic, m.partition))).size;
    const bytes = sum(s.messages.map((m) => m.valueSize));
    return `  produce ${i}: ${s.client} ${s.codec} acks=${s.acks}${s.idempotent ? ' idempotent' : ''}: ${s.messages.length} messages to ${parts} partitions, ${bytes} value bytes`;
  });
  return [`seed ${w.seed}: ${w.brokers} broker(s), topics ${w.topics.map((t) => `${t.name}:${t.partitions}`).join(' ')}, read back by ${w.consumer}`, ...steps].join('\n');
}

/** "1,5,9-12" → [1, 5, 9, 10, 11, 12]. */
export function parseSeeds(spec: string): number[] {
  return spec.split(',').filter((s) => s.trim() !== '').flatMap((part) => {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    if (!m) throw new Error(`bad seed list ${JSON.stringify(spec)}: use e.g. 1,5,9-12`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    return Array.from({ length: Math.max(0, hi - lo + 1) }, (_, i) => lo + i);
  });
}

/** One line per mismatch kind and role, with counts and the first example. */
export function summarize(reports: OracleReport[]): string {
  const lines = [
    `seeds ${reports.map((r) => r.seed).join(',')}: ${reports.length} runs, ${sum(reports.map((r) => r.records))} records produced, ` +
      `${sum(reports.map((r) => r.exchanges))} exchanges and ${sum(reports.map((r) => r.partitions))} partitions compared, ` +
      `${sum(reports.map((r) => r.mismatches.length))} mismatches`,
  ];
  const kinds = new Map<string, { n: number; seeds: Set<number>; first: Mismatch }>();
  for (const r of reports) {
    for (const m of r.mismatches) {
      const k = `${m.kind} (${m.role})`;
      const e = kinds.get(k) ?? { n: 0, seeds: new Set(), first: m };
      e.n++;
      e.seeds.add(r.seed);
      kinds.set(k, e);
    }
  }
  const failing = reports.filter((r) => r.mismatches.length > 0);
  lines.push(`${failing.length} of ${reports.length} seeds with mismatches${failing.length ? `: ${failing.map((r) => r.seed).join(',')}` : ''}`);
  for (const [k, e] of [...kinds].sort()) {
    lines.push(`  ${k}: ${e.n} in seeds ${[...e.seeds].slice(0, 10).join(',')}${e.seeds.size > 10 ? ',...' : ''}; e.g. ${e.first.where}: kafkatrace ${e.first.kafkatrace}, truth ${e.first.truth}`);
  }
  for (const r of failing) if (r.losses) lines.push(`  seed ${r.seed} reported ${r.losses}`);
  return lines.join('\n');
}

/** A kafka:lag firing, as printed by LAG_FORMAT. */
interface LagFiring {
  role: string;
  apiKey: number;
  exchange: string;
  topic: string;
  partition: number;
  highWatermark: number;
  committed: number;
  committedLag: number;
  fetchOffset: number;
  lag: number;
}

const LAG_ARGS = 'args.role, args.api_key, args.lport, args.rport, args.correlation_id, args.topic, args.partition, args.high_watermark, args.committed_offset, args.committed_lag, args.fetch_offset, args.lag';

function lagFiringsOf(traced: Traced): LagFiring[] {
  return traced.lines.filter((l) => l.startsWith('lag|')).map((l) => {
    const f = l.split('|');
    const role = f[1]!;
    const [lport, rport] = [Number(f[3]), Number(f[4])];
    const n = (i: number): number => Number(f[i]);
    return {
      role, apiKey: n(2), exchange: `${role === 'client' ? lport : rport}/${role === 'client' ? rport : lport}/${f[5]}`,
      topic: f[6]!, partition: n(7), highWatermark: n(8), committed: n(9), committedLag: n(10), fetchOffset: n(11), lag: n(12),
    };
  });
}

interface LagReport {
  seed: number;
  /** kafka:lag firings compared: with the Produce or Fetch exchange on the wire that caused them, and the last ones with the admin API. */
  firings: { produce: number; fetch: number; last: number };
  mismatches: Mismatch[];
}

/**
 * The lag oracle of `seed`: a kafkajs group member reads a topic, commits, and is paused while
 * producers add multi-record batches, then resumed until it caught up. Each kafka:lag firing that
 * a Produce caused must carry the log end that Produce shows on the wire (its base offset + its
 * records), one a Fetch caused at least that Fetch's high watermark, none more than the final log
 * end, and the last firing per partition the group's committed offset and log end from the admin
 * API (OffsetFetch, ListOffsets).
 */
export async function runLagOracle(seed: number): Promise<LagReport> {
  const r = rng(seed ^ 0x5eed1a6);
  const topic = `lag-${seed}`;
  const partitions = between(r, 1, 6);
  const group = `lag-${seed}-group`;
  const broker = await startMockBroker({ brokers: 1, topics: { [topic]: partitions } });
  const mismatches: Mismatch[] = [];
  const messagesOf = (max: number): OracleMessage[] => Array.from({ length: partitions }, (_, p) => p).flatMap((p) =>
    Array.from({ length: between(r, 0, max) }, () => ({ topic, partition: p, key: `k${between(r, 0, 99)}`, valueSize: between(r, 1, 2000), fill: 'l', headers: {} })));
  const initial = messagesOf(30);
  const paused = Array.from({ length: between(r, 1, 4) }, (): ProduceStep => ({
    client: pick(r, ['kafkajs', 'confluent', 'kafkajs', 'kcat'] as const), codec: pick(r, CODECS.kafkajs), acks: pick(r, [1, -1] as const), idempotent: false, messages: messagesOf(40),
  })).map((s) => (s.client === 'kcat' ? { ...s, messages: s.messages.filter((m) => m.partition === s.messages[0]?.partition) } : s))
    .filter((s) => s.messages.length > 0);
  const ports = broker.bootstrap.split(',').map((h) => Number(h.split(':')[1]));
  const script = (predicate: string): string => `kafka:lag ${predicate} { printf("lag|%s|%d|%d|%d|%d|%s|%d|%d|%d|%d|%d|%d\\n", ${LAG_ARGS}); }`;
  const truth: ClientTruth = { produceRequests: new Map(), baseOffsets: new Map(), consumed: new Map() };
  const admin = kafkajsClient(broker.bootstrap, `lag-${seed}-admin`).admin();
  const capture = await startCapture(ports);
  let pcap = '';
  try {
    let ends: Counts = new Map();
    const committed: Counts = new Map();
    const readCommitted = async (): Promise<void> => {
      const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      for (const p of offsets!.partitions) committed.set(tp(topic, p.partition), Number(p.offset));
    };
    const settle = async (what: string): Promise<void> => {
      const until = Date.now() + 30_000;
      for (;;) {
        ends = await logEnds(admin, [{ name: topic, partitions }]);
        await readCommitted();
        if ([...ends].every(([k, e]) => e === 0 || committed.get(k) === e)) return;
        if (Date.now() > until) throw new Error(`the group did not commit up to the log end ${what}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    };
    let brokerSide: Traced | undefined;
    // The group's name selects its firings. One kafkatrace seeing both ends of the group's
    // exchanges reports each change once, from the broker's side: the client's side is its own
    // process (the group member's), traced alone.
    const predicate = `/args.group == "${group}"/`;
    const clientSide = await traceWhile(script(predicate), async () => {
      brokerSide = await traceWhile(script(predicate), async () => {
        await admin.connect();
        await runStep({ client: 'kafkajs', codec: 'none', acks: -1, idempotent: false, messages: initial }, `lag-${seed}-p0`, broker.bootstrap, truth);
        const member = await startKafkajsConsumer({ bootstrap: broker.bootstrap, topic, groupId: group, clientId: `lag-${seed}-member` });
        try {
          await member.waitForMessages(initial.length, 60_000);
          await settle('before the pause');
          member.consumer.pause([{ topic }]);
          for (const [i, step] of paused.entries()) await runStep(step, `lag-${seed}-p${i + 1}`, broker.bootstrap, truth);
          member.consumer.resume([{ topic }]);
          await member.waitForMessages(initial.length + sum(paused.map((s) => s.messages.length)), 60_000);
          await settle('after the resume');
          // kafka:lag fires on the exchanges that change a lag; the commit that ends it is among them.
          await new Promise((res) => setTimeout(res, 1000));
        } finally {
          await member.stop();
          await admin.disconnect();
        }
      }, ['-p', String(broker.pid)]);
    }, ['-p', String(process.pid)]);
    pcap = await capture.stop();
    const exchanges = await tsharkExchanges(pcap, ports);
    for (const t of [clientSide, brokerSide!]) {
      if (t.code !== 0 || t.stderr !== '') mismatches.push({ kind: 'exit', role: 'kafkatrace', where: `seed ${seed}`, kafkatrace: `${t.code} ${t.stderr.slice(0, 500)}`, truth: 'status 0, no stderr' });
      if (t.lost > 0) mismatches.push({ kind: 'lost', role: 'kafkatrace', where: `seed ${seed}`, kafkatrace: `${t.lost} events lost`, truth: 'no loss' });
    }
    const firings = [...lagFiringsOf(clientSide), ...lagFiringsOf(brokerSide!)];
    const compared = { produce: 0, fetch: 0, last: 0 };
    for (const f of firings) {
      const ex = exchanges.get(f.exchange);
      if (!ex || (f.apiKey !== 0 && f.apiKey !== 1)) continue;
      const where = `${f.exchange} ${f.apiKey === 0 ? 'Produce' : 'Fetch'} ${f.topic}/${f.partition}`;
      const k = tp(f.topic, f.partition);
      let end: number | undefined;
      if (f.apiKey === 0) {
        const req = ex.request?.partitions.find((p) => tp(p.topic, p.partition) === k);
        const resp = ex.response?.partitions.find((p) => tp(p.topic, p.partition) === k);
        if (req && resp?.offset !== undefined && resp.offset >= 0) end = resp.offset + sum(req.batches.map((b) => b.records));
      } else {
        end = ex.response?.partitions.find((p) => tp(p.topic, p.partition) === k)?.highWatermark;
      }
      if (end === undefined) continue;
      compared[f.apiKey === 0 ? 'produce' : 'fetch']++;
      // The log end is the highest seen: a Produce's end is the log's end when it is answered; a
      // Fetch answer's high watermark can be older than a Produce answered before it.
      const bad = f.apiKey === 0 ? f.highWatermark !== end : f.highWatermark < end;
      if (bad) mismatches.push({ kind: `lag.high_watermark(${f.apiKey === 0 ? 'produce' : 'fetch'})`, role: f.role, where, kafkatrace: String(f.highWatermark), truth: `log end ${f.apiKey === 0 ? '' : 'at least '}${end} on the wire` });
    }
    // A Produce acknowledged while the group is paused raises its partitions' log ends past all
    // seen before: each must fire, on the broker's side and on the client's when it is this process.
    for (const [key, ex] of exchanges) {
      const step = /^lag-\d+-p(\d+)$/.exec(ex.request?.clientId ?? '');
      if (ex.apiKey !== 0 || !step || step[1] === '0' || ex.request?.acks === 0) continue;
      const inProcess = paused[Number(step[1]) - 1]?.client !== 'kcat';
      for (const p of ex.response?.partitions ?? []) {
        if (p.error !== 0 || p.offset === undefined || p.offset < 0) continue;
        for (const role of inProcess ? ['client', 'broker'] : ['broker']) {
          compared.produce++;
          if (!firings.some((f) => f.role === role && f.exchange === key && f.topic === p.topic && f.partition === p.partition)) {
            mismatches.push({ kind: 'lag.missing(produce)', role, where: `${key} Produce ${p.topic}/${p.partition}`, kafkatrace: 'no firing', truth: `log end raised to ${p.offset}+records` });
          }
        }
      }
    }
    for (const f of firings) {
      const end = ends.get(tp(f.topic, f.partition)) ?? 0;
      if (f.highWatermark > end) mismatches.push({ kind: 'lag.high_watermark(beyond)', role: f.role, where: `${f.exchange} ${f.topic}/${f.partition}`, kafkatrace: String(f.highWatermark), truth: `final log end ${end}` });
    }
    for (const role of ['client', 'broker']) {
      for (let p = 0; p < partitions; p++) {
        const k = tp(topic, p);
        const last = firings.filter((f) => f.role === role && tp(f.topic, f.partition) === k).at(-1);
        const end = ends.get(k) ?? 0;
        if (end === 0) continue;
        compared.last++;
        const want = { highWatermark: end, committed: committed.get(k) ?? -1, committedLag: end - (committed.get(k) ?? 0), lag: 0 };
        const got = last ? { highWatermark: last.highWatermark, committed: last.committed, committedLag: last.committedLag, lag: last.lag } : undefined;
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          mismatches.push({ kind: 'lag.last', role, where: `${group} ${k}`, kafkatrace: JSON.stringify(got ?? 'no firing'), truth: `admin API ${JSON.stringify(want)}` });
        }
      }
    }
    return { seed, firings: compared, mismatches };
  } finally {
    await admin.disconnect().catch(() => undefined);
    if (!pcap) await capture.stop().catch(() => undefined);
    capture.remove();
    await broker.stop();
  }
}
