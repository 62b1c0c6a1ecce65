// KIP-848 consumer groups, share groups (KIP-932) and the KRaft/inter-broker traffic of the Apache
// Kafka broker (the release scripts/install-kafka.sh installs), through the command line (`-f json`).
// Truth comes from Kafka: the Java client's own account of what it received and acknowledged, the
// Admin API's describe of each group (test/peers/java/.../Groups.java), and the cluster's own
// listener ports for who talks to whom. One node for the groups; three for the quorum, traced from
// their start so that the controllers' election is seen.
// Needs root, the addon, a built dist/, java and scripts/install-kafka.sh.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceWhile } from '../helpers/cli-trace.js';
import { runProducerPerformance } from '../helpers/real-kafka-clients.js';
import {
  stopCluster,
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


describe.runIf(run)('KIP-848 and share groups on an Apache Kafka broker', () => {
  let cluster: KafkaCluster;

  beforeAll(async () => {
    cluster = await startKafkaCluster({ brokers: 1 });
  }, TIMEOUT_MS);

  afterAll(() => stopCluster(cluster));

  it("ConsumerGroupHeartbeat's member epochs and assignments, and every ConsumerGroupDescribe, equal the Admin API's describes of the group", { timeout: TIMEOUT_MS }, async () => {
    const topic = `groups-848-${process.pid}`;
    const group = `group-${topic}`;
    const members = 3;
    await createAndProduce(cluster, topic, 6, 1, 50);
    const script = `
      kafka:consumergroupheartbeat /args.group == "${group}" && args.role == "client" && args.error == 0/ { @epoch[args.member] = max(args.member_epoch); }
      kafka:consumergroupheartbeat /args.group == "${group}" && args.role == "client" && args.assigned_partitions >= 0/ { @assigned[args.member] = args.assigned_partitions; }
      kafka:request /args.api == "ConsumerGroupHeartbeat" && args.role == "client"/ { @scopes[args.scope] = count(); }
      kafka:consumergroupdescribe /args.group == "${group}" && args.error == 0/ { @described[args.role, args.state, args.epoch, args.assignment_epoch, args.members] = count(); }`;
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
    // Each describe the Admin API answered, as the ConsumerGroupDescribe exchange said it on both sides.
    const describes: Record<string, number> = {};
    for (const role of ['client', 'broker']) {
      for (const g of described.filter((e) => e.event === 'group')) {
        const k = [role, g['state'], g['epoch'], g['assignment_epoch'], g['members']].join(',');
        describes[k] = (describes[k] ?? 0) + 1;
      }
    }
    expect(traced.maps['@described']).toEqual(describes);
  });

  // Small records, and records of 16 KiB whose ShareFetch answers outgrow the 64 KiB the capture copies
  // of a frame it does not walk: it walks those, and reads their acquired ranges (after each partition's records).
  for (const large of [false, true]) it(`records per partition kafka:sharefetch saw acquired equal what the share consumer received, and acknowledgements per type what it acknowledged, on both sides${large ? ', with answers past 64 KiB' : ''}`, { timeout: TIMEOUT_MS }, async () => {
    const topic = `groups-share-${large ? 'large-' : ''}${process.pid}`;
    const group = `share-${topic}`;
    const count = 300;
    if (large) {
      const created = await runJavaPeer(kafkaVersion(), ['create', cluster.bootstrap, topic, 3, 1]);
      expect(created.code, created.stderr).toBe(0);
      const p = await runProducerPerformance({ bootstrap: cluster.bootstrap, topic, records: count, recordSize: 16384, clientId: `producer-${topic}`, props: { acks: 'all' } });
      expect(p.code, p.stderr).toBe(0);
      expect(p.records).toBe(count);
    } else {
      await createAndProduce(cluster, topic, 3, 1, count);
    }
    const script = `
      kafka:sharefetch /args.topic == "${topic}" && args.records >= 0/ { @acquired[args.role, args.partition] = sum(args.records); }
      kafka:request /args.api_key == 78 && args.client_id == "share-${topic}"/ { @largest = max(args.response_bytes); }
      kafka:sharefetch /args.topic == "${topic}" && args.records < 0/ { @unknown[args.role, args.partition] = count(); }
      kafka:sharefetch,kafka:shareacknowledge /args.topic == "${topic}" && args.accepted >= 0/ {
        @acks[args.role, args.partition, "accept"] = sum(args.accepted);
        @acks[args.role, args.partition, "release"] = sum(args.released);
        @acks[args.role, args.partition, "reject"] = sum(args.rejected);
      }
      kafka:sharegroupheartbeat /args.group == "${group}" && args.role == "client" && args.error == 0/ { @epochs[args.scope] = max(args.member_epoch); }`;
    let shared: PeerEvent[] = [];
    const traced = await traceWhile(script, async () => {
      const r = await runJavaGroupsPeer(['share', cluster.bootstrap, topic, group, count, SEED, `share-${topic}`]);
      expect(r.stderr, `seed ${SEED}`).toBe('');
      expect(r.code).toBe(0);
      shared = r.events;
    });
    expect(traced.stderr).toBe('');
    expect(traced.code).toBe(0);
    const received: Record<string, number> = {};
    const acks: Record<string, number> = {};
    for (const e of shared.filter((x) => x.event === 'record')) received[String(e['partition'])] = (received[String(e['partition'])] ?? 0) + 1;
    for (const e of shared.filter((x) => x.event === 'ack')) acks[`${e['partition']},${e['type']}`] = (acks[`${e['partition']},${e['type']}`] ?? 0) + 1;
    // The consumer's own account holds together: every record finished once, released ones delivered
    // again, and the broker confirmed every acknowledgement.
    const end = shared.at(-1)!;
    expect(end, `seed ${SEED}`).toMatchObject({ event: 'shared', received: Object.values(received).reduce((a, b) => a + b, 0) });
    expect(Number(end['accepted']) + Number(end['rejected']), `seed ${SEED}`).toBe(count);
    expect(Number(end['released']), `seed ${SEED}`).toBeGreaterThan(0);
    expect(shared.filter((e) => e.event === 'commit_error')).toEqual([]);
    const confirmed = shared.filter((e) => e.event === 'committed').reduce((n, e) => n + Number(e['records']), 0);
    expect(confirmed, `seed ${SEED}`).toBe(Number(end['accepted']) + Number(end['released']) + Number(end['rejected']));

    const both = <T>(per: Record<string, T>): Record<string, T> =>
      Object.fromEntries(['client', 'broker'].flatMap((role) => Object.entries(per).map(([k, v]) => [`${role},${k}`, v])));
    expect(traced.maps['@unknown'], `seed ${SEED}`).toBeUndefined();
    expect(traced.maps['@acquired'], `seed ${SEED}`).toEqual(both(received));
    // Past the 64 KiB the capture copies of an answer it does not walk.
    if (large) expect(traced.maps['@largest']).toBeGreaterThan(64 << 10);
    // Types the consumer never sent for a partition read 0 in kafkatrace's sums.
    const allTypes: Record<string, number> = {};
    for (const p of Object.keys(received)) for (const type of ['accept', 'release', 'reject']) allTypes[`${p},${type}`] = acks[`${p},${type}`] ?? 0;
    expect(traced.maps['@acks'], `seed ${SEED}`).toEqual(both(allTypes));
    expect(Object.keys(traced.maps['@epochs'] as Record<string, number>)).toEqual(['client']);
  });
});

describe.runIf(run)('KRaft and inter-broker traffic of a three-broker Apache Kafka cluster', () => {
  let cluster: KafkaCluster | undefined;

  afterAll(() => stopCluster(cluster));

  it('labels the quorum, the brokers\' registrations and heartbeats and the metadata log\'s Fetch as controller traffic on the controller ports, follower Fetch as inter-broker on the broker ports, and none of them as client traffic', { timeout: TIMEOUT_MS }, async () => {
    const topic = `groups-quorum-${process.pid}`;
    const script = `
      kafka:request /args.role == "broker"/ { @served[args.api, args.scope, args.lport] = count(); }
      kafka:request /args.role == "client"/ { @sent[args.api, args.scope, args.rport] = count(); }`;
    const traced = await traceWhile(script, async () => {
      cluster = await startKafkaCluster({ brokers: 3 });
      await createAndProduce(cluster, topic, 3, 3, 300);
    });
    expect(traced.stderr).toBe('');
    expect(traced.code).toBe(0);
    const controllerPorts = new Set(cluster!.nodes.map((n) => n.controllerPort));
    const brokerPorts = new Set(cluster!.nodes.map((n) => n.port));
    // The machine's other Kafka traffic is traced too: this cluster's is what its own ports serve.
    const ours = (map: unknown) => Object.entries(map as Record<string, number>).map(([k, n]) => {
      const [api, scope, port] = k.split(',');
      return { api: api!, scope: scope!, port: Number(port), n };
    }).filter((s) => controllerPorts.has(s.port) || brokerPorts.has(s.port));
    const served = ours(traced.maps['@served']);
    const scopesOf = (api: string) => [...new Set(served.filter((s) => s.api === api).map((s) => s.scope))].sort();
    // The quorum elected a leader (Vote), and the leader told the others (BeginQuorumEpoch); each
    // broker registered and heartbeats; voters and brokers follow the metadata log by Fetch.
    for (const api of ['Vote', 'BeginQuorumEpoch', 'BrokerRegistration', 'BrokerHeartbeat']) expect(scopesOf(api), api).toEqual(['controller']);
    expect(scopesOf('Fetch')).toEqual(['controller', 'inter-broker']);
    // Who serves what, by the cluster's own listeners: controller traffic on the controller ports,
    // inter-broker traffic (follower Fetch) on the broker ports. ApiVersions is a client's API on either.
    for (const s of served.filter((x) => x.scope !== 'client')) {
      expect((s.scope === 'controller' ? controllerPorts : brokerPorts).has(s.port), `${s.api} ${s.scope} on ${s.port}`).toBe(true);
    }
    // The sending side says the same, and no quorum or broker-to-controller API is a client's.
    const sent = ours(traced.maps['@sent']);
    const sentScopes = (api: string) => [...new Set(sent.filter((s) => s.api === api).map((s) => s.scope))].sort();
    for (const api of ['Vote', 'BeginQuorumEpoch', 'BrokerRegistration', 'BrokerHeartbeat']) expect(sentScopes(api), api).toEqual(['controller']);
    expect(sentScopes('Fetch')).toEqual(['controller', 'inter-broker']);
    for (const s of sent.filter((x) => x.scope !== 'client')) {
      expect((s.scope === 'controller' ? controllerPorts : brokerPorts).has(s.port), `${s.api} ${s.scope} to ${s.port}`).toBe(true);
    }
  });
});
