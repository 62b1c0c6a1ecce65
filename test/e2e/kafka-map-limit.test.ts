// A kafka-probe map keyed by what clients send is capped like a kernel map: a client sending many
// distinct client ids fills it to the limit, and every firing the limit refused is reported (once as a
// warning while running, with its count at exit). Truth: the requests this test sent itself.
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { canRun } from './runtime-helpers.js';

const run = canRun();

/** An ApiVersions v0 request: size, api_key 18, version 0, correlation id, client id. */
function apiVersions(correlation: number, clientId: string): Buffer {
  const id = Buffer.from(clientId);
  const b = Buffer.alloc(4 + 2 + 2 + 4 + 2 + id.length);
  b.writeInt32BE(b.length - 4, 0);
  b.writeInt16BE(18, 4);
  b.writeInt16BE(0, 6);
  b.writeInt32BE(correlation, 8);
  b.writeInt16BE(id.length, 12);
  id.copy(b, 14);
  return b;
}

/** Sends each request after the previous one's response has arrived whole. */
async function sendInTurn(socket: Socket, requests: Buffer[]): Promise<void> {
  let pending = Buffer.alloc(0);
  let answered: (() => void) | undefined;
  socket.on('data', (d: Buffer) => {
    pending = Buffer.concat([pending, d]);
    while (pending.length >= 4 && pending.length >= 4 + pending.readInt32BE(0)) {
      pending = pending.subarray(4 + pending.readInt32BE(0));
      answered?.();
    }
  });
  for (const r of requests) {
    await new Promise<void>((resolve) => {
      answered = resolve;
      socket.write(r);
    });
  }
}

describe.runIf(run)('the key limit of kafka-probe maps', () => {
  let broker: MockBroker;
  beforeAll(async () => {
    broker = await startMockBroker({ brokers: 1 });
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('keeps BPFTRACE_MAP_KEYS_MAX keys and reports every firing it dropped', async () => {
    const script = 'kafka:request /args.api == "ApiVersions"/ { @c[args.client_id] = count(); }';
    const child = spawn(process.execPath, [BIN, '-f', 'json', '-e', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', BPFTRACE_MAP_KEYS_MAX: '50' },
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (stdout.includes('"attached_probes"')) resolve();
        });
        void exited.then(() => reject(new Error(`kafkatrace exited before attaching: ${stderr}`)));
      });
      const [host, port] = broker.bootstrap.split(',')[0]!.split(':');
      const socket = connect(Number(port), host);
      await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
      const sent = 200;
      await sendInTurn(socket, Array.from({ length: sent }, (_, i) => apiVersions(i + 1, `client-${i}`)));
      socket.destroy();
      // Both ends of the connection are on this machine: each request fires once per role.
      const firings = sent * 2;
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      const lines = stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as { type: string; data: Record<string, unknown> });
      const map = lines.find((l) => l.type === 'map')?.data['@c'] as Record<string, number>;
      expect(Object.keys(map)).toHaveLength(50);
      const counted = Object.values(map).reduce((a, b) => a + b, 0);
      const full = lines.find((l) => l.type === 'map_full');
      expect(full?.data).toMatchObject({ map: '@c', max_keys: 50 });
      expect(counted + Number(full?.data['dropped'])).toBe(firings);
      expect(stderr.match(/WARNING: map @c is full \(50 keys\)/g)).toHaveLength(1);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
      await exited;
    }
  }, 90_000);
});
