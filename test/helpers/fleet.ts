// A fleet on one machine, as issue 19 runs kafkatrace on many: three network namespaces
// (kt-fleet-PID-N), each joined to this one by a veth on a bridge of a private /24 that nothing else
// here uses, an Apache Kafka broker of one three-node KRaft cluster in each (advertised on its
// namespace's address), one `kafkatrace agent` per namespace with that namespace's filter and the
// labels {cluster: fleet, node: broker-N}, and a real Prometheus on 127.0.0.1 scraping the three
// agents every second with deploy/prometheus/kafkatrace-rules.yml loaded. stop() and a process-exit
// hook leave no namespace, link, process or file behind.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKafkaCluster, type KafkaCluster } from '../../src/demo/apache-kafka.js';
import { privilegeProblem } from '../../src/runtime/privileges.js';
import { BIN, ROOT } from './cli.js';
import { freePort, waitForValue } from './cli-trace.js';
import { alive } from './processes.js';
import { realKafkaProblem } from './real-kafka.js';

export const FLEET_NODES = 3;
export const RULES = join(ROOT, 'deploy', 'prometheus', 'kafkatrace-rules.yml');
/** The stdlib tools each agent runs, by script name. */
export const FLEET_SCRIPTS = { overview: 'kafka-overview', lag: 'kafka-lag', rebalances: 'kafka-rebalances' } as const;

/** Why the fleet cannot run here, or undefined when it can. */
export function fleetProblem(): string | undefined {
  const privileges = privilegeProblem();
  if (privileges) return privileges;
  if (process.geteuid?.() !== 0) return 'network namespaces need root';
  if (spawnSync('ip', ['-V'], { stdio: 'ignore' }).status !== 0) return 'ip is not installed (Debian package iproute2; scripts/install-deps.sh installs it)';
  if (spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status !== 0) return 'prometheus is not installed (Debian package prometheus; scripts/install-deps.sh installs it)';
  if (!existsSync(RULES)) return `the recording rules ${RULES} are missing`;
  if (!existsSync(BIN) || !existsSync(join(ROOT, 'dist'))) return 'dist/ is not built (npm run build)';
  return realKafkaProblem();
}

export interface FleetNode {
  /** 1, 2, 3: the broker's node id. */
  id: number;
  /** broker-N: the agent's `node` label. */
  label: string;
  netns: string;
  address: string;
  /** The agent's /metrics, as Prometheus names its target (instance="127.0.0.1:PORT"). */
  agentTarget: string;
  agent: ChildProcess;
  /** What the agent said on stderr. */
  agentLog(): string;
}

export interface PromSample {
  metric: Record<string, string>;
  value: number;
}

export interface Fleet {
  cluster: KafkaCluster;
  prometheus: ChildProcess;
  nodes: FleetNode[];
  /** An instant query of Prometheus's HTTP API; a failed query throws with Prometheus's error. */
  query(expr: string): Promise<PromSample[]>;
  /** SIGTERM to one node's agent; resolves once it has exited, with its exit status. */
  stopAgent(node: FleetNode): Promise<number | null>;
  /** Everything stopped and removed; safe to call twice. */
  stop(): Promise<void>;
}

const run = (args: string[]): void => {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
};

/** A /24 of 10.213.0.0/16 that no address or route here touches: concurrent fleets take different ones. */
function freeSubnet(): number {
  const used = spawnSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }).stdout + spawnSync('ip', ['-4', 'route'], { encoding: 'utf8' }).stdout;
  for (let i = 0; i < 250; i++) {
    const s = 1 + ((process.pid + i) % 250);
    if (!used.includes(`10.213.${s}.`)) return s;
  }
  throw new Error('no free /24 in 10.213.0.0/16');
}

/** What a fleet made, undone by `teardown` (also from the exit hook, synchronously). */
interface Made {
  children: ChildProcess[];
  namespaces: string[];
  bridge?: string;
  dir?: string;
}

function teardown(made: Made): void {
  for (const c of made.children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const ns of made.namespaces.splice(0)) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  // The host ends of the veths went with their peers' namespaces; the bridge is the host's own.
  if (made.bridge) spawnSync('ip', ['link', 'del', made.bridge], { stdio: 'ignore' });
  made.bridge = undefined;
  if (made.dir) rmSync(made.dir, { recursive: true, force: true });
  made.dir = undefined;
}

async function ended(child: ChildProcess, graceMs: number): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exit;
  clearTimeout(killer);
  return code;
}

function agentConfig(port: number, label: string, netns: string): string {
  return [
    `listen: 127.0.0.1:${port}`,
    `labels: {cluster: fleet, node: ${label}}`,
    `kafka: {netns: /run/netns/${netns}}`,
    'scripts:',
    ...Object.entries(FLEET_SCRIPTS).map(([name, tool]) => `  - {name: ${name}, tool: ${tool}}`),
    '',
  ].join('\n');
}

function prometheusConfig(targets: string[]): string {
  return [
    'global: {scrape_interval: 1s, evaluation_interval: 1s}',
    `rule_files: [${JSON.stringify(RULES)}]`,
    'scrape_configs:',
    '  - job_name: kafkatrace',
    `    static_configs: [{targets: ${JSON.stringify(targets)}}]`,
    '',
  ].join('\n');
}

