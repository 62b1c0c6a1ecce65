// Several scripts on one Kafka feed (the agent): each attaches its probes to the shared feed, sees
// every exchange, and stopping one detaches it alone while the other keeps counting.
import { describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import type { Capture } from '../../src/kafka/capture/loader.js';
import { encodeCaptureRecord } from '../../src/kafka/capture/record.js';
import { startKafkaFeed, startKafkaProbes } from '../../src/runtime/kafka-source.js';
import { createOutput } from '../../src/runtime/output.js';
import { userMapsOf } from '../../src/runtime/user-maps.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

/** `n` ApiVersions v0 exchanges on one connection, as capture records, from correlation id `from`. */
function exchanges(from: number, n: number, offsets: { out: bigint; in: bigint }): Buffer {
  const records: Uint8Array[] = [];
  const record = (dir: 'out' | 'in', data: Buffer, ts: number): void => {
    records.push(
      encodeCaptureRecord({
        pid: 7, tid: 7, comm: 'client', fd: 3, conn: 1n, family: 4, laddr: '127.0.0.1', lport: 40000, raddr: '127.0.0.1', rport: 9092,
        dir, ts: BigInt(1_000_000 + ts * 1000), offset: offsets[dir], skipped: 0, data,
      }),
    );
    offsets[dir] += BigInt(data.length);
  };
  for (let i = from; i < from + n; i++) {
    const req = Buffer.alloc(15);
    req.writeInt32BE(11);
    req.writeInt16BE(18, 4);
    req.writeInt16BE(0, 6);
    req.writeInt32BE(i, 8);
    req.writeInt16BE(1, 12);
    req.write('c', 14);
    record('out', req, 2 * i);
    const resp = Buffer.alloc(14);
    resp.writeInt32BE(10);
    resp.writeInt32BE(i, 4);
    resp.writeInt16BE(0, 8);
    resp.writeInt32BE(0, 10);
    record('in', resp, 2 * i + 1);
  }
  return Buffer.concat(records);
}

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
