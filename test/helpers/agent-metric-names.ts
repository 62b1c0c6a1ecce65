// The metric names an agent serves for a configuration's scripts, computed without root: each tool is
// planned (with the fake system), and the agent's own /metrics code renders the families of its maps,
// its own figures, the shared Kafka decoder's and the process's. The names are those of every
// family the agent declares, with the sample suffixes each type has (kafkatrace's histograms have
// no _sum: the kernel keeps no sum of the values).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ScriptConfig } from '../../src/agent/config.js';
import { AgentMetrics } from '../../src/agent/metrics.js';
import type { AgentRun } from '../../src/agent/runner.js';
import { planScript } from '../../src/compiler.js';
import { newCounters } from '../../src/kafka/exchange/counters.js';
import type { RenderContext } from '../../src/runtime/format/value.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';
import { ROOT } from './cli.js';

const render: RenderContext = { symbols: { ksym: () => '', usym: () => '', username: () => '', cgroupPath: () => '' }, stackLookup: () => undefined };

const SUFFIXES: Record<string, string[]> = {
  counter: [''],
  gauge: [''],
  summary: ['_sum', '_count'],
  histogram: ['_bucket', '_count', '_sum'],
  untyped: [''],
};

export async function agentMetricNames(scripts: Pick<ScriptConfig, 'name' | 'tool'>[]): Promise<Set<string>> {
  const running = scripts.map((s) => {
    const file = join(ROOT, 'stdlib', `${s.tool}.ktr`);
    const r = planScript(readFileSync(file, 'utf8'), file, { positional: [], unsafe: false, system: new FakeSystem() });
    if (!r.ok) throw new Error(`${s.tool}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
    const run = {
      plan: r.compiled.plan,
      control: { snapshots: () => [], health: () => ({ eventsLost: 0n, probesAttached: 0, kafkaFramesFailed: 0 }), render },
      ended: new Promise(() => {}),
      stop: async () => {},
    } as unknown as AgentRun;
    return { script: { name: s.name, path: file, text: '', args: [], labels: {} }, run };
  });
  const text = await new AgentMetrics(10).scrape({
    labels: {},
    scripts: running.map((r) => r.script),
    states: scripts.map((s) => ({ name: s.name, state: 'running', restarts: 0 })),
    running,
    kafka: newCounters(),
  });
  const names = new Set<string>();
  for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const suffixes = type === 'histogram' && name!.startsWith('kafkatrace_') ? ['_bucket', '_count'] : SUFFIXES[type!] ?? [''];
    for (const suffix of suffixes) names.add(`${name}${suffix}`);
  }
  return names;
}
