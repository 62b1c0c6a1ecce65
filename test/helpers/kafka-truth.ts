// Truth from Apache Kafka itself, never from kafkatrace: the brokers' JMX counters (read by the Java
// peer's Jmx command), `kafka-consumer-groups --describe` (ConsumerGroupCommand) and
// `kafka-get-offsets` (GetOffsetShell), run from the broker's own jars in build/kafka/libs.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.js';
import { kafka3ClientsVersion, startJavaPeer, type KafkaCluster } from './real-kafka.js';

const KAFKA_LIBS = join(ROOT, 'build', 'kafka', 'libs');

/** The cluster's exact JMX counters (their Count attributes), summed over its brokers. */
export interface JmxCounters {
  /** topic → BrokerTopicMetrics MessagesInPerSec, BytesInPerSec and BytesOutPerSec (records and bytes appended by leaders, bytes sent to consumers). */
  topics: Map<string, { messagesIn: number; bytesIn: number; bytesOut: number }>;
  /** "Request,version" (e.g. "Produce,11", "FetchConsumer,17") → RequestMetrics RequestsPerSec. */
  requests: Map<string, number>;
  /** request → RequestMetrics TotalTimeMs: requests timed, and their total time in ms (count × the broker's mean, summed over brokers). */
  totalTimeMs: Map<string, { count: number; sumMs: number }>;
}

/** One line of the Jmx command (test/peers/java/.../Jmx.java). */
interface JmxLine {
  event: string;
  jmx: string;
  type: string;
  name: string;
  topic?: string;
  request?: string;
  version?: string;
  count: number;
  mean?: number | null;
}

/** Folds the Jmx command's lines into cluster-wide counters; throws on a line it does not know. */
export function parseJmx(lines: readonly JmxLine[]): JmxCounters {
  const out: JmxCounters = { topics: new Map(), requests: new Map(), totalTimeMs: new Map() };
  for (const l of lines) {
    if (l.event !== 'metric') continue;
    if (l.type === 'BrokerTopicMetrics' && l.topic !== undefined) {
      const t = out.topics.get(l.topic) ?? { messagesIn: 0, bytesIn: 0, bytesOut: 0 };
      if (l.name === 'MessagesInPerSec') t.messagesIn += l.count;
      else if (l.name === 'BytesInPerSec') t.bytesIn += l.count;
      else if (l.name === 'BytesOutPerSec') t.bytesOut += l.count;
      else throw new Error(`unexpected JMX metric ${JSON.stringify(l)}`);
      out.topics.set(l.topic, t);
    } else if (l.type === 'RequestMetrics' && l.name === 'RequestsPerSec' && l.request !== undefined && l.version !== undefined) {
      const key = `${l.request},${l.version}`;
      out.requests.set(key, (out.requests.get(key) ?? 0) + l.count);
    } else if (l.type === 'RequestMetrics' && l.name === 'TotalTimeMs' && l.request !== undefined) {
      const t = out.totalTimeMs.get(l.request) ?? { count: 0, sumMs: 0 };
      t.count += l.count;
      t.sumMs += l.count * (l.mean ?? 0);
      out.totalTimeMs.set(l.request, t);
    } else {
      throw new Error(`unexpected JMX metric ${JSON.stringify(l)}`);
    }
  }
  return out;
}

/** Reads every broker's counters now (a cluster started with `jmx`). */
export async function readJmx(cluster: KafkaCluster): Promise<JmxCounters> {
  const endpoints = cluster.nodes.map((n) => {
    if (n.jmxPort === undefined) throw new Error('readJmx: the cluster was started without jmx');
    return `127.0.0.1:${n.jmxPort}`;
  });
  const r = await startJavaPeer(kafka3ClientsVersion(), 'Jmx', endpoints, 120_000).done;
  if (r.code !== 0) throw new Error(`reading JMX failed (${r.code}): ${r.stderr}`);
  return parseJmx(r.events as unknown as JmxLine[]);
}

/** What the counters grew by from `before` to `after` (zero changes left out). */
export function jmxDelta(before: JmxCounters, after: JmxCounters): JmxCounters {
  const topics: JmxCounters['topics'] = new Map();
  for (const [topic, a] of after.topics) {
    const b = before.topics.get(topic) ?? { messagesIn: 0, bytesIn: 0, bytesOut: 0 };
    const d = { messagesIn: a.messagesIn - b.messagesIn, bytesIn: a.bytesIn - b.bytesIn, bytesOut: a.bytesOut - b.bytesOut };
    if (d.messagesIn !== 0 || d.bytesIn !== 0 || d.bytesOut !== 0) topics.set(topic, d);
  }
  const requests = new Map<string, number>();
  for (const [key, n] of after.requests) {
    const d = n - (before.requests.get(key) ?? 0);
    if (d !== 0) requests.set(key, d);
  }
  const totalTimeMs: JmxCounters['totalTimeMs'] = new Map();
  for (const [request, a] of after.totalTimeMs) {
    const b = before.totalTimeMs.get(request) ?? { count: 0, sumMs: 0 };
    if (a.count !== b.count) totalTimeMs.set(request, { count: a.count - b.count, sumMs: a.sumMs - b.sumMs });
  }
  return { topics, requests, totalTimeMs };
}

