// `kafkatrace demo` on the command line, and the demo script through the normal front end: it plans
// with no kernel part (no clang at run time) and every probe runs in user space.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCli } from '../../src/cli/args.js';
import { planScript } from '../../src/compiler.js';
import { KtError } from '../../src/errors.js';
import { planToJson } from '../../src/plan/json.js';
import { apacheKafkaProblem } from '../../src/demo/apache-kafka.js';
import { DEMO_HELP } from '../../src/demo/command.js';
import { kcatProblem } from '../../src/demo/scenario.js';
import { DEMO_SCRIPT, EVENT_FORMATS } from '../../src/demo/script.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

describe('demo arguments', () => {
  it('takes --duration and --no-color, and its own --help', () => {
    const plain = parseCli(['demo']);
    expect(plain.command).toBe('demo');
    expect(plain.durationMs).toBeUndefined();
    expect(parseCli(['demo', '--duration', '12s'])).toMatchObject({ command: 'demo', durationMs: 12_000 });
    expect(parseCli(['demo', '--no-color']).noColor).toBe(true);
    expect(parseCli(['demo', '--help'])).toMatchObject({ command: 'demo', help: true });
    expect(parseCli(['demo', '-h'])).toMatchObject({ command: 'demo', help: true });
  });

  it('takes --kafka mock or apache, and only for the demo', () => {
    expect(parseCli(['demo']).demoKafka).toBeUndefined();
    expect(parseCli(['demo', '--kafka', 'apache']).demoKafka).toBe('apache');
    expect(parseCli(['demo', '--kafka', 'mock']).demoKafka).toBe('mock');
    expect(() => parseCli(['demo', '--kafka', 'real'])).toThrow(new KtError('usage', "--kafka takes mock or apache, not 'real'"));
    expect(() => parseCli(['-e', 'BEGIN {}', '--kafka', 'apache'])).toThrow(new KtError('usage', '--kafka only applies to demo, not to trace'));
  });

  it('rejects arguments and options that belong to scripts', () => {
    expect(() => parseCli(['demo', 'x.ktr'])).toThrow(new KtError('usage', "demo takes no arguments, not 'x.ktr'"));
    expect(() => parseCli(['demo', '-e', 'BEGIN {}'])).toThrow(new KtError('usage', 'demo does not take -e'));
    expect(() => parseCli(['demo', '--export', 'prometheus'])).toThrow(new KtError('usage', 'demo does not take --export'));
    expect(() => parseCli(['demo', '--duration', 'soon'])).toThrow(expect.objectContaining({ errorCode: 'usage' }));
  });

  it('explains itself', () => {
    expect(DEMO_HELP).toContain('kafkatrace demo [--kafka mock|apache] [--duration TIME] [--no-color]');
    expect(DEMO_HELP).toContain('default 20s');
  });
});

describe('what the demo needs', () => {
  it('says how to install Apache Kafka when it is not installed', () => {
    const empty = mkdtempSync(join(tmpdir(), 'kafkatrace-demo-cli-'));
    try {
      expect(apacheKafkaProblem(empty)).toBe('Apache Kafka is not installed: run scripts/install-kafka.sh (needs java 17 or newer, mvn and go)');
    } finally {
      rmSync(empty, { recursive: true });
    }
  });

  it('names the package when kcat cannot be found', () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      expect(kcatProblem()).toBe('the demo needs kcat (Debian package kcat; scripts/install-deps.sh installs it)');
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('the demo script', () => {
  const r = planScript(DEMO_SCRIPT, 'demo.ktr', { positional: ['9092', 'kafkatrace-demo'], unsafe: false, system: new FakeSystem() });

  it('compiles to a plan with no kernel part', () => {
    if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col} ${d.message}`).join('\n'));
    expect(r.compiled.c).toBe('');
    expect(r.compiled.plan.probes.every((p) => p.where === 'user')).toBe(true);
    expect(r.compiled.plan.maps.map((m) => m.name).sort()).toEqual([
      '@consumer_records', '@fetch_bytes', '@fetch_records', '@latency_us', '@produce_bytes', '@produce_records',
      '@producer_records', '@rebalance_firings', '@requests',
    ]);
  });

  it('prints with the formats the event log reads back', () => {
    if (!r.ok) throw new Error('the demo script does not compile');
    const plan = planToJson(r.compiled.plan);
    for (const format of Object.values(EVENT_FORMATS)) expect(plan).toContain(JSON.stringify(format));
  });
});
