// The agent as deploy/kubernetes/daemonset.yaml runs it, without a cluster: the ConfigMap's
// configuration (listening on loopback here), NODE_NAME in the environment, the capabilities the
// manifest adds and no others, no new privileges, a read-only root filesystem and read-only tracefs,
// sysfs and cgroupfs (in a mount namespace of its own), and the compile cache on a fresh sticky
// tmpfs, as the init container leaves the pod's /tmp. Truth is the mock broker's log end offsets.
// Without BPF or PERFMON the agent refuses to start, with one message; without SYS_PTRACE or
// DAC_READ_SEARCH the capture cannot read back what another user's broker sends with sendfile(2).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { BATCH_HEADER } from '../../src/kafka/capture/files.js';
import { emptyHeld, heldBpf, stillLoaded } from '../helpers/bpf-held.js';
import { BIN, ROOT } from '../helpers/cli.js';
import { freePort, waitForValue } from '../helpers/cli-trace.js';
import { kafkajsClient, produceWithKcat } from '../helpers/kafka-clients.js';
import { canRun } from './runtime-helpers.js';

const run = canRun();

type Obj = Record<string, any>;
const manifest = (file: string): Obj => parse(readFileSync(join(ROOT, 'deploy', 'kubernetes', file), 'utf8')) as Obj;
const agentContainer = (): Obj => manifest('daemonset.yaml')['spec']['template']['spec']['containers'].find((c: Obj) => c['name'] === 'agent');

/** CAP_* bit numbers (linux/capability.h) of the capabilities the manifest may name. */
const CAP_BITS: Record<string, number> = { DAC_READ_SEARCH: 2, SYS_PTRACE: 19, SYS_ADMIN: 21, SYS_RESOURCE: 24, PERFMON: 38, BPF: 39 };

/**
 * Runs the agent in a mount namespace of its own, as the pod would: / and the kernel's filesystems
 * read-only (bind remounts: they change this namespace's mounts only), `tmp` a fresh sticky tmpfs.
 */
