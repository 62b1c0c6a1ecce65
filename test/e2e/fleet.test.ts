// Issue 19's fleet on one machine (test/helpers/fleet.ts): three Apache Kafka brokers, each in a network
// namespace of its own, one `kafkatrace agent` per namespace restricted to it in the kernel, and a real
// Prometheus scraping the three with the recording rules of deploy/prometheus/. A seeded workload runs
// from this machine's own namespace (outside all three): producers on several topics and partitions, a
// consumer group whose first member pauses to build lag while a second joins and leaves. What
// Prometheus computes across the agents is set against Kafka's own account, never kafkatrace's: log end
// offsets (kafka-get-offsets) and the producers' delivery reports, kafka-consumer-groups --describe,
// and the members' rebalance callbacks. Then one agent stops: its target is down and its series are
// absent (not zeros) while the other nodes' remain.
// Needs root, ip, prometheus, a built dist/, java and scripts/install-kafka.sh.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heldBpf } from '../helpers/bpf-held.js';
import { dashboardQueries } from '../helpers/dashboard.js';
import { waitForValue } from '../helpers/cli-trace.js';
import { fleetLeftovers, fleetProblem, startFleet, type Fleet, type PromSample } from '../helpers/fleet.js';
import { describeGroupOffsets, kafkaTool, logEndOffsets, parseToolTables } from '../helpers/kafka-truth.js';
import { kafkaVersion, runJavaPeer, startJavaPeer, type PeerEvent, type StartedPeer } from '../helpers/real-kafka.js';
import { rng } from '../helpers/seeded.js';

const missing = fleetProblem();
if (missing && process.env['CI'] === 'true') throw new Error(missing);
if (missing) console.log(`fleet test not run: ${missing}`);
const SEED = Number(process.env['SEED'] ?? Date.now() % 1_000_000_007);
const START_MS = 240_000;
const TEST_MS = 240_000;
const PEER_MS = 150_000;

/** Samples as "label=value,..." → value, over the labels named. */
function byLabels(samples: PromSample[], labels: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) out[labels.map((l) => s.metric[l] ?? '').join(',')] = s.value;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

const sortedRecord = (r: Record<string, number>) => Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));

/** Each partition's leader (node id), from the cluster's Metadata as kcat reads it. */
function leaders(bootstrap: string, topics: string[]): Map<string, number> {
  const r = spawnSync('kcat', ['-b', bootstrap, '-L', '-J', '-m', '10'], { encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`kcat -L: ${r.stderr}`);
  const md = JSON.parse(r.stdout) as { topics: { topic: string; partitions: { partition: number; leader: number }[] }[] };
  const out = new Map<string, number>();
  for (const t of md.topics.filter((x) => topics.includes(x.topic))) for (const p of t.partitions) out.set(`${t.topic},${p.partition}`, p.leader);
  return out;
}

/** Each topic's id as kafkatrace prints an id it has no name for (a UUID's text), from kafka-topics --describe. */
async function topicIds(bootstrap: string, topics: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const topic of topics) {
    const r = await kafkaTool('org.apache.kafka.tools.TopicCommand', ['--bootstrap-server', bootstrap, '--describe', '--topic', topic]);
    const id = /TopicId:\s*(\S+)/.exec(r.stdout)?.[1];
    if (r.code !== 0 || id === undefined) throw new Error(`kafka-topics --describe ${topic}: ${r.stderr}${r.stdout}`);
    const hex = Buffer.from(id, 'base64url').toString('hex');
    out.set(`${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`, topic);
  }
  return out;
}

/** The group's coordinator (node id), from kafka-consumer-groups --describe --state. */
async function coordinator(bootstrap: string, group: string): Promise<number> {
  const r = await kafkaTool('org.apache.kafka.tools.consumer.group.ConsumerGroupCommand', ['--bootstrap-server', bootstrap, '--describe', '--group', group, '--state']);
  const row = parseToolTables(r.stdout)[0];
  const id = /\((\d+)\)$/.exec(row?.['COORDINATOR (ID)'] ?? row?.['(ID)'] ?? '')?.[1];
  if (id === undefined) throw new Error(`kafka-consumer-groups --state ${group}: ${r.stdout}${r.stderr}`);
  return Number(id);
}

