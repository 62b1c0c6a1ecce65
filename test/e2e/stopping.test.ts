// Ending a run every way a user does, through the command line: signals sent twice (timeout(1)
// signals the process, then its group), a -c command that ignores SIGTERM or outlives a SIGKILL of
// kafkatrace, a -p target that exits, a signal under a flood of slow system() records.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { alive } from '../helpers/processes.js';
import { waitFor } from '../helpers/cli-trace.js';
import { canRun } from './runtime-helpers.js';

const run = canRun() && existsSync(join(ROOT, 'dist', 'bundle', 'kafkatrace.mjs'));

interface Cli {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves once `Attaching` is on stdout; rejects if the process ends first. */
  attached: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

const started: ChildProcess[] = [];
const pids: number[] = [];
const dir = mkdtempSync(join(tmpdir(), 'kt-stopping-'));

function cli(args: string[]): Cli {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  started.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  const attached = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Attaching')) resolve();
    });
    void exited.then(() => reject(new Error(`kafkatrace exited before attaching: ${err}`)));
  });
  return { child, stdout: () => out, stderr: () => err, attached, exited };
}

/** The exit, or 'timeout' after ms (the process is then left for afterEach to kill). */
function exitWithin(c: Cli, ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number } | 'timeout'> {
  return Promise.race([c.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A -c command that writes its pid to `file` and ignores SIGTERM, forever (a script file: -c splits at spaces). */
function stubborn(file: string): string {
  writeFileSync(`${file}.sh`, `echo $$ > ${file}; trap '' TERM; while :; do sleep 0.05; done\n`);
  return `/bin/sh ${file}.sh`;
}

function pidIn(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}

describe.runIf(run)('stopping', () => {
  afterEach(() => {
    for (const c of started.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const pid of pids.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 0 with the maps printed when a second SIGINT comes while it stops, as timeout(1) sends one', async () => {
    for (let i = 0; i < 3; i++) {
      const c = cli(['-e', 'interval:ms:10 { @x = count(); }']);
      await c.attached;
      await sleep(200);
      // timeout(1) signals the process, then its process group: the second signal can arrive at any
      // point of the stop, here as the maps come out.
      c.child.stdout!.on('data', (d: Buffer) => {
        if (d.toString().includes('@x:')) c.child.kill('SIGINT');
      });
      c.child.kill('SIGINT');
      const exit = await exitWithin(c, 5000);
      expect(exit).not.toBe('timeout');
      expect(exit).toMatchObject({ code: 0, signal: null });
      expect(c.stdout()).toMatch(/\n@x: \d+\n$/);
    }
  }, 60_000);

  it('ends with status 0 on a Ctrl-C at any moment of its start, never tracing on after it', async () => {
    // Before the first line of bin/kafkatrace.js runs, node itself dies of the signal (as bpftrace does
    // before its handler): that is the only other ending allowed.
    const endings: string[] = [];
    for (let ms = 20; ms <= 400; ms += 15) {
      const c = cli(['-e', 'tracepoint:syscalls:sys_enter_getppid { @ = count(); }']);
      void c.attached.catch(() => undefined);
      await sleep(ms);
      c.child.kill('SIGINT');
      const end = await exitWithin(c, 15_000);
      endings.push(end === 'timeout' ? `${ms} ms: still running` : `${ms} ms: ${end.code ?? end.signal}`);
    }
    expect(endings.filter((e) => !/: (0|SIGINT)$/.test(e))).toEqual([]);
    expect(endings.filter((e) => e.endsWith(': 0')).length).toBeGreaterThan(endings.length / 2);
  }, 120_000);

  it('escalates to SIGKILL when the -c command ignores SIGTERM', async () => {
    const file = join(dir, 'term.pid');
    const c = cli(['-c', stubborn(file), '-e', 'tracepoint:syscalls:sys_enter_wait4 { @n = count(); } END { printf("end\\n"); }']);
    await c.attached;
    await waitFor('the command to start', 5000, () => existsSync(file) && readFileSync(file, 'utf8').endsWith('\n'));
    const pid = pidIn(file);
    pids.push(pid);
    await sleep(200);
    const sent = performance.now();
    c.child.kill('SIGINT');
    const exit = await exitWithin(c, 5000);
    expect(exit).not.toBe('timeout');
    if (exit === 'timeout') return;
    expect(exit.code).toBe(0);
    // The grace between SIGTERM and SIGKILL is half a second.
    expect(exit.at - sent).toBeLessThan(2500);
    expect(c.stdout()).toMatch(/end\n\n\n@n: \d+\n/);
    expect(alive(pid)).toBe(false);
  }, 30_000);

  it('never leaves the -c command running after kafkatrace is SIGKILLed', async () => {
    const file = join(dir, 'kill.pid');
    const c = cli(['-c', stubborn(file), '-e', 'tracepoint:syscalls:sys_enter_wait4 { @n = count(); }']);
    await c.attached;
    await waitFor('the command to start', 5000, () => existsSync(file) && readFileSync(file, 'utf8').endsWith('\n'));
    const pid = pidIn(file);
    pids.push(pid);
    c.child.kill('SIGKILL');
    await c.exited;
    await waitFor('the command to be killed with kafkatrace', 2000, () => !alive(pid));
  }, 30_000);

  it('ends when the -p target exits, with END and the maps', async () => {
    const target = spawn('sleep', ['60'], { stdio: 'ignore' });
    started.push(target);
    const c = cli(['-p', String(target.pid), '-e', 'tracepoint:syscalls:sys_enter_getppid { @n = count(); } END { printf("end\\n"); }']);
    await c.attached;
    await sleep(200);
    const killed = performance.now();
    target.kill('SIGKILL');
    const exit = await exitWithin(c, 5000);
    expect(exit).not.toBe('timeout');
    if (exit === 'timeout') return;
    expect(exit.code).toBe(0);
    expect(exit.at - killed).toBeLessThan(1000);
    expect(c.stdout()).toMatch(/\nend\n\n\n/);
  }, 30_000);

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`stops promptly on ${signal} under a flood of system() records, with END and the maps`, async () => {
      const c = cli(['--unsafe', '-e', 'tracepoint:sched:sched_switch { system("true"); } END { printf("end\\n"); @e = count(); }']);
      await c.attached;
      await sleep(500);
      const sent = performance.now();
      c.child.kill(signal);
      const exit = await exitWithin(c, 10_000);
      expect(exit).not.toBe('timeout');
      if (exit === 'timeout') return;
      expect(exit.code).toBe(0);
      // The drain before END and the one after it take at most 200 ms each, one system() more each.
      expect(exit.at - sent).toBeLessThan(2000);
      expect(c.stdout()).toMatch(/\nend\n(Lost \d+ events\n)?\n\n@e: 1\n$/);
    }, 30_000);
  }
});
