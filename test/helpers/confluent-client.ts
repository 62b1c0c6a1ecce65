// @confluentinc/kafka-javascript (librdkafka 2.15, its node-rdkafka API) as a test client, with its
// own account of what it did: delivery reports (partition, offset), the versions it sent (its
// "protocol" debug log), the version ranges the broker offered ("feature"), and each JoinGroup
// answer it got (member id, generation: its "cgrp" log). Also a mock broker built against the same
// bundled librdkafka: Debian's librdkafka 2.0 mock offers Produce up to v7 and Fetch up to v11,
// never a flexible version; the 2.15 mock offers Produce v10 and Fetch v16. Every helper cleans up:
// clients disconnect before their promise settles.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ROOT } from './cli.js';

const require = createRequire(join(ROOT, 'package.json'));
const PACKAGE = '@confluentinc/kafka-javascript';

interface LogEvent {
  message: string;
}

interface DeliveryReport {
  topic: string;
  partition: number;
  offset: number;
}

interface TopicPartition {
  topic: string;
  partition: number;
}

interface ConsumedRecord {
  topic: string;
  partition: number;
  offset: number;
}

interface RdkError {
  code: number;
  message: string;
}

interface RdkClient {
  connect(opts: object, cb: (err: RdkError | null) => void): void;
  disconnect(cb: (err?: RdkError | null) => void): void;
  on(event: 'event.log', fn: (log: LogEvent) => void): this;
  on(event: 'event.error', fn: (err: RdkError) => void): this;
}

interface RdkProducer extends RdkClient {
  on(event: 'delivery-report', fn: (err: RdkError | null, report: DeliveryReport) => void): this;
  on(event: 'event.log', fn: (log: LogEvent) => void): this;
  on(event: 'event.error', fn: (err: RdkError) => void): this;
  setPollInterval(ms: number): void;
  produce(topic: string, partition: number | null, value: Buffer, key: string | null, timestamp?: number | null, opaque?: unknown, headers?: Record<string, string>[]): void;
}

interface RdkConsumer extends RdkClient {
  on(event: 'rebalance', fn: (err: RdkError, assignment: TopicPartition[]) => void): this;
  on(event: 'data', fn: (record: ConsumedRecord) => void): this;
  on(event: 'event.log', fn: (log: LogEvent) => void): this;
  on(event: 'event.error', fn: (err: RdkError) => void): this;
  subscribe(topics: string[]): void;
  consume(): void;
}

interface ConfluentModule {
  librdkafkaVersion: string;
  Producer: new (conf: Record<string, unknown>) => RdkProducer;
  KafkaConsumer: new (conf: Record<string, unknown>, topicConf: Record<string, unknown>) => RdkConsumer;
}

const ASSIGN_PARTITIONS = -175;

let loaded: ConfluentModule | undefined;

/** Why the library cannot be used here (not installed, does not load), or undefined when it can. */
export function confluentProblem(): string | undefined {
  try {
    loaded ??= require(PACKAGE) as ConfluentModule;
    return undefined;
  } catch (e) {
    return `${PACKAGE} cannot be loaded: ${(e as Error).message.split('\n')[0]}`;
  }
}

function confluent(): ConfluentModule {
  const problem = confluentProblem();
  if (problem) throw new Error(problem);
  return loaded!;
}

/** The version of the librdkafka the library runs on ("2.15.1"). */
export function confluentLibrdkafkaVersion(): string {
  return confluent().librdkafkaVersion;
}

/**
 * Builds src/demo/mock-broker.c against the library's bundled librdkafka (headers and
 * shared object under its build/deps) into build/test/, unless already newer than the source;
 * returns the binary, for startMockBroker({ binary }).
 */
export function confluentMockBroker(): string {
  const deps = join(dirname(require.resolve(`${PACKAGE}/package.json`)), 'build', 'deps');
  const source = join(ROOT, 'src', 'demo', 'mock-broker.c');
  const out = join(ROOT, 'build', 'test', `kafkatrace-mock-broker-rdkafka-${confluentLibrdkafkaVersion()}`);
  if (!existsSync(out) || statSync(source).mtimeMs > statSync(out).mtimeMs) {
    mkdirSync(dirname(out), { recursive: true });
    // The bundled rdkafka.h trips -Wignored-qualifiers; the source is warning-free against Debian's.
    execFileSync('cc', ['-O2', '-o', out, `-I${join(deps, 'include')}`, source, `-L${deps}`, '-lrdkafka', `-Wl,-rpath,${deps}`]);
  }
  return out;
}

