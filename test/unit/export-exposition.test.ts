import { describe, expect, it } from 'vitest';
import { bucketBounds, exportedMaps, healthFamilies, mapFamily } from '../../src/export/families.js';
import { exposition } from '../../src/export/exposition.js';
import { decodeHealth, newCounters } from '../../src/kafka/exchange/counters.js';
import type { KType, MapValueKind } from '../../src/frontend/ast.js';
import type { PlanMap } from '../../src/plan/types.js';
import type { RenderContext } from '../../src/runtime/format/value.js';
import type { MapEntry, MapSnapshot } from '../../src/runtime/values.js';

const STR: KType = { kind: 'str', size: 16 };
const INT: KType = { kind: 'int', bits: 64, signed: false };

const render: RenderContext = {
  symbols: { ksym: (a) => `k${a}`, usym: (a, pid) => `u${a}@${pid}`, username: (uid) => (uid === 0 ? 'root' : ''), cgroupPath: () => '' },
  stackLookup: (id) => (id === 1 ? [0x10n, 0x20n] : undefined),
};

function planMap(name: string, value: MapValueKind, keyTypes: KType[], keyNames?: string[]): PlanMap {
  return {
    name, bpfName: 'm', home: 'kernel', keyTypes, keyLayout: { size: 4, fields: [] }, value,
    valueSize: 8, perCpu: true, bpfType: 'percpu_hash', maxEntries: 4096, ...(keyNames ? { keyNames } : {}),
  };
}

/** The exposition of one map with the given entries. */
async function text(map: PlanMap, entries: MapEntry[]): Promise<string> {
  const [m] = exportedMaps([map]);
  const snapshot: MapSnapshot = { name: map.name, value: map.value, keyTypes: map.keyTypes, entries };
  return exposition([mapFamily(m!, snapshot, render)]);
}

describe('exposition of each kind of map', () => {
  it('count: a counter with _total and labels named after the keys', async () => {
    const map = planMap('@calls', { kind: 'count' }, [STR], ['comm']);
    expect(await text(map, [{ keys: ['workload'], value: 12n }, { keys: ['a"b\\c'], value: 3n }])).toBe(
      [
        '# HELP kafkatrace_calls_total map @calls: count()',
        '# TYPE kafkatrace_calls_total counter',
        'kafkatrace_calls_total{comm="workload"} 12',
        'kafkatrace_calls_total{comm="a\\"b\\\\c"} 3',
        '',
      ].join('\n'),
    );
  });

  it('the anonymous map with positional keys', async () => {
    const map = planMap('@', { kind: 'sum', signed: false }, [STR, INT]);
    expect(await text(map, [{ keys: ['x', 7n], value: 100n }])).toContain('kafkatrace_map_total{key0="x",key1="7"} 100\n');
  });

  it('signed sum, min, max and integer scalars: gauges', async () => {
    expect(await text(planMap('@delta', { kind: 'sum', signed: true }, []), [{ keys: [], value: -5n }])).toBe(
      '# HELP kafkatrace_delta map @delta: sum()\n# TYPE kafkatrace_delta gauge\nkafkatrace_delta -5\n',
    );
    expect(await text(planMap('@lo', { kind: 'min', signed: true }, [INT], ['pid']), [{ keys: [42n], value: -3n }])).toContain(
      '# TYPE kafkatrace_lo gauge\nkafkatrace_lo{pid="42"} -3\n',
    );
    expect(await text(planMap('@hi_ns', { kind: 'max', signed: false }, []), [{ keys: [], value: 900n }])).toContain(
      '# TYPE kafkatrace_hi_ns gauge\nkafkatrace_hi_ns 900\n',
    );
    const scalar = planMap('@last', { kind: 'scalar', type: { kind: 'int', bits: 32, signed: true } }, [STR], ['comm']);
    expect(await text(scalar, [{ keys: ['sh'], value: 17n }])).toContain('# TYPE kafkatrace_last gauge\nkafkatrace_last{comm="sh"} 17\n');
  });

  it('avg and stats: a summary of _sum and _count', async () => {
    const map = planMap('@size', { kind: 'avg', signed: false }, [STR], ['comm']);
    expect(await text(map, [{ keys: ['w'], value: { count: 4n, total: 1000n } }])).toBe(
      [
        '# HELP kafkatrace_size map @size: avg(): _sum / _count is the average',
        '# TYPE kafkatrace_size summary',
        'kafkatrace_size_sum{comm="w"} 1000',
        'kafkatrace_size_count{comm="w"} 4',
        '',
      ].join('\n'),
    );
    const stats = planMap('@s', { kind: 'stats', signed: true }, []);
    expect(await text(stats, [{ keys: [], value: { count: 2n, total: -8n } }])).toContain('kafkatrace_s_sum -8\nkafkatrace_s_count 2\n');
  });

  it('hist: cumulative power-of-two buckets with exact integer bounds, up to the highest used, +Inf and _count, no _sum', async () => {
    const buckets = Array.from({ length: 66 }, () => 0n);
    buckets[1] = 1n; // 0
    buckets[2] = 2n; // [1]
    buckets[9] = 5n; // [128, 256)
    const out = await text(planMap('@lat_us', { kind: 'hist' }, [STR], ['le']), [{ keys: ['w'], value: buckets }]);
    expect(out).toBe(
      [
        '# HELP kafkatrace_lat_us map @lat_us: hist(): power-of-two buckets, no _sum (the kernel keeps none)',
        '# TYPE kafkatrace_lat_us histogram',
        ...[['-1', 0], ['0', 1], ['1', 3], ['3', 3], ['7', 3], ['15', 3], ['31', 3], ['63', 3], ['127', 3], ['255', 8], ['+Inf', 8]].map(
          ([le, n]) => `kafkatrace_lat_us_bucket{key0="w",le="${le}"} ${n}`,
        ),
        'kafkatrace_lat_us_count{key0="w"} 8',
        '',
      ].join('\n'),
    );
  });

  it('hist: the buckets shown grow with the highest used by any key and never shrink', () => {
    const [m] = exportedMaps([planMap('@h', { kind: 'hist' }, [INT])]);
    const hist = (...used: number[]) => Array.from({ length: 66 }, (_, i) => (used.includes(i) ? 1n : 0n));
    const bounds = (entries: MapEntry[]) =>
      mapFamily(m!, { name: '@h', value: { kind: 'hist' }, keyTypes: [INT], entries }, render).samples
        .filter((s) => s.labels['key0'] === '1' && s.metricName === 'kafkatrace_h_bucket')
        .map((s) => s.labels['le']);
    expect(bounds([{ keys: [1n], value: hist(2) }, { keys: [2n], value: hist(4) }])).toEqual(['-1', '0', '1', '3', '7', '+Inf']);
    expect(bounds([{ keys: [1n], value: hist(1) }])).toEqual(['-1', '0', '1', '3', '7', '+Inf']);
    expect(bounds([{ keys: [1n], value: hist(65) }])).toHaveLength(66);
    expect(bucketBounds({ kind: 'hist' }, 66).slice(-2)).toEqual(['9223372036854775807', '+Inf']);
  });

  it('lhist: linear buckets, the last in-range bound clamped to max', async () => {
    const value: MapValueKind = { kind: 'lhist', min: 0, max: 25, step: 10 };
    expect(bucketBounds(value, 5)).toEqual(['-1', '9', '19', '24', '+Inf']);
    const out = await text(planMap('@l', value, []), [{ keys: [], value: [1n, 2n, 0n, 3n, 4n] }]);
    expect(out).toBe(
      [
        '# HELP kafkatrace_l map @l: lhist(): linear buckets, no _sum (the kernel keeps none)',
        '# TYPE kafkatrace_l histogram',
        'kafkatrace_l_bucket{le="-1"} 1',
        'kafkatrace_l_bucket{le="9"} 3',
        'kafkatrace_l_bucket{le="19"} 3',
        'kafkatrace_l_bucket{le="24"} 6',
        'kafkatrace_l_bucket{le="+Inf"} 10',
        'kafkatrace_l_count 10',
        '',
      ].join('\n'),
    );
  });

  it('keys that are symbols, users, addresses, tuples and stacks become their text', async () => {
    const map = planMap('@k', { kind: 'count' }, [{ kind: 'ksym' }, { kind: 'username' }, { kind: 'inet' }, { kind: 'kstack' }, { kind: 'tuple', elems: [INT, STR] }]);
    const entry: MapEntry = {
      keys: [{ kind: 'ksym', addr: 5n }, { kind: 'username', uid: 0 }, { kind: 'inet', af: 2, bytes: new Uint8Array([10, 0, 0, 1]) }, { kind: 'kstack', stackId: 1 }, [1n, 'a']],
      value: 1n,
    };
    expect(await text(map, [entry])).toContain('kafkatrace_k_total{key0="k5",key1="root",key2="10.0.0.1",key3="k16;k32",key4="(1, a)"} 1\n');
  });

  it('string scalars are not exported; an empty map has a family with no samples', async () => {
    expect(exportedMaps([planMap('@name', { kind: 'scalar', type: STR }, []), planMap('@n', { kind: 'count' }, [])]).map((m) => m.map)).toEqual(['@n']);
    expect(await text(planMap('@n', { kind: 'count' }, []), [])).toBe('# HELP kafkatrace_n_total map @n: count()\n# TYPE kafkatrace_n_total counter\n');
  });
});

