// The mock broker as a real Kafka peer: started from TS, spoken to by kcat (librdkafka) and kafkajs,
// stopped without leaving a process behind. Needs build/kafkatrace-mock-broker
// (node scripts/build-kafka.mjs) and kcat; no root.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockBrokerError, mockBrokerPath, startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import {
  consumeWithKcat,
  kafkajsClient,
  produceWithKafkajs,
  produceWithKcat,
  runCommand,
  startKafkajsConsumer,
} from '../helpers/kafka-clients.js';
import { alive } from '../helpers/processes.js';

async function waitGone(pid: number, ms = 5000): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!alive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !alive(pid);
}

describe('mock broker', () => {
  let broker: MockBroker;

  beforeAll(async () => {
    expect(existsSync(mockBrokerPath()), 'run `node scripts/build-kafka.mjs` first').toBe(true);
    broker = await startMockBroker({ brokers: 3, topics: { orders: 3, audit: 1 } });
  });

  afterAll(async () => {
    await broker?.stop();
  });

  it('prints a bootstrap list with one address per broker', async () => {
    expect(broker.bootstrap).toMatch(/^127\.0\.0\.1:\d+(,127\.0\.0\.1:\d+){2}$/);
    const meta = await runCommand('kcat', ['-L', '-b', broker.bootstrap]);
    expect(meta.code).toBe(0);
    expect(meta.stdout).toContain('3 brokers:');
    expect(meta.stdout).toContain('topic "orders" with 3 partitions');
    expect(meta.stdout).toContain('topic "audit" with 1 partitions');
  });

  it('takes messages from kcat and gives them back', async () => {
    await produceWithKcat({ bootstrap: broker.bootstrap, topic: 'orders', partition: 0, count: 10 });
    const values = await consumeWithKcat({ bootstrap: broker.bootstrap, topic: 'orders', partition: 0, count: 10 });
    expect(values).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
  });

  it('serves kafkajs producers and consumer groups', async () => {
    const requests = await produceWithKafkajs({ bootstrap: broker.bootstrap, topic: 'audit', count: 7 });
    const produce = requests.filter((r) => r.apiName === 'Produce');
    expect(produce.length).toBeGreaterThan(0);
    expect(produce.every((r) => r.apiKey === 0 && r.apiVersion >= 3 && r.size > 0)).toBe(true);
    expect(requests.map((r) => r.apiName)).toContain('ApiVersions');
    const ids = requests.filter((r) => r.broker === produce[0]!.broker).map((r) => r.correlationId);
    expect(new Set(ids).size).toBe(ids.length);

    const member = await startKafkajsConsumer({ bootstrap: broker.bootstrap, topic: 'audit', groupId: 'g-audit' });
    try {
      const join = await member.waitForJoin();
      expect(join.groupId).toBe('g-audit');
      expect(join.isLeader).toBe(true);
      expect(join.memberAssignment['audit']).toEqual([0]);
      const got = await member.waitForMessages(7);
      expect(got.map((m) => m.value)).toEqual(Array.from({ length: 7 }, (_, i) => `m${i}`));
      const apis = new Set(member.requests.map((r) => r.apiName));
      for (const api of ['JoinGroup', 'SyncGroup', 'Fetch', 'OffsetFetch']) expect(apis).toContain(api);
    } finally {
      await member.stop();
    }
  });

  it('answers the next requests of an API with injected errors, one each', async () => {
    // Produce (API 0) answered INVALID_RECORD (87), which no client retries: the first send fails
    // with it, the next one succeeds.
    const producer = kafkajsClient(broker.bootstrap, 'inject').producer();
    await producer.connect();
    try {
      await broker.injectErrors(0, [87]);
      await expect(producer.send({ topic: 'audit', messages: [{ value: 'x' }] })).rejects.toMatchObject({ type: 'INVALID_RECORD' });
      const [ok] = await producer.send({ topic: 'audit', messages: [{ value: 'y' }] });
      expect(ok?.errorCode).toBe(0);
    } finally {
      await producer.disconnect();
    }
    await expect(broker.injectErrors(99999, [1])).rejects.toThrow(/bad API key/);
    await expect(broker.injectErrors(0, [-4])).rejects.toThrow(MockBrokerError);
  });

  it('stops, twice safely, leaving no process', async () => {
    const b = await startMockBroker();
    expect(alive(b.pid)).toBe(true);
    await b.stop();
    expect(alive(b.pid)).toBe(false);
    await b.stop();
  });

  it('exits when its parent dies, even by SIGKILL', async () => {
    // A parent that starts the broker with a stdin pipe, prints its pid, then is killed.
    const parent = spawn(
      process.execPath,
      ['-e', `const c = require('child_process').spawn(${JSON.stringify(mockBrokerPath())}, [], { stdio: ['pipe', 'pipe', 'inherit'] });
       c.stdout.once('data', () => console.log(c.pid));`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const pid = await new Promise<number>((resolve) => parent.stdout.once('data', (d) => resolve(Number(String(d)))));
    expect(alive(pid)).toBe(true);
    parent.kill('SIGKILL');
    expect(await waitGone(pid)).toBe(true);
  });

  it('rejects bad options with one clear message', async () => {
    await expect(startMockBroker({ brokers: 0 })).rejects.toThrow(MockBrokerError);
    await expect(startMockBroker({ topics: { 'bad topic': 1 } })).rejects.toThrow(/invalid topic name "bad topic"/);
    await expect(startMockBroker({ topics: [{ name: 't', partitions: 0 }] })).rejects.toThrow(/partitions must be/);
    await expect(startMockBroker({ brokers: 1, topics: [{ name: 't', partitions: 1, replication: 2 }] })).rejects.toThrow(
      /replication must be from 1 to the broker count \(1\)/,
    );
    await expect(startMockBroker({ binary: '/nonexistent/broker' })).rejects.toThrow(/build-kafka\.mjs/);
  });
});
