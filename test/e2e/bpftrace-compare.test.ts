// Side by side with bpftrace 0.17: each script in test/fixtures/compare/ runs under both tools over
// the same deterministic workload, and both must print the same map contents and the same text.
// A fixture's header says how to run it:
//   // workload: STEP...   arguments of the workload (test/fixtures/workload/workload.c)
//   // expect: TEXT        a line fragment both outputs must hold (so that two equally wrong outputs fail)
//   // format: json        run both with -f json (default text)
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './runtime-helpers.js';
import { alive } from '../helpers/processes.js';
import { emptyHeld, heldBpf, stillLoaded } from '../helpers/bpf-held.js';

const COMPARE = join(ROOT, 'test', 'fixtures', 'compare');
const OUT = join(ROOT, 'build', 'test', 'compare');
// Every fixture filters on the comm `ktcmp-wl`, so that only the workload is traced by both tools
// (bpftrace's -c does not filter by pid, kafkatrace's does; the predicate makes them see the same
// events). Each run renames it to a comm of its own, of the same length (printf pads it), so that
// another run of these tests on the machine (another checkout) adds nothing to this one's counts.
const FIXTURE_COMM = 'ktcmp-wl';
const COMM = `kt${randomBytes(6).toString('hex').slice(0, 6)}`;
const WORKLOAD = join(OUT, COMM);
const BIN = join(ROOT, 'bin', 'kafkatrace.js');
const RUN_TIMEOUT_MS = 90_000;

function which(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Whether the CLI as installed (bin/kafkatrace.js and whatever it loads) starts. */
function builtCli(): boolean {
  try {
    execFileSync(process.execPath, [BIN, '--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function canRun(): boolean {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push('not root');
  if (!which('bpftrace')) problems.push('bpftrace not installed');
  if (!which('cc')) problems.push('no C compiler');
  if (!builtCli()) problems.push('kafkatrace not built (npx tsc -p tsconfig.json)');
  if (!existsSync(join(ROOT, 'build', 'Release', 'kafkatrace_native.node'))) problems.push('addon not built');
  if (problems.length === 0) return true;
  if (process.env.CI === 'true') throw new Error(`bpftrace comparison cannot run: ${problems.join(', ')}`);
  console.log(`skipping the bpftrace comparison: ${problems.join(', ')}`);
  return false;
}

interface Fixture {
  name: string;
  /** Where the fixture, with this run's comm, is written for both tools to read. */
  path: string;
  text: string;
  workload: string[];
  expects: string[];
  format: 'text' | 'json';
}

function header(text: string, key: string): string[] {
  const re = new RegExp(`^// ${key}: (.*)$`, 'gm');
  return [...text.matchAll(re)].map((m) => m[1]!);
}

function fixtures(): Fixture[] {
  return readdirSync(COMPARE)
    .filter((f) => f.endsWith('.bt'))
    .sort()
    .map((f) => {
      const text = readFileSync(join(COMPARE, f), 'utf8').replaceAll(FIXTURE_COMM, COMM);
      const format = header(text, 'format')[0] === 'json' ? 'json' : 'text';
      return { name: f, path: join(OUT, `${COMM}-${f}`), text, workload: (header(text, 'workload')[0] ?? '').split(/\s+/), expects: header(text, 'expect'), format };
    });
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

const started: number[] = [];
/**
 * What the tracers held while they ran, sampled: other tests on the machine load and free programs
 * of their own, so "nothing left" is checked against these.
 */
const held = emptyHeld();

/** Runs a tracer to completion; past the timeout it is interrupted (and then killed) so nothing stays. */
function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) started.push(child.pid);
    const sample = (): void => void (child.pid !== undefined && heldBpf(child.pid, held));
    const sampler = setInterval(sample, 20);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      // The first output comes once the programs are attached.
      if (stdout === '') sample();
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const interrupt = setTimeout(() => child.kill('SIGINT'), RUN_TIMEOUT_MS);
    const kill = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS + 5_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      clearTimeout(interrupt);
      clearTimeout(kill);
      resolve({ code, stdout, stderr });
    });
  });
}

const MAP_LINE = /^(@[A-Za-z0-9_]*)(\[.*\])?: (.*)$/;

/**
 * Orders the lines of a map print that have equal values by key. bpftrace sorts a map by value and
 * leaves entries with equal values in hash-table order, which no other implementation can reproduce;
 * kafkatrace orders those ties by key. Every other byte is compared as is.
 */
