// The Apache Kafka broker (KRaft, each node a combined broker and controller) and its Java, Python and
// Go clients as test peers, all installed by scripts/install-kafka.sh into build/. A cluster lives in a temporary
// directory on 127.0.0.1 ports of its own and stop() leaves neither process nor file behind. The peers
// (test/peers/) print their own account as JSON lines: what the client saw, never kafkatrace.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './cli.js';
import { alive } from './processes.js';

const KAFKA_LIBS = join(ROOT, 'build', 'kafka', 'libs');
const PEERS = join(ROOT, 'build', 'peers');
/** A node's heap: three nodes and their clients fit a 2-core, 24 GiB machine with room to spare. */
const HEAP = ['-Xms256m', '-Xmx512m', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true'];
/** How long a cluster may take to be ready: seconds on an idle machine, minutes when many JVMs share its two cores. */
const READY_MS = 180_000;
const CLUSTER_ID = 'a2Fma2F0cmFjZS10ZXN0MQ';

/** Why the real broker cannot run here, or undefined when it can. */
export function realKafkaProblem(): string | undefined {
  if (spawnSync('java', ['-version']).status !== 0) return 'java is not installed (scripts/install-deps.sh)';
  // kcat asks the cluster for Metadata to tell when it is ready.
  if (spawnSync('kcat', ['-V']).status !== 0) return 'kcat is not installed (scripts/install-deps.sh)';
  if (!existsSync(join(ROOT, 'build', 'kafka', 'installed')) || !existsSync(join(PEERS, 'python', 'bin', 'python')) || !existsSync(join(PEERS, 'go', 'peer'))) {
    return 'Apache Kafka is not installed (scripts/install-kafka.sh)';
  }
  return undefined;
}

/** The Kafka release installed: the broker's, and the newest Java client's. */
export function kafkaVersion(): string {
  return readFileSync(join(ROOT, 'build', 'kafka', 'version'), 'utf8').trim();
}

/** The 3.x Java client installed beside it: Produce up to v11, topics by name. */
export function kafka3ClientsVersion(): string {
  return readFileSync(join(ROOT, 'build', 'kafka', 'clients3-version'), 'utf8').trim();
}

export interface KafkaNode {
  id: number;
  port: number;
  controllerPort: number;
  /** JMX (RMI registry and server on one port), on 127.0.0.1 only and without authentication: test brokers' own metrics, read by test/helpers/kafka-truth.ts. */
  jmxPort: number;
  pid: number;
  dir: string;
}

export interface KafkaCluster {
  bootstrap: string;
  nodes: KafkaNode[];
  /** Stops every node (SIGTERM, then SIGKILL after 20 s) and removes the cluster's directory. */
  stop(): Promise<void>;
}

/** A port free on 127.0.0.1 now (the kernel's choice). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host: '127.0.0.1', port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function java(cp: string[], main: string, args: string[], extra: string[] = []): string[] {
  return [...extra, '-cp', cp.join(':'), main, ...args];
}

/** The JVM's own JMX agent bound to 127.0.0.1:`port` (registry and objects on the one port), local connections only. */
function jmx(port: number): string[] {
  return [
    `-Dcom.sun.management.jmxremote.port=${port}`,
    `-Dcom.sun.management.jmxremote.rmi.port=${port}`,
    '-Dcom.sun.management.jmxremote.host=127.0.0.1',
    '-Djava.rmi.server.hostname=127.0.0.1',
    '-Dcom.sun.management.jmxremote.local.only=true',
    '-Dcom.sun.management.jmxremote.authenticate=false',
    '-Dcom.sun.management.jmxremote.ssl=false',
  ];
}

/** Waits for a child's exit; SIGKILL after `graceMs`. */
async function ended(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exit = new Promise<void>((r) => child.once('exit', () => r()));
  const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exit;
  clearTimeout(killer);
}

/**
 * Starts `brokers` KRaft nodes (1 or 3), each broker and controller, formatted with one cluster id;
 * replication factor `brokers` for new topics and the internal ones; topics are also created on first
 * use. Resolves once every node accepts connections and the cluster's Metadata lists them all.
 */
export async function startKafkaCluster(opts: { brokers: number }): Promise<KafkaCluster> {
  const n = opts.brokers;
  const root = mkdtempSync(join(tmpdir(), 'kafkatrace-kafka-'));
  const children: ChildProcess[] = [];
  const nodes: KafkaNode[] = [];
  const stop = async () => {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => ended(c, 20_000)));
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const ports: [number, number, number][] = [];
    for (let i = 0; i < n; i++) ports.push([await freePort(), await freePort(), await freePort()]);
    const voters = ports.map(([, c], i) => `${i + 1}@127.0.0.1:${c}`).join(',');
    writeFileSync(
      join(root, 'log4j2.properties'),
      ['rootLogger.level = WARN', 'rootLogger.appenderRef.f.ref = f', 'appender.f.type = File', 'appender.f.name = f',
        'appender.f.fileName = ${sys:kafka.logs.dir}/server.log', 'appender.f.layout.type = PatternLayout',
        'appender.f.layout.pattern = [%d] %p %m (%c)%n', ''].join('\n'),
    );
    for (let i = 0; i < n; i++) {
      const [port, controllerPort, jmxPort] = ports[i]!;
      const dir = join(root, `node${i + 1}`);
      mkdirSync(dir);
      const props = join(dir, 'server.properties');
      writeFileSync(
        props,
        [
          'process.roles=broker,controller',
          `node.id=${i + 1}`,
          `controller.quorum.voters=${voters}`,
          `listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
          `advertised.listeners=PLAINTEXT://127.0.0.1:${port}`,
          'controller.listener.names=CONTROLLER',
          'inter.broker.listener.name=PLAINTEXT',
          'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
          `log.dirs=${join(dir, 'data')}`,
          'auto.create.topics.enable=true',
          `default.replication.factor=${n}`,
          `offsets.topic.replication.factor=${n}`,
          `transaction.state.log.replication.factor=${n}`,
          `transaction.state.log.min.isr=${Math.min(2, n)}`,
          `share.coordinator.state.topic.replication.factor=${n}`,
          `share.coordinator.state.topic.min.isr=${Math.min(2, n)}`,
          'group.initial.rebalance.delay.ms=0',
          // Few threads: the machine has two cores, shared.
          'num.network.threads=2',
          'num.io.threads=2',
          '',
        ].join('\n'),
      );
      const format = spawnSync('java', java([`${KAFKA_LIBS}/*`], 'kafka.tools.StorageTool', ['format', '-t', CLUSTER_ID, '-c', props], ['-Xmx256m']), {
        encoding: 'utf8',
        timeout: 60_000,
      });
      if (format.status !== 0) throw new Error(`kafka-storage format failed for node ${i + 1}: ${format.stderr}${format.stdout}`);
      // setpriv execs java with a parent-death signal: a test process that dies without stop() (killed,
      // crashed) takes its brokers along.
      const child = spawn(
        'setpriv',
        [
          '--pdeathsig',
          'KILL',
          'java',
          ...java([`${KAFKA_LIBS}/*`], 'kafka.Kafka', [props], [...HEAP, ...jmx(jmxPort), `-Dkafka.logs.dir=${dir}`, `-Dlog4j2.configurationFile=${join(root, 'log4j2.properties')}`]),
        ],
        { stdio: ['ignore', 'ignore', 'ignore'] },
      );
      children.push(child);
      nodes.push({ id: i + 1, port, controllerPort, jmxPort, pid: child.pid!, dir });
    }
    const bootstrap = nodes.map((x) => `127.0.0.1:${x.port}`).join(',');
    const until = Date.now() + READY_MS;
    for (const node of nodes) {
      while (!(await accepts(node.port))) {
        const c = children[node.id - 1]!;
        if (c.exitCode !== null) throw new Error(`Kafka node ${node.id} exited (${c.exitCode}): ${log(node)}`);
        if (Date.now() > until) throw new Error(`Kafka node ${node.id} did not listen within ${READY_MS / 1000} s: ${log(node)}`);
        await sleep(100);
      }
    }
    while (metadataBrokers(bootstrap) !== n) {
      if (Date.now() > until) throw new Error(`Kafka Metadata did not list ${n} brokers within ${READY_MS / 1000} s`);
      await sleep(200);
    }
    return { bootstrap, nodes, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

function log(node: KafkaNode): string {
  const f = join(node.dir, 'server.log');
  return existsSync(f) ? readFileSync(f, 'utf8').slice(-2000) : '(no log)';
}

/** How many brokers the cluster's Metadata answer lists (kcat -L), or -1 when there is no answer. */
function metadataBrokers(bootstrap: string): number {
  const r = spawnSync('kcat', ['-b', bootstrap, '-L', '-J', '-m', '5'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return -1;
  return (JSON.parse(r.stdout) as { brokers: unknown[] }).brokers.length;
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

/** A command of the Java peer: Peer (its client commands), Member (a group member that stays a while) or Jmx (a broker's metrics). */
export type JavaPeerMain = 'Peer' | 'Member' | 'Jmx';

/** Starts one of the Java peer's commands (see its class's documentation), built against kafka-clients `version`. */
export function startJavaPeer(version: string, main: JavaPeerMain, args: (string | number)[], timeoutMs = 60_000): StartedPeer {
  const dir = join(PEERS, `java-${version}`);
  return startPeer('java', java([join(dir, 'java-peer.jar'), `${dir}/libs/*`], `dev.kafkatrace.peers.${main}`, args.map(String), ['-Xmx256m']), timeoutMs);
}

/** A Python client of test/peers/python/peer.py. */
export type PythonClient = 'confluent-kafka' | 'kafka-python';

/** Runs the Python peer (test/peers/python/peer.py) with `client`, to its end: `produce`, with the arguments peer.py documents. */
export async function runPythonPeer(client: PythonClient, args: (string | number)[], timeoutMs = 60_000): Promise<PeerRun> {
  return startPeer(join(PEERS, 'python', 'bin', 'python'), [join(ROOT, 'test', 'peers', 'python', 'peer.py'), client, ...args.map(String)], timeoutMs).done;
}

/** Runs the Go peer (test/peers/go, franz-go) to its end: `produce`, with the arguments main.go documents. */
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
