// deploy/prometheus/kafkatrace-rules.yml as Prometheus judges it: `promtool check rules` on the file
// and `promtool test rules` on kafkatrace-rules.test.yml, whose series are named as a running agent
// exports them. Each rule replaced by one that records or alerts nothing must fail those tests, so
// every rule is exercised by them.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ROOT } from '../helpers/cli.js';
import { promtool } from '../helpers/promtool.js';

const DIR = join(ROOT, 'deploy', 'prometheus');
const RULES = join(DIR, 'kafkatrace-rules.yml');
const TESTS = join(DIR, 'kafkatrace-rules.test.yml');

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

const rules = (): RuleFile => parse(readFileSync(RULES, 'utf8')) as RuleFile;
const allRules = (f: RuleFile): Rule[] => f.groups.flatMap((g) => g.rules);

/** The recording rules the fleet test and the dashboard query, with the labels each keeps. */
const RECORDS: Record<string, string[]> = {
  'kafkatrace:produce_records:rate1m': ['cluster', 'topic'],
  'kafkatrace:fetch_records:rate1m': ['cluster', 'topic'],
  'kafkatrace:produce_bytes:rate1m': ['cluster', 'topic'],
  'kafkatrace:fetch_bytes:rate1m': ['cluster', 'topic'],
  'kafkatrace:consumer_lag:max': ['cluster', 'group', 'topic', 'partition'],
  'kafkatrace:consumer_committed_lag:max': ['cluster', 'group', 'topic', 'partition'],
  'kafkatrace:rebalances:increase5m': ['cluster', 'group'],
  'kafkatrace:request_latency_seconds:p99': ['cluster', 'api'],
  'kafkatrace:errors:rate5m': ['cluster', 'api', 'error_name'],
  'kafkatrace:frame_failures:ratio5m': ['cluster', 'node'],
};

describe('the Prometheus rules', () => {
  const work = mkdtempSync(join(tmpdir(), 'kt-rules-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', RULES]);
    expect(r.output).toContain(`SUCCESS: ${allRules(rules()).length} rules found`);
    expect(r.status).toBe(0);
  });

  it('pass their promtool unit tests', () => {
    const r = promtool(['test', 'rules', TESTS]);
    expect(r.output).not.toContain('FAILED');
    expect(r.status).toBe(0);
  });

  it('record the cluster-wide series by the names and labels the dashboard and the fleet test use', () => {
    const records = allRules(rules()).filter((r) => r.record !== undefined);
    expect(records.map((r) => r.record).sort()).toEqual(Object.keys(RECORDS).sort());
    for (const r of records) {
      // Each aggregates the nodes away with `by (...)`, keeping exactly its labels (le aside).
      const by = [...r.expr.matchAll(/\bby \(([^)]*)\)/g)].map((m) => m[1]!.split(',').map((l) => l.trim()).filter((l) => l !== 'le').sort());
      expect(by.length, r.record).toBeGreaterThan(0);
      for (const labels of by) expect(labels, r.record).toEqual([...RECORDS[r.record!]!].sort());
    }
  });

  it('give each alert a duration, a severity, a summary and a description', () => {
    const alerts = allRules(rules()).filter((r) => r.alert !== undefined);
    expect(alerts.map((a) => a.alert).sort()).toEqual(
      ['KafkaConsumerLagHigh', 'KafkaRebalanceStorm', 'KafkaRequestErrors', 'KafkaRequestLatencyHigh', 'KafkatraceAgentDown', 'KafkatraceDecodeFailures', 'KafkatraceEventsLost', 'KafkatraceScriptDown'].sort(),
    );
    for (const a of alerts) {
      expect(a.for, a.alert).toMatch(/^\d+m$/);
      expect(['warning', 'critical'], a.alert).toContain(a.labels?.severity);
      expect(Object.keys(a.annotations ?? {}).sort(), a.alert).toEqual(['description', 'summary']);
    }
  });

  it('each fail the unit tests when replaced by one that records or alerts nothing', { timeout: 180_000 }, () => {
    copyFileSync(TESTS, join(work, 'kafkatrace-rules.test.yml'));
    const passed: string[] = [];
    const original = rules();
    for (const [g, group] of original.groups.entries()) {
      for (const [i, rule] of group.rules.entries()) {
        const broken = rules();
        broken.groups[g]!.rules[i]!.expr = rule.record !== undefined ? 'vector(0)' : 'vector(0) > 1';
        writeFileSync(join(work, 'kafkatrace-rules.yml'), stringify(broken));
        const r = promtool(['test', 'rules', 'kafkatrace-rules.test.yml'], work);
        if (r.status === 0) passed.push(rule.record ?? rule.alert!);
      }
    }
    expect(passed).toEqual([]);
  });

  it('fail promtool check rules on a syntax error', () => {
    const broken = rules();
    broken.groups[0]!.rules[0]!.expr = broken.groups[0]!.rules[0]!.expr.replace(/\)\)$/, ')');
    writeFileSync(join(work, 'broken.yml'), stringify(broken));
    const r = promtool(['check', 'rules', join(work, 'broken.yml')]);
    expect(r.output).toMatch(/FAILED|unclosed left parenthesis/);
    expect(r.status).not.toBe(0);
  });
});
