// `kafkatrace demo` run as a user runs it (stdout piped), with what it held sampled meanwhile: its
// children and the BPF objects behind its fds, to check that it leaves none of them behind.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { emptyHeld, heldBpf, stillLoaded, type HeldBpf } from './bpf-held.js';
import { BIN, ROOT } from './cli.js';
import { alive } from './processes.js';

/** What the demo holds: its children's pids and the BPF objects behind its fds. */
export interface Holdings extends HeldBpf {
  children: Set<number>;
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The fields after the command name (which may hold spaces) start with state, then ppid.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // The process ended while the list was read.
    }
  }
  return out;
}

function sample(pid: number, into: Holdings): void {
  for (const c of childrenOf(pid)) into.children.add(c);
  heldBpf(pid, into);
}

export interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  held: Holdings;
}

/**
 * Runs the demo, sampling what it holds every 300 ms; `signal` is sent once `interrupt` returns true;
 * SIGKILL after `timeoutMs`.
 */
export function runDemo(
  args: string[],
  interrupt?: (stdout: string) => boolean,
  signal: NodeJS.Signals = 'SIGINT',
  timeoutMs = 60_000,
  env: Record<string, string> = {},
): Promise<DemoRun> {
  const child = spawn(process.execPath, [BIN, 'demo', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...env } });
  const held: Holdings = { ...emptyHeld(), children: new Set() };
  let stdout = '';
  let stderr = '';
  let interrupted = false;
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
    if (interrupt && !interrupted && interrupt(stdout)) {
      interrupted = true;
      sample(child.pid!, held);
      child.kill(signal);
    }
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const sampler = setInterval(() => sample(child.pid!, held), 300);
  const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      clearInterval(sampler);
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, held });
    });
  });
}

/** Nothing the demo started or loaded is left, once the kernel has freed what was closed. */
export async function expectNothingLeft(held: Holdings): Promise<void> {
  // The demo started the broker, the producer and three consumers.
  expect(held.children.size).toBeGreaterThanOrEqual(4);
  expect(held.progs.size).toBeGreaterThan(0);
  expect(await stillLoaded('prog', held.progs)).toEqual([]);
  expect(await stillLoaded('map', held.maps)).toEqual([]);
  expect(await stillLoaded('link', held.links)).toEqual([]);
  for (let i = 0; i < 60 && [...held.children].some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  const left = [...held.children].filter(alive);
  expect(left).toEqual([]);
}
