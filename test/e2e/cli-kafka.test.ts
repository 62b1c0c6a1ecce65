// kafka:* probes through the command line, as a user runs them: the CLI traces the mock broker while
// kcat produces, and its map printing at exit shows exactly what was sent, from both sides.
import { execFileSync, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { produceWithKcat } from '../helpers/kafka-clients.js';
import { canRun } from './runtime-helpers.js';

const run = canRun();

/** Starts the CLI, waits for `Attaching`, runs `during`, then sends SIGINT and collects the output. */
async function traceWhile(args: string[], during: () => Promise<void>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const attached = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (stdout.includes('Attaching')) resolve();
    });
    child.on('exit', () => reject(new Error(`kafkatrace exited early: ${stderr}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await attached;
    await during();
  } finally {
    child.kill('SIGINT');
  }
  return { code: await exited, stdout, stderr };
}

describe.runIf(run)('kafka probes from the command line', () => {
  let broker: MockBroker;
  beforeAll(async () => {
    broker = await startMockBroker({ brokers: 1, topics: { 'cli-orders': 2 } });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('counts the records kcat produced, seen by the client and by the broker', async () => {
    const script = 'kafka:produce { @records[args.topic, args.role] = sum(args.records); } kafka:request /args.api == "Produce"/ { @produce_requests = count(); }';
    const r = await traceWhile(['-e', script], async () => {
      await produceWithKcat({ bootstrap: broker.bootstrap, topic: 'cli-orders', count: 40 });
    });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Attaching 2 probes\.\.\.\n/);
    expect(r.stdout).toContain('@records[cli-orders, broker]: 40\n');
    expect(r.stdout).toContain('@records[cli-orders, client]: 40\n');
    expect(r.stdout).toMatch(/^@produce_requests: [1-9]\d*$/m);
  });

  it('--netns PATH: only that network namespace\'s sockets, in the kernel', async () => {
    const script = 'kafka:produce { @records[args.topic, args.role] = sum(args.records); }';
    const own = await traceWhile(['--netns', '/proc/self/ns/net', '-e', script], async () => {
      await produceWithKcat({ bootstrap: broker.bootstrap, topic: 'cli-orders', count: 25 });
    });
    expect(own.stderr).toBe('');
    expect(own.stdout).toContain('@records[cli-orders, broker]: 25\n');
    // The broker and kcat run in this namespace, none in an empty one.
    const ns = `kt-cli-${process.pid}`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      const other = await traceWhile(['--netns', `/run/netns/${ns}`, '-e', script], async () => {
        await produceWithKcat({ bootstrap: broker.bootstrap, topic: 'cli-orders', count: 25 });
      });
      expect(other.stderr).toBe('');
      expect(other.code).toBe(0);
      expect(other.stdout).not.toContain('@records');
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
  });
});
