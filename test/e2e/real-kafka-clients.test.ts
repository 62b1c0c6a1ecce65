// `kafkatrace run kafka-clients` on the Apache Kafka broker (one KRaft node, the release
// scripts/install-kafka.sh installs) while the clients people run each work against it: the Java
// client (the broker's release and the newest 3.x) and Kafka's own load tools, franz-go and sarama,
// confluent-kafka and kafka-python, kafkajs and @confluentinc/kafka-javascript, and kcat. Truth comes
// from outside kafkatrace: each client's pid and client id from the test that ran it, the software
// it names from its installed package (go.mod, pip, package.json, `kcat -V`), and every request's
// API and version from tshark's Kafka dissector on a loopback capture of the same run. The tool
// traces every process, so each client is seen at both ends: its own, and the broker's.
// Needs root, the addon, a built dist/, java, tshark and scripts/install-kafka.sh.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiName } from '../../src/kafka/wire/api-names.js';
import { requestSpec } from '../../src/kafka/wire/schemas/index.js';
import { inRange } from '../../src/kafka/wire/schemas/spec.js';
import { ROOT } from '../helpers/cli.js';
import { traceWhile } from '../helpers/cli-trace.js';
import { confluentProblem } from '../helpers/confluent-client.js';
import {
  kcatLibrdkafkaVersion,
  nodePackageVersion,
  produceWithConfluentPeer,
  produceWithKafkajsPeer,
  produceWithKcatPeer,
  runConsumerPerformance,
  runProducerPerformance,
} from '../helpers/real-kafka-clients.js';
import {
  stopCluster,
  kafka3ClientsVersion,
  kafkaVersion,
  realKafkaProblem,
  runGoPeer,
  runJavaPeer,
  runPythonPeer,
  startKafkaCluster,
  type KafkaCluster,
  type PeerRun,
} from '../helpers/real-kafka.js';
import { startCapture, tsharkProblem, tsharkRequests, type TsharkRequest } from '../helpers/tshark.js';
import { canRun } from './runtime-helpers.js';

const missing = realKafkaProblem() ?? tsharkProblem() ?? confluentProblem();
if (missing && process.env['CI'] === 'true') throw new Error(missing);
if (missing) console.log(`real-kafka-clients e2e tests not run: ${missing}`);
const run = canRun() && missing === undefined;
const TIMEOUT_MS = 300_000;
const SEED = Number(process.env['SEED'] ?? Date.now() % 1_000_000_007);

/** A module's version as test/peers/go/go.mod requires it. */
function goModuleVersion(module: string): string {
  const m = new RegExp(`${module.replace(/[./]/g, '\\$&')} (v\\S+)`).exec(readFileSync(join(ROOT, 'test', 'peers', 'go', 'go.mod'), 'utf8'));
  if (!m) throw new Error(`go.mod requires no ${module}`);
  return m[1]!;
}

/** A package's version as pip reports it in the Python peer's venv. */
function pipVersion(name: string): string {
  const out = execFileSync(join(ROOT, 'build', 'peers', 'python', 'bin', 'python'), ['-m', 'pip', 'show', '--disable-pip-version-check', name], { encoding: 'utf8' });
  return /^Version: (\S+)$/m.exec(out)![1]!;
}

/** One client run: its process and client id, and the package version its software names. */
interface ClientRun {
  label: string;
  clientId: string;
  pid: number;
  /** The installed version the client's announced software version contains; undefined for a client that announces none (ApiVersions before v3). */
  version: string | undefined;
}

/**
 * `@map` rows of one client id, split into their keys: "role,pid,addr,client_id,..." → value. The
 * Java client's sockets are IPv6 ones, whose IPv4 peers read as v4-mapped (::ffff:127.0.0.1): the
 * address tshark sees as 127.0.0.1.
 */
function rowsOf(map: unknown, clientId: string, role: string): string[][] {
  return Object.entries((map ?? {}) as Record<string, number>)
    .map(([k, v]) => [...k.split(','), String(v)])
    .filter((r) => r[0] === role && r[3] === clientId)
    .map((r) => r.map((x, i) => (i === 2 ? x.replace(/^::ffff:/, '') : x)));
}

