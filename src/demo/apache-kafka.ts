// Starts and stops the Apache Kafka broker that scripts/install-kafka.sh installs into build/kafka:
// KRaft nodes, each a combined broker and controller, in a temporary directory on 127.0.0.1 ports of
// their own. For `kafkatrace demo --kafka apache`, the overhead bench and the tests. stop() leaves
// neither process nor file behind; a node outlives no caller (a parent-death signal, and an exit hook).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KtError } from '../errors.js';
import { packageRoot } from '../package-root.js';

export const INSTALL_HINT = 'run scripts/install-kafka.sh (needs java 17 or newer, mvn and go)';

/** Where scripts/install-kafka.sh puts the broker, its tools and their dependencies. */
export function kafkaLibsDir(): string {
  return join(packageRoot(), 'build', 'kafka', 'libs');
}

/** A node's heap: three nodes and their clients fit a 2-core, 24 GiB machine with room to spare. */
const HEAP = ['-Xms256m', '-Xmx512m', '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-Djava.awt.headless=true'];
const CLUSTER_ID = 'a2Fma2F0cmFjZS10ZXN0MQ';
/** Seconds on an idle machine; minutes when many JVMs share its two cores (three nodes took over 90 s). */
const READY_TIMEOUT_MS = 180_000;
const STOP_GRACE_MS = 20_000;

export class ApacheKafkaError extends KtError {
  override name = 'ApacheKafkaError';
  constructor(message: string) {
    super('apache-kafka', message);
  }
}

/** Why the broker cannot run here, or undefined when it can; `root` is kafkatrace's package root. */
export function apacheKafkaProblem(root = packageRoot()): string | undefined {
  if (!existsSync(join(root, 'build', 'kafka', 'installed'))) return `Apache Kafka is not installed: ${INSTALL_HINT}`;
  if (spawnSync('java', ['-version'], { stdio: 'ignore' }).status !== 0) return 'Apache Kafka needs java (17 or newer; scripts/install-deps.sh installs it)';
  // kcat asks the cluster for Metadata to tell when it is ready.
  if (spawnSync('kcat', ['-V'], { stdio: 'ignore' }).status !== 0) return 'kcat is not installed (Debian package kcat; scripts/install-deps.sh installs it)';
  return undefined;
}

/** The Apache Kafka release installed. */
export function apacheKafkaVersion(): string {
  return readFileSync(join(packageRoot(), 'build', 'kafka', 'version'), 'utf8').trim();
}

export interface KafkaNode {
  id: number;
  port: number;
  controllerPort: number;
  /** The JVM's JMX port on 127.0.0.1, when the cluster was started with `jmx`. */
  jmxPort?: number;
  pid: number;
  dir: string;
}

export interface KafkaCluster {
  bootstrap: string;
  nodes: KafkaNode[];
  /** Stops every node (SIGTERM, then SIGKILL after 20 s) and removes the cluster's directory; safe to call twice. */
  stop(): Promise<void>;
}

export interface KafkaClusterOptions {
  /** Nodes, 1 or 3; the replication factor of new and internal topics. */
  brokers: number;
  /** Broker settings added to (or replacing) the defaults, the same on every node. */
  settings?: Record<string, string>;
  /**
   * Each node's JMX on a 127.0.0.1 port of its own, without authentication (any local user may read
   * and call it): the brokers' own counters, for tests that set kafkatrace against them.
   */
  jmx?: boolean;
  /**
   * Each node in a network namespace of its own (`ip netns exec NAME`, one entry per node), listening
   * on its address there instead of 127.0.0.1: a fleet of brokers on one machine. The caller makes
   * the namespaces and their routes to this one. Not with `jmx`.
   */
  netns?: { name: string; address: string }[];
  /** Ends the wait for the nodes early (Ctrl-C at start-up): they are stopped and the start rejects. */
  signal?: AbortSignal;
  /**
   * Formats the cluster at an older metadata version (e.g. '3.9-IV0', a cluster mid-upgrade), which
   * caps the versions its brokers speak to each other.
   */
  release?: string;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function killAllOnExit(): void {
  for (const child of running) child.kill('SIGKILL');
}

/**
 * `count` distinct ports free on 127.0.0.1 now (the kernel's choice). Every socket stays open until
 * all are chosen: a port closed at once may be handed out again by the next listen.
 */
async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const s = createServer();
      servers.push(s);
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(0, '127.0.0.1', () => resolve());
      });
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => (s.listening ? s.close(() => resolve()) : resolve()))));
  }
}

