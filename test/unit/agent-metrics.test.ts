// The agent's /metrics families: names under the script's prefix, the configuration's and the
// script's labels, max_series per metric with the refused series counted once each.
import { describe, expect, it } from 'vitest';
import { AgentMetrics, SeriesCap } from '../../src/agent/metrics.js';
import type { AgentRun } from '../../src/agent/runner.js';
import type { MetricFamily } from '../../src/export/families.js';
import { exposition } from '../../src/export/exposition.js';
import type { KType, MapValueKind } from '../../src/frontend/ast.js';
import { newCounters } from '../../src/kafka/exchange/counters.js';
import type { Plan, PlanMap } from '../../src/plan/types.js';
import type { RenderContext } from '../../src/runtime/format/value.js';
import type { MapEntry } from '../../src/runtime/values.js';

const STR: KType = { kind: 'str', size: 16 };
const render: RenderContext = { symbols: { ksym: () => '', usym: () => '', username: () => '', cgroupPath: () => '' }, stackLookup: () => undefined };

function planMap(name: string, value: MapValueKind, keyNames: string[]): PlanMap {
  return {
    name, bpfName: 'm', home: 'kernel', keyTypes: keyNames.map(() => STR), keyLayout: { size: 4, fields: [] }, value,
    valueSize: 8, perCpu: true, bpfType: 'percpu_hash', maxEntries: 4096, keyNames,
  };
}

/** A running script whose one map holds `entries()` at each scrape. */
function fakeRun(map: PlanMap, entries: () => MapEntry[], lost = 0n): AgentRun {
  return {
    plan: { maps: [map] } as unknown as Plan,
    control: {
      snapshots: () => [{ name: map.name, value: map.value, keyTypes: map.keyTypes, entries: entries() }],
      health: () => ({ eventsLost: lost, probesAttached: 2, kafkaFramesFailed: 0 }),
      render,
    },
    ended: new Promise(() => {}),
    stop: async () => {},
  };
}

function family(f: MetricFamily[], name: string): MetricFamily {
  const found = f.find((x) => x.name === name);
  if (!found) throw new Error(`no family ${name} among ${f.map((x) => x.name).join(', ')}`);
  return found;
}

describe('SeriesCap', () => {
  const fam = (keys: string[]): MetricFamily => ({ name: 'm', help: '', type: 'counter', labelNames: ['k'], samples: keys.map((k) => ({ labels: { k }, value: 1 })) });
  const kept = (f: MetricFamily) => f.samples.map((s) => s.labels['k']);

  it('keeps the first series up to the cap, counts each refused series once while it exists', () => {
    const cap = new SeriesCap(2);
    expect(kept(cap.apply(fam(['a', 'b', 'c', 'd'])))).toEqual(['a', 'b']);
    expect(cap.dropped().get('m')).toBe(2);
    // The same series again: admitted ones stay, refused ones are not counted twice.
    expect(kept(cap.apply(fam(['d', 'c', 'b', 'a'])))).toEqual(['b', 'a']);
    expect(cap.dropped().get('m')).toBe(2);
    // `a` is gone: its room goes to the first waiting series; a new one is refused and counted.
    expect(kept(cap.apply(fam(['b', 'c', 'd', 'e'])))).toEqual(['b', 'c']);
    expect(cap.dropped().get('m')).toBe(3);
  });

  it("counts a histogram's buckets as one series", () => {
    const cap = new SeriesCap(1);
    const hist: MetricFamily = {
      name: 'h', help: '', type: 'histogram', labelNames: ['k'],
      samples: ['1', '+Inf'].flatMap((le) => ['x', 'y'].map((k) => ({ metricName: 'h_bucket', labels: { k, le }, value: 1 }))),
    };
    expect(cap.apply(hist).samples.map((s) => `${s.labels['k']}/${s.labels['le']}`)).toEqual(['x/1', 'x/+Inf']);
    expect(cap.dropped().get('h')).toBe(1);
  });
});

