// Ctrl-C to exit through the command line: the maps and END are printed, the process exits without
// waiting for the kernel to detach its tracepoints (a reaper process holds the last references), and
// every program it loaded is gone shortly after.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it, onTestFinished } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';
import { canRun } from './runtime-helpers.js';
import { heldBpf, stillLoaded } from '../helpers/bpf-held.js';

const run = canRun() && existsSync(join(ROOT, 'dist', 'bundle', 'kafkatrace.mjs'));
const captureBuilt = existsSync(join(ROOT, 'build', 'kafka-capture.bpf.o'));

const HIST = 'tracepoint:syscalls:sys_exit_read { @ = hist(args->ret); } END { printf("bye\\n"); }';

interface Stopped {
  code: number | null;
  stdout: string;
  stderr: string;
  /** ms from SIGINT to the process's exit. */
  exitMs: number;
  /** The programs the process had loaded, by id, read from its fds while it ran. */
  programIds: number[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs the CLI until it is attached, then `settleMs` more, then SIGINT. */
async function interrupted(args: string[], settleMs = 200): Promise<Stopped> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: performance.now() })));
  const attached = new Promise<boolean>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('Attaching')) resolve(true);
    });
    void exited.then(() => resolve(false));
  });
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  if (!(await attached)) {
    await closed;
    throw new Error(`kafkatrace exited before attaching: ${stderr}`);
  }
  await sleep(settleMs);
  const programIds = [...heldBpf(child.pid!).progs];
  const sent = performance.now();
  child.kill('SIGINT');
  const { code, at } = await exited;
  await closed;
  return { code, stdout, stderr, exitMs: at - sent, programIds };
}

describe.runIf(run)('Ctrl-C to exit', () => {
  it('prints the maps and END, exits without waiting for the detach, and leaves nothing loaded', async () => {
    const runs: Stopped[] = [];
    for (let i = 0; i < 3; i++) runs.push(await interrupted(['-e', HIST]));
    for (const r of runs) {
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Attaching 2 probes\.\.\.\n/);
      // END's output, then the map, complete: the last bucket line and the blank line after it.
      expect(r.stdout).toMatch(/\nbye\n\n+@: \n([[(].*\|\n)+\n$/);
      expect(r.programIds.length).toBeGreaterThan(0);
    }
    // Detaching a tracepoint alone waits for an RCU grace period (~80 ms here); the best of three
    // runs keeps a busy machine's noise out.
    expect(Math.min(...runs.map((r) => r.exitMs))).toBeLessThan(50);
    expect(await stillLoaded('prog', runs.flatMap((r) => r.programIds), 5000)).toEqual([]);
  }, 60_000);

  it.runIf(captureBuilt)('does not wait for the kafka capture tracepoints to detach either', async () => {
    const r = await interrupted(['-e', 'kafka:produce { @ = count(); }']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // The capture attaches dozens of tracepoints: detached one after another, they took seconds.
    expect(r.programIds.length).toBeGreaterThan(10);
    expect(r.exitMs).toBeLessThan(300);
    expect(await stillLoaded('prog', r.programIds, 15_000)).toEqual([]);
  }, 60_000);

  it('ends with a -c command as before, with its output and nothing left loaded', async () => {
    // -c splits at spaces only, as bpftrace does: the shell command lives in a script file.
    const dir = mkdtempSync(join(tmpdir(), 'kt-exit-speed-'));
    const script = join(dir, 'sleep-exit.sh');
    writeFileSync(script, 'sleep 0.3; exit 3\n');
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
    const child = spawn(process.execPath, [BIN, '-c', `sh ${script}`, '-e', 'tracepoint:syscalls:sys_enter_wait4 { @n = count(); }'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let ids: number[] = [];
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (ids.length === 0 && stdout.includes('Attaching')) ids = [...heldBpf(child.pid!).progs];
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(code).toBe(3);
    // The shell waits for its sleep: only the command's own process is traced.
    expect(stdout).toMatch(/\n@n: [1-9]\d*\n/);
    expect(ids.length).toBeGreaterThan(0);
    expect(await stillLoaded('prog', ids, 5000)).toEqual([]);
  }, 30_000);
});
