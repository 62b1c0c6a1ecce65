// Real Kafka clients for tests: kafkajs (pure JS, its own API versions and its own request
// instrumentation, the ground truth to compare kafkatrace with) and kcat (librdkafka). Every helper
// cleans up after itself: clients disconnect, kcat processes are awaited or killed.
import { spawn } from 'node:child_process';
import kafkajs from 'kafkajs';
import type { Consumer, ConsumerGroupJoinEvent, Kafka as KafkaClient, RequestEvent } from 'kafkajs';

const { Kafka, logLevel, Partitioners } = kafkajs;

/** One request as kafkajs reports it (producer.events.REQUEST / consumer.events.REQUEST). */
export interface KafkajsRequest {
  role: 'producer' | 'consumer';
  apiName: string;
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string;
  broker: string;
  /** Bytes of the encoded request as kafkajs counts them. */
  size: number;
  /** Milliseconds from send to response. */
  duration: number;
}

export interface KafkajsGroupJoin {
  groupId: string;
  memberId: string;
  leaderId: string;
  isLeader: boolean;
  groupProtocol: string;
  memberAssignment: Record<string, number[]>;
  duration: number;
}

export interface ConsumedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
}

/** A kafkajs REQUEST instrumentation event as a KafkajsRequest. */
export function requestOf(role: KafkajsRequest['role'], e: RequestEvent): KafkajsRequest {
  const p = e.payload;
  return {
    role,
    apiName: p.apiName,
    apiKey: p.apiKey,
    apiVersion: p.apiVersion,
    correlationId: p.correlationId,
    clientId: p.clientId,
    broker: p.broker,
    size: p.size,
    duration: p.duration,
  };
}

/** A kafkajs client for a bootstrap list "host:port,host:port", quiet below errors. */
export function kafkajsClient(bootstrap: string, clientId = 'kafkatrace-test'): KafkaClient {
  return new Kafka({
    clientId,
    brokers: bootstrap.split(','),
    logLevel: logLevel.ERROR,
    retry: { retries: 5, initialRetryTime: 100 },
  });
}

/** A message value of exactly `size` bytes, different per index so nothing compresses by accident. */
function messageValue(index: number, size: number): string {
  const tag = `m${index}:`;
  if (size <= tag.length) return tag.slice(0, size);
  return tag + 'x'.repeat(size - tag.length);
}

interface ProduceOptions {
  bootstrap: string;
  topic: string;
  count: number;
  /** Bytes per message value (default: short "m<i>:" values). */
  valueSize?: number;
  /** Only one partition (default: the client's partitioner chooses). */
  partition?: number;
  clientId?: string;
  /** Messages per produce request (kafkajs: per send() call; default all in one). */
  batch?: number;
}

/** Produces `count` messages with kafkajs; resolves to every request kafkajs made, in order. */
export async function produceWithKafkajs(opts: ProduceOptions): Promise<KafkajsRequest[]> {
  const requests: KafkajsRequest[] = [];
  const producer = kafkajsClient(opts.bootstrap, opts.clientId).producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  producer.on(producer.events.REQUEST, (e) => requests.push(requestOf('producer', e)));
  await producer.connect();
  try {
    const batch = opts.batch ?? opts.count;
    for (let start = 0; start < opts.count; start += batch) {
      const messages = [];
      for (let i = start; i < Math.min(opts.count, start + batch); i++) {
        messages.push({
          key: `k${i}`,
          value: opts.valueSize === undefined ? `m${i}` : messageValue(i, opts.valueSize),
          ...(opts.partition === undefined ? {} : { partition: opts.partition }),
        });
      }
      await producer.send({ topic: opts.topic, messages });
    }
  } finally {
    await producer.disconnect();
  }
  return requests;
}

interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
  pid: number;
}