/** What librdkafka's protocol and feature debug logs say of one client's connections. */
export interface ProtocolLog {
  /** "Sent XRequest (vN" lines: request name (librdkafka's, e.g. "Produce", "ApiVersion") → versions sent. */
  sent: Map<string, number[]>;
  /** "ApiKey X (k) Versions a..b" lines: the broker's offered range per API key (last seen). */
  offered: Map<number, [number, number]>;
}

function newProtocolLog(): ProtocolLog {
  return { sent: new Map(), offered: new Map() };
}

function readProtocolLine(log: ProtocolLog, message: string): void {
  const sent = /Sent (\w+)Request \(v(\d+),/.exec(message);
  if (sent) log.sent.set(sent[1]!, [...(log.sent.get(sent[1]!) ?? []), Number(sent[2])]);
  const offered = /ApiKey \S+ \((\d+)\) Versions (\d+)\.\.(\d+)/.exec(message);
  if (offered) log.offered.set(Number(offered[1]), [Number(offered[2]), Number(offered[3])]);
}

interface ConfluentProduced {
  /** Delivery reports, in the order they came. */
  reports: DeliveryReport[];
  /** Successful deliveries per partition. */
  perPartition: Record<number, number>;
  protocol: ProtocolLog;
}

/** One message for produceMessagesWithConfluent; partition null lets librdkafka's partitioner choose. */
interface ConfluentMessage {
  topic: string;
  partition: number | null;
  key: string | null;
  value: Buffer;
  headers?: Record<string, string>[];
}

/**
 * Produces `messages` with the node-rdkafka API (`config`: more librdkafka properties, e.g. acks,
 * compression.codec, enable.idempotence), waits for every delivery report and disconnects. Fails
 * on a failed delivery.
 */
export async function produceMessagesWithConfluent(opts: {
  bootstrap: string;
  clientId: string;
  messages: ConfluentMessage[];
  config?: Record<string, string | number | boolean>;
  timeoutMs?: number;
}): Promise<ConfluentProduced> {
  const { Producer } = confluent();
  const producer = new Producer({
    'bootstrap.servers': opts.bootstrap,
    'client.id': opts.clientId,
    dr_cb: true,
    debug: 'protocol,feature',
    log_level: 7,
    ...opts.config,
  });
  const protocol = newProtocolLog();
  const reports: DeliveryReport[] = [];
  const failures: string[] = [];
  producer.on('event.log', (l) => readProtocolLine(protocol, l.message));
  producer.on('delivery-report', (err, r) => {
    if (err) failures.push(`${err.code} ${err.message}`);
    else reports.push({ topic: r.topic, partition: r.partition, offset: r.offset });
  });
  await new Promise<void>((resolve, reject) => producer.connect({}, (e) => (e ? reject(new Error(e.message)) : resolve())));
  try {
    producer.setPollInterval(20);
    for (const m of opts.messages) producer.produce(m.topic, m.partition, m.value, m.key, null, undefined, m.headers);
    const until = Date.now() + (opts.timeoutMs ?? 30_000);
    while (reports.length + failures.length < opts.messages.length) {
      if (Date.now() > until) throw new Error(`${reports.length} of ${opts.messages.length} delivery reports within the timeout`);
      await new Promise((r) => setTimeout(r, 20));
    }
    if (failures.length > 0) throw new Error(`failed deliveries: ${failures.join(', ')}`);
  } finally {
    producer.setPollInterval(0);
    await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
  }
  const perPartition: Record<number, number> = {};
  for (const r of reports) perPartition[r.partition] = (perPartition[r.partition] ?? 0) + 1;
  return { reports, perPartition, protocol };
}

/**
 * Produces `count` messages keyed "k<i>" (librdkafka's partitioner spreads them) to one topic;
 * see produceMessagesWithConfluent.
 */
export function produceWithConfluent(opts: { bootstrap: string; topic: string; count: number; clientId: string; timeoutMs?: number }): Promise<ConfluentProduced> {
  const messages = Array.from({ length: opts.count }, (_, i) => ({ topic: opts.topic, partition: null, key: `k${i}`, value: Buffer.from(`m${i}`) }));
  return produceMessagesWithConfluent({ bootstrap: opts.bootstrap, clientId: opts.clientId, messages, ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }) });
}