describe('health metrics', () => {
  it('exposes lost events, kafka failures, attached probes and the last scrape time', async () => {
    const out = await exposition(healthFamilies({ eventsLost: 7n, probesAttached: 3, kafkaFramesFailed: 0 }, 0.25));
    expect(out).toContain('# TYPE kafkatrace_events_lost_total counter\nkafkatrace_events_lost_total 7\n');
    expect(out).toContain('# TYPE kafkatrace_kafka_frames_failed_total counter\nkafkatrace_kafka_frames_failed_total 0\n');
    expect(out).toContain('# TYPE kafkatrace_probes_attached gauge\nkafkatrace_probes_attached 3\n');
    expect(out).toContain('# TYPE kafkatrace_scrape_duration_seconds gauge\nkafkatrace_scrape_duration_seconds 0.25\n');
    expect(out).not.toContain('kafkatrace_kafka_exchanges_total');
  });

  it("exposes the Kafka decoder's health by figure and failed frames by reason, 0 included", async () => {
    const kafka = decodeHealth({ ...newCounters(), exchanges: 9, resyncs: 2, framesTruncated: 1, framesFailed: { orphan_response: 4 } });
    const out = await exposition(healthFamilies({ eventsLost: 0n, probesAttached: 1, kafkaFramesFailed: 4, kafka }, 0));
    expect(out).toContain('# TYPE kafkatrace_kafka_exchanges_total counter\nkafkatrace_kafka_exchanges_total 9\n');
    expect(out).toContain('kafkatrace_kafka_resyncs_total 2\n');
    expect(out).toContain('kafkatrace_kafka_frames_truncated_total 1\n');
    expect(out).toContain('kafkatrace_kafka_frame_failures_total{reason="orphan_response"} 4\n');
    expect(out).toContain('kafkatrace_kafka_frame_failures_total{reason="unknown_version"} 0\n');
  });
});