describe.runIf(run)('kafka-clients on an Apache Kafka broker', () => {
  let cluster: KafkaCluster;

  beforeAll(async () => {
    cluster = await startKafkaCluster({ brokers: 1 });
  }, TIMEOUT_MS);

  afterAll(() => stopCluster(cluster));

  it('lists every client once per process and side, with its pid, client id, software and the API versions tshark reads', { timeout: TIMEOUT_MS }, async () => {
    const b = cluster.bootstrap;
    const topic = `clients-${process.pid}`;
    const v3 = kafka3ClientsVersion();
    const v4 = kafkaVersion();
    expect((await runJavaPeer(v3, ['create', b, topic, 3, 1])).code).toBe(0);
    const id = (label: string): string => `${label}-${process.pid}`;
    const produce = [b, topic, 3, 40, SEED];
    const ok = (r: PeerRun, label: string): PeerRun => {
      expect(r.code, `${label}: ${r.stderr}`).toBe(0);
      return r;
    };
    const runs: ClientRun[] = [];
    const capture = await startCapture(cluster.nodes.map((n) => n.port));
    try {
      const traced = await traceWhile({ tool: 'kafka-clients' }, async () => {
        const java4 = ok(await runJavaPeer(v4, ['produce', ...produce, id('java4')]), 'java4');
        runs.push({ label: 'kafka-clients 4', clientId: id('java4'), pid: java4.pid, version: v4 });
        const java3 = ok(await runJavaPeer(v3, ['produce', ...produce, id('java3')]), 'java3');
        runs.push({ label: 'kafka-clients 3', clientId: id('java3'), pid: java3.pid, version: v3 });
        const perf = await runProducerPerformance({ bootstrap: b, topic, records: 500, recordSize: 200, clientId: id('perf-producer') });
        expect(perf.code, perf.stderr).toBe(0);
        expect(perf.records).toBe(500);
        runs.push({ label: 'kafka-producer-perf-test', clientId: id('perf-producer'), pid: perf.pid, version: v4 });
        const perfConsumer = await runConsumerPerformance({ bootstrap: b, topic, records: 500, group: id('perf-group'), clientId: id('perf-consumer') });
        expect(perfConsumer.code, perfConsumer.stderr).toBe(0);
        expect(perfConsumer.records).toBeGreaterThanOrEqual(500);
        runs.push({ label: 'kafka-consumer-perf-test', clientId: id('perf-consumer'), pid: perfConsumer.pid, version: v4 });
        const franz = ok(await runGoPeer(['produce', ...produce, id('franz')]), 'franz-go');
        runs.push({ label: 'franz-go', clientId: id('franz'), pid: franz.pid, version: goModuleVersion('github.com/twmb/franz-go') });
        const sarama = ok(await runGoPeer(['sarama-produce', ...produce, id('sarama')]), 'sarama');
        runs.push({ label: 'sarama producer', clientId: id('sarama'), pid: sarama.pid, version: goModuleVersion('github.com/IBM/sarama') });
        const saramaGroup = ok(await runGoPeer(['sarama-consume', b, topic, id('sarama-group'), 40, id('sarama-member')]), 'sarama group');
        expect(saramaGroup.events.at(-1)).toEqual({ event: 'consumed', records: 40 });
        runs.push({ label: 'sarama group', clientId: id('sarama-member'), pid: saramaGroup.pid, version: goModuleVersion('github.com/IBM/sarama') });
        const confluentPy = ok(await runPythonPeer('confluent-kafka', ['produce', ...produce, id('confluent-py')]), 'confluent-kafka');
        runs.push({ label: 'confluent-kafka', clientId: id('confluent-py'), pid: confluentPy.pid, version: pipVersion('confluent-kafka') });
        const kafkaPython = ok(await runPythonPeer('kafka-python', ['produce', ...produce, id('kafka-python')]), 'kafka-python');
        runs.push({ label: 'kafka-python', clientId: id('kafka-python'), pid: kafkaPython.pid, version: pipVersion('kafka-python') });
        ok(await produceWithKafkajsPeer({ bootstrap: b, topic, partitions: 3, count: 40, seed: SEED, clientId: id('kafkajs') }), 'kafkajs');
        // kafkajs sends ApiVersions v2 at most: no software name or version.
        runs.push({ label: 'kafkajs', clientId: id('kafkajs'), pid: process.pid, version: undefined });
        ok(await produceWithConfluentPeer({ bootstrap: b, topic, partitions: 3, count: 40, seed: SEED, clientId: id('confluent-js') }), 'confluent-js');
        runs.push({ label: '@confluentinc/kafka-javascript', clientId: id('confluent-js'), pid: process.pid, version: nodePackageVersion('@confluentinc/kafka-javascript') });
        const kcat = ok(await produceWithKcatPeer({ bootstrap: b, topic, count: 40, clientId: id('kcat') }), 'kcat');
        runs.push({ label: 'kcat', clientId: id('kcat'), pid: kcat.pid, version: kcatLibrdkafkaVersion() });
      });
      expect(traced.stderr).toBe('');
      expect(traced.code).toBe(0);
      const requests: TsharkRequest[] = await tsharkRequests(await capture.stop(), cluster.nodes.map((n) => n.port));

      const broker = cluster.nodes[0]!;
      for (const c of runs) {
        const seen = requests.filter((r) => r.clientId === c.clientId);
        expect(seen.length, c.label).toBeGreaterThan(0);
        // The software the client named in its ApiVersions requests, as tshark read them; from a
        // version kafkatrace's schemas do not define it reads unknown, as a value not decoded does.
        const hellos = seen.filter((r) => r.apiKey === 18 && r.softwareName !== undefined);
        const named = new Set(hellos.map((r) => `${r.softwareName},${r.softwareVersion}`));
        expect.soft(named.size, `${c.label}: ${[...named].join(' ')}`).toBe(c.version === undefined ? 0 : 1);
        if (c.version !== undefined) expect.soft([...named][0]?.split(',')[1], c.label).toContain(c.version.replace(/^v/, ''));
        const decoded = new Set(hellos.filter((r) => inRange(requestSpec(18)?.valid, r.version)).map((r) => `${r.softwareName},${r.softwareVersion}`));
        const software = decoded.size === 1 ? [...decoded][0]! : 'unknown,unknown';
        const apiVersions = new Map<string, number>();
        for (const r of seen) {
          const key = `${apiName(r.apiKey) ?? `api ${r.apiKey}`},${r.version}`;
          apiVersions.set(key, (apiVersions.get(key) ?? 0) + 1);
        }
        for (const [role, pid] of [['client', c.pid], ['broker', broker.pid]] as const) {
          const what = `${c.label} (${role} side)`;
          // One row: this process, the client's address, and the software tshark read.
          expect.soft(rowsOf(traced.maps['@clients'], c.clientId, role).map((r) => r.slice(0, -1).join(',')), what).toEqual([
            `${role},${pid},127.0.0.1,${c.clientId},${software}`,
          ]);
          // Every API and version the client sent, as many times as tshark saw it.
          const listed = rowsOf(traced.maps['@api_versions'], c.clientId, role);
          expect.soft(new Set(listed.map((r) => `${r[1]},${r[2]}`)), what).toEqual(new Set([`${pid},127.0.0.1`]));
          expect.soft(new Map(listed.map((r) => [`${r[4]},${r[5]}`, Number(r[6])])), what).toEqual(apiVersions);
          // Every client here works with this 4.x broker: none used a version it no longer accepts.
          expect.soft(rowsOf(traced.maps['@removed_in_kafka_4'], c.clientId, role), what).toEqual([]);
        }
      }
      const processes = traced.maps['@process'] as unknown as Record<string, string>;
      for (const c of runs) expect(processes[String(c.pid)], c.label).toMatch(/\S/);
    } finally {
      capture.remove();
    }
  });
});