/** Runs one of Kafka's own tools (a main class of build/kafka/libs) to its end. */
export async function kafkaTool(main: string, args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn('java', ['-Xmx256m', '-cp', `${KAFKA_LIBS}/*`, main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** A table the tools print: a header line of column names, then rows; "-" reads as undefined. */
export type ToolRow = Record<string, string | undefined>;

/**
 * Parses the tables `kafka-consumer-groups --describe` prints (one per group; with --state a column is
 * "COORDINATOR (ID)" and its values "host:port (id)", so names and values are matched token for token,
 * neither holding a space otherwise). Lines that are not part of a table (notes such as "Consumer
 * group 'g' has no active members.") are skipped; a row whose tokens do not match its header throws.
 */
export function parseToolTables(text: string, firstColumn = 'GROUP'): ToolRow[] {
  const rows: ToolRow[] = [];
  let header: string[] | undefined;
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/).filter((t) => t !== '');
    if (tokens.length === 0) {
      header = undefined;
      continue;
    }
    if (tokens[0] === firstColumn) {
      header = tokens;
      continue;
    }
    if (!header) continue;
    if (tokens.length !== header.length) throw new Error(`a row of ${tokens.length} values under ${header.length} columns: ${JSON.stringify(line)}`);
    rows.push(Object.fromEntries(header.map((h, i) => [h, tokens[i] === '-' ? undefined : tokens[i]])));
  }
  return rows;
}

/** A partition's row of `kafka-consumer-groups --describe --group G` (offsets): undefined where the tool prints "-". */
export interface GroupOffsetRow {
  group: string;
  topic: string;
  partition: number;
  current?: number;
  logEnd?: number;
  lag?: number;
  consumerId?: string;
  clientId?: string;
}

const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));

/** `kafka-consumer-groups --describe --group GROUP`: per partition, committed offset, log end and lag. */
export async function describeGroupOffsets(cluster: KafkaCluster, group: string): Promise<GroupOffsetRow[]> {
  const rows = parseToolTables(await consumerGroups(cluster, ['--describe', '--group', group]));
  return rows.map((r) => ({
    group: r['GROUP']!,
    topic: r['TOPIC']!,
    partition: Number(r['PARTITION']),
    ...optional('current', num(r['CURRENT-OFFSET'])),
    ...optional('logEnd', num(r['LOG-END-OFFSET'])),
    ...optional('lag', num(r['LAG'])),
    ...optional('consumerId', r['CONSUMER-ID']),
    ...optional('clientId', r['CLIENT-ID']),
  }));
}

/** `kafka-consumer-groups --describe --group GROUP --state`: its state and member count. */
export async function describeGroupState(cluster: KafkaCluster, group: string): Promise<{ state: string; members: number }> {
  const rows = parseToolTables(await consumerGroups(cluster, ['--describe', '--group', group, '--state']));
  if (rows.length !== 1) throw new Error(`kafka-consumer-groups --state printed ${rows.length} rows for ${group}`);
  return { state: rows[0]!['STATE']!, members: Number(rows[0]!['#MEMBERS']) };
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

async function consumerGroups(cluster: KafkaCluster, args: string[]): Promise<string> {
  const r = await kafkaTool('org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', ['--bootstrap-server', cluster.bootstrap, ...args]);
  // It exits 0 also when it fails (e.g. a group not found), saying so on stdout.
  if (r.code !== 0 || /^Error: /m.test(r.stdout)) throw new Error(`kafka-consumer-groups ${args.join(' ')} failed (${r.code}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** Parses `kafka-get-offsets` output, "topic:partition:offset" a line, into "topic,partition" → offset. */
export function parseGetOffsets(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    // Topic names hold no ':' (Kafka allows [a-zA-Z0-9._-]); the last two fields are numbers.
    const m = /^(.+):(\d+):(-?\d+)$/.exec(line.trim());
    if (!m) throw new Error(`not a kafka-get-offsets line: ${JSON.stringify(line)}`);
    out.set(`${m[1]},${m[2]}`, Number(m[3]));
  }
  return out;
}

/** `kafka-get-offsets --time latest`: the log end offset of every partition of the topics matching `topics` (a regular expression). */
export async function logEndOffsets(cluster: KafkaCluster, topics: string): Promise<Map<string, number>> {
  const r = await kafkaTool('org.apache.kafka.tools.GetOffsetShell', ['--bootstrap-server', cluster.bootstrap, '--topic', topics, '--time', 'latest']);
  if (r.code !== 0) throw new Error(`kafka-get-offsets failed (${r.code}): ${r.stderr}${r.stdout}`);
  return parseGetOffsets(r.stdout);
}

/** A batch of a partition's log: its first offset and how many offsets it spans. */
export interface LogBatch {
  base: number;
  count: number;
}

/** The batches of the log segments in `dir` (one partition's), as `kafka-dump-log` prints them. */
export async function logBatches(dir: string): Promise<LogBatch[]> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.log')).sort().map((f) => join(dir, f));
  const r = await kafkaTool('org.apache.kafka.tools.DumpLogSegments', ['--files', files.join(',')]);
  if (r.code !== 0) throw new Error(`kafka-dump-log failed (${r.code}): ${r.stderr}${r.stdout}`);
  return [...r.stdout.matchAll(/^baseOffset: (\d+) lastOffset: (\d+) count: \d+/gm)].map((m) => ({ base: Number(m[1]), count: Number(m[2]) - Number(m[1]) + 1 }));
}