describe.runIf(missing === undefined)('a fleet: three brokers in network namespaces, an agent each, Prometheus over them', () => {
  let fleet: Fleet | undefined;
  const members: StartedPeer[] = [];

  beforeAll(async () => {
    fleet = await startFleet();
  }, START_MS);

  afterAll(async () => {
    for (const m of members) {
      try {
        process.kill(m.pid, 'SIGKILL');
      } catch {
        // It had left already.
      }
    }
    await Promise.all(members.map((m) => m.done));
    await fleet?.stop();
    if (fleet) expect(fleetLeftovers(fleet)).toEqual([]);
    expect(heldBpf().fds).toBe(0);
  }, 60_000);

  it('Prometheus over the agents equals Kafka per topic, group and partition; a stopped agent is a target down, not zeros', { timeout: TEST_MS }, async () => {
    const f = fleet!;
    const rnd = rng(SEED);
    const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    const tag = randomBytes(3).toString('hex');
    const topics = [`fleet-${tag}-a`, `fleet-${tag}-b`].map((topic) => ({ topic, partitions: int(3, 6) }));
    const names = topics.map((t) => t.topic);
    const group = `fleet-${tag}-g`;
    const version = kafkaVersion();
    const bootstrap = f.cluster.bootstrap;
    console.log(`fleet: seed ${SEED}, topics ${JSON.stringify(topics)}, group ${group}`);

    for (const t of topics) {
      const r = await runJavaPeer(version, ['create', bootstrap, t.topic, t.partitions, 3], PEER_MS);
      expect(r.code, r.stderr).toBe(0);
    }
    const regex = `fleet-${tag}-.*`;
    // Producers run at once, one or two a topic, each a JVM of its own.
    const producers = topics.flatMap((t, i) => Array.from({ length: int(1, 2) }, (_, j) => ({ ...t, count: int(200, 1500), seed: int(1, 1 << 30), id: `fleet-${tag}-p${i}${j}` })));
    const runs = await Promise.all(producers.map((p) => runJavaPeer(version, ['produce', bootstrap, p.topic, p.partitions, p.count, p.seed, p.id], PEER_MS)));
    const delivered: Record<string, number> = {};
    runs.forEach((r, i) => {
      const p = producers[i]!;
      expect(r.code, `seed ${SEED}: ${p.id}: ${r.stderr}`).toBe(0);
      expect(r.events.at(-1), `seed ${SEED}`).toEqual({ event: 'produced', acked: p.count, failed: 0 });
      delivered[p.topic] = (delivered[p.topic] ?? 0) + p.count;
    });

    // A member that reads part and pauses (its lag then holds), a second that joins paused and
    // leaves: three generations.
    const total = producers.reduce((n, p) => n + p.count, 0);
    const m1 = startJavaPeer(version, 'Member', [bootstrap, names.join(','), group, `fleet-${tag}-m1`, 'classic', TEST_MS, int(1, Math.floor(total / 2))], TEST_MS);
    members.push(m1);
    await m1.reported('paused');
    const m2 = startJavaPeer(version, 'Member', [bootstrap, names.join(','), group, `fleet-${tag}-m2`, 'classic', int(2000, 5000), 0], PEER_MS);
    members.push(m2);
    const m2run = await m2.done;
    expect(m2run.code, m2run.stderr).toBe(0);
    const generation = (e: PeerEvent) => Number(e['generation']);
    const m2last = Math.max(...m2run.events.filter((e) => e.event === 'assigned').map(generation));
    // m1 takes the partitions back once m2 has left.
    await waitForValue('m1 to be assigned after m2 left', () => (m1.events.some((e) => e.event === 'assigned' && generation(e) > m2last) ? true : undefined), 60_000);

    // Kafka's own account.
    const ends = await logEndOffsets(f.cluster, regex);
    const endsByTopic: Record<string, number> = {};
    for (const [key, end] of ends) endsByTopic[key.split(',')[0]!] = (endsByTopic[key.split(',')[0]!] ?? 0) + end;
    expect(sortedRecord(endsByTopic), `seed ${SEED}: log ends against delivery reports`).toEqual(sortedRecord(delivered));
    const lagRows = await describeGroupOffsets(f.cluster, group);
    const lagTruth = sortedRecord(Object.fromEntries(lagRows.filter((r) => r.lag !== undefined).map((r) => [`${r.topic},${r.partition}`, r.lag!])));
    expect(Object.keys(lagTruth).length, `seed ${SEED}: partitions with a committed offset`).toBeGreaterThan(0);
    const generations = new Set([...m1.events, ...m2run.events].filter((e) => e.event === 'assigned' || e.event === 'revoked').map(generation));
    const lead = leaders(bootstrap, names);

    const ids = await topicIds(bootstrap, names);
    const coordinatorId = await coordinator(bootstrap, group);
    /** `expr`'s samples by the labels named. */
    const samples = async (expr: string, labels: string[]) => byLabels(await f.query(expr), labels);
    const topicOf = (label: string | undefined): string | undefined => (label !== undefined && names.includes(label) ? label : undefined);
    /** `expr`'s samples summed by the labels named; our topics only (a series labelled by an id counts for none). */
    const sums = async (expr: string, labels: string[]): Promise<Record<string, number>> => {
      const out: Record<string, number> = {};
      for (const x of await f.query(expr)) {
        const topic = topicOf(x.metric['topic']);
        if (topic === undefined) continue;
        const key = labels.map((l) => (l === 'topic' ? topic : (x.metric[l] ?? ''))).join(',');
        out[key] = (out[key] ?? 0) + x.value;
      }
      return sortedRecord(out);
    };
    /** Waits until `got` gives `want` (decoding and scraping take a moment), then checks it holds. */
    const settles = async (what: string, got: () => Promise<Record<string, number>>, want: Record<string, number>): Promise<void> => {
      await waitForValue(what, async () => (JSON.stringify(await got()) === JSON.stringify(want) ? true : undefined), 45_000).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 2000));
      expect(await got(), `seed ${SEED}: ${what}`).toEqual(want);
    };

    // Records produced per topic, summed over the three agents: each Produce reaches one broker, its
    // partition's leader, and only that broker's agent sees it. Newer clients name topics by id
    // (Produce v13, Fetch v13+), and most Metadata answers naming them come from another broker than
    // the one each agent sees: the agents name ids from their brokers' log directories.
    await settles('records produced per topic', () => sums('kafkatrace_overview_records_in{cluster="fleet"}', ['topic']), sortedRecord(endsByTopic));
    const perNode: Record<string, number> = {};
    for (const [key, end] of ends) {
      if (end === 0) continue;
      const k = `broker-${lead.get(key)},${key.split(',')[0]}`;
      perNode[k] = (perNode[k] ?? 0) + end;
    }
    await settles('records produced per node and topic (the leaders\')', () => sums('kafkatrace_overview_records_in{cluster="fleet"}', ['node', 'topic']), sortedRecord(perNode));
    const byId = (await f.query('{job="kafkatrace",__name__=~"kafkatrace_overview_records_.*|kafkatrace_lag_.*"}')).filter((x) => ids.has(x.metric['topic'] ?? ''));
    expect(byId.map((x) => [x.metric['__name__'], x.metric['node'], x.metric['topic'], x.metric['partition']]), `seed ${SEED}: series labelled by a topic id`).toEqual([]);

    // Lag per group and partition: kafka-consumer-groups' LAG is the log end minus the committed offset,
    // what kafkatrace calls the committed lag. The coordinator's agent sees the commits; the log ends
    // reach it in its follower fetches' high watermarks (every broker holds a replica of every partition).
    // A partition whose topic id the coordinator's agent could not name has an unknown lag, -1: every
    // lag known must be Kafka's, and some must be known.
    const lagOf = (rule: string) => async () => {
      const all = await samples(`kafkatrace:${rule}:max{cluster="fleet",group="${group}"}`, ['topic', 'partition']);
      return sortedRecord(Object.fromEntries(Object.entries(all).filter(([k]) => names.includes(k.split(',')[0]!))));
    };
    const committedLag = lagOf('consumer_committed_lag');
    await waitForValue('the committed lags to settle', async () => (JSON.stringify(await committedLag()) === JSON.stringify(lagTruth) ? true : undefined), 30_000).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 2000));
    const committed = await committedLag();
    expect(Object.entries(committed).filter(([k, v]) => v !== -1 && v !== lagTruth[k]), `seed ${SEED}: committed lags known and not Kafka's (${JSON.stringify(lagTruth)})`).toEqual([]);
    expect(Object.keys(committed).filter((k) => !(k in lagTruth)), `seed ${SEED}: committed lags of partitions without a committed offset`).toEqual([]);
    expect(Object.values(committed).filter((v) => v !== -1).length, `seed ${SEED}: committed lags known`).toBeGreaterThan(0);
    // The fetch lag (the log end minus the group's last Fetch offset) is known only where the
    // coordinator's agent sees the fetches, the partitions its broker leads: another leader's agent
    // never learns the group's name. Shown, not compared.
    const fetchLag = await lagOf('consumer_lag')();
    console.log(`fleet: seed ${SEED}: coordinator ${coordinatorId}, leaders ${JSON.stringify(Object.fromEntries(lead))}; kafka-consumer-groups LAG ${JSON.stringify(lagTruth)}; kafkatrace:consumer_committed_lag:max ${JSON.stringify(committed)}; kafkatrace:consumer_lag:max ${JSON.stringify(fetchLag)}`);

    // Rebalances: one per generation the members saw, counted by the coordinator's agent alone.
    await settles('rebalances of the group', async () => byLabels(await f.query(`sum by (group) (kafkatrace_rebalances_rebalances_total{cluster="fleet",group="${group}"})`), ['group']), { [group]: generations.size });
    const increase = byLabels(await f.query(`kafkatrace:rebalances:increase5m{cluster="fleet",group="${group}"}`), ['group']);
    expect(increase[group], `seed ${SEED}: kafkatrace:rebalances:increase5m`).toBeGreaterThan(0);
    const rate = await sums('kafkatrace:produce_records:rate1m{cluster="fleet"}', ['topic']);
    expect(Object.keys(rate), `seed ${SEED}: kafkatrace:produce_records:rate1m`).toEqual([...names].sort());

    // The dashboard's queries, as Grafana sends them for this cluster: each evaluates, and those over
    // the figures this fleet's scripts make give series.
    const panels = dashboardQueries('fleet');
    expect(panels.length).toBeGreaterThan(0);
    const empty: string[] = [];
    for (const q of panels) {
      const r = await f.query(q.expr);
      if (r.length === 0 && /produce_records|consumer_committed_lag|rebalances:|kafkatrace_agent_script_up/.test(q.expr)) empty.push(`${q.panel} ${q.refId}: ${q.expr}`);
    }
    expect(empty, `seed ${SEED}: dashboard queries without a series`).toEqual([]);

    // Followers' fetches are not consumers': each record is fetched once by each of its two followers
    // (replication factor 3, acks=all: all of it before the producers ended), seen by the leader's
    // agent and by the follower's. Consumers, traced on the brokers' side alone, fetched at least the
    // records the members were handed (more where a fetch was buffered when a member paused or lost
    // its partitions).
    const fetched = await sums('kafkatrace_overview_records_out{cluster="fleet"}', ['node', 'topic']);
    const replicated = await sums('kafkatrace_overview_records_replicated{cluster="fleet"}', ['node', 'topic']);
    console.log(`fleet: seed ${SEED}: records fetched by consumers per node and topic ${JSON.stringify(fetched)}; by followers ${JSON.stringify(replicated)}; log ends ${JSON.stringify(endsByTopic)}`);
    await settles('records fetched by followers per topic', () => sums('kafkatrace_overview_records_replicated{cluster="fleet"}', ['topic']), sortedRecord(Object.fromEntries(Object.entries(endsByTopic).map(([t, n]) => [t, 4 * n]))));
    const handed: Record<string, number> = {};
    for (const e of [...m1.events, ...m2run.events]) if (e.event === 'records') handed[String(e['topic'])] = (handed[String(e['topic'])] ?? 0) + Number(e['count']);
    const fetchedByTopic = await sums('kafkatrace_overview_records_out{cluster="fleet"}', ['topic']);
    for (const t of names) expect(fetchedByTopic[t] ?? 0, `seed ${SEED}: records fetched by consumers of ${t}, at least the ${handed[t] ?? 0} handed to the members`).toBeGreaterThanOrEqual(handed[t] ?? 0);
    expect(Object.values(handed).reduce((a, b) => a + b, 0), `seed ${SEED}: records handed to the members`).toBeGreaterThan(0);

    // One node's agent stops: its target is down, its series are gone (stale), the others' stay.
    const victim = f.nodes[int(0, f.nodes.length - 1)]!;
    expect(await f.stopAgent(victim)).toBe(0);
    await waitForValue(`Prometheus to see ${victim.label}'s target down`, async () => ((await f.query(`up{instance="${victim.agentTarget}"} == 0`)).length === 1 ? true : undefined), 20_000);
    await new Promise((r) => setTimeout(r, 2000));
    expect(await f.query(`up{instance="${victim.agentTarget}"}`)).toEqual([{ metric: { __name__: 'up', instance: victim.agentTarget, job: 'kafkatrace' }, value: 0 }]);
    // Scraped series only (job="kafkatrace"): a recording rule over a 5-minute range still has the node's last samples.
    expect(await f.query(`{job="kafkatrace",node="${victim.label}"}`), `seed ${SEED}: ${victim.label}'s series after its agent stopped`).toEqual([]);
    const others = f.nodes.filter((n) => n !== victim).map((n) => n.label).sort();
    expect(Object.keys(byLabels(await f.query('count by (node) (kafkatrace_agent_script_up{cluster="fleet"})'), ['node']))).toEqual(others);
    expect(Object.keys(byLabels(await f.query(`up{job="kafkatrace"} == 1`), ['instance'])).length).toBe(2);
  });
});
