// Sessions in child processes: SIGUSR1 prints the maps and carries on, SIGINT and SIGTERM stop
// quickly with the maps printed, an uncaught exception and SIGKILL leave nothing loaded, -c passes
// on the command's exit status.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/types.js';
import { BEGIN, buildFixtures, canRun, END, fixturePlan, GETPPID, loadedPrograms, loadedProgramsSettled } from './runtime-helpers.js';

const ok = canRun();
const fx = ok ? buildFixtures() : undefined;

interface Runner {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  ready: Promise<void>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

const runners: ChildProcess[] = [];

function startRunner(config: {
  plan: Plan;
  object?: string;
  command?: string;
  durationMs?: number;
  crashAfterMs?: number;
}): Runner {
  const child = spawn(process.execPath, [fx!.runner, JSON.stringify({ object: fx!.paths.probes, ...config })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runners.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('READY\n')) resolve();
    });
    child.on('exit', () => reject(new Error(`runner exited before attaching: ${err}`)));
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
  );
  return { child, stdout: () => out, stderr: () => err, ready, exited };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.runIf(ok)('runtime session in a child process', () => {
  afterEach(async () => {
    // A failed assertion must not leave a runner behind for the next test.
    for (const c of runners.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    expect(await loadedProgramsSettled()).toEqual([]);
  });

  it('prints the maps on SIGUSR1 and keeps running; SIGTERM stops it with END and the maps', async () => {
    const r = startRunner({ plan: fixturePlan([BEGIN, GETPPID, END]), command: `${fx!.workload} getppid 5 sleep 10000` });
    await r.ready;
    await sleep(300);
    r.child.kill('SIGUSR1');
    await sleep(200);
    expect(r.stdout()).toMatch(/^Attaching 3 probes...\nbegin 42\n@calls: 5\n\n?$/);
    expect(r.child.exitCode).toBeNull();
    r.child.kill('SIGTERM');
    const exit = await r.exited;
    expect(exit.code).toBe(0);
    expect(r.stdout()).toMatch(/^Attaching 3 probes...\nbegin 42\n@calls: 5\n\n?end 1\n\n\n@calls: 5\n\n?$/);
  });

  it('stops quickly on SIGINT', async () => {
    const r = startRunner({ plan: fixturePlan([BEGIN, GETPPID, END]), command: `${fx!.workload} getppid 3 sleep 10000` });
    await r.ready;
    await sleep(200);
    const sent = Date.now();
    r.child.kill('SIGINT');
    const exit = await r.exited;
    expect(exit.code).toBe(0);
    // From the signal to the maps printed is well under 50 ms; the process exit after it includes the
    // kernel's RCU wait for detaching tracepoints (tens of ms) and Node's teardown.
    const stopMs = Number(/STOPPED_IN_MS ([\d.]+)/.exec(r.stderr())?.[1]);
    expect(stopMs).toBeLessThan(50);
    expect(exit.at - sent).toBeLessThan(300);
    expect(r.stdout()).toContain('end 1\n\n\n@calls: 3\n');
  });

  it('stops on SIGINT during a flood of records', async () => {
    const r = startRunner({
      plan: fixturePlan([GETPPID]),
      object: fx!.paths.probesTick,
      command: `${fx!.workload} getppid 100000000`,
    });
    await r.ready;
    await sleep(500);
    expect(r.stdout()).toContain('tick 7\n');
    const sent = Date.now();
    r.child.kill('SIGINT');
    const exit = await r.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - sent).toBeLessThan(1000);
    expect(r.stdout()).toMatch(/\n@calls: \d+\n/);
  });

  it('reports lost events while it runs, and the ones since at exit', async () => {
    const r = startRunner({
      plan: fixturePlan([GETPPID]),
      object: fx!.paths.probesTick,
      command: `${fx!.workload} getppid 100000000`,
    });
    await r.ready;
    // A 64 KiB ring overflows at once under this flood; bpftrace says so as it happens.
    const until = Date.now() + 5000;
    while (!/^Lost \d+ events$/m.test(r.stdout()) && Date.now() < until) await sleep(50);
    expect(r.stdout()).toMatch(/^Lost [1-9]\d* events$/m);
    expect(r.child.exitCode).toBeNull();
    r.child.kill('SIGINT');
    const exit = await r.exited;
    expect(exit.code).toBe(0);
    expect(r.stdout().match(/^Lost \d+ events$/gm)!.length).toBeGreaterThan(1);
  });

  it('passes on the -c command status and stops when the command ends', async () => {
    const r = startRunner({ plan: fixturePlan([GETPPID]), command: `${fx!.workload} getppid 4 exit 7` });
    const exit = await r.exited;
    expect(exit.code).toBe(0);
    expect(r.stderr()).toContain('COMMAND 7\n');
    expect(r.stdout()).toContain('@calls: 4\n');
  });

  it('leaves nothing loaded after an uncaught exception', async () => {
    const r = startRunner({ plan: fixturePlan([BEGIN, GETPPID, END]), crashAfterMs: 50 });
    await r.ready;
    const exit = await r.exited;
    expect(exit.code).not.toBe(0);
    expect(r.stderr()).toContain('crash requested by the test');
  });

  it('says that it needs root when run as an unprivileged user', async () => {
    const child = spawn(process.execPath, [fx!.runner, JSON.stringify({ object: fx!.paths.probes, plan: fixturePlan([GETPPID]) })], {
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: 65534,
      gid: 65534,
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(1);
    expect(err).toBe('error: kafkatrace needs root (or CAP_BPF and CAP_PERFMON) to load BPF programs\n');
  });

  it('leaves nothing loaded after SIGKILL', async () => {
    const r = startRunner({ plan: fixturePlan([BEGIN, GETPPID, END]), durationMs: 60_000 });
    await r.ready;
    expect(loadedPrograms().length).toBeGreaterThan(0);
    r.child.kill('SIGKILL');
    const exit = await r.exited;
    expect(exit.signal).toBe('SIGKILL');
  });
});
