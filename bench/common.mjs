// What every bench section shares: settings from the environment, medians, how a figure is
// compared with its target, and starting kafkatrace.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'kafkatrace.js');

/** A positive integer from the environment variable `name`, or `fallback` when it is unset. */
export function positive(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got '${v}'`);
  return n;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export const verdict = (ok, target) => `target ${target}: ${ok ? 'met' : 'NOT MET'}`;

/** CPU seconds a process used so far (utime + stime of /proc/PID/stat, in clock ticks of 10 ms). */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Starts kafkatrace with `args` (kept in `live` until it ends); resolves once it has attached, to its
 * child, its output so far and its exit.
 */
export async function startKafkatrace(live, args) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  live.add(child);
  const state = { child, stdout: '', stderr: '' };
  child.stdout.setEncoding('utf8').on('data', (d) => (state.stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d) => (state.stderr += d));
  state.exited = new Promise((r) => child.on('close', (code) => {
    live.delete(child);
    r(code);
  }));
  while (!state.stdout.includes('Attaching')) {
    if (child.exitCode !== null) throw new Error(`kafkatrace exited before attaching: ${state.stderr.trim()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return state;
}
