// deploy/grafana/kafkatrace-dashboard.json: its queries are valid PromQL (promtool, each wrapped as a
// recording rule), select only series that exist (recording rules of deploy/prometheus, or metrics
// the agents of deploy/kubernetes export, as the agent's own /metrics code names them: see
// test/helpers/agent-metric-names.ts), and follow the dashboard's cluster variable.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfig } from '../../src/agent/config.js';
import { agentMetricNames } from '../helpers/agent-metric-names.js';
import { ROOT } from '../helpers/cli.js';
import { dashboardQueries, metricNames, rawQueries, readDashboard, type Dashboard } from '../helpers/dashboard.js';
import { checkExpressions } from '../helpers/promtool.js';

const recorded = (): Set<string> => {
  const rules = parse(readFileSync(join(ROOT, 'deploy', 'prometheus', 'kafkatrace-rules.yml'), 'utf8')) as { groups: { rules: { record?: string }[] }[] };
  return new Set(rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));
};

/** The scripts the deployed agents run (deploy/kubernetes/configmap.yaml). */
const deployedScripts = () => {
  const cm = parse(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'configmap.yaml'), 'utf8')) as { data: Record<string, string> };
  return parseConfig(cm.data['agent.yaml']!, 'agent.yaml', { NODE_NAME: 'n' }).scripts;
};

/** What is wrong with the dashboard's queries, given the series that exist. */
function queryProblems(d: Dashboard, known: Set<string>): string[] {
  const problems: string[] = [];
  for (const q of rawQueries(d)) {
    const names = metricNames(q.expr);
    if (names.length === 0) problems.push(`${q.panel}: ${q.expr} selects no metric`);
    for (const n of names) if (!known.has(n)) problems.push(`${q.panel}: ${n} is neither a recording rule nor a metric the agents export`);
    // Every selector follows the cluster variable.
    const selectors = q.expr.match(/[a-zA-Z_:][a-zA-Z0-9_:]*\{[^}]*\}/g) ?? [];
    if (selectors.length !== names.length || selectors.some((s) => !s.includes('cluster="$cluster"'))) problems.push(`${q.panel}: ${q.expr} does not select cluster="$cluster" everywhere`);
  }
  return problems;
}

describe('the Grafana dashboard', () => {
  let known: Set<string>;
  beforeAll(async () => {
    known = new Set([...recorded(), ...(await agentMetricNames(deployedScripts()))]);
  });

  it('has a Prometheus data source variable and a cluster variable from the agents', () => {
    const d = readDashboard();
    expect(d.uid).toBe('kafkatrace');
    const vars = new Map(d.templating.list.map((v) => [v.name, v]));
    expect(vars.get('datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.get('cluster')).toMatchObject({ type: 'query', definition: 'label_values(kafkatrace_agent_script_up, cluster)' });
    expect(known.has('kafkatrace_agent_script_up')).toBe(true);
  });

  it('queries pass promtool check rules, each wrapped as a recording rule', () => {
    const exprs = dashboardQueries('production').map((q) => q.expr);
    expect(exprs.length).toBeGreaterThan(10);
    const r = checkExpressions(exprs);
    expect(r.output).toContain(`SUCCESS: ${exprs.length} rules found`);
    expect(r.status).toBe(0);
  });

  it('queries select only recording rules and metrics the agents export, in the chosen cluster', () => {
    expect(queryProblems(readDashboard(), known)).toEqual([]);
  });

  it('shows every Kafka figure and the agents’ health', () => {
    const used = new Set(rawQueries().flatMap((q) => metricNames(q.expr)));
    const wanted = [
      ...recorded(),
      'kafkatrace_agent_script_up',
      'kafkatrace_agent_script_restarts_total',
      'kafkatrace_agent_events_lost_total',
      'kafkatrace_agent_kafka_frames_lost_ring_full_total',
      'kafkatrace_agent_kafka_frame_failures_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
    ];
    expect(wanted.filter((w) => !used.has(w))).toEqual([]);
  });

  it('refuses a query with a metric nobody exports, one that ignores the cluster, and bad PromQL', () => {
    const broken = (change: (d: Dashboard) => void): string[] => {
      const d = readDashboard();
      change(d);
      return queryProblems(d, known);
    };
    const target = (d: Dashboard) => d.panels.find((p) => p.title === 'Agent memory')!.targets![0]!;
    expect(broken((d) => (target(d).expr = 'process_resident_memory{cluster="$cluster"}'))).toEqual(['Agent memory: process_resident_memory is neither a recording rule nor a metric the agents export']);
    // A histogram of kafkatrace's has no _sum.
    expect(broken((d) => (target(d).expr = 'kafkatrace_latency_latency_us_sum{cluster="$cluster"}'))).toHaveLength(1);
    expect(broken((d) => (target(d).expr = 'process_resident_memory_bytes'))).toEqual(['Agent memory: process_resident_memory_bytes does not select cluster="$cluster" everywhere']);
    expect(broken((d) => (target(d).expr = 'kafkatrace:errors:rate5m{cluster="$cluster"} / kafkatrace_agent_script_up'))).toHaveLength(1);
    const bad = checkExpressions(['sum by (node (rate(process_cpu_seconds_total[5m]))']);
    expect(bad.status).not.toBe(0);
  });

  it('substitutes the cluster as Grafana would, escaped for PromQL', () => {
    const q = dashboardQueries('a"b\\c').find((x) => x.panel === 'Agent memory')!;
    expect(q.expr).toBe('process_resident_memory_bytes{cluster="a\\"b\\\\c"}');
    expect(checkExpressions([q.expr]).status).toBe(0);
  });
});

describe('metricNames', () => {
  it('finds the selected metrics, not functions, labels, keywords, strings or durations', () => {
    expect(metricNames('histogram_quantile(0.99, sum by (cluster, le) (rate(kafkatrace_latency_latency_us_bucket{cluster="x", api=~"rate(a)"}[5m]))) / 1e6')).toEqual([
      'kafkatrace_latency_latency_us_bucket',
    ]);
    expect(metricNames('count(kafkatrace_agent_script_up{cluster="$cluster"} == 0) or vector(0)')).toEqual(['kafkatrace_agent_script_up']);
    expect(metricNames('a:b:c1m{x="y"} and on (node) up offset 5m')).toEqual(['a:b:c1m', 'up']);
  });
});
