// Strings from the wire reach the terminal escaped: a client id chosen to retitle the terminal and
// clear its screen prints as text in text output, and as itself (JSON-escaped) in JSON.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { produceWithKcat } from '../helpers/kafka-clients.js';
import { canRun } from './runtime-helpers.js';

const run = canRun();
const HOSTILE = 'kt\x1b]0;owned\x07\x1b[2J\x01';
const ESCAPED = 'kt\\x1b]0;owned\\x07\\x1b[2J\\x01';
const SCRIPT = 'kafka:produce /args.role == "client"/ { @[args.client_id] = count(); printf("from %s\\n", args.client_id); }';

/** Starts the CLI, waits until it has attached, produces, then sends SIGINT and collects the output. */
async function traceProduce(broker: MockBroker, format: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, '-f', format, '-e', SCRIPT], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (/Attaching|attached_probes/.test(stdout)) resolve();
      });
      child.on('exit', () => reject(new Error(`kafkatrace exited early: ${stderr}`)));
    });
    await produceWithKcat({ bootstrap: broker.bootstrap, topic: 'escapes', count: 3, clientId: HOSTILE });
  } finally {
    child.kill('SIGINT');
  }
  const code = await exited;
  clearTimeout(killer);
  return { code, stdout, stderr };
}

describe.runIf(run)('strings from the wire on a terminal', () => {
  let broker: MockBroker;
  beforeAll(async () => {
    broker = await startMockBroker({ brokers: 1, topics: { escapes: 1 } });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('are escaped in text output: printf and map keys', async () => {
    const r = await traceProduce(broker, 'text');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`from ${ESCAPED}\n`);
    expect(r.stdout).toMatch(new RegExp(`^@\\[${ESCAPED.replace(/[\\[\]]/g, '\\$&')}\\]: [1-9]\\d*$`, 'm'));
    expect(r.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  }, 90_000);

  it('are themselves in JSON, which escapes them', async () => {
    const r = await traceProduce(broker, 'json');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { type: string; data: unknown });
    expect(lines.some((l) => l.type === 'printf' && l.data === `from ${HOSTILE}\n`)).toBe(true);
    const map = lines.find((l) => l.type === 'map')?.data as Record<string, Record<string, number>>;
    expect(map['@']![HOSTILE]).toBeGreaterThan(0);
  }, 90_000);
});