/** Runs a command (no shell) with `input` on stdin; killed after `timeoutMs`. */
export function runCommand(cmd: string, args: string[], input = '', timeoutMs = 30_000): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const pid = child.pid ?? -1;
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${cmd}: ${e.message}`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, pid });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

async function runKcat(args: string[], input: string, timeoutMs: number): Promise<ProcessResult> {
  const r = await runCommand('kcat', args, input, timeoutMs);
  if (r.code !== 0) throw new Error(`kcat ${args.join(' ')} failed (status ${r.code}): ${r.stderr.trim()}`);
  return r;
}

interface KcatProduceOptions extends ProduceOptions {
  /** More librdkafka properties, passed as -X name=value. */
  config?: Record<string, string>;
  timeoutMs?: number;
}

/**
 * Produces `count` messages with kcat (librdkafka), one per line; for values above 1 MB raise
 * message.max.bytes through `config`. Resolves to kcat's pid (for a capture filter on it).
 */
export async function produceWithKcat(opts: KcatProduceOptions): Promise<number> {
  const lines: string[] = [];
  for (let i = 0; i < opts.count; i++) {
    lines.push(opts.valueSize === undefined ? `m${i}` : messageValue(i, opts.valueSize));
  }
  const args = ['-P', '-b', opts.bootstrap, '-t', opts.topic, '-X', `client.id=${opts.clientId ?? 'kafkatrace-kcat'}`];
  if (opts.partition !== undefined) args.push('-p', String(opts.partition));
  for (const [k, v] of Object.entries(opts.config ?? {})) args.push('-X', `${k}=${v}`);
  const r = await runKcat(args, lines.join('\n') + '\n', opts.timeoutMs ?? 30_000);
  return r.pid;
}

/** Reads `count` messages of one partition from the beginning with kcat; resolves to their values. */
export async function consumeWithKcat(opts: {
  bootstrap: string;
  topic: string;
  partition: number;
  count: number;
  timeoutMs?: number;
}): Promise<string[]> {
  const args = ['-C', '-b', opts.bootstrap, '-t', opts.topic, '-p', String(opts.partition), '-o', 'beginning',
    '-c', String(opts.count), '-e', '-q', '-f', '%s\\n'];
  const r = await runKcat(args, '', opts.timeoutMs ?? 30_000);
  return r.stdout.split('\n').filter((l) => l !== '');
}

export interface GroupMember {
  consumer: Consumer;
  messages: ConsumedMessage[];
  requests: KafkajsRequest[];
  joins: KafkajsGroupJoin[];
  /** Resolves once at least `n` messages arrived; rejects after `timeoutMs`. */
  waitForMessages(n: number, timeoutMs?: number): Promise<ConsumedMessage[]>;
  /** Resolves with the first GROUP_JOIN event (or the one already seen). */
  waitForJoin(timeoutMs?: number): Promise<KafkajsGroupJoin>;
  /** Leaves the group and disconnects. */
  stop(): Promise<void>;
}

function waitUntil<T>(check: () => T | undefined, onChange: (fn: () => void) => void, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const now = check();
    if (now !== undefined) return resolve(now);
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    onChange(() => {
      const v = check();
      if (v === undefined) return;
      clearTimeout(timer);
      resolve(v);
    });
  });
}

/** Starts a kafkajs consumer group member subscribed to `topic` or topics (from the beginning by default). */
export async function startKafkajsConsumer(opts: {
  bootstrap: string;
  topic: string | string[];
  groupId: string;
  clientId?: string;
  fromBeginning?: boolean;
  /** How long the coordinator waits for members to rejoin (kafkajs's default: 60 s). */
  rebalanceTimeout?: number;
}): Promise<GroupMember> {
  const consumer = kafkajsClient(opts.bootstrap, opts.clientId).consumer({
    groupId: opts.groupId,
    allowAutoTopicCreation: false,
    // The mock cluster makes a group's first join wait its rebalance delay; keep the rest short.
    heartbeatInterval: 500,
    sessionTimeout: 10_000,
    ...(opts.rebalanceTimeout === undefined ? {} : { rebalanceTimeout: opts.rebalanceTimeout }),
  });
  const messages: ConsumedMessage[] = [];
  const requests: KafkajsRequest[] = [];
  const joins: KafkajsGroupJoin[] = [];
  const listeners: (() => void)[] = [];
  const notify = (): void => {
    for (const l of listeners) l();
  };
  consumer.on(consumer.events.REQUEST, (e) => requests.push(requestOf('consumer', e)));
  consumer.on(consumer.events.GROUP_JOIN, (e: ConsumerGroupJoinEvent) => {
    const p = e.payload;
    joins.push({
      groupId: p.groupId,
      memberId: p.memberId,
      leaderId: p.leaderId,
      isLeader: p.isLeader,
      groupProtocol: p.groupProtocol,
      memberAssignment: p.memberAssignment as Record<string, number[]>,
      duration: p.duration,
    });
    notify();
  });
  await consumer.connect();
  await consumer.subscribe({ topics: typeof opts.topic === 'string' ? [opts.topic] : opts.topic, fromBeginning: opts.fromBeginning ?? true });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      messages.push({
        topic,
        partition,
        offset: message.offset,
        key: message.key === null ? null : message.key.toString(),
        value: message.value === null ? null : message.value.toString(),
      });
      notify();
    },
  });
  return {
    consumer,
    messages,
    requests,
    joins,
    waitForMessages: (n, timeoutMs = 30_000) =>
      waitUntil(() => (messages.length >= n ? messages : undefined), (fn) => listeners.push(fn), timeoutMs, `${n} messages`),
    waitForJoin: (timeoutMs = 30_000) =>
      waitUntil(() => joins[0], (fn) => listeners.push(fn), timeoutMs, 'a group join'),
    stop: () => consumer.disconnect(),
  };
}
