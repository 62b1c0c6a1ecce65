// Starts and stops build/kafkatrace-mock-broker (src/demo/mock-broker.c): a librdkafka
// mock Kafka cluster on 127.0.0.1, a real wire-protocol peer for tests and demos.
// No broker outlives us: stop() ends it, an exit hook kills any left running, and the broker itself
// exits when its stdin pipe closes (which also covers our dying by SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BUILD_HINT } from '../kafka/capture/build.js';
import { packageRoot } from '../package-root.js';

/** Where scripts/build-kafka.mjs puts the mock broker. */
export function mockBrokerPath(): string {
  return join(packageRoot(), 'build', 'kafkatrace-mock-broker');
}
import { KtError } from '../errors.js';

export interface MockTopic {
  name: string;
  partitions: number;
  /** At most the broker count; 1 by default. */
  replication?: number;
}

export interface MockBrokerOptions {
  /** Number of brokers in the cluster, 1 to 64 (default 1). */
  brokers?: number;
  /** Topics created up front: a list, or a name → partition count record. */
  topics?: MockTopic[] | Record<string, number>;
  /** Milliseconds to wait for the bootstrap line (default 10000). */
  startTimeoutMs?: number;
  /** The broker binary (default build/kafkatrace-mock-broker). */
  binary?: string;
}

export interface MockBroker {
  /** "127.0.0.1:PORT,127.0.0.1:PORT,..." */
  bootstrap: string;
  pid: number;
  /**
   * Makes the cluster answer the next requests of `apiKey` with `codes`, one request each, in
   * order (librdkafka's mock error stack); resolves once the broker took them.
   */
  injectErrors(apiKey: number, codes: number[]): Promise<void>;
  /** Ends the broker and waits for it to exit; safe to call more than once. */
  stop(): Promise<void>;
}

export class MockBrokerError extends KtError {
  override name = 'MockBrokerError';
  constructor(message: string) {
    super('mock-broker', message);
  }
}

// Kafka's own rule for topic names.
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;
const STOP_GRACE_MS = 3000;
const STDERR_KEEP = 4096;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killAllOnExit(): void {
  for (const child of running) child.kill('SIGKILL');
}

function topicArgs(topics: MockBrokerOptions['topics'], brokers: number): string[] {
  const list: MockTopic[] = Array.isArray(topics)
    ? topics
    : Object.entries(topics ?? {}).map(([name, partitions]) => ({ name, partitions }));
  const args: string[] = [];
  for (const t of list) {
    if (!TOPIC_NAME.test(t.name)) {
      throw new MockBrokerError(`invalid topic name ${JSON.stringify(t.name)}: use 1 to 249 of [a-zA-Z0-9._-]`);
    }
    if (!Number.isInteger(t.partitions) || t.partitions < 1) {
      throw new MockBrokerError(`topic ${t.name}: partitions must be a positive integer`);
    }
    const replication = t.replication ?? 1;
    if (!Number.isInteger(replication) || replication < 1 || replication > brokers) {
      throw new MockBrokerError(`topic ${t.name}: replication must be from 1 to the broker count (${brokers})`);
    }
    args.push('--topic', `${t.name}:${t.partitions}:${replication}`);
  }
  return args;
}

export async function startMockBroker(options: MockBrokerOptions = {}): Promise<MockBroker> {
  const brokers = options.brokers ?? 1;
  if (!Number.isInteger(brokers) || brokers < 1 || brokers > 64) {
    throw new MockBrokerError('brokers must be an integer from 1 to 64');
  }
  const args = ['--brokers', String(brokers), ...topicArgs(options.topics, brokers)];
  const binary = options.binary ?? mockBrokerPath();
  if (!existsSync(binary)) throw new MockBrokerError(`the mock broker is not built (${binary}): ${BUILD_HINT}`);

  const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  running.add(child);
  if (!exitHookInstalled) {
    process.on('exit', killAllOnExit);
    exitHookInstalled = true;
  }
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      running.delete(child);
      resolve();
    });
  });
  // A broker nobody stopped must not keep Node running; the exit hook still ends it.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as unknown as { unref?: () => void }).unref?.();
  }

  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr = (stderr + s).slice(-STDERR_KEEP);
  });

  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return exited;
    child.stdin.end();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  };

  // Lines after the bootstrap address answer injectErrors(), in order.
  const answers: ((line: string) => void)[] = [];
  let started = false;
  const bootstrap = await new Promise<string>((resolve, reject) => {
    let out = '';
    const fail = (why: string): void => {
      clearTimeout(timer);
      void stop().then(() => reject(new MockBrokerError(`${why}${stderr ? `: ${stderr.trim()}` : ''}`)));
    };
    const timer = setTimeout(
      () => fail(`the mock broker printed no bootstrap address within ${options.startTimeoutMs ?? 10000} ms`),
      options.startTimeoutMs ?? 10000,
    );
    const onError = (e: Error): void => fail(`cannot run the mock broker ${binary}: ${e.message}`);
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      fail(`the mock broker exited at start (${signal ?? `status ${code}`})`);
    child.once('error', onError);
    child.once('exit', onExit);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      out += s;
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        const line = out.slice(0, nl).trim();
        out = out.slice(nl + 1);
        if (!started) {
          started = true;
          clearTimeout(timer);
          child.off('error', onError);
          child.off('exit', onExit);
          resolve(line);
        } else {
          answers.shift()?.(line);
        }
      }
    });
  });

  const injectErrors = async (apiKey: number, codes: number[]): Promise<void> => {
    if (codes.length === 0) return;
    const answer = new Promise<string>((resolve) => answers.push(resolve));
    child.stdin.write(`errors ${apiKey} ${codes.join(',')}\n`);
    const line = await Promise.race([answer, exited.then(() => 'error: the mock broker exited')]);
    if (line !== 'ok') throw new MockBrokerError(`cannot inject errors ${codes.join(',')} for API ${apiKey}: ${line}`);
  };

  if (child.pid === undefined) throw new MockBrokerError('the mock broker has no pid');
  return { bootstrap, pid: child.pid, injectErrors, stop };
}