/** Starts the fleet: network, brokers, agents (each running every script), Prometheus (ready, rules loaded). */
export async function startFleet(): Promise<Fleet> {
  const made: Made = { children: [], namespaces: [] };
  const onExit = (): void => teardown(made);
  process.on('exit', onExit);
  let cluster: KafkaCluster | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      // Agents first, while the brokers they trace still run: their SIGTERM path is what is tested elsewhere.
      await Promise.all(made.children.map((c) => ended((c.kill('SIGTERM'), c), 10_000)));
      await cluster?.stop();
      teardown(made);
      process.off('exit', onExit);
    })());
  try {
    made.dir = mkdtempSync(join(tmpdir(), 'kt-fleet-'));
    const subnet = freeSubnet();
    const bridge = `ktf${process.pid}`;
    run(['link', 'add', bridge, 'type', 'bridge']);
    made.bridge = bridge;
    run(['addr', 'add', `10.213.${subnet}.1/24`, 'dev', bridge]);
    run(['link', 'set', bridge, 'up']);
    const spots: { id: number; netns: string; address: string }[] = [];
    for (let id = 1; id <= FLEET_NODES; id++) {
      const netns = `kt-fleet-${process.pid}-${id}`;
      run(['netns', 'add', netns]);
      made.namespaces.push(netns);
      const hostEnd = `ktf${process.pid}h${id}`;
      run(['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns]);
      run(['link', 'set', hostEnd, 'master', bridge, 'up']);
      const address = `10.213.${subnet}.${10 + id}`;
      run(['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
      run(['-n', netns, 'link', 'set', 'eth0', 'up']);
      run(['-n', netns, 'link', 'set', 'lo', 'up']);
      spots.push({ id, netns, address });
    }

    cluster = await startKafkaCluster({ brokers: FLEET_NODES, netns: spots.map((s) => ({ name: s.netns, address: s.address })) });

    const nodes: FleetNode[] = [];
    for (const s of spots) {
      const port = await freePort();
      const config = join(made.dir, `agent-${s.id}.yaml`);
      writeFileSync(config, agentConfig(port, `broker-${s.id}`, s.netns), { mode: 0o644 });
      // A parent-death signal, as the brokers have: a test runner killed outright takes them along.
      const agent = spawn('setpriv', ['--pdeathsig', 'TERM', process.execPath, BIN, 'agent', '--config', config], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
      made.children.push(agent);
      let log = '';
      agent.stderr!.on('data', (d: Buffer) => (log += d.toString()));
      nodes.push({ id: s.id, label: `broker-${s.id}`, netns: s.netns, address: s.address, agentTarget: `127.0.0.1:${port}`, agent, agentLog: () => log });
    }
    for (const n of nodes) {
      await waitForValue(`the agent of ${n.label} to run its scripts`, async () => {
        if (n.agent.exitCode !== null) throw new Error(`the agent of ${n.label} exited (${n.agent.exitCode}): ${n.agentLog()}`);
        try {
          const r = await fetch(`http://${n.agentTarget}/healthz`);
          const body = (await r.json()) as { scripts: { state: string }[] };
          return r.status === 200 && body.scripts.length === Object.keys(FLEET_SCRIPTS).length && body.scripts.every((x) => x.state === 'running') ? true : undefined;
        } catch {
          return undefined;
        }
      }, 120_000);
    }

    const promPort = await freePort();
    writeFileSync(join(made.dir, 'prometheus.yml'), prometheusConfig(nodes.map((n) => n.agentTarget)), { mode: 0o644 });
    const prometheus = spawn('setpriv', ['--pdeathsig', 'KILL', 'prometheus',
      `--config.file=${join(made.dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(made.dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    made.children.push(prometheus);
    let promLog = '';
    prometheus.stderr!.on('data', (d: Buffer) => (promLog += d.toString()));
    const api = `http://127.0.0.1:${promPort}`;
    const query = async (expr: string): Promise<PromSample[]> => {
      const r = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await r.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success' || !body.data) throw new Error(`Prometheus: ${expr}: ${body.error ?? r.status}`);
      if (body.data.resultType !== 'vector') throw new Error(`Prometheus: ${expr} gave a ${body.data.resultType}`);
      return body.data.result.map((x) => ({ metric: x.metric, value: Number(x.value[1]) }));
    };
    await waitForValue('Prometheus to scrape the three agents', async () => {
      if (prometheus.exitCode !== null) throw new Error(`prometheus exited (${prometheus.exitCode}): ${promLog}`);
      try {
        const up = await query('up{job="kafkatrace"} == 1');
        return up.length === nodes.length ? true : undefined;
      } catch {
        return undefined;
      }
    }, 60_000);
    // The rules file is loaded (a rule group that does not load stops Prometheus at start).
    const rules = (await (await fetch(`${api}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string }[] }[] } };
    if (!rules.data.groups.some((g) => g.rules.some((x) => x.name === 'kafkatrace:consumer_lag:max'))) throw new Error(`Prometheus did not load ${RULES}`);

    const stopAgent = async (node: FleetNode): Promise<number | null> => {
      node.agent.kill('SIGTERM');
      return ended(node.agent, 20_000);
    };
    return { cluster, prometheus, nodes, query, stopAgent, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** Whether anything a fleet made is left: its namespaces, its bridge, its processes. */
export function fleetLeftovers(fleet: Fleet): string[] {
  const left: string[] = [];
  const namespaces = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout;
  for (const n of fleet.nodes) {
    if (namespaces.includes(n.netns)) left.push(`namespace ${n.netns}`);
    if (n.agent.pid !== undefined && alive(n.agent.pid)) left.push(`agent ${n.agent.pid}`);
  }
  for (const b of fleet.cluster.nodes) if (alive(b.pid)) left.push(`broker ${b.pid}`);
  if (fleet.prometheus.pid !== undefined && alive(fleet.prometheus.pid)) left.push(`prometheus ${fleet.prometheus.pid}`);
  if (spawnSync('ip', ['link', 'show', `ktf${process.pid}`], { stdio: 'ignore' }).status === 0) left.push(`bridge ktf${process.pid}`);
  return left;
}
