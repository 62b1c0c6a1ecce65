// Several scripts on one Kafka feed (the agent): each attaches its probes to the shared feed, sees
// every exchange, and stopping one detaches it alone while the other keeps counting.
import { describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import type { Capture } from '../../src/kafka/capture/loader.js';
import { startKafkaFeed, startKafkaProbes } from '../../src/runtime/kafka-source.js';
import { createOutput } from '../../src/runtime/output.js';
import { userMapsOf } from '../../src/runtime/user-maps.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';
import { apiVersionsRecords as exchanges } from '../fixtures/kafka/corpus.js';

describe('a Kafka feed shared by scripts', () => {
  it('fires every attached script; stopping one leaves the other counting on the same capture', () => {
    let onBatch!: (b: Buffer) => void;
    let starts = 0;
    let closed = false;
    const zero = { handed: 0, ring: 0, afterLoss: 0, tooMany: 0, desyncs: 0 };
    const output = createOutput({ format: 'text', write: () => {} });
    const feed = startKafkaFeed({
      output,
      capture: {},
      now: () => 0,
      startCapture: (_o, cb): Capture => {
        starts++;
        onBatch = cb;
        return { probes: 0, lost: () => 0, frames: () => ({ out: zero, in: zero }), poll: () => Buffer.alloc(0), pause: () => {}, close: () => void (closed = true) };
      },
    });
    const script = (source: string) => {
      const r = planScript(source, 't.ktr', { positional: [], unsafe: false, system: new FakeSystem() });
      if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
      const maps = userMapsOf(r.compiled.plan);
      const probes = startKafkaProbes(r.compiled.plan, { output, maps, onExit: () => {}, feed });
      return { probes, count: () => maps.snapshot('@n')!.entries[0]?.value };
    };
    const a = script('kafka:apiversions { @n = count(); }');
    const b = script('kafka:apiversions { @n = count(); }');
    const offsets = { out: 0n, in: 0n };
    onBatch(exchanges(0, 3, offsets));
    expect([a.count(), b.count()]).toEqual([3n, 3n]);
    a.probes.stop();
    onBatch(exchanges(3, 2, offsets));
    expect([a.count(), b.count()]).toEqual([3n, 5n]);
    expect(starts).toBe(1);
    expect(closed).toBe(false);
    expect(b.probes.counters().exchanges).toBe(5);
    feed.close();
    expect(closed).toBe(true);
  });
});
