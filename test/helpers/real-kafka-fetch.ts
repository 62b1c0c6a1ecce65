// Fetch on a real Apache Kafka cluster, proven from Kafka's side: records per partition that a Java
// group member received and its producer delivered, against kafka:fetch on the client's and the
// broker's side; follower replicas' fetches against the topic's replica assignment (kafka-topics
// --describe). Used by the real-Kafka e2e files, each on a cluster of its own.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { ROOT } from './cli.js';
import { traceWhile } from './cli-trace.js';
import { kafka3ClientsVersion, runJavaPeer, type KafkaCluster, type PeerEvent, type PeerRun } from './real-kafka.js';

/** API keys (Kafka protocol numbering). */
const JOIN_GROUP = 11;
const CONSUMER_GROUP_HEARTBEAT = 68;
/** Seeded workloads: the seed is in every failure message, and SEED=... replays one. */
const SEED = Number(process.env['SEED'] ?? Date.now() % 1_000_000_007);
/** How long a member started early has to join its group before tracing starts. */
const EARLY_MS = 8_000;

/** Delivered records per partition, from the producer's delivery reports. */
export function deliveredPerPartition(events: PeerEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of events.filter((x) => x.event === 'delivery')) out[String(e['partition'])] = (out[String(e['partition'])] ?? 0) + 1;
  return out;
}

