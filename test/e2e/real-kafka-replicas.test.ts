// Follower replicas on a three-broker Apache Kafka cluster (KRaft, replication factor 3): their Fetch
// requests carry their broker id (kafka:fetch args.replica), copy every record once per follower,
// and never count as a consumer group's. The cluster is formatted at 3.9's metadata version, as one
// mid-upgrade is: its brokers then fetch from each other at v17. Every inter-broker connection
// predates the trace, and so do the group member's (it joins before tracing starts): all are joined
// mid-stream. Truth: the producer's delivery reports, what the member received, and the topic's
// replica assignment (kafka-topics --describe).
// Needs root, the addon, a built dist/, java and scripts/install-kafka.sh.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { proveFetch } from '../helpers/real-kafka-fetch.js';
import { realKafkaProblem, stopCluster, startKafkaCluster, type KafkaCluster } from '../helpers/real-kafka.js';
import { canRun } from './runtime-helpers.js';

const missing = realKafkaProblem();
if (missing && process.env['CI'] === 'true') throw new Error(missing);
if (missing) console.log(`real-kafka e2e tests not run: ${missing}`);
const run = canRun() && missing === undefined;
const TIMEOUT_MS = 180_000;

describe.runIf(run)('follower replicas on a three-broker Apache Kafka cluster', () => {
  let cluster: KafkaCluster | undefined;

  beforeAll(async () => {
    cluster = await startKafkaCluster({ brokers: 3, release: '3.9-IV0' });
  }, TIMEOUT_MS);

  afterAll(() => stopCluster(cluster));

  it('flags follower fetches with their broker ids, counts their records once per follower on both sides, and keeps them out of the group lag', { timeout: TIMEOUT_MS }, async () => {
    await proveFetch(cluster!, 'classic', { topic: `replicas-${process.pid}`, partitions: 6, replicas: 3, count: 600, followers: true, early: true });
  });
});
