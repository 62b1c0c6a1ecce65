// `kafkatrace agent` as it runs on a node: two scripts in one process (a tracepoint script counting a
// workload's getppid calls, whose count is exact, and the kafka-overview stdlib tool against the mock
// broker, whose truth is the broker's own offsets), scraped over HTTP; then SIGHUP reloads (a script
// removed, one added, one broken, a configuration that does not parse) while the survivor keeps its
// counts, and SIGTERM ends it with status 0 and no BPF object left.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { emptyHeld, heldBpf, stillLoaded, type HeldBpf } from '../helpers/bpf-held.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { freePort, waitForValue as waitFor } from '../helpers/cli-trace.js';
import { kafkajsClient, produceWithKcat } from '../helpers/kafka-clients.js';
import { buildFixtures, canRun } from './runtime-helpers.js';

const run = canRun();



interface Health {
  scripts: { name: string; state: string; reason?: string; retry_in_s?: number; restarts: number }[];
}

/** The value of the one series of `metric` whose labels are exactly `labels`, undefined when absent. */
function sample(text: string, metric: string, labels: Record<string, string>): number | undefined {
  const want = `${metric}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}} `;
  const line = text.split('\n').find((l) => l.startsWith(want));
  return line === undefined ? undefined : Number(line.slice(want.length));
}