async function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ host, port });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** java's arguments to run `main` of the jars `cp` with `args`. */
export function javaArgs(cp: string[], main: string, args: string[], extra: string[] = []): string[] {
  return [...extra, '-cp', cp.join(':'), main, ...args];
}

/** The JVM's own JMX agent bound to 127.0.0.1:`port` (registry and objects on the one port), local connections only. */
function jmxArgs(port: number): string[] {
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

/** A node's server.properties: the defaults for a test cluster of `n`, then `settings`. */
function serverProperties(id: number, n: number, host: string, port: number, controllerPort: number, voters: string, dir: string, settings: Record<string, string>): string {
  const props: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': String(id),
    'controller.quorum.voters': voters,
    listeners: `PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${host}:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'log.dirs': join(dir, 'data'),
    'auto.create.topics.enable': 'true',
    'default.replication.factor': String(n),
    'offsets.topic.replication.factor': String(n),
    'transaction.state.log.replication.factor': String(n),
    'transaction.state.log.min.isr': String(Math.min(2, n)),
    'share.coordinator.state.topic.replication.factor': String(n),
    'share.coordinator.state.topic.min.isr': String(Math.min(2, n)),
    'group.initial.rebalance.delay.ms': '0',
    // Few threads: the machine has two cores, shared.
    'num.network.threads': '2',
    'num.io.threads': '2',
    ...settings,
  };
  for (const [k, v] of Object.entries(props)) {
    // One line per setting: a value with a line break would add settings of its own.
    if (/[\r\n]/.test(k + v)) throw new ApacheKafkaError(`broker setting ${JSON.stringify(k)} holds a line break`);
  }
  return Object.entries(props).map(([k, v]) => `${k}=${v}\n`).join('');
}

/**
 * Starts `brokers` KRaft nodes, each broker and controller, formatted with one cluster id; topics
 * are created on first use. Resolves once every node accepts connections and the cluster's Metadata
 * lists them all.
 */
export async function startKafkaCluster(opts: KafkaClusterOptions): Promise<KafkaCluster> {
  const n = opts.brokers;
  if (n !== 1 && n !== 3) throw new ApacheKafkaError('an Apache Kafka cluster here has 1 or 3 brokers');
  const why = apacheKafkaProblem();
  if (why) throw new ApacheKafkaError(why);
  if (opts.netns && (opts.netns.length !== n || opts.jmx)) throw new ApacheKafkaError('a cluster in network namespaces needs one per node, and no jmx');
  const hostOf = (i: number): string => opts.netns?.[i]?.address ?? '127.0.0.1';
  const libs = `${kafkaLibsDir()}/*`;
  const root = mkdtempSync(join(tmpdir(), 'kafkatrace-kafka-'));
  const children: ChildProcess[] = [];
  const nodes: KafkaNode[] = [];
  if (!exitHookInstalled) {
    process.on('exit', killAllOnExit);
    exitHookInstalled = true;
  }
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      for (const c of children) c.kill('SIGTERM');
      await Promise.all(children.map((c) => ended(c, STOP_GRACE_MS)));
      rmSync(root, { recursive: true, force: true });
    })());
  try {
    const ports: [number, number, number | undefined][] = [];
    const perNode = opts.jmx ? 3 : 2;
    const free = await freePorts(n * perNode);
    for (let i = 0; i < n; i++) ports.push([free[i * perNode]!, free[i * perNode + 1]!, opts.jmx ? free[i * perNode + 2] : undefined]);
    const voters = ports.map(([, c], i) => `${i + 1}@${hostOf(i)}:${c}`).join(',');
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
      writeFileSync(props, serverProperties(i + 1, n, hostOf(i), port, controllerPort, voters, dir, opts.settings ?? {}));
      const format = spawnSync('java', javaArgs([libs], 'kafka.tools.StorageTool', ['format', '-t', CLUSTER_ID, '-c', props, ...(opts.release ? ['--release-version', opts.release] : [])], ['-Xmx256m']), {
        encoding: 'utf8',
        timeout: 60_000,
      });
      if (format.status !== 0) throw new ApacheKafkaError(`kafka-storage format failed for node ${i + 1}: ${(format.stderr + format.stdout).trim()}`);
      // setpriv execs java with a parent-death signal: a caller that dies without stop() (killed,
      // crashed) takes its brokers along. Its own process group: Ctrl-C at a terminal reaches the
      // caller alone, which stops its clients before the broker. `ip netns exec` execs what it runs
      // in the namespace: the pid is java's all the same.
      const ns = opts.netns?.[i]?.name;
      const child = spawn(
        ns === undefined ? 'setpriv' : 'ip',
        [...(ns === undefined ? [] : ['netns', 'exec', ns, 'setpriv']), '--pdeathsig', 'KILL', 'java', ...javaArgs([libs], 'kafka.Kafka', [props], [...HEAP, ...(jmxPort === undefined ? [] : jmxArgs(jmxPort)), `-Dkafka.logs.dir=${dir}`, `-Dlog4j2.configurationFile=${join(root, 'log4j2.properties')}`])],
        { stdio: ['ignore', 'ignore', 'ignore'], detached: true },
      );
      children.push(child);
      running.add(child);
      child.once('exit', () => running.delete(child));
      nodes.push({ id: i + 1, port, controllerPort, ...(jmxPort === undefined ? {} : { jmxPort }), pid: child.pid!, dir });
    }
    const bootstrap = nodes.map((x, i) => `${hostOf(i)}:${x.port}`).join(',');
    const until = Date.now() + READY_TIMEOUT_MS;
    const interrupted = (): boolean => opts.signal?.aborted === true;
    /** Throws when a node has died: a port taken meanwhile, a bad setting; its log says which. */
    const alive = (): void => {
      for (const node of nodes) {
        const c = children[node.id - 1]!;
        if (c.exitCode !== null || c.signalCode !== null) throw new ApacheKafkaError(`Kafka node ${node.id} exited (${c.exitCode ?? c.signalCode}): ${log(node)}`);
      }
    };
    for (const node of nodes) {
      while (!interrupted() && !(await accepts(hostOf(node.id - 1), node.port))) {
        alive();
        if (Date.now() > until) throw new ApacheKafkaError(`Kafka node ${node.id} did not listen within ${READY_TIMEOUT_MS / 1000} s: ${log(node)}`);
        await sleep(100);
      }
    }
    for (let listed = metadataBrokers(bootstrap); !interrupted() && listed?.length !== n; listed = metadataBrokers(bootstrap)) {
      alive();
      if (Date.now() > until) {
        // The nodes missing from Metadata are the ones whose logs say why.
        const missing = nodes.filter((x) => !listed?.includes(x.id));
        const said = listed ? `listed ${listed.length === 0 ? 'none' : `node ${listed.join(', ')}`}` : 'gave no answer';
        throw new ApacheKafkaError(`Kafka Metadata did not list ${n} brokers within ${READY_TIMEOUT_MS / 1000} s (it ${said}): ${missing.map((x) => `node ${x.id}'s log: ${log(x)}`).join('\n')}`);
      }
      await sleep(200);
    }
    if (interrupted()) throw new ApacheKafkaError('interrupted while Apache Kafka was starting');
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

/** The node ids of the brokers the cluster's Metadata answer lists (kcat -L), or undefined when there is no answer. */
function metadataBrokers(bootstrap: string): number[] | undefined {
  const r = spawnSync('kcat', ['-b', bootstrap, '-L', '-J', '-m', '5'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) return undefined;
  try {
    return (JSON.parse(r.stdout) as { brokers: { id: number }[] }).brokers.map((b) => b.id);
  } catch {
    return undefined;
  }
}

/**
 * Creates `topics` (name → partitions) with Kafka's own kafka-topics tool, replicated on every node.
 * Kafka's consumers do not create the topics they subscribe to; a producer's first record would, with
 * the broker's default partition count.
 */
export function createTopics(cluster: KafkaCluster, topics: Record<string, number>): void {
  for (const [name, partitions] of Object.entries(topics)) {
    const r = spawnSync(
      'java',
      javaArgs([`${kafkaLibsDir()}/*`], 'org.apache.kafka.tools.TopicCommand',
        ['--bootstrap-server', cluster.bootstrap, '--create', '--if-not-exists', '--topic', name, '--partitions', String(partitions), '--replication-factor', String(cluster.nodes.length)], ['-Xmx128m']),
      { encoding: 'utf8', timeout: 60_000 },
    );
    if (r.status !== 0) throw new ApacheKafkaError(`kafka-topics could not create ${name}: ${(r.stderr + r.stdout).trim().split('\n').pop()}`);
  }
}
