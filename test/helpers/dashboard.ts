// The PromQL of deploy/grafana/kafkatrace-dashboard.json, for tests that check it: its syntax with
// promtool, its metric names against what the agents and the rules provide, and its results against
// a running Prometheus (dashboardQueries with a cluster's name, as Grafana would send them).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './cli.js';

export const DASHBOARD = join(ROOT, 'deploy', 'grafana', 'kafkatrace-dashboard.json');

export interface DashboardPanel {
  id: number;
  type: string;
  title: string;
  targets?: { refId: string; expr: string; legendFormat?: string }[];
  panels?: DashboardPanel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  templating: { list: { name: string; type: string; query?: unknown; definition?: string }[] };
  panels: DashboardPanel[];
}

export function readDashboard(): Dashboard {
  return JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
}

export interface DashboardQuery {
  panel: string;
  refId: string;
  expr: string;
}

/** Every panel's queries (those in rows included), `$cluster` as written. */
export function rawQueries(d: Dashboard = readDashboard()): DashboardQuery[] {
  const walk = (panels: DashboardPanel[]): DashboardQuery[] =>
    panels.flatMap((p) => [...(p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr })), ...walk(p.panels ?? [])]);
  return walk(d.panels);
}

/** Every panel's queries with `$cluster` replaced by `cluster`, escaped as a PromQL string's content. */
export function dashboardQueries(cluster: string, d: Dashboard = readDashboard()): DashboardQuery[] {
  const value = cluster.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return rawQueries(d).map((q) => ({ ...q, expr: q.expr.replace(/\$cluster\b/g, () => value) }));
}

const KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);
/** Aggregation operators, which `by (...)` may part from their `(`. */
const AGGREGATIONS = new Set(['sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile', 'limitk', 'limit_ratio']);

/**
 * The metric names a PromQL expression selects: identifiers that are neither functions (followed by
 * `(`), aggregations, keywords, label names (inside `{}` or a `by (...)`), nor parts of strings and
 * durations.
 */
export function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1')
    .replace(/\[[^\]]*\]/g, '[]');
  const names = new Set<string>();
  for (const m of bare.matchAll(/(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()/g)) {
    if (!KEYWORDS.has(m[1]!.toLowerCase()) && !AGGREGATIONS.has(m[1]!)) names.add(m[1]!);
  }
  return [...names];
}