function podAgent(config: string, tmp: string, caps: string[], env: Record<string, string>): ChildProcess {
  const script = [
    'set -e',
    'mount -t tmpfs -o mode=1777 tmpfs "$KT_POD_TMP"',
    'for m in / /sys /sys/kernel/tracing /sys/fs/cgroup; do mount -o remount,bind,ro "$m"; done',
    `exec setpriv --bounding-set -all,${caps.map((c) => `+${c.toLowerCase()}`).join(',')} --inh-caps -all --no-new-privs -- "$KT_NODE" "$KT_BIN" agent --config "$KT_CONFIG"`,
  ].join('\n');
  return spawn('unshare', ['--mount', '--propagation', 'private', 'bash', '-c', script], {
    cwd: ROOT,
    // TMPDIR: the pod's /tmp is this tmpfs (here / is read-only, /tmp with it).
    env: { PATH: process.env['PATH']!, NO_COLOR: '1', TMPDIR: tmp, KT_POD_TMP: tmp, KT_NODE: process.execPath, KT_BIN: BIN, KT_CONFIG: config, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

describe.runIf(run)('the agent as the DaemonSet runs it', () => {
  let broker: MockBroker;
  let dir: string;
  let port: number;
  let agent: ChildProcess | undefined;
  let stderr = '';
  const topic = `pod-${randomBytes(3).toString('hex')}`;
  const node = `node-${randomBytes(3).toString('hex')}`;
  const caps = (agentContainer()['securityContext']['capabilities']['add'] as string[]).slice();
  const envOf = (tmp: string): Record<string, string> => {
    const env: Record<string, string> = {};
    for (const e of agentContainer()['env'] as Obj[]) {
      if (e['valueFrom']?.['fieldRef']?.['fieldPath'] === 'spec.nodeName') env[e['name']] = node;
      else env[e['name']] = String(e['value']).replace(/^\/tmp(?=\/|$)/, tmp);
    }
    return env;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kt-pod-'));
    mkdirSync(join(dir, 'tmp'));
    port = await freePort();
    // The pod listens on 0.0.0.0 in its own network; here, the machine's loopback.
    const text = (manifest('configmap.yaml')['data']['agent.yaml'] as string).replace(/^listen: 0\.0\.0\.0:9464$/m, `listen: 127.0.0.1:${port}`);
    expect(text).toContain(`listen: 127.0.0.1:${port}`);
    writeFileSync(join(dir, 'agent.yaml'), text, { mode: 0o444 });
    broker = await startMockBroker({ brokers: 1, topics: { [topic]: randomInt(2, 6) } });
  });
  afterAll(async () => {
    if (agent && agent.exitCode === null) agent.kill('SIGKILL');
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the five Kafka tools, labelled with the cluster and the node, and counts what was produced', { timeout: 120_000 }, async () => {
    const held = emptyHeld();
    agent = podAgent(join(dir, 'agent.yaml'), join(dir, 'tmp'), caps, envOf(join(dir, 'tmp')));
    agent.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const base = `http://127.0.0.1:${port}`;
    await waitForValue(
      'every script to run',
      async () => {
        try {
          const h = await fetch(`${base}/healthz`);
          const body = (await h.json()) as { scripts: { state: string }[] };
          return h.status === 200 && body.scripts.length === 5 && body.scripts.every((s) => s.state === 'running') ? true : undefined;
        } catch {
          return agent!.exitCode === null ? undefined : Promise.reject(new Error(`the agent exited ${agent!.exitCode}: ${stderr}`));
        }
      },
      60_000,
    ).catch((e: Error) => Promise.reject(new Error(`${e.message}; the agent said: ${stderr}`)));
    heldBpf(agent.pid!, held);

    // The process has the manifest's capabilities, no others, and no way to gain more.
    const status = readFileSync(`/proc/${agent.pid}/status`, 'utf8');
    const want = caps.reduce((m, c) => m | (1n << BigInt(CAP_BITS[c]!)), 0n);
    expect(BigInt(`0x${/^CapEff:\s*(\w+)$/m.exec(status)![1]}`)).toBe(want);
    expect(BigInt(`0x${/^CapBnd:\s*(\w+)$/m.exec(status)![1]}`)).toBe(want);
    expect(/^NoNewPrivs:\s*(\d)$/m.exec(status)![1]).toBe('1');

    const records = randomInt(20, 300);
    await produceWithKcat({ bootstrap: broker.bootstrap, topic, count: records });
    const admin = kafkajsClient(broker.bootstrap).admin();
    await admin.connect();
    const logEnd = (await admin.fetchTopicOffsets(topic)).reduce((n, p) => n + Number(p.high), 0);
    await admin.disconnect();
    expect(logEnd).toBe(records);

    // kcat's and the broker's side both run here: each Produce is seen twice.
    const series = `kafkatrace_overview_records_in{cluster="production",node="${node}",script="overview",topic="${topic}"} `;
    const value = async (): Promise<number | undefined> => {
      const line = (await (await fetch(`${base}/metrics`)).text()).split('\n').find((l) => l.startsWith(series));
      return line === undefined ? undefined : Number(line.slice(series.length));
    };
    await waitForValue('the records to be counted', async () => ((await value()) ?? 0) >= 2 * logEnd || undefined, 20_000).catch(() => undefined);
    expect(await value()).toBe(2 * logEnd);
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const script of ['overview', 'lag', 'rebalances', 'latency', 'errors']) {
      expect(text).toContain(`kafkatrace_agent_script_up{cluster="production",node="${node}",script="${script}"} 1\n`);
    }
    heldBpf(agent.pid!, held);

    // The cache on the sticky tmpfs was used: nothing said about it.
    expect(stderr).not.toContain('not using the cache');
    const exited = new Promise<number | null>((resolve) => agent!.once('exit', (code) => resolve(code)));
    agent.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(held.progs.size).toBeGreaterThan(0);
    expect(await stillLoaded('prog', held.progs)).toEqual([]);
    expect(await stillLoaded('map', held.maps)).toEqual([]);
    expect(await stillLoaded('link', held.links)).toEqual([]);
  });

  it("reads back a segment another user's broker holds, as sendfile data is read, only with SYS_PTRACE and DAC_READ_SEARCH", async () => {
    // A "broker" of another user holding its segment (mode 0600) open as fd 7.
    const segments = mkdtempSync(join(tmpdir(), 'kt-segments-'));
    chmodSync(segments, 0o755);
    const segment = join(segments, '00000000000000000000.log');
    const content = randomBytes(64).toString('hex');
    writeFileSync(segment, content, { mode: 0o600 });
    chownSync(segment, 65534, 65534);
    const holder = spawn('setpriv', ['--reuid', '65534', '--regid', '65534', '--clear-groups', '--', 'sh', '-c', `exec 7<"$0"; exec sleep 60`, segment], { stdio: 'ignore' });
    try {
      await waitForValue('the segment to be open', () => {
        try {
          return readlinkSync(`/proc/${holder.pid}/fd/7`) === segment || undefined;
        } catch {
          return undefined;
        }
      });
      const st = statSync(segment, { bigint: true });
      // The capture's own reader (src/kafka/capture/files.ts), as built, with only `with`.
      const files = join(ROOT, 'dist', 'src', 'kafka', 'capture', 'files.js');
      const readBack = (withCaps: string[]): string => {
        const code = `const { ProcFiles } = await import(${JSON.stringify(pathToFileURL(files).href)});
          const f = new ProcFiles();
          const b = f.headers(${holder.pid}, 7, ${Number(st.dev)}, ${st.ino}n, 0, ${content.length});
          f.close();
          // The first slot: a batch header's bytes, then how many were read.
          process.stdout.write(b === undefined ? 'unread' : Buffer.from(b.subarray(0, b[${BATCH_HEADER}])).toString());`;
        const caps = withCaps.map((c) => `+${c.toLowerCase()}`).join(',');
        const r = spawnSync('setpriv', ['--bounding-set', `-all,${caps}`, '--inh-caps', '-all', '--no-new-privs', '--', process.execPath, '--input-type=module', '-e', code], { encoding: 'utf8' });
        expect(r.stderr).toBe('');
        return r.stdout;
      };
      expect(readBack(caps)).toBe(content.slice(0, BATCH_HEADER));
      expect(readBack(caps.filter((c) => c !== 'SYS_PTRACE'))).toBe('unread');
      expect(readBack(caps.filter((c) => c !== 'DAC_READ_SEARCH'))).toBe('unread');
    } finally {
      holder.kill('SIGKILL');
      rmSync(segments, { recursive: true, force: true });
    }
  });

  it('refuses to start without PERFMON or BPF, in one line and status 1', async () => {
    for (const missing of ['PERFMON', 'BPF']) {
      const child = podAgent(join(dir, 'agent.yaml'), join(dir, 'tmp'), caps.filter((c) => c !== missing), envOf(join(dir, 'tmp')));
      let err = '';
      child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
      expect({ missing, code, err }).toEqual({ missing, code: 1, err: 'ERROR: kafkatrace needs root (or CAP_BPF and CAP_PERFMON) to load BPF programs\n' });
    }
    // The namespace went with its process: the host's root is still writable.
    expect(spawnSync('test', ['-w', '/']).status).toBe(0);
  });
});
