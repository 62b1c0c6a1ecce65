// KIP-848 consumer groups of the Apache Kafka broker (the release scripts/install-kafka.sh installs),
// through the command line (`-f json`). Truth comes from Kafka: the Admin API's describe of each group
// (test/peers/java/.../Groups.java).
// Needs root, the addon, a built dist/, java and scripts/install-kafka.sh.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { heldBpf } from '../helpers/bpf-held.js';
import { traceWhile } from '../helpers/cli-trace.js';
import {
  clusterAlive,
  kafkaVersion,
  realKafkaProblem,
  runJavaGroupsPeer,
  runJavaPeer,
  startKafkaCluster,
  type KafkaCluster,
  type PeerEvent,
} from '../helpers/real-kafka.js';
import { canRun } from './runtime-helpers.js';

const missing = realKafkaProblem();
if (missing && process.env['CI'] === 'true') throw new Error(missing);
if (missing) console.log(`real-kafka groups e2e tests not run: ${missing}`);
const run = canRun() && missing === undefined;
const TIMEOUT_MS = 180_000;
/** Seeded workloads: the seed is in every failure message, and SEED=... replays one. */
const SEED = Number(process.env['SEED'] ?? Date.now() % 1_000_000_007);

async function createAndProduce(cluster: KafkaCluster, topic: string, partitions: number, replicas: number, count: number): Promise<PeerEvent[]> {
  const v = kafkaVersion();
  const created = await runJavaPeer(v, ['create', cluster.bootstrap, topic, partitions, replicas]);
  expect(created.stderr).toBe('');
  expect(created.code).toBe(0);
  const produced = await runJavaPeer(v, ['produce', cluster.bootstrap, topic, partitions, count, SEED, `producer-${topic}`]);
  expect(produced.stderr, `seed ${SEED}`).toBe('');
  expect(produced.events.at(-1), `seed ${SEED}`).toEqual({ event: 'produced', acked: count, failed: 0 });
  return produced.events;
}

/** Stops a cluster the tests started: no broker process, node directory or BPF object may remain. */
async function stopCluster(cluster: KafkaCluster | undefined): Promise<void> {
  if (!cluster) return;
  await cluster.stop();
  expect(clusterAlive(cluster)).toBe(false);
  for (const node of cluster.nodes) expect(existsSync(node.dir)).toBe(false);
  expect(heldBpf().fds).toBe(0);
}

describe.runIf(run)('KIP-848 groups on an Apache Kafka broker', () => {
  let cluster: KafkaCluster;

  beforeAll(async () => {
    cluster = await startKafkaCluster({ brokers: 1 });
  }, TIMEOUT_MS);

  afterAll(() => stopCluster(cluster));

  it("ConsumerGroupHeartbeat's member epochs and assignments equal the Admin API's describe of the reconciled group", { timeout: TIMEOUT_MS }, async () => {
    const topic = `groups-848-${process.pid}`;
    const group = `group-${topic}`;
    const members = 3;
    await createAndProduce(cluster, topic, 6, 1, 50);
    const script = `
      kafka:consumergroupheartbeat /args.group == "${group}" && args.role == "client" && args.error == 0/ { @epoch[args.member] = max(args.member_epoch); }
      kafka:consumergroupheartbeat /args.group == "${group}" && args.role == "client" && args.assigned_partitions >= 0/ { @assigned[args.member] = args.assigned_partitions; }
      kafka:request /args.api == "ConsumerGroupHeartbeat" && args.role == "client"/ { @scopes[args.scope] = count(); }`;
    let described: PeerEvent[] = [];
    const traced = await traceWhile(script, async () => {
      const r = await runJavaGroupsPeer(['members', cluster.bootstrap, topic, group, members, `member-${topic}`]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      described = r.events;
    });
    expect(traced.stderr).toBe('');
    expect(traced.code).toBe(0);
    // The last describe is the reconciled group: Stable, every member at the target assignment epoch.
    const last = described.filter((e) => e.event === 'group').at(-1)!;
    expect(last).toMatchObject({ group, type: 'Consumer', state: 'Stable', members });
    const finalMembers = described.slice(described.lastIndexOf(last) + 1).filter((e) => e.event === 'member');
    expect(finalMembers).toHaveLength(members);
    expect(traced.maps['@epoch']).toEqual(Object.fromEntries(finalMembers.map((m) => [String(m['member']), Number(m['member_epoch'])])));
    expect(traced.maps['@assigned']).toEqual(Object.fromEntries(finalMembers.map((m) => [String(m['member']), Number(m['partitions'])])));
    expect(Object.keys(traced.maps['@scopes'] as Record<string, number>)).toEqual(['client']);
  });
});