function normaliseTies(text: string): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let run: string[] = [];
  let runOf = '';
  const flush = () => {
    out.push(...run.sort());
    run = [];
    runOf = '';
  };
  for (const line of lines) {
    const m = MAP_LINE.exec(line);
    const of = m && m[2] !== undefined ? `${m[1]}\0${m[3]}` : '';
    if (of !== '' && of === runOf) {
      run.push(line);
      continue;
    }
    flush();
    if (of !== '') {
      run = [line];
      runOf = of;
    } else {
      out.push(line);
    }
  }
  flush();
  return out.join('\n');
}

/** The one-line map entries of a text output, as map name → key → value (hist and lhist bodies aside). */
function mapContents(text: string): Record<string, Record<string, string>> {
  const maps: Record<string, Record<string, string>> = {};
  for (const line of text.split('\n')) {
    const m = MAP_LINE.exec(line);
    if (!m || m[3] === '') continue;
    (maps[m[1]!] ??= {})[m[2] ?? ''] = m[3]!;
  }
  return maps;
}

/** The map data of a JSON output, merged over its `map` lines. */
function jsonMaps(text: string): Record<string, unknown> {
  const maps: Record<string, unknown> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const obj = JSON.parse(line) as { type: string; data: Record<string, unknown> };
    if (obj.type === 'map' || obj.type === 'hist' || obj.type === 'stats') Object.assign(maps, obj.data);
  }
  return maps;
}

function workloadProcesses(): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === COMM) pids.push(Number(d));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ok = canRun();

describe.runIf(ok)('side by side with bpftrace 0.17', () => {
  const all = fixtures();

  beforeAll(() => {
    mkdirSync(OUT, { recursive: true });
    const src = join(ROOT, 'test', 'fixtures', 'workload', 'workload.c');
    const built = join(OUT, 'workload');
    if (!existsSync(built) || statSync(src).mtimeMs > statSync(built).mtimeMs) execFileSync('cc', ['-O1', '-o', built, src]);
    copyFileSync(built, WORKLOAD);
    execFileSync('chmod', ['755', WORKLOAD]);
    for (const f of all) writeFileSync(f.path, f.text);
  });

  afterAll(async () => {
    for (let i = 0; i < 50 && workloadProcesses().length > 0; i++) await sleep(100);
    for (const f of [WORKLOAD, ...all.map((f) => f.path)]) rmSync(f, { force: true });
    // Programs are freed when their last descriptor closes, which can lag the process's exit a little.
    expect(held.progs.size).toBeGreaterThan(0);
    expect(await stillLoaded('prog', held.progs)).toEqual([]);
    expect(await stillLoaded('map', held.maps)).toEqual([]);
    expect(await stillLoaded('link', held.links)).toEqual([]);
    expect(workloadProcesses()).toEqual([]);
    expect(started.filter(alive)).toEqual([]);
  });

  it('has at least 15 fixtures, each with a workload and an expectation', () => {
    expect(all.length).toBeGreaterThanOrEqual(15);
    for (const f of all) {
      expect(f.workload.length, f.name).toBeGreaterThan(0);
      expect(f.expects.length, f.name).toBeGreaterThan(0);
    }
  });

  for (const f of all) {
    it(f.name, { timeout: 2 * RUN_TIMEOUT_MS + 20_000 }, async () => {
      const cmd = [WORKLOAD, ...f.workload].join(' ');
      // One after the other: both trace the same comm, so running them together would double counts.
      const bt = await run('bpftrace', ['-f', f.format, '-c', cmd, f.path]);
      const kt = await run(process.execPath, [BIN, '-f', f.format, '-c', cmd, f.path]);
      expect(bt.code, `bpftrace failed: ${bt.stderr}`).toBe(0);
      expect(kt.code, `kafkatrace failed: ${kt.stderr}`).toBe(0);
      for (const e of f.expects) {
        expect(bt.stdout, 'bpftrace output').toContain(e);
        expect(kt.stdout, 'kafkatrace output').toContain(e);
      }
      if (f.format === 'json') {
        expect(jsonMaps(kt.stdout)).toEqual(jsonMaps(bt.stdout));
      } else {
        expect(mapContents(kt.stdout)).toEqual(mapContents(bt.stdout));
      }
      expect(normaliseTies(kt.stdout)).toBe(normaliseTies(bt.stdout));
    });
  }
});