/** A JoinGroup answer as the member logged it ("JoinGroup response: GenerationId ..., my MemberId ..."). */
export interface ConfluentJoin {
  generation: number;
  memberId: string;
  leaderId: string;
  /** Members the answer lists: all of the generation's for the leader, 0 for the others. */
  listed: number;
}

export interface ConfluentMember {
  clientId: string;
  /** Successful JoinGroup answers, in order. */
  joins: ConfluentJoin[];
  /** SyncGroup answers the member logged, with the member id and generation of its latest join. */
  syncs: { memberId: string; generation: number; ok: boolean }[];
  /** Records delivered to the application. */
  records: ConsumedRecord[];
  protocol: ProtocolLog;
  /** Errors the client reported through event.error. */
  errors: string[];
  /** The latest assignment handed to rebalance_cb ("topic/partition"), empty after a revoke. */
  current(): string[];
  /** Leaves the group and disconnects. */
  stop(): Promise<void>;
}

/**
 * Starts a group member (classic protocol, eager range assignment, from the earliest offset) with
 * the node-rdkafka API, subscribed to `topic` and consuming in flowing mode.
 */
export async function startConfluentConsumer(opts: { bootstrap: string; topic: string; groupId: string; clientId: string }): Promise<ConfluentMember> {
  const { KafkaConsumer } = confluent();
  const consumer = new KafkaConsumer({
    'bootstrap.servers': opts.bootstrap,
    'client.id': opts.clientId,
    'group.id': opts.groupId,
    'group.protocol': 'classic',
    'partition.assignment.strategy': 'range',
    'session.timeout.ms': 10_000,
    'heartbeat.interval.ms': 500,
    // Long polls end soon: one sent under an assignment the member is about to lose is answered
    // before the tests produce (else its answer may carry records another member fetches too).
    'fetch.wait.max.ms': 100,
    debug: 'protocol,feature,cgrp',
    log_level: 7,
    rebalance_cb: true,
  }, { 'auto.offset.reset': 'earliest' });
  let current: string[] = [];
  const member: ConfluentMember = {
    clientId: opts.clientId,
    joins: [],
    syncs: [],
    records: [],
    protocol: newProtocolLog(),
    errors: [],
    current: () => current,
    stop: () => new Promise<void>((resolve) => consumer.disconnect(() => resolve())),
  };
  consumer.on('event.log', (l) => {
    readProtocolLine(member.protocol, l.message);
    const join = /JoinGroup response: GenerationId (-?\d+), Protocol \S*, LeaderId (\S*?)(?: \(me\))?, my MemberId (\S+), member metadata count (\d+): \(no error\)/.exec(l.message);
    if (join) member.joins.push({ generation: Number(join[1]), leaderId: join[2]!, memberId: join[3]!, listed: Number(join[4]) });
    const sync = /SyncGroup response: (.*) \(\d+ bytes of MemberState data\)/.exec(l.message);
    const last = member.joins.at(-1);
    if (sync && last) member.syncs.push({ memberId: last.memberId, generation: last.generation, ok: sync[1] === 'Success' });
  });
  consumer.on('event.error', (e) => member.errors.push(`${e.code} ${e.message}`));
  consumer.on('rebalance', (err, assignment) => {
    current = err.code === ASSIGN_PARTITIONS ? assignment.map((tp) => `${tp.topic}/${tp.partition}`) : [];
  });
  consumer.on('data', (r) => member.records.push({ topic: r.topic, partition: r.partition, offset: r.offset }));
  await new Promise<void>((resolve, reject) => consumer.connect({}, (e) => (e ? reject(new Error(e.message)) : resolve())));
  consumer.subscribe([opts.topic]);
  consumer.consume();
  return member;
}
