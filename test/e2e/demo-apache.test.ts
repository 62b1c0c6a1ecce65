// `kafkatrace demo --kafka apache` as a user runs it: a single-node Apache Kafka broker (KRaft) in a
// temporary directory instead of the mock, the same kcat producer and rebalancing consumer group,
// the same screen; on SIGINT it stops everything: no process, no BPF object and no temporary file left.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apacheKafkaProblem, apacheKafkaVersion } from '../../src/demo/apache-kafka.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { expectNothingLeft, runDemo } from '../helpers/demo-run.js';
import { canRun } from './runtime-helpers.js';

function apacheDemoCanRun(): boolean {
  if (!canRun()) return false;
  const problems: string[] = [];
  if (!existsSync(join(ROOT, 'dist', 'bundle', 'kafkatrace.mjs'))) problems.push('CLI not built (npm run build)');
  const kafka = apacheKafkaProblem();
  if (kafka) problems.push(kafka);
  if (problems.length === 0) return true;
  if (process.env.CI === 'true') throw new Error(`Apache Kafka demo tests cannot run: ${problems.join(', ')}`);
  console.log(`skipping Apache Kafka demo tests: ${problems.join(', ')}`);
  return false;
}

const run = apacheDemoCanRun();

describe.runIf(run)('kafkatrace demo --kafka apache', () => {
  it('traces the workload on Apache Kafka, shows no unknown figure as a number, and leaves nothing behind on SIGINT', async () => {
    // A TMPDIR of the test's own: the broker's directory goes there, and must be gone at the end.
    const tmp = mkdtempSync(join(tmpdir(), 'kafkatrace-demo-apache-'));
    try {
      // SIGINT once a frame shows the first member leaving (60% of the run): by then the group has
      // rebalanced twice and records have flowed both ways.
      const r = await runDemo(['--kafka', 'apache', '--duration', '30s'], (stdout) => /demo-consumer-1 stops/.test(stdout), 'SIGINT', 150_000, { TMPDIR: tmp });
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const last = r.stdout.slice(r.stdout.lastIndexOf('kafkatrace demo  '));
      expect(last).toMatch(new RegExp(`^kafkatrace demo  Apache Kafka ${apacheKafkaVersion().replace(/\./g, '\\.')} at 127\\.0\\.0\\.1:\\d+$`, 'm'));
      expect(last).toMatch(/^finished after \d+\.\d s; rates are averages over the run$/m);
      // Records in and out of the demo topic: rates and totals, all above zero (Apache Kafka sends
      // fetched records with sendfile(): an uncaptured count must not be summed as -1).
      const topic = /^demo-orders +(\d+\.\d) +(\d+\.\d) +(\d+\.\d) +(\d+\.\d) +(\d+) +(\d+)$/m.exec(last);
      expect(topic, last).not.toBeNull();
      for (const figure of topic!.slice(1)) expect(Number(figure)).toBeGreaterThan(0);
      expect(last).toMatch(/^demo-producer +producer +\d+\.\d +[1-9]\d*$/m);
      expect(last).toMatch(/^demo-consumer-\d +consumer +\d+\.\d +[1-9]\d*$/m);
      expect(last.slice(0, last.indexOf('\nEVENTS'))).not.toMatch(/ -\d/);
      expect(last).toMatch(/^Produce +\d+\.\d +\d+(\.\d)? (µs|ms) +[1-9]\d*$/m);
      expect(last).toMatch(/^Fetch +\d+\.\d +\d+(\.\d)? (µs|ms) +[1-9]\d*$/m);
      expect(last).toMatch(/^ *\d+:\d\d\.\d  rebalance  kafkatrace-demo generation \d+, 3 members/m);
      expect(last).toMatch(/join       demo-consumer-3 joined kafkatrace-demo/);
      await expectNothingLeft(r.held);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 180_000);

  it('stops the starting broker and exits 0 at once on SIGINT before Kafka is ready', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'kafkatrace-demo-apache-'));
    try {
      const child = spawn(process.execPath, [BIN, 'demo', '--kafka', 'apache'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', TMPDIR: tmp } });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      // The broker's directory appears once the demo is starting it (its signal handlers are set).
      while (readdirSync(tmp).length === 0 && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      const brokers = (): number[] =>
        readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number).filter((pid) => {
          try {
            return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(tmp);
          } catch {
            return false;
          }
        });
      const sentAt = Date.now();
      child.kill('SIGINT');
      const code = await exited;
      const ms = Date.now() - sentAt;
      clearTimeout(killer);
      expect({ code, stderr, stdout }).toEqual({ code: 0, stderr: '', stdout: '' });
      // Without waiting for Kafka to be ready and its topic made (tens of seconds on a loaded machine).
      expect(ms).toBeLessThan(15_000);
      expect(brokers()).toEqual([]);
      expect(readdirSync(tmp)).toEqual([]);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 180_000);
});
