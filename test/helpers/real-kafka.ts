// The Apache Kafka broker (src/demo/apache-kafka.ts starts it) and its Java, Python and Go clients as
// test peers, all installed by scripts/install-kafka.sh into build/. The peers (test/peers/) print
// their own account as JSON lines: what the client saw, never kafkatrace.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { apacheKafkaProblem, apacheKafkaVersion, javaArgs, type KafkaCluster } from '../../src/demo/apache-kafka.js';
import { expect } from 'vitest';
import { heldBpf } from './bpf-held.js';
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
  return startJavaPeer(version, 'Peer', args, timeoutMs).done;
}

/**
 * A command of the Java peer: Peer (its client commands), Member (a group member that stays a while),
 * Jmx (a broker's metrics) or Groups (share consumers, KIP-848 members, the Admin API's describes;
 * built for kafka-clients 4.x only).
 */
export type JavaPeerMain = 'Peer' | 'Member' | 'Jmx' | 'Groups';

/** Starts one of the Java peer's commands (see its class's documentation), built against kafka-clients `version`. */
export function startJavaPeer(version: string, main: JavaPeerMain, args: (string | number)[], timeoutMs = 60_000): StartedPeer {
  const dir = join(PEERS, `java-${version}`);
  return startPeer('java', javaArgs([join(dir, 'java-peer.jar'), `${dir}/libs/*`], `dev.kafkatrace.peers.${main}`, args.map(String), ['-Xmx256m']), timeoutMs);
}

/**
 * Runs the Java peer's Groups (test/peers/java/.../Groups.java: share consumers, KIP-848 members, the
 * Admin API's describes), built against the broker's own kafka-clients, to its end.
 */
export async function runJavaGroupsPeer(args: (string | number)[], timeoutMs = 90_000): Promise<PeerRun> {
  return startJavaPeer(kafkaVersion(), 'Groups', args, timeoutMs).done;
}

/** A Python client of test/peers/python/peer.py. */
export type PythonClient = 'confluent-kafka' | 'kafka-python';

/** Runs the Python peer (test/peers/python/peer.py) with `client`, to its end: `produce`, with the arguments peer.py documents. */
export async function runPythonPeer(client: PythonClient, args: (string | number)[], timeoutMs = 60_000): Promise<PeerRun> {
  return startPeer(join(PEERS, 'python', 'bin', 'python'), [join(ROOT, 'test', 'peers', 'python', 'peer.py'), client, ...args.map(String)], timeoutMs).done;
}

/** Runs the Go peer (test/peers/go) to its end: `produce` (franz-go), `sarama-produce` or `sarama-consume`, with the arguments main.go documents. */
export async function runGoPeer(args: (string | number)[], timeoutMs = 60_000): Promise<PeerRun> {
  return startPeer(join(PEERS, 'go', 'peer'), args.map(String), timeoutMs).done;
}

/** A peer running: its report so far, and its end. */
export interface StartedPeer {
  pid: number;
  /** The JSON lines it printed so far. */
  events: PeerEvent[];
  /** Resolves when it printed a line `event` (rejects if it ends first). */
  reported(event: string): Promise<PeerEvent>;
  done: Promise<PeerRun>;
}

/** Starts a peer (SIGKILL after `timeoutMs`) and parses its JSON lines as they come. */
function startPeer(command: string, args: string[], timeoutMs: number): StartedPeer {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: PeerEvent[] = [];
  let partial = '';
  let stderr = '';
  const waiting: { event: string; resolve: (e: PeerEvent) => void; reject: (e: Error) => void }[] = [];
  child.stdout!.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const l of lines.filter((x) => x.trim() !== '')) {
      const e = JSON.parse(l) as PeerEvent;
      events.push(e);
      for (const w of waiting.filter((x) => x.event === e.event)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve(e);
      }
    }
  });
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<PeerRun>((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer);
      for (const w of waiting.splice(0)) w.reject(new Error(`${command} ${args.join(' ')} ended (${code}) before reporting ${w.event}: ${stderr}`));
      resolve({ code, events, stderr, pid: child.pid! });
    }),
  );
  const reported = (event: string) => {
    const seen = events.find((e) => e.event === event);
    if (seen) return Promise.resolve(seen);
    if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error(`${command} ended before reporting ${event}: ${stderr}`));
    return new Promise<PeerEvent>((resolve, reject) => waiting.push({ event, resolve, reject }));
  };
  return { pid: child.pid!, events, reported, done };
}

/** Whether any process of the cluster is left. */
export function clusterAlive(c: KafkaCluster): boolean {
  return c.nodes.some((x) => alive(x.pid));
}

/** Stops a cluster a test started (if it started): no broker process, node directory or BPF object may remain. */
export async function stopCluster(cluster: KafkaCluster | undefined): Promise<void> {
  if (!cluster) return;
  await cluster.stop();
  expect(clusterAlive(cluster)).toBe(false);
  for (const node of cluster.nodes) expect(existsSync(node.dir)).toBe(false);
  expect(heldBpf().fds).toBe(0);
}
