// The Apache Kafka broker (src/demo/apache-kafka.ts starts it) and its Java, Python and Go clients as
// test peers, all installed by scripts/install-kafka.sh into build/. The peers (test/peers/) print
// their own account as JSON lines: what the client saw, never kafkatrace.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apacheKafkaProblem, apacheKafkaVersion, javaArgs, type KafkaCluster } from '../../src/demo/apache-kafka.js';
import { ROOT } from './cli.js';
import { alive } from './processes.js';

export { startKafkaCluster, type KafkaCluster, type KafkaNode } from '../../src/demo/apache-kafka.js';

const PEERS = join(ROOT, 'build', 'peers');

/** Why the real broker and its peers cannot run here, or undefined when they can. */
export function realKafkaProblem(): string | undefined {
  const broker = apacheKafkaProblem();
  if (broker) return broker;
  if (!existsSync(join(PEERS, 'python', 'bin', 'python')) || !existsSync(join(PEERS, 'go', 'peer'))) {
    return 'the Kafka test peers are not installed (scripts/install-kafka.sh)';
  }
  return undefined;
}

/** The Kafka release installed: the broker's, and the newest Java client's. */
export const kafkaVersion = apacheKafkaVersion;

/** The 3.x Java client installed beside it: Produce up to v11, topics by name. */
export function kafka3ClientsVersion(): string {
  return readFileSync(join(ROOT, 'build', 'kafka', 'clients3-version'), 'utf8').trim();
}

/** One line of the Java peer's report. */
export interface PeerEvent {
  event: string;
  [field: string]: string | number;
}

export interface PeerRun {
  code: number | null;
  events: PeerEvent[];
  stderr: string;
  pid: number;
}

/**
 * Runs the Java peer (test/peers/java/src/main/java/dev/kafkatrace/peers/Peer.java), built against
 * kafka-clients `version`, to its end: `create`, `produce`, `consume` or `offsets`, with the arguments
 * Peer.java documents.
 */
export async function runJavaPeer(version: string, args: (string | number)[], timeoutMs = 60_000): Promise<PeerRun> {
  const dir = join(PEERS, `java-${version}`);
  return runPeer('java', javaArgs([join(dir, 'java-peer.jar'), `${dir}/libs/*`], 'dev.kafkatrace.peers.Peer', args.map(String), ['-Xmx256m']), timeoutMs);
}

/**
 * Runs the Java peer's Groups (test/peers/java/.../Groups.java: share consumers, KIP-848 members, the
 * Admin API's describes), built against the broker's own kafka-clients, to its end.
 */
export async function runJavaGroupsPeer(args: (string | number)[], timeoutMs = 90_000): Promise<PeerRun> {
  const dir = join(PEERS, `java-${kafkaVersion()}`);
  return runPeer('java', javaArgs([join(dir, 'java-peer.jar'), `${dir}/libs/*`], 'dev.kafkatrace.peers.Groups', args.map(String), ['-Xmx256m']), timeoutMs);
}

/** A Python client of test/peers/python/peer.py. */
export type PythonClient = 'confluent-kafka' | 'kafka-python';

/** Runs the Python peer (test/peers/python/peer.py) with `client`, to its end: `produce`, with the arguments peer.py documents. */
export async function runPythonPeer(client: PythonClient, args: (string | number)[], timeoutMs = 60_000): Promise<PeerRun> {
  return runPeer(join(PEERS, 'python', 'bin', 'python'), [join(ROOT, 'test', 'peers', 'python', 'peer.py'), client, ...args.map(String)], timeoutMs);
}

/** Runs the Go peer (test/peers/go) to its end: `produce` (franz-go), `sarama-produce` or `sarama-consume`, with the arguments main.go documents. */
export async function runGoPeer(args: (string | number)[], timeoutMs = 60_000): Promise<PeerRun> {
  return runPeer(join(PEERS, 'go', 'peer'), args.map(String), timeoutMs);
}

/** Runs a peer to its end (SIGKILL after `timeoutMs`) and parses its JSON lines. */
async function runPeer(command: string, args: string[], timeoutMs: number): Promise<PeerRun> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearTimeout(timer);
  const events = stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as PeerEvent);
  return { code, events, stderr, pid: child.pid! };
}

/** Whether any process of the cluster is left. */
export function clusterAlive(c: KafkaCluster): boolean {
  return c.nodes.some((x) => alive(x.pid));
}
