// Metric families as Prometheus text (format 0.0.4), written by prom-client's Registry. prom-client can
// only fill a histogram through observe(), one value at a time, while the kernel hands over bucket
// counts; so each family is a metric whose get() returns its samples as they are, and the Registry
// does the writing (HELP/TYPE lines, label escaping, number formatting).
import { Gauge, Registry, type MetricType } from 'prom-client';
import type { MetricFamily } from './families.js';

export const CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

class FixedFamily extends Gauge<string> {
  constructor(private readonly family: MetricFamily) {
    super({ name: family.name, help: family.help, labelNames: family.labelNames, registers: [] });
  }

  override async get(): ReturnType<Gauge<string>['get']> {
    const base = await super.get();
    // prom-client's typings declare `type` as a numeric enum; at run time it is the TYPE line's word.
    return { ...base, type: this.family.type as unknown as MetricType, values: this.family.samples };
  }
}

export async function exposition(families: MetricFamily[]): Promise<string> {
  const registry = new Registry();
  for (const f of families) registry.registerMetric(new FixedFamily(f));
  return registry.metrics();
}
