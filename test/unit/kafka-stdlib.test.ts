// The stdlib's kafka tools over hand-made firings: what they count (records and clients, not
// firings), and that figures not all captured, unanswered requests and incomplete rebalances show
// as such rather than as zeros.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import { compileUserProbes } from '../../src/runtime/interpreter.js';
import { createOutput } from '../../src/runtime/output.js';
import { userMapsOf } from '../../src/runtime/user-maps.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';
import { ROOT } from '../helpers/cli.js';

type Args = Record<string, bigint | string>;

function tool(name: string) {
  const source = readFileSync(join(ROOT, 'stdlib', `${name}.ktr`), 'utf8');
  const r = planScript(source, `${name}.ktr`, { positional: [], unsafe: true, system: new FakeSystem() });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`).join('\n'));
  const maps = userMapsOf(r.compiled.plan);
  let out = '';
  const output = createOutput({ format: 'text', write: (s) => void (out += s), writeError: () => undefined });
  const probes = compileUserProbes(r.compiled.plan, { maps, output, positional: [], startNs: 0n });
  const fire = (probe: string, args: Args): void => {
    for (const p of probes.filter((x) => x.names.includes(probe))) p.run({ probe: `kafka:${probe}`, args, pid: 42, tid: 42, comm: 'c', nsecs: 1n });
  };
  const timer = (): void => {
    for (const p of probes) for (const i of p.intervals) p.run({ probe: i.probe, args: {}, pid: 1, tid: 1, comm: 'kafkatrace', nsecs: 2n });
  };
  return { maps, fire, timer, out: () => out };
}

const part = (topic: string, client: string, records: bigint, incomplete = 0n): Args => ({
  topic, client_id: client, records, bytes: records < 0n ? -1n : records * 100n, incomplete, partition: 0n,
});

describe('stdlib kafka tools', () => {
  it('kafka-overview counts records per client, keeps partitions with unknown figures apart, and follower fetches out of consumption', () => {
    const t = tool('kafka-overview');
    // One producer's request over three partitions, one of them not all captured.
    t.fire('produce', part('orders', 'p1', 3n));
    t.fire('produce', part('orders', 'p1', 5n));
    t.fire('produce', part('orders', 'p1', -1n, 1n));
    t.fire('produce', part('orders', 'p2', 2n));
    t.fire('fetch', { ...part('orders', 'c1', 7n), status: 'complete', replica: -1n });
    t.fire('fetch', { ...part('orders', 'c1', 0n), status: 'complete', replica: -1n });
    // A fetch its consumer left unanswered (closed during its long poll): nothing known was returned.
    t.fire('fetch', { ...part('orders', 'c1', -1n), status: 'closed', replica: -1n });
    // Follower broker 2 copying the partition: replication, not consumption.
    t.fire('fetch', { ...part('orders', 'broker-2', 10n), status: 'complete', replica: 2n });
    expect(t.maps.get('@producer_records', ['p1'])).toBe(8n);
    expect(t.maps.get('@producer_records', ['p2'])).toBe(2n);
    expect(t.maps.get('@consumer_records', ['c1'])).toBe(7n);
    expect(t.maps.get('@records_out', ['orders'])).toBe(7n);
    expect(t.maps.get('@records_replicated', ['orders'])).toBe(10n);
    expect(t.maps.get('@consumer_records', ['broker-2'])).toBeUndefined();
    expect(t.maps.get('@records_in', ['orders'])).toBe(10n);
    expect(t.maps.get('@bytes_in', ['orders'])).toBe(1000n);
    expect(t.maps.get('@incomplete_partitions', ['kafka:produce', 'orders'])).toBe(1n);
    t.timer();
    expect(t.out()).toContain('orders                           kafka:produce: 1 partitions with figures not captured, not counted above');
  });

  it('kafka-overview and kafka-latency leave requests without a response out of latency', () => {
    const answered = { api: 'Produce', client_id: 'p1', status: 'complete', latency: 4_000n };
    const unanswered = { api: 'Produce', client_id: 'p1', status: 'no_response', latency: -1n };
    const overview = tool('kafka-overview');
    overview.fire('request', answered);
    overview.fire('request', unanswered);
    expect(overview.maps.get('@requests', ['Produce'])).toBe(2n);
    expect(overview.maps.get('@latency_us', ['Produce'])).toMatchObject({ count: 1n, total: 4n });
    const latency = tool('kafka-latency');
    latency.fire('request', answered);
    latency.fire('request', unanswered);
    const buckets = latency.maps.get('@latency_us', ['Produce', 'p1']) as bigint[];
    expect(buckets.reduce((a, b) => a + b, 0n)).toBe(1n);
  });

  it('kafka-rebalances prints whether each generation completed, with its synced and failed members', () => {
    const t = tool('kafka-rebalances');
    const gen = { kind: 'classic', group: 'g', leader: 'a', initiator: 'b', reason: '', duration: 5_000_000n, members: 3n };
    t.fire('rebalance', { ...gen, generation: 4n, complete: 0n, synced: 0n, sync_failed: 3n, sync_error: 'ILLEGAL_GENERATION' });
    t.fire('rebalance', { ...gen, generation: 5n, complete: 1n, synced: 3n, sync_failed: 0n, sync_error: '' });
    expect(t.out()).toContain('generation 4    INCOMPLETE members 3   synced 0  failed 3 ILLEGAL_GENERATION');
    expect(t.out()).toContain('generation 5    complete   members 3   took      5 ms');
    expect(t.maps.get('@rebalances', ['g', 'incomplete'])).toBe(1n);
    expect(t.maps.get('@rebalances', ['g', 'complete'])).toBe(1n);
  });
});