describe('agent metrics', () => {
  it("names a script's maps after it and labels them with the configuration's, the script's and `script`", async () => {
    const metrics = new AgentMetrics(10);
    const map = planMap('@calls', { kind: 'count' }, ['node']);
    const run = fakeRun(map, () => [{ keys: ['w'], value: 5n }], 3n);
    const script = { name: 'sys', path: '/s.ktr', text: '', args: [], labels: { node: 'n1', team: 't' }, print: false };
    const bad = { name: 'bad', path: '/b.ktr', text: { problem: 'x' }, args: [], labels: { node: 'n1', team: 'u' }, print: false };
    const f = metrics.families({
      labels: { node: 'n1' },
      scripts: [script, bad],
      states: [{ name: 'sys', state: 'running', restarts: 0 }, { name: 'bad', state: 'failed', reason: 'x', retryInMs: 1000, restarts: 4 }],
      running: [{ script, run }],
      kafka: { ...newCounters(), exchanges: 7 },
    });
    const text = await exposition(f);
    // A key label named like an added label keeps its value under exported_NAME.
    expect(text).toContain('kafkatrace_sys_calls_total{node="n1",team="t",script="sys",exported_node="w"} 5\n');
    expect(text).toContain('kafkatrace_agent_script_up{node="n1",team="t",script="sys"} 1\n');
    // A failed script's series have its labels too: the same series whether it runs or not.
    expect(text).toContain('kafkatrace_agent_script_up{node="n1",team="u",script="bad"} 0\n');
    expect(text).toContain('kafkatrace_agent_script_restarts_total{node="n1",team="u",script="bad"} 4\n');
    expect(text).toContain('kafkatrace_agent_events_lost_total{node="n1",team="t",script="sys"} 3\n');
    expect(text).toContain('kafkatrace_agent_kafka_exchanges_total{node="n1"} 7\n');
    expect(text).toContain('kafkatrace_agent_kafka_frame_failures_total{node="n1",reason="orphan_response"} 0\n');
  });

  it('drops series beyond max_series and exports how many per metric', async () => {
    const metrics = new AgentMetrics(2);
    const map = planMap('@by', { kind: 'count' }, ['k']);
    let keys = ['a', 'b', 'c'];
    const run = fakeRun(map, () => keys.map((k) => ({ keys: [k], value: 1n })));
    const view = () => ({ labels: {}, scripts: [], states: [{ name: 's', state: 'running' as const, restarts: 0 }], running: [{ script: { name: 's', path: '', text: '', args: [], labels: {}, print: false }, run }] });
    expect(family(metrics.families(view()), 'kafkatrace_s_by_total').samples.map((s) => s.labels['k'])).toEqual(['a', 'b']);
    keys = ['a', 'b', 'c', 'd'];
    const f = metrics.families(view());
    expect(family(f, 'kafkatrace_s_by_total').samples).toHaveLength(2);
    expect(family(f, 'kafkatrace_agent_series_dropped_total').samples).toEqual([{ labels: { metric: 'kafkatrace_s_by_total' }, value: 2 }]);
    const text = await metrics.scrape(view());
    expect(text).toContain('kafkatrace_agent_series_dropped_total{metric="kafkatrace_s_by_total"} 2\n');
    // prom-client's process metrics: CPU and resident memory.
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d/m);
  });

  it('leaves out a script that stopped between the listing and the read', () => {
    const metrics = new AgentMetrics(10);
    const run = fakeRun(planMap('@x', { kind: 'count' }, []), () => []);
    run.control.snapshots = () => {
      throw new Error('the session has ended');
    };
    const f = metrics.families({ labels: {}, scripts: [], states: [], running: [{ script: { name: 'gone', path: '', text: '', args: [], labels: {}, print: false }, run }] });
    expect(f.filter((x) => x.name.startsWith('kafkatrace_gone_'))).toEqual([]);
  });
});