/** A topic as the cluster describes it (kafka-topics --describe): its id, and each partition's leader and replicas. */
async function describeTopic(bootstrap: string, topic: string): Promise<{ id: string; partitions: { partition: number; leader: number; replicas: number[] }[] }> {
  const r = spawnSync('java', ['-Xmx256m', '-cp', `${join(ROOT, 'build', 'kafka', 'libs')}/*`, 'org.apache.kafka.tools.TopicCommand', '--bootstrap-server', bootstrap, '--describe', '--topic', topic], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  // Kafka prints a topic id as URL-safe base64; kafkatrace as the UUID's hex groups.
  const b64 = /TopicId: (\S+)/.exec(r.stdout)![1]!;
  const hex = Buffer.from(b64, 'base64url').toString('hex');
  const id = [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
  const partitions = [...r.stdout.matchAll(/Partition: (\d+)\s+Leader: (-?\d+)\s+Replicas: ([\d,]+)/g)].map((m) => ({
    partition: Number(m[1]), leader: Number(m[2]), replicas: m[3]!.split(',').map(Number),
  }));
  return { id, partitions };
}

/** The capture's loss figures (kafka_decode): with none, no record count may be unknown. */
const LOSSES = ['frames_lost_ring_full', 'frames_lost_after_loss', 'frames_lost_too_many', 'capture_desyncs'];

/**
 * `counted` (the known counts) with each entry that had unknown firings (`unknownKey` names its
 * @unknown entry) replaced by the truth when it stays within it: a count missing what the capture
 * lost is right, one above the truth is not, and one without unknown firings must be exact.
 */
function withUnknown(counted: Record<string, number>, truth: Record<string, number>, unknown: Record<string, number>, unknownKey: (k: string) => string): Record<string, number> {
  const out = { ...counted };
  for (const [k, n] of Object.entries(truth)) if (unknown[unknownKey(k)] && (out[k] ?? 0) <= n) out[k] = n;
  return out;
}

/** A map's entries without zeros (partitions a fetch named with no records). */
const nonZero = (m: unknown): Record<string, number> => Object.fromEntries(Object.entries((m ?? {}) as Record<string, number>).filter(([, n]) => n !== 0));

/**
 * Produces `count` seeded records (Java, acks=all) and consumes them with a Java group member of
 * `protocol`, kafkatrace tracing every process. Consumers' records per partition, on the client's
 * side and on the broker's (record data sent with sendfile(2), read back from the segment), equal
 * what the member received and what was delivered; kafka:lag fires for the group alone. With
 * `followers`, follower replicas' fetches are flagged with the follower's broker id (truth: the
 * topic's replica assignment) and copy every delivered record once per follower, on both sides
 * (their connections, opened when the cluster started, are joined mid-stream). With `early`, the
 * member starts and joins its group before tracing does: its connections are joined mid-stream too.
 * `member` is the member's kafka-clients version (3.9's by default) and `fetchVersion` the Fetch
 * version it and the broker agree on (17 for 3.9's, 18 for 4.4's).
 */
export async function proveFetch(cluster: KafkaCluster, protocol: string, opts: { topic: string; partitions: number; replicas: number; count: number; followers: boolean; early?: boolean; member?: string; fetchVersion?: number }): Promise<void> {
  const v3 = kafka3ClientsVersion();
  const memberVersion = opts.member ?? v3;
  const fetchVersion = opts.fetchVersion ?? 17;
  const { topic, partitions, replicas, count } = opts;
  const created = await runJavaPeer(v3, ['create', cluster.bootstrap, topic, partitions, replicas]);
  expect(created.stderr).toBe('');
  expect(created.code).toBe(0);
  const described = await describeTopic(cluster.bootstrap, topic);
  expect(described.partitions).toHaveLength(partitions);
  const clientId = `member-${topic}`;
  const group = `group-${topic}`;
  // Fetch v13+ names topics by id: a process that saw no Metadata naming it shows the id.
  const named = `(args.topic == "${topic}" || args.topic == "${described.id}")`;
  const script = `
    kafka:fetch /${named} && args.replica == -1 && args.records >= 0/ { @fetched[args.role, args.partition] = sum(args.records); }
    kafka:fetch /${named} && args.records < 0/ { @unknown[args.role, args.replica, args.partition] = count(); }
    kafka:fetch /${named} && args.replica >= 0 && args.records >= 0/ { @followers[args.role, args.replica, args.partition] = sum(args.records); }
    kafka:lag /${named}/ { @lagged[args.group] = count(); }
    kafka:request /args.api_key == 1 && args.client_id == "${clientId}"/ { @versions[args.role, args.version] = count(); }
    kafka:request /(args.api_key == ${JOIN_GROUP} || args.api_key == ${CONSUMER_GROUP_HEARTBEAT}) && args.client_id == "${clientId}" && args.role == "client"/ { @joins[args.api_key] = count(); }`;
  let produced: PeerEvent[] = [];
  let consumed: PeerEvent[] = [];
  const consume = (): Promise<PeerRun> => runJavaPeer(memberVersion, ['consume', cluster.bootstrap, topic, group, count, clientId, protocol]);
  // The member, started early, has joined its group and waits on an empty topic when tracing starts.
  const member = opts.early ? consume() : undefined;
  if (member) await new Promise((resolve) => setTimeout(resolve, EARLY_MS));
  const traced = await traceWhile(script, async () => {
    const p = await runJavaPeer(v3, ['produce', cluster.bootstrap, topic, partitions, count, SEED, `producer-${topic}`]);
    expect(p.stderr, `seed ${SEED}`).toBe('');
    expect(p.code).toBe(0);
    produced = p.events;
    const r = await (member ?? consume());
    expect(r.stderr, `seed ${SEED}`).toBe('');
    expect(r.code).toBe(0);
    consumed = r.events;
  });
  expect(traced.stderr).toBe('');
  expect(traced.code).toBe(0);
  const delivered = deliveredPerPartition(produced);
  const received: Record<string, number> = {};
  for (const e of consumed.filter((x) => x.event === 'record')) received[String(e['partition'])] = (received[String(e['partition'])] ?? 0) + 1;
  expect(received, `seed ${SEED}`).toEqual(delivered);

  // Both sides, exact: the broker's side reads its sendfile bytes back from the log segment.
  const expected: Record<string, number> = {};
  for (const role of ['client', 'broker']) for (const [p, n] of Object.entries(received)) expected[`${role},${p}`] = n;
  const health = `seed ${SEED}; unknown ${JSON.stringify(traced.maps['@unknown'])}; decoder ${JSON.stringify(traced.decode)}; events lost ${traced.lost}`;
  expect(traced.decode?.['sendfile_unread'], health).toBe(0);
  const unknown = (traced.maps['@unknown'] ?? {}) as Record<string, number>;
  const lossReported = traced.lost > 0 || LOSSES.some((k) => Number(traced.decode?.[k] ?? 0) > 0);
  if (!lossReported) expect(unknown, `records unknown with no loss reported: ${health}`).toEqual({});
  else console.log(`seed ${SEED}: the capture reported losses; partitions with records unknown are checked for counting no more than the truth: ${health}`);
  expect(withUnknown(nonZero(traced.maps['@fetched']), expected, unknown, (k) => k.replace(',', ',-1,')), health).toEqual(expected);

  expect(Object.keys(traced.maps['@lagged'] as Record<string, number>)).toEqual([group]);
  // The newest Fetch both the member and the broker know (topic ids, resolved from Metadata).
  const versions = traced.maps['@versions'] as Record<string, number>;
  expect(Object.keys(versions).sort()).toEqual([`broker,${fetchVersion}`, `client,${fetchVersion}`]);
  // The member joined its group by the protocol asked for: JoinGroup (classic) or ConsumerGroupHeartbeat (KIP-848).
  if (!opts.early) expect(Object.keys(traced.maps['@joins'] as Record<string, number>)).toEqual([String(protocol === 'classic' ? JOIN_GROUP : CONSUMER_GROUP_HEARTBEAT)]);
  if (!opts.followers) return;
  // Every follower of a partition copies each of its records once; the leader serves them (broker)
  // and the follower's own JVM reads them (client), both flagged with the follower's id.
  const followed: Record<string, number> = {};
  for (const { partition, leader, replicas: ids } of described.partitions) {
    const n = delivered[String(partition)];
    if (!n) continue;
    for (const id of ids.filter((x) => x !== leader)) for (const role of ['client', 'broker']) followed[`${role},${id},${partition}`] = n;
  }
  expect(withUnknown(nonZero(traced.maps['@followers']), followed, unknown, (k) => k), health).toEqual(followed);
}

