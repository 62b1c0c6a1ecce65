// The agent's /metrics: every running script's maps under kafkatrace_NAME_..., labelled with the
// configuration's labels, the script's and `script`; the agent's own figures under kafkatrace_agent_;
// and the process's CPU and memory (prom-client's default metrics). Each metric keeps at most
// max_series series; the others are dropped and counted.
import { collectDefaultMetrics, Registry } from 'prom-client';
import { exportedMaps, kafkaHealthFamilies, mapFamily, type ExportedMap, type MetricFamily, type Sample } from '../export/families.js';
import { exposition } from '../export/exposition.js';
import { PREFIX } from '../export/naming.js';
import { decodeHealth, type KafkaCounters } from '../kafka/exchange/counters.js';
import type { AgentScript } from './config.js';
import type { ScriptState } from './supervisor.js';
import type { AgentRun } from './runner.js';

export const AGENT_PREFIX = `${PREFIX}agent_`;

/** The series identity of a sample: its labels without `le` (a histogram's buckets are one series). */
function seriesKey(s: Sample): string {
  return JSON.stringify(Object.entries(s.labels).filter(([k]) => k !== 'le'));
}

/**
 * Per metric, the series admitted: those admitted before stay while they exist, new ones are taken
 * in order while there is room, and each series refused is counted once for as long as it exists.
 * What it remembers is bounded by the series that exist now.
 */
export class SeriesCap {
  private readonly admitted = new Map<string, Set<string>>();
  private readonly refused = new Map<string, Set<string>>();
  private readonly droppedTotal = new Map<string, number>();

  constructor(public max: number) {}

  /** The family with only its admitted series. */
  apply(f: MetricFamily): MetricFamily {
    const present = [...new Set(f.samples.map(seriesKey))];
    const now = new Set(present);
    const admitted = new Set([...(this.admitted.get(f.name) ?? [])].filter((k) => now.has(k)));
    const refused = new Set([...(this.refused.get(f.name) ?? [])].filter((k) => now.has(k)));
    for (const k of present) {
      if (admitted.has(k)) continue;
      if (admitted.size < this.max) {
        admitted.add(k);
        refused.delete(k);
      } else if (!refused.has(k)) {
        refused.add(k);
        this.droppedTotal.set(f.name, (this.droppedTotal.get(f.name) ?? 0) + 1);
      }
    }
    this.admitted.set(f.name, admitted);
    this.refused.set(f.name, refused);
    if (refused.size === 0) return f;
    return { ...f, samples: f.samples.filter((s) => admitted.has(seriesKey(s))) };
  }

  /** Forgets the series of metrics no longer exported (their dropped counts stay). */
  keepOnly(names: Set<string>): void {
    for (const map of [this.admitted, this.refused]) for (const name of map.keys()) if (!names.has(name)) map.delete(name);
  }

  dropped(): Map<string, number> {
    return this.droppedTotal;
  }
}

/** A script's map labels, renamed `exported_NAME` where they would take the name of an added label. */
function withLabels(f: MetricFamily, added: Record<string, string>): MetricFamily {
  const rename = (k: string): string => (k in added ? `exported_${k}` : k);
  return {
    ...f,
    labelNames: [...Object.keys(added), ...f.labelNames.map(rename)],
    samples: f.samples.map((s) => ({ ...s, labels: { ...added, ...Object.fromEntries(Object.entries(s.labels).map(([k, v]) => [rename(k), v])) } })),
  };
}

function family(name: string, type: MetricFamily['type'], help: string, labelNames: string[], samples: Sample[]): MetricFamily {
  return { name: AGENT_PREFIX + name, help, type, labelNames, samples };
}

export interface AgentView {
  /** The configuration's labels. */
  labels: Record<string, string>;
  /** The configured scripts: a script's series keep its labels whatever its state. */
  scripts: AgentScript[];
  states: ScriptState[];
  running: { script: AgentScript; run: AgentRun }[];
  /** The shared Kafka feed's counters, when it runs. */
  kafka?: KafkaCounters;
}

