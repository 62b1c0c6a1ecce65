// Running the CLI around a workload, for the end-to-end proofs of kafka probes: `-f json` output
// taken apart into printf lines and the maps printed at exit.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { BIN, ROOT } from './cli.js';

interface JsonLine {
  type: string;
  data: unknown;
}

export interface Traced {
  code: number | null;
  stderr: string;
  /** printf lines, without their newline. */
  lines: string[];
  /** The maps printed at exit: name → flattened key ("a,b") → value. */
  maps: Record<string, Record<string, number> | number>;
  /** The CLI's pid, to check it is gone. */
  pid: number;
  /** Events the CLI reported lost (its lost_events records, while running and at exit). */
  lost: number;
  /** The Kafka decoder's health record (kafka_decode) printed at exit; undefined when none was. */
  decode?: Record<string, unknown>;
}

/**
 * Runs the CLI with `-f json` (and `args`, e.g. `-p PID`) on a script, or on a stdlib tool as
 * `kafkatrace run TOOL`, waits for its attached_probes line, runs `during`, then sends SIGINT and
 * collects its output. The CLI is killed if it outlives the test.
 */
export async function traceWhile(script: string | { tool: string }, during: () => Promise<void>, args: string[] = []): Promise<Traced> {
  const what = typeof script === 'string' ? ['-f', 'json', ...args, '-e', script] : ['run', script.tool, '-f', 'json', ...args];
  const child = spawn(process.execPath, [BIN, ...what], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let attachTimer: NodeJS.Timeout | undefined;
  const attached = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('"attached_probes"')) resolve();
    });
    void exited.then(() => reject(new Error(`kafkatrace exited before attaching: ${stderr}`)));
    attachTimer = setTimeout(() => reject(new Error(`kafkatrace did not attach within 60 s: ${stderr}`)), 60_000);
  });
  try {
    await attached;
    clearTimeout(attachTimer);
    await during();
  } finally {
    clearTimeout(attachTimer);
    child.kill('SIGINT');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killer);
  }
  const code = await exited;
  const lines: string[] = [];
  const maps: Traced['maps'] = {};
  let decode: Traced['decode'];
  let lost = 0;
  for (const raw of stdout.split('\n')) {
    if (raw.trim() === '') continue;
    const l = JSON.parse(raw) as JsonLine;
    if (l.type === 'printf') lines.push(...String(l.data).split('\n').filter((s) => s !== ''));
    if (l.type === 'map') Object.assign(maps, l.data);
    if (l.type === 'kafka_decode') decode = l.data as Traced['decode'];
    if (l.type === 'lost_events') lost += (l.data as { events: number }).events;
  }
  return { code, stderr, lines, maps, lost, pid: child.pid!, ...(decode ? { decode } : {}) };
}

/** Polls `check` until it holds (an event the test cannot subscribe to); fails after `timeoutMs`. */
export async function waitFor(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A 127.0.0.1 port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** The first value `probe` gives that is not undefined, asked every 100 ms for up to `timeoutMs`. */
export async function waitForValue<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sorted multiset as a list, so that a mismatch shows which entries differ. */
export const sorted = (xs: string[]): string[] => [...xs].sort();