describe.runIf(run)('kafkatrace agent', () => {
  let broker: MockBroker;
  let dir: string;
  let agent: ChildProcess | undefined;
  let stderr = '';
  let stdout = '';
  let port: number;
  const comm = `ktagent${randomBytes(3).toString('hex')}`;
  const topic = `agent-${randomBytes(3).toString('hex')}`;
  const partitions = randomInt(2, 5);
  let workload: string;
  const held: HeldBpf = emptyHeld();

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kt-agent-'));
    workload = join(dir, comm);
    copyFileSync(buildFixtures().workload, workload);
    broker = await startMockBroker({ brokers: 1, topics: { [topic]: partitions } });
    port = await freePort();
  });
  afterAll(async () => {
    if (agent && agent.exitCode === null) agent.kill('SIGKILL');
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const base = (): string => `http://127.0.0.1:${port}`;
  const metrics = async (): Promise<string> => (await fetch(`${base()}/metrics`)).text();
  const health = async (): Promise<{ status: number; body: Health }> => {
    const r = await fetch(`${base()}/healthz`);
    return { status: r.status, body: (await r.json()) as Health };
  };
  const stateOf = async (name: string) => (await health()).body.scripts.find((s) => s.name === name);
  const writeConfig = (text: string): void => writeFileSync(join(dir, 'agent.yaml'), text, { mode: 0o644 });
  const writeScript = (name: string, text: string): void => writeFileSync(join(dir, name), text, { mode: 0o644 });
  const calls = (n: number): void => {
    const w = spawnSync(workload, ['getppid', String(n)], { stdio: 'ignore' });
    expect(w.status).toBe(0);
  };
  const sysLabels = { cluster: 'c1', node: 'n1', script: 'sys', comm };
  const sample_ = async (metric: string, labels: Record<string, string>) => sample(await metrics(), metric, labels);
  /** Waits until the series reaches `value` (the decoding of Kafka traffic lags), then checks it stays there. */
  const settlesAt = async (metric: string, labels: Record<string, string>, value: number): Promise<void> => {
    await waitFor(`${metric} to reach ${value}`, async () => ((await sample_(metric, labels)) ?? -1) >= value || undefined, 20_000).catch(() => {});
    await new Promise((r) => setTimeout(r, 500));
    expect(await sample_(metric, labels)).toBe(value);
  };
  const sampleHeld = (): void => void (agent?.pid !== undefined && heldBpf(agent.pid, held));

  it('serves two scripts on one /metrics with the labels of the configuration', async () => {
    writeScript('sys.ktr', `tracepoint:syscalls:sys_enter_getppid /comm == "${comm}"/ { @calls[comm] = count(); printf("call\\n"); }\n`);
    writeConfig(
      [
        `listen: 127.0.0.1:${port}`,
        'labels: {cluster: c1, node: n1}',
        'scripts:',
        '  - name: sys',
        '    file: sys.ktr',
        '    print: true',
        '  - name: overview',
        '    tool: kafka-overview',
        '    labels: {team: streams}',
        '',
      ].join('\n'),
    );
    agent = spawn(process.execPath, [BIN, 'agent', '--config', join(dir, 'agent.yaml')], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    agent.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    agent.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    await waitFor('both scripts to run', async () => {
      try {
        const h = await health();
        return h.status === 200 && h.body.scripts.every((s) => s.state === 'running') ? h : undefined;
      } catch {
        return undefined;
      }
    });
    sampleHeld();

    const n1 = randomInt(10, 60);
    calls(n1);
    const records = randomInt(20, 200);
    await produceWithKcat({ bootstrap: broker.bootstrap, topic, count: records });
    const admin = kafkajsClient(broker.bootstrap).admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    await admin.disconnect();
    const logEnd = offsets.reduce((n, p) => n + Number(p.high), 0);
    expect(logEnd).toBe(records);

    await settlesAt('kafkatrace_sys_calls_total', sysLabels, n1);
    // sys prints (print: true), each line prefixed; kafka-overview prints each second, but not to the agent's log.
    await waitFor('the printed calls', async () => ((stdout.match(/^\[sys\] call$/gm)?.length ?? 0) >= n1 ? true : undefined));
    expect(stdout.match(/^\[sys\] call$/gm)?.length).toBe(n1);
    expect(stdout).not.toMatch(/^\[overview\]/m);
    // kafka-overview sees each Produce on both ends (kcat's and the broker's): twice the log's growth.
    await settlesAt('kafkatrace_overview_records_in', { cluster: 'c1', node: 'n1', team: 'streams', script: 'overview', topic }, 2 * logEnd);
    const text = await metrics();
    expect(sample(text, 'kafkatrace_agent_script_up', { cluster: 'c1', node: 'n1', script: 'sys' })).toBe(1);
    expect(sample(text, 'kafkatrace_agent_script_up', { cluster: 'c1', node: 'n1', team: 'streams', script: 'overview' })).toBe(1);
    expect(sample(text, 'kafkatrace_agent_kafka_exchanges_total', { cluster: 'c1', node: 'n1' })).toBeGreaterThan(0);
    expect(text).toMatch(/^process_resident_memory_bytes\{cluster="c1",node="n1"\} \d+/m);
    sampleHeld();

    // Reload: overview removed, sys2 added, sys unchanged.
    writeScript('sys2.ktr', `tracepoint:syscalls:sys_enter_getppid /comm == "${comm}"/ { @again[comm] = count(); }\n`);
    writeConfig([`listen: 127.0.0.1:${port}`, 'labels: {cluster: c1, node: n1}', 'scripts:', '  - {name: sys, file: sys.ktr, print: true}', '  - {name: sys2, file: sys2.ktr}', ''].join('\n'));
    agent.kill('SIGHUP');
    await waitFor('the reload', async () => {
      const h = await health();
      return h.body.scripts.map((s) => `${s.name}:${s.state}`).join() === 'sys:running,sys2:running' ? h : undefined;
    });
    sampleHeld();
    const n2 = randomInt(10, 60);
    calls(n2);
    await settlesAt('kafkatrace_sys_calls_total', sysLabels, n1 + n2);
    await settlesAt('kafkatrace_sys2_again_total', { cluster: 'c1', node: 'n1', script: 'sys2', comm }, n2);
    const after = await metrics();
    expect(after).not.toContain('script="overview"');
    // The last Kafka script gone, the capture is gone with it.
    expect(after).not.toContain('kafkatrace_agent_kafka_exchanges_total');
  });

  it('a second agent on the same address fails with one message and status 1', () => {
    const r = spawnSync(process.execPath, [BIN, 'agent', '--config', join(dir, 'agent.yaml')], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    expect({ code: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 1,
      stdout: '',
      stderr: `ERROR: cannot serve the agent's metrics on 127.0.0.1:${port}: the address is already in use (set listen in the configuration)\n`,
    });
  });

  it('keeps the running scripts when the reloaded configuration does not parse', async () => {
    writeConfig(`listen: 127.0.0.1:${port}\nscripts:\n  - {name: sys, file: sys.ktr\n`);
    agent!.kill('SIGHUP');
    await waitFor('the refusal', async () => (stderr.includes('the configuration was not reloaded') ? true : undefined));
    expect(stderr).toMatch(new RegExp(`the configuration was not reloaded, the running scripts are kept: ${join(dir, 'agent.yaml')}:\\d+:\\d+: ERROR: `));
    expect((await health()).body.scripts.map((s) => s.state)).toEqual(['running', 'running']);
  });

  it('retries a broken script with back-off while the other keeps serving, and releases what it held', async () => {
    const before = emptyHeld();
    if (agent!.pid !== undefined) heldBpf(agent!.pid, before);
    writeScript('sys2.ktr', 'tracepoint:syscalls:sys_enter_getppid { @again = count( }\n');
    writeConfig([`listen: 127.0.0.1:${port}`, 'labels: {cluster: c1, node: n1}', 'scripts:', '  - {name: sys, file: sys.ktr, print: true}', '  - {name: sys2, file: sys2.ktr}', ''].join('\n'));
    agent!.kill('SIGHUP');
    const failed = await waitFor('sys2 to fail', async () => {
      const s = await stateOf('sys2');
      return s?.state === 'failed' ? s : undefined;
    });
    expect(failed.reason).toMatch(new RegExp(`^${join(dir, 'sys2.ktr')}:1:\\d+: ERROR: `));
    expect(failed.retry_in_s).toBeGreaterThan(0);
    expect(failed.retry_in_s).toBeLessThanOrEqual(1);
    await waitFor('a retry', async () => ((await stateOf('sys2'))!.restarts >= 2 ? true : undefined), 10_000);
    const h = await health();
    expect(h.status).toBe(200);
    expect(h.body.scripts.find((s) => s.name === 'sys2')!.retry_in_s).toBeGreaterThan(1);
    expect(stderr).toMatch(/script sys2 failed: .*sys2\.ktr:1:\d+: ERROR: .*; retrying in 1 s\n/);
    expect(stderr).toMatch(/script sys2 failed: .*; retrying in 2 s\n/);
    const text = await metrics();
    expect(sample(text, 'kafkatrace_agent_script_up', { cluster: 'c1', node: 'n1', script: 'sys2' })).toBe(0);
    expect(sample(text, 'kafkatrace_agent_script_restarts_total', { cluster: 'c1', node: 'n1', script: 'sys2' })).toBeGreaterThanOrEqual(2);
    // What the old sys2 held is released; sys keeps counting from where it was.
    const now = heldBpf(agent!.pid!);
    const released = [...before.progs].filter((id) => !now.progs.has(id));
    expect(released.length).toBeGreaterThan(0);
    expect(await stillLoaded('prog', released)).toEqual([]);
    const previous = (await sample_('kafkatrace_sys_calls_total', sysLabels))!;
    const n3 = randomInt(10, 60);
    calls(n3);
    await settlesAt('kafkatrace_sys_calls_total', sysLabels, previous + n3);
  });

  it('stops on SIGTERM with status 0, leaving no BPF object behind', async () => {
    sampleHeld();
    const exited = new Promise<number | null>((resolve) => agent!.once('exit', (code) => resolve(code)));
    agent!.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr).not.toContain('internal error');
    expect(held.progs.size).toBeGreaterThan(0);
    expect(await stillLoaded('prog', held.progs)).toEqual([]);
    expect(await stillLoaded('map', held.maps)).toEqual([]);
    expect(await stillLoaded('link', held.links)).toEqual([]);
  });
});
