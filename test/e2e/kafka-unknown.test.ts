// Unknown values and decode health through the command line, against the mock broker: kcat's acks=0
// Produce requests fire with base_offset -1 (no response, so no offset), never 0, and with every
// record counted and nothing incomplete; acks=1 ones with real offsets; the kafka_decode record
// comes out at exit. Needs root, the addon, build/ (node scripts/build-kafka.mjs) and a built dist/.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockBroker, type MockBroker } from '../../src/kafka/mock-broker.js';
import { traceWhile } from '../helpers/cli-trace.js';
import { heldBpf } from '../helpers/bpf-held.js';
import { produceWithKcat } from '../helpers/kafka-clients.js';
import { canRun } from './runtime-helpers.js';

const run = canRun();

describe.runIf(run)('unknown values from the command line', () => {
  let broker: MockBroker;
  const topic = `unknown-${process.pid}`;

  beforeAll(async () => {
    broker = await startMockBroker({ brokers: 1, topics: { [topic]: 2 } });
  });

  afterAll(async () => {
    await broker?.stop();
    expect(heldBpf().fds).toBe(0);
  });

  it('acks=0 gives base_offset -1; the decoder health is printed at exit', { timeout: 120_000 }, async () => {
    const script = `kafka:produce /args.topic == "${topic}" && args.role == "client"/ {
      @records[args.acks, args.incomplete] = sum(args.records);
      @unknown_base[args.acks] = sum(args.base_offset < 0 ? 1 : 0);
      @firings[args.acks] = count();
    }`;
    const traced = await traceWhile(script, async () => {
      await produceWithKcat({ bootstrap: broker.bootstrap, topic, count: 40, partition: 0, config: { acks: '0', 'linger.ms': '5' } });
      await produceWithKcat({ bootstrap: broker.bootstrap, topic, count: 25, partition: 1, config: { acks: '1', 'linger.ms': '5' } });
    });
    expect(traced.code).toBe(0);
    // Every record counted, nothing incomplete; acks=0 firings all without an offset, acks=1 ones all with one.
    expect(traced.maps['@records']).toEqual({ '0,0': 40, '1,0': 25 });
    const firings = traced.maps['@firings'] as Record<string, number>;
    expect(traced.maps['@unknown_base']).toEqual({ '0': firings['0'], '1': 0 });
    // Other traffic on the machine is decoded too: only the record's shape and a lower bound are sure.
    expect(Object.keys(traced.decode!.frames_failed as object)).toContain('unknown_version');
    expect(traced.decode!.exchanges as number).toBeGreaterThan(2);
  });
});
