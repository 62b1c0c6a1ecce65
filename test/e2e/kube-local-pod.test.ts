// `kafkatrace kube run` end to end, with the pod run here: the fake API server acts as the kubelet and
// runs the Job's container command (the built CLI as `kafkatrace`, in a folder holding the
// ConfigMap's files), so what reaches the user's terminal is what kafkatrace printed tracing this
// kernel. It checks that the command line the Job carries is one kafkatrace runs as meant (options
// before `--`, the script by its ConfigMap name, a stdlib tool, its arguments) and that Ctrl-C
// reaches the pod's kafkatrace as SIGTERM, whose END and maps are still shown.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { kubeconfigFile, runKube, startFakeKube, type FakeKube } from '../helpers/fake-kube.js';
import { buildFixtures, canRun } from './runtime-helpers.js';

const TOKEN = 'tok-e2e';

describe.runIf(canRun())('kafkatrace kube run with the pod run here', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kt-kube-e2e-'));
  let fake: FakeKube | undefined;
  afterEach(async () => {
    await fake?.close();
    fake = undefined;
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function cluster(): Promise<{ f: FakeKube; cfg: string }> {
    fake = await startFakeKube({ tls: true, token: TOKEN, nodes: ['node-a'], pods: {}, play: { pendingPolls: 1, log: [], kubelet: true } });
    return { f: fake, cfg: kubeconfigFile(join(dir, 'kubeconfig'), fake.url, TOKEN, fake.cert) };
  }

  it('runs a script file with its arguments and passes its output and status through', async () => {
    const { f, cfg } = await cluster();
    const word = `w${randomBytes(4).toString('hex')}`;
    writeFileSync(join(dir, 'hello.ktr'), 'BEGIN { printf("hello %s, $(id) \\"q\\"\\n", str($1)); exit(); }\n');
    const r = await runKube(['kube', 'run', 'node/node-a', join(dir, 'hello.ktr'), word, '--kubeconfig', cfg]);
    expect(r.stdout).toBe(`Attaching 1 probe...\nhello ${word}, $(id) "q"\n\n\n`);
    expect(r.code).toBe(0);
    expect(f.container()?.exitCode).toBe(0);
    expect(f.jobs.size + f.configMaps.size).toBe(0);
  });

  it("a script's mistake comes back as kafkatrace reports it, named as the user named the file, with status 1", async () => {
    const { f, cfg } = await cluster();
    writeFileSync(join(dir, 'oops.ktr'), 'BEGIN { @x = cnt(); }\n');
    const r = await runKube(['kube', 'run', 'node/node-a', join(dir, 'oops.ktr'), '--kubeconfig', cfg]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^oops\.ktr:1:14: ERROR: unknown function 'cnt'\n/);
    expect(f.jobs.size + f.configMaps.size).toBe(0);
  });

  it('runs a stdlib tool with the options given for it', async () => {
    const { f, cfg } = await cluster();
    const r = await runKube(['kube', 'run', 'node/node-a', '--tool', 'syscount', '--duration', '700ms', '-f', 'json', '--kubeconfig', cfg]);
    expect(r.code).toBe(0);
    const records = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(records[0]).toEqual({ type: 'attached_probes', data: { probes: 3 } });
    expect(records.some((x) => x.type === 'map')).toBe(true);
    expect(f.jobs.size).toBe(0);
  });

  it("Ctrl-C stops the pod's kafkatrace, whose END and maps are still shown, and exits 0", async () => {
    const { f, cfg } = await cluster();
    const calls = 3 + (randomBytes(1)[0]! % 5);
    // The script counts this test's getppid calls, made once it has started.
    const comm = `ktk${randomBytes(3).toString('hex')}`;
    const workload = join(dir, comm);
    copyFileSync(buildFixtures().workload, workload);
    writeFileSync(join(dir, 'count.ktr'), `BEGIN { printf("started\\n"); } tracepoint:syscalls:sys_enter_getppid /comm == "${comm}"/ { @calls = count(); } END { printf("ended\\n"); }\n`);
    let signalled = false;
    const r = await runKube(['kube', 'run', 'node/node-a', join(dir, 'count.ktr'), '--kubeconfig', cfg], (out, child) => {
      if (signalled || !out.includes('started')) return;
      signalled = true;
      expect(spawnSync(workload, ['getppid', String(calls)], { stdio: 'ignore' }).status).toBe(0);
      child.kill('SIGINT');
    });
    expect(signalled).toBe(true);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`Attaching 3 probes...\nstarted\nended\n\n\n@calls: ${calls}\n`);
    expect(f.container()?.signalCode ?? f.container()?.exitCode).toBe(0);
    expect(f.jobs.size + f.configMaps.size).toBe(0);
  });
});
