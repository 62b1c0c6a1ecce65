// `--export prometheus` against a real Prometheus server: kafkatrace counts the syscalls of a workload
// with an exact count, Prometheus scrapes it, and what its HTTP API returns must equal what kafkatrace
// prints at exit for the same maps.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { freePort, waitForValue as waitFor } from '../helpers/cli-trace.js';
import { buildFixtures, canRun } from './runtime-helpers.js';

const PROMETHEUS = '/usr/bin/prometheus';

function canRunHere(): boolean {
  if (!canRun()) return false;
  if (existsSync(PROMETHEUS)) return true;
  if (process.env.CI === 'true') throw new Error(`the Prometheus export e2e test cannot run: ${PROMETHEUS} is missing`);
  console.log(`skipping the Prometheus export e2e test: ${PROMETHEUS} is missing (apt-get install prometheus)`);
  return false;
}

const run = canRunHere();


interface Started {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Started {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}


interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(port: number, q: string): Promise<PromSample[]> {
  const r = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
  const body = (await r.json()) as { status: string; data: { result: PromSample[] } };
  if (body.status !== 'success') throw new Error(`query ${q} failed: ${JSON.stringify(body)}`);
  return body.data.result;
}

/** bpftrace's bucket bound: `64`, `1K`, `2M`. */
function bound(text: string): number {
  const m = /^(\d+)([KMGTPE]?)$/.exec(text)!;
  return Number(m[1]) * 1024 ** ' KMGTPE'.indexOf(m[2] || ' ');
}

/** Buckets of a printed hist as [low, high) → count (only the printed, non-zero ones). */
function printedHist(text: string, map: string): Map<string, number> {
  const body = text.slice(text.indexOf(`${map}: \n`) + map.length + 3).split('\n\n')[0]!;
  const buckets = new Map<string, number>();
  for (const line of body.split('\n')) {
    const m = /^\[(\w+), (\w+)\)\s+(\d+) \|/.exec(line);
    if (m && m[3] !== '0') buckets.set(`${bound(m[1]!)}-${bound(m[2]!)}`, Number(m[3]));
  }
  return buckets;
}

describe.runIf(run)('--export prometheus with a real Prometheus server', () => {
  let dir: string;
  let tracer: Started | undefined;
  let prometheus: Started | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kt-prometheus-'));
  });

  afterAll(async () => {
    for (const p of [prometheus, tracer]) {
      if (p && p.child.exitCode === null && p.child.signalCode === null) {
        p.child.kill('SIGKILL');
        await p.exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the maps that kafkatrace prints at exit', async () => {
    // A name of our own, so that workloads of tests running elsewhere on the machine do not count.
    const comm = `ktprom${randomBytes(3).toString('hex')}`;
    const workload = join(dir, comm);
    copyFileSync(buildFixtures().workload, workload);
    const [exportPort, promPort] = [await freePort(), await freePort()];
    const script = `
      tracepoint:syscalls:sys_enter_getppid /comm == "${comm}"/ { @calls[comm] = count(); }
      tracepoint:syscalls:sys_enter_write /comm == "${comm}"/ { @size = hist(args.count); @st = stats(args.count); }`;
    tracer = start(process.execPath, [BIN, '-e', script, '--export', `prometheus=127.0.0.1:${exportPort}`], { XDG_CACHE_HOME: join(dir, 'cache') });
    await waitFor('kafkatrace to attach', () => (tracer!.stdout().includes('Attaching 2 probes...') ? true : tracer!.child.exitCode !== null ? Promise.reject(new Error(tracer!.stderr())) : undefined));
    expect(tracer.stderr()).toBe(`Serving Prometheus metrics on http://127.0.0.1:${exportPort}/metrics\n`);

    const w = spawnSync(workload, ['getppid', '25', 'write', '100', '5', 'write', '3000', '7'], { stdio: 'ignore' });
    expect(w.status).toBe(0);

    // Started after the workload has ended, so that every sample it stores is final.
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: kafkatrace\n    static_configs:\n      - targets: ['127.0.0.1:${exportPort}']\n`,
    );
    prometheus = start(PROMETHEUS, [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
    ]);
    const calls = await waitFor('Prometheus to scrape kafkatrace', async () => {
      if (prometheus!.child.exitCode !== null) throw new Error(`prometheus exited: ${prometheus!.stderr()}`);
      const r = await query(promPort, 'kafkatrace_calls_total').catch(() => []);
      return r.length > 0 ? r : undefined;
    });
    const up = await query(promPort, 'up{job="kafkatrace"}');
    const buckets = await query(promPort, 'kafkatrace_size_bucket');
    const sizeCount = await query(promPort, 'kafkatrace_size_count');
    const stSum = await query(promPort, 'kafkatrace_st_sum');
    const stCount = await query(promPort, 'kafkatrace_st_count');
    const attached = await query(promPort, 'kafkatrace_probes_attached');
    const lost = await query(promPort, 'kafkatrace_events_lost_total');

    prometheus.child.kill('SIGTERM');
    await prometheus.exited;
    tracer.child.kill('SIGINT');
    expect(await tracer.exited).toBe(0);
    const printed = tracer.stdout();

    expect(up.map((s) => s.value[1])).toEqual(['1']);
    // What kafkatrace printed at exit...
    expect(printed).toContain(`@calls[${comm}]: 25\n`);
    expect(printed).toContain('@st: count 12, average 1791, total 21500\n');
    const hist = printedHist(printed, '@size');
    expect([...hist]).toEqual([['64-128', 5], ['2048-4096', 7]]);
    // ...is what Prometheus stored.
    expect(calls.map((s) => [s.metric['comm'], s.value[1]])).toEqual([[comm, '25']]);
    const le = (s: PromSample) => (s.metric['le'] === '+Inf' ? Infinity : Number(s.metric['le']));
    const cumulative = new Map(buckets.map((s) => [le(s), Number(s.value[1])]));
    const upTo = (v: number) => cumulative.get(v) ?? NaN;
    for (const [range, count] of hist) {
      const [low, high] = range.split('-').map(Number) as [number, number];
      expect(upTo(high - 1) - upTo(low - 1), `bucket [${low}, ${high})`).toBe(count);
    }
    expect(upTo(Infinity)).toBe(12);
    expect(sizeCount.map((s) => s.value[1])).toEqual(['12']);
    expect(stSum.map((s) => s.value[1])).toEqual(['21500']);
    expect(stCount.map((s) => s.value[1])).toEqual(['12']);
    expect(attached.map((s) => s.value[1])).toEqual(['2']);
    expect(lost.map((s) => s.value[1])).toEqual(['0']);
  });

  it('fails in one line, having loaded nothing, when the port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const r = spawnSync(process.execPath, [BIN, '-e', 'tracepoint:syscalls:sys_enter_getppid { @c = count(); }', '--export', `prometheus=127.0.0.1:${port}`], {
        cwd: ROOT,
        encoding: 'utf8',
        env: { ...process.env, XDG_CACHE_HOME: join(dir, 'cache') },
        timeout: 60_000,
      });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`ERROR: cannot serve Prometheus metrics on 127.0.0.1:${port}: the address is already in use (choose another with --export prometheus=ADDR:PORT)\n`);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
