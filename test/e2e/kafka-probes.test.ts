// kafka:* probes end to end: the capture program on the real kernel, the mock broker, kcat as the
// producer, the decoder, and the interpreter running the probes' actions into user-space maps.
// Needs root, the addon and build/ from node scripts/build-kafka.mjs.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import { realSystem } from '../../src/frontend/system.js';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { createOutput } from '../../src/runtime/output.js';
import { privilegeProblem } from '../../src/runtime/privileges.js';
import { startKafkaProbes, type KafkaProbeOptions } from '../../src/runtime/kafka-source.js';
import { userMapsOf } from '../../src/runtime/user-maps.js';
import { produceWithKcat } from '../helpers/kafka-clients.js';
import { heldBpf } from '../helpers/bpf-held.js';

const problem = privilegeProblem();
if (problem && process.env['CI'] === 'true') throw new Error(problem);
if (problem) console.log(`kafka-probes e2e tests not run: ${problem}`);
const runnable = problem === undefined;

function setup(source: string, opts: Partial<KafkaProbeOptions> = {}) {
  const r = planScript(source, 'e2e.ktr', { positional: [], unsafe: false, system: realSystem() });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  const plan = r.compiled.plan;
  const maps = userMapsOf(plan);
  let out = '';
  let err = '';
  const output = createOutput({ format: 'text', write: (s) => void (out += s), writeError: (s) => void (err += s) });
  const exits: number[] = [];
  const probes = startKafkaProbes(plan, { output, maps, onExit: (c) => exits.push(c), ...opts });
  return { maps, probes, exits, output, out: () => out, err: () => err };
}

describe.runIf(runnable)('kafka probes', () => {
  let broker: MockBroker;

  beforeAll(async () => {
    broker = await startMockBroker({ brokers: 1, topics: { 'ktp-orders': 1, 'ktp-audit': 2, 'ktp-client': 1, 'ktp-exit': 1 } });
  });

  afterAll(async () => {
    await broker?.stop();
    expect(heldBpf().progs.size).toBe(0);
  });

  it('sums produced records per topic and counts requests per API on the broker', async () => {
    const t = setup('kafka:produce { @[args.topic] = sum(args.records); } kafka:request { @req[args.api] = count(); }', { pid: broker.pid });
    try {
      expect(t.probes.attachedProbes).toBe(2);
      expect(heldBpf().progs.size).toBeGreaterThan(0);
      await produceWithKcat({ bootstrap: broker.bootstrap, topic: 'ktp-orders', count: 25 });
      await produceWithKcat({ bootstrap: broker.bootstrap, topic: 'ktp-audit', count: 7 });
    } finally {
      t.probes.stop();
    }
    expect(t.maps.get('@', ['ktp-orders'])).toBe(25n);
    expect(t.maps.get('@', ['ktp-audit'])).toBe(7n);
    expect(t.maps.get('@req', ['Produce'])).toBeGreaterThanOrEqual(2n);
    expect(t.maps.get('@req', ['Metadata'])).toBeGreaterThanOrEqual(2n);
    const c = t.probes.counters();
    expect(c.framesDecoded).toBeGreaterThan(0);
    expect(c.firings).toBeGreaterThan(0);
    expect(c.actionErrors).toBe(0);
    expect(c.lostRecords).toBe(0);
    expect(t.err()).toBe('');
    t.output.printMaps(t.maps.snapshots());
    expect(t.out()).toContain('@[ktp-orders]: 25\n');
    expect(heldBpf().progs.size).toBe(0);
  });

  it('sees the client side with predicates on role and topic, builtins included', async () => {
    const t = setup(`kafka:produce /args.role == "client" && args.topic == "ktp-client"/ {
      @by[args.client_id, comm] = sum(args.records);
      @lat = hist(args.latency);
      @pids[pid] = count();
    }`);
    let kcatPid = 0;
    try {
      kcatPid = await produceWithKcat({ bootstrap: broker.bootstrap, topic: 'ktp-client', count: 12 });
    } finally {
      t.probes.stop();
    }
    // comm is the thread's: librdkafka's broker thread does the socket I/O.
    expect(t.maps.snapshot('@by').entries).toEqual([{ keys: ['kafkatrace-kcat', expect.stringMatching(/^rdk:broker/)], value: 12n }]);
    expect(t.maps.snapshot('@pids').entries.map((e) => e.keys)).toEqual([[BigInt(kcatPid)]]);
    const buckets = t.maps.get('@lat', []) as bigint[];
    expect(buckets[0]! + buckets[1]!).toBe(0n);
    expect(buckets.reduce((a, b) => a + b, 0n)).toBeGreaterThan(0n);
  });

  it('ends on exit() with its code and runs nothing after it', async () => {
    const t = setup('kafka:produce /args.topic == "ktp-exit"/ { @n = count(); exit(5); }', { pid: broker.pid });
    try {
      await produceWithKcat({ bootstrap: broker.bootstrap, topic: 'ktp-exit', count: 3 });
      await produceWithKcat({ bootstrap: broker.bootstrap, topic: 'ktp-exit', count: 3 });
    } finally {
      t.probes.stop();
    }
    expect(t.exits).toEqual([5]);
    expect(t.maps.get('@n', [])).toBe(1n);
  });
});
