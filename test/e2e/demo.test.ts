// `kafkatrace demo` as a user runs it, stdout piped: it runs its broker, producer and rebalancing
// consumer group under the real runtime, prints what it traced, exits 0 at the end of its duration
// and on SIGINT, and leaves nothing behind: none of its processes, BPF programs, maps or links.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { expectNothingLeft, runDemo } from '../helpers/demo-run.js';
import { canRun } from './runtime-helpers.js';

/** canRun(), and what the demo needs beyond it: the CLI bundle, the mock broker and kcat. */
function demoCanRun(): boolean {
  if (!canRun()) return false;
  const problems: string[] = [];
  if (!existsSync(join(ROOT, 'dist', 'bundle', 'kafkatrace.mjs'))) problems.push('CLI not built (npm run build)');
  if (!existsSync(join(ROOT, 'build', 'kafkatrace-mock-broker'))) problems.push('mock broker not built (node scripts/build-kafka.mjs)');
  if (spawnSync('kcat', ['-V'], { stdio: 'ignore' }).error) problems.push('kcat not installed');
  if (problems.length === 0) return true;
  if (process.env.CI === 'true') throw new Error(`demo e2e tests cannot run: ${problems.join(', ')}`);
  console.log(`skipping demo e2e tests: ${problems.join(', ')}`);
  return false;
}

const run = demoCanRun();

describe.runIf(run)('kafkatrace demo', () => {
  it('runs its scenario for the duration, shows traffic and rebalances, exits 0 and leaves nothing behind', async () => {
    const r = await runDemo(['--duration', '12s']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/\x1b/);
    // Periodic frames, then the last one.
    expect(r.stdout.match(/^kafkatrace demo  mock Kafka at /gm)?.length).toBeGreaterThanOrEqual(2);
    const last = r.stdout.slice(r.stdout.lastIndexOf('kafkatrace demo  mock Kafka at'));
    expect(last).toMatch(/^finished after 1\d\.\d s; rates are averages over the run$/m);
    // Records in and out of the demo topic: rates and totals, all above zero.
    const topic = /^demo-orders +(\d+\.\d) +(\d+\.\d) +(\d+\.\d) +(\d+\.\d) +(\d+) +(\d+)$/m.exec(last);
    expect(topic).not.toBeNull();
    for (const figure of topic!.slice(1)) expect(Number(figure)).toBeGreaterThan(0);
    expect(last).toMatch(/^demo-producer +producer +\d+\.\d +[1-9]\d*$/m);
    expect(last).toMatch(/^Produce +\d+\.\d +\d+(\.\d)? (µs|ms) +[1-9]\d*$/m);
    expect(last).toMatch(/^Fetch +\d+\.\d +\d+(\.\d)? (µs|ms) +[1-9]\d*$/m);
    expect(last).toMatch(/^ *\d+:\d\d\.\d  rebalance  kafkatrace-demo generation \d+/m);
    expect(last).toMatch(/^kafkatrace-demo +\d+ +(\d+|-) +[1-9]\d* +[1-9]\d*$/m);
    expect(last).toMatch(/join       demo-consumer-1 joined kafkatrace-demo/);
    await expectNothingLeft(r.held);
  }, 60_000);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`stops everything and exits 0 on ${signal} midway`, async () => {
      const r = await runDemo(['--duration', '60s'], (stdout) => stdout.includes('kafkatrace demo  mock Kafka at'), signal);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^finished after \d\.\d s; rates are averages over the run$/m);
      await expectNothingLeft(r.held);
    }, 60_000);
  }

  it('leaves no client or broker behind when killed by SIGKILL, with no chance to stop them', async () => {
    const r = await runDemo(['--duration', '60s'], (stdout) => stdout.includes('kafkatrace demo  mock Kafka at'), 'SIGKILL');
    expect(r.signal).toBe('SIGKILL');
    await expectNothingLeft(r.held);
  }, 60_000);

  it('says in one line that it needs root, and starts nothing, when run without privileges', () => {
    const r = spawnSync('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', '--inh-caps=-all', process.execPath, BIN, 'demo'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('ERROR: the demo needs root (or CAP_BPF and CAP_PERFMON): it loads BPF programs\n');
  });
});