export class AgentMetrics {
  private readonly exported = new WeakMap<AgentRun, ExportedMap[]>();
  private readonly cap: SeriesCap;
  private readonly processRegistry = new Registry();
  private lastScrapeSeconds = 0;

  constructor(maxSeries: number) {
    this.cap = new SeriesCap(maxSeries);
    collectDefaultMetrics({ register: this.processRegistry });
  }

  set maxSeries(n: number) {
    this.cap.max = n;
  }

  /** The Prometheus text for the agent as it is now. */
  async scrape(view: AgentView): Promise<string> {
    const started = process.hrtime.bigint();
    this.processRegistry.setDefaultLabels(view.labels);
    const families = this.families(view);
    const text = (await exposition(families)) + (await this.processRegistry.metrics());
    this.lastScrapeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    return text;
  }

  families(view: AgentView): MetricFamily[] {
    const scriptFamilies: MetricFamily[] = [];
    const lost: Sample[] = [];
    const attached: Sample[] = [];
    const labelsOf = (s: AgentScript): Record<string, string> => ({ ...s.labels, script: s.name });
    for (const { script, run } of view.running) {
      let maps = this.exported.get(run);
      if (!maps) {
        maps = exportedMaps(run.plan.maps).map((m) => ({ ...m, family: m.family.replace(PREFIX, `${PREFIX}${script.name}_`) }));
        this.exported.set(run, maps);
      }
      let snapshots;
      let health;
      try {
        snapshots = new Map(run.control.snapshots().map((s) => [s.name, s]));
        health = run.control.health();
      } catch {
        // The script stopped between the listing and this read: it is left out of this scrape.
        continue;
      }
      for (const m of maps) scriptFamilies.push(this.cap.apply(withLabels(mapFamily(m, snapshots.get(m.map), run.control.render), labelsOf(script))));
      lost.push({ labels: labelsOf(script), value: Number(health.eventsLost) });
      attached.push({ labels: labelsOf(script), value: health.probesAttached });
    }
    this.cap.keepOnly(new Set(scriptFamilies.map((f) => f.name)));
    const configured = new Map(view.scripts.map((s) => [s.name, s]));
    const scriptLabels = (name: string): Record<string, string> => {
      const s = configured.get(name);
      return s ? labelsOf(s) : { ...view.labels, script: name };
    };
    const scriptLabelNames = ['script'];
    const agent: MetricFamily[] = [
      family('script_up', 'gauge', '1 while the script runs, 0 while it is starting or failed', scriptLabelNames, view.states.map((s) => ({ labels: scriptLabels(s.name), value: s.state === 'running' ? 1 : 0 }))),
      family('script_restarts_total', 'counter', 'retries of the script after it failed', scriptLabelNames, view.states.map((s) => ({ labels: scriptLabels(s.name), value: s.restarts }))),
      family('events_lost_total', 'counter', "events the kernel could not send to the script (the shared Kafka capture's included)", scriptLabelNames, lost),
      family('probes_attached', 'gauge', 'attach points of the script', scriptLabelNames, attached),
      family('series_dropped_total', 'counter', 'series of the metric refused by max_series, each counted once while it exists', ['metric'], [...this.cap.dropped()].map(([metric, value]) => ({ labels: { ...view.labels, metric }, value }))),
      ...(view.kafka ? kafkaHealthFamilies(decodeHealth(view.kafka)).map((f) => ({ ...withLabels(f, view.labels), name: f.name.replace(PREFIX, AGENT_PREFIX) })) : []),
      family('scrape_duration_seconds', 'gauge', 'how long the previous scrape of these metrics took', [], [{ labels: { ...view.labels }, value: this.lastScrapeSeconds }]),
    ];
    return [...scriptFamilies, ...agent];
  }
}
