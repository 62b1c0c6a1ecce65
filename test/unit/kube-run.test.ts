// `kafkatrace kube run` as a user runs it (the built CLI, a kubeconfig file) against a fake API server
// that records the requests and plays the pod's life: the log streams to stdout, the Job and the
// ConfigMap are gone at the end however the run ends, the exit status is the script's, and every
// failure is one line with status 1.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../helpers/cli.js';
import { kubeconfigFile, launch, runKube as kafkatrace, startFakeKube, type FakeKube, type FakeKubeOptions, type Recorded } from '../helpers/fake-kube.js';

const TOKEN = 'tok-3f8a9c';
const dir = mkdtempSync(join(tmpdir(), 'kt-kube-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fake: FakeKube | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

const kubeconfig = (server: string, ca?: string, name = 'kubeconfig') => kubeconfigFile(join(dir, name), server, TOKEN, ca);

const play = (over: Partial<FakeKubeOptions['play']> = {}): FakeKubeOptions['play'] => ({ pendingPolls: 2, log: [Buffer.from('Attaching 1 probe...\n')], exitCode: 0, ...over });

async function start(over: Partial<FakeKubeOptions> = {}): Promise<FakeKube> {
  fake = await startFakeKube({ tls: true, token: TOKEN, nodes: ['node-a'], pods: { 'shop/orders-7f9': 'node-b' }, play: play(), ...over });
  return fake;
}

const calls = (requests: Recorded[]) => requests.map((r) => `${r.method} ${r.path}`);

/** The resource and verb RBAC checks for a request. */
function rbac(r: Recorded): string {
  const m = /^\/apis?\/(?:batch\/)?v1\/(?:namespaces\/[^/]+\/)?([a-z]+)(?:\/([^/]+))?(?:\/(log))?$/.exec(r.path)!;
  const resource = (m[1] === 'jobs' ? 'jobs.batch' : m[1]!) + (m[3] ? '/log' : '');
  const verb = r.method === 'POST' ? 'create' : r.method === 'DELETE' ? 'delete' : m[2] ? 'get' : 'list';
  return `${resource}:${verb}`;
}

function granted(): Set<string> {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kube', 'rbac.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[] });
  return new Set(docs.flatMap((d) => (d.rules ?? []).flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${r.apiGroups[0] ? `${res}.${r.apiGroups[0]}` : res}:${v}`)))));
}

describe('kafkatrace kube run against a fake API server', () => {
  it('runs a script on a node over TLS: streams the log, deletes the Job and the ConfigMap, exits with the status of the script', async () => {
    const f = await start({ play: play({ log: [Buffer.from('Attaching 1 probe...\n@bytes[caf'), Buffer.from([0xc3]), Buffer.from([0xa9, 0x0a]), Buffer.from('done\n')], exitCode: 0 }) });
    const script = `// a "quoted" 'script' with $(id) and \`uname\`\nBEGIN { printf("%s\\n", "$(rm -rf /)"); }\n\\\n`;
    writeFileSync(join(dir, 'bytes.ktr'), script);
    const r = await kafkatrace(['kube', 'run', 'node/node-a', join(dir, 'bytes.ktr'), 'orders', '--kubeconfig', kubeconfig(f.url, f.cert)]);
    expect(r.stdout).toBe('Attaching 1 probe...\n@bytes[café\ndone\n');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^kafkatrace kube: Job kafkatrace\/kafkatrace-[0-9a-f]{10} on node node-a: waiting for its pod\n$/);
    const job = f.requests.find((q) => q.method === 'POST' && q.path.endsWith('/jobs'))!;
    const name = (job.body as { metadata: { name: string } }).metadata.name;
    expect(calls(f.requests)).toEqual([
      'GET /api/v1/nodes/node-a',
      'POST /apis/batch/v1/namespaces/kafkatrace/jobs',
      'POST /api/v1/namespaces/kafkatrace/configmaps',
      'GET /api/v1/namespaces/kafkatrace/pods',
      'GET /api/v1/namespaces/kafkatrace/pods',
      'GET /api/v1/namespaces/kafkatrace/pods',
      `GET /api/v1/namespaces/kafkatrace/pods/${name}-x7k2p/log`,
      `GET /api/v1/namespaces/kafkatrace/pods/${name}-x7k2p`,
      `GET /apis/batch/v1/namespaces/kafkatrace/jobs/${name}`,
      `DELETE /apis/batch/v1/namespaces/kafkatrace/jobs/${name}`,
      `DELETE /api/v1/namespaces/kafkatrace/configmaps/${name}`,
    ]);
    expect(f.requests.every((q) => q.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(f.requests.find((q) => q.path.endsWith('/log'))!.query.get('follow')).toBe('true');
    // Deleting the Job takes its pod along.
    expect(f.requests.find((q) => q.method === 'DELETE' && q.path.includes('/jobs/'))!.body).toMatchObject({ propagationPolicy: 'Foreground' });
    expect(f.jobs.size).toBe(0);
    expect(f.configMaps.size).toBe(0);
    // The script went into the ConfigMap byte for byte, and into nothing else.
    const cm = f.requests.find((q) => q.method === 'POST' && q.path.endsWith('/configmaps'))!.body as { data: Record<string, string> };
    expect(cm.data).toEqual({ 'bytes.ktr': script });
    for (const q of f.requests.filter((q) => !q.path.endsWith('/configmaps'))) expect(q.raw + q.path).not.toContain('rm -rf');
    const command = (job.body as { spec: { template: { spec: { containers: { command: string[] }[] } } } }).spec.template.spec.containers[0]!.command;
    expect(command).toEqual(['kafkatrace', '--', 'bytes.ktr', 'orders']);
    // Every request is one that deploy/kube/rbac.yaml grants.
    const grants = granted();
    expect(f.requests.map(rbac).filter((g) => !grants.has(g))).toEqual([]);
  });

  it("finds a pod's node, and passes a failing script's output and exit status through", async () => {
    const f = await start({ tls: false, play: play({ log: [Buffer.from('lag.ktr:2:5: ERROR: unknown map function "cnt"\n')], exitCode: 3 }) });
    const r = await kafkatrace(['kube', 'run', '--pod', 'shop/orders-7f9', '-e', 'kafka:fetch { @ = cnt(); }', '--kubeconfig', kubeconfig(f.url)]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('lag.ktr:2:5: ERROR: unknown map function "cnt"\n');
    expect(calls(f.requests).slice(0, 2)).toEqual(['GET /api/v1/namespaces/shop/pods/orders-7f9', 'POST /apis/batch/v1/namespaces/kafkatrace/jobs']);
    const job = f.requests[1]!.body as { spec: { template: { spec: { nodeName: string } } } };
    expect(job.spec.template.spec.nodeName).toBe('node-b');
    expect(f.jobs.size + f.configMaps.size).toBe(0);
  });

  it('on Ctrl-C stops the pod, prints what it printed as it stopped, cleans up and exits 0', async () => {
    const f = await start({ play: play({ log: [Buffer.from('Attaching 2 probes...\n')], exitCode: undefined, onStop: [Buffer.from('\n@lag[orders, 0]: 17\n')] }) });
    let signalled = false;
    const r = await kafkatrace(['kube', 'run', '--node', 'node-a', '--tool', 'kafka-lag', '--kubeconfig', kubeconfig(f.url, f.cert)], (out, child) => {
      if (!signalled && out.includes('Attaching')) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    expect(signalled).toBe(true);
    expect(r).toMatchObject({ code: 0, stdout: 'Attaching 2 probes...\n\n@lag[orders, 0]: 17\n' });
    expect(f.jobs.size).toBe(0);
    // A stdlib tool runs from the image: no ConfigMap.
    expect(calls(f.requests).filter((c) => c.includes('configmaps'))).toEqual([]);
    expect(calls(f.requests).filter((c) => c.startsWith('DELETE'))).toHaveLength(1);
  });

  it('a second Ctrl-C leaves a pod that does not stop, and still cleans up', async () => {
    const f = await start({ play: play({ log: [Buffer.from('Attaching 1 probe...\n')], exitCode: undefined, onStop: [Buffer.from('stopping\n')], ignoresStop: true }) });
    let signals = 0;
    const r = await kafkatrace(['kube', 'run', 'node/node-a', '-e', 'BEGIN {}', '--kubeconfig', kubeconfig(f.url, f.cert)], (out, child) => {
      if ((signals === 0 && out.includes('Attaching')) || (signals === 1 && out.includes('stopping'))) {
        signals++;
        child.kill('SIGINT');
      }
    });
    expect(signals).toBe(2);
    expect(r).toMatchObject({ code: 0, stdout: 'Attaching 1 probe...\nstopping\n' });
    expect(f.jobs.size + f.configMaps.size).toBe(0);
  });

  it('on Ctrl-C while the pod starts, deletes what it made and exits 0', async () => {
    const f = await start({ play: play({ stuck: undefined, pendingPolls: 1000 }) });
    const { child, done } = launch(['kube', 'run', 'node/node-a', '-e', 'BEGIN { exit(); }', '--kubeconfig', kubeconfig(f.url, f.cert)]);
    let signalled = false;
    const poll = setInterval(() => {
      if (!signalled && f.requests.filter((q) => q.path.endsWith('/pods')).length >= 2) {
        signalled = true;
        child.kill('SIGINT');
      }
    }, 20);
    const r = await done;
    clearInterval(poll);
    expect(signalled).toBe(true);
    expect(r.code).toBe(0);
    expect(f.jobs.size + f.configMaps.size).toBe(0);
    expect(calls(f.requests).filter((c) => c.startsWith('DELETE'))).toHaveLength(2);
  });

  it('when the reader of the output goes away, stops, cleans up and exits 141 silently, as the CLI does', async () => {
    const f = await start({ play: play({ log: Array.from({ length: 40 }, (_, i) => Buffer.from(`line ${i}\n`)), exitCode: undefined }) });
    let closed = false;
    const r = await kafkatrace(['kube', 'run', 'node/node-a', '-e', 'BEGIN {}', '--kubeconfig', kubeconfig(f.url, f.cert)], (out, child) => {
      if (!closed && out.includes('line 0')) {
        closed = true;
        child.stdout!.destroy();
      }
    });
    expect(closed).toBe(true);
    expect(r.code).toBe(141);
    expect(r.stderr).toMatch(/^kafkatrace kube: Job kafkatrace\/kafkatrace-[0-9a-f]{10} on node node-a: waiting for its pod\n$/);
    expect(f.jobs.size + f.configMaps.size).toBe(0);
  });

  it('a Job that Kubernetes stopped at its --timeout is one line and status 1, after its log', async () => {
    const f = await start({ play: play({ log: [Buffer.from('Attaching 1 probe...\n')], deadline: true }) });
    const r = await kafkatrace(['kube', 'run', 'node/node-a', '-e', 'BEGIN {}', '--timeout', '90s', '--kubeconfig', kubeconfig(f.url, f.cert)]);
    expect(r).toMatchObject({ code: 1, stdout: 'Attaching 1 probe...\n' });
    expect(r.stderr.split('\n').at(-2)).toMatch(/^ERROR: Job kafkatrace\/kafkatrace-[0-9a-f]{10} reached its --timeout \(activeDeadlineSeconds: 90\) and Kubernetes stopped it$/);
    expect((f.requests[1]!.body as { spec: { activeDeadlineSeconds: number } }).spec.activeDeadlineSeconds).toBe(90);
    expect(f.jobs.size + f.configMaps.size).toBe(0);
  });

  it('a pod that Pod Security refuses: the warning, then one line and status 1, not a wait to the deadline', async () => {
    const f = await start({ play: play({ podSecurity: true }) });
    const r = await kafkatrace(['kube', 'run', 'node/node-a', '-e', 'BEGIN {}', '-n', 'default', '--kubeconfig', kubeconfig(f.url, f.cert)]);
    expect(r).toMatchObject({ code: 1, stdout: '' });
    const lines = r.stderr.split('\n');
    expect(lines[0]).toBe('kafkatrace kube: warning from the API server: would violate PodSecurity "baseline:latest": host namespaces (hostPID=true)');
    expect(lines.at(-2)).toMatch(/^ERROR: Job default\/kafkatrace-[0-9a-f]{10} cannot create its pod: Error creating: pods "kafkatrace-[0-9a-f]{10}-x7k2p" is forbidden: violates PodSecurity "baseline:latest": host namespaces \(hostPID=true\)$/);
    expect(f.jobs.size + f.configMaps.size).toBe(0);
    const grants = granted();
    expect(f.requests.map(rbac).filter((g) => !grants.has(g))).toEqual([]);
  });

  it('a container that did not start says why, with its status', async () => {
    const message = 'failed to create containerd task: exec: "kafkatrace": executable file not found in $PATH\x1b[2J';
    const f = await start({ play: play({ log: [], exitCode: 128, ended: { reason: 'StartError', message } }) });
    const r = await kafkatrace(['kube', 'run', 'node/node-a', '-e', 'BEGIN {}', '--kubeconfig', kubeconfig(f.url, f.cert)]);
    expect(r).toMatchObject({ code: 128, stdout: '' });
    expect(r.stderr.split('\n').at(-2)).toMatch(/^kafkatrace kube: pod kafkatrace\/kafkatrace-[0-9a-f]{10}-x7k2p ended: StartError: failed to create containerd task: exec: "kafkatrace": executable file not found in \$PATH\\x1b\[2J$/);
    expect(f.jobs.size + f.configMaps.size).toBe(0);
  });

  it('a pod that cannot start is one line, status 1, and nothing is left', async () => {
    const f = await start({ play: play({ stuck: 'ImagePullBackOff' }) });
    const r = await kafkatrace(['kube', 'run', 'node/node-a', '-e', 'BEGIN {}', '--image', 'kafkatrace:nope', '--kubeconfig', kubeconfig(f.url, f.cert)]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').at(-2)).toMatch(/^ERROR: pod kafkatrace\/kafkatrace-[0-9a-f]{10}-x7k2p cannot start: ImagePullBackOff: Back-off pulling image "kafkatrace:nope"$/);
    expect(f.jobs.size + f.configMaps.size).toBe(0);
  });

  it('no such pod or node, forbidden, untrusted certificate, server down: one line and status 1', async () => {
    const f = await start({ forbid: ['POST jobs'] });
    const cfg = kubeconfig(f.url, f.cert);
    expect(await kafkatrace(['kube', 'run', 'pod/shop/nope', '-e', 'BEGIN {}', '--kubeconfig', cfg])).toEqual({ code: 1, stdout: '', stderr: 'ERROR: no pod named shop/nope\n' });
    expect(await kafkatrace(['kube', 'run', 'node/node-z', '-e', 'BEGIN {}', '--kubeconfig', cfg])).toEqual({ code: 1, stdout: '', stderr: 'ERROR: no node named node-z\n' });
    const forbidden = await kafkatrace(['kube', 'run', 'node/node-a', '-e', 'BEGIN {}', '--kubeconfig', cfg]);
    expect(forbidden.stderr).toMatch(/^ERROR: cannot create Job kafkatrace\/kafkatrace-[0-9a-f]{10}: jobs\.batch is forbidden: User "alice" cannot create resource "jobs" in API group "batch" \(deploy\/kube\/rbac\.yaml grants what kafkatrace kube needs\)\n$/);
    expect(forbidden.code).toBe(1);
    expect(f.jobs.size + f.configMaps.size).toBe(0);
    const untrusted = await kafkatrace(['kube', 'run', 'node/node-a', '-e', 'BEGIN {}', '--kubeconfig', kubeconfig(f.url, undefined, 'no-ca')]);
    expect(untrusted).toMatchObject({ code: 1, stdout: '' });
    expect(untrusted.stderr).toMatch(/^ERROR: cannot reach the Kubernetes API server at https:\/\/127\.0\.0\.1:\d+\/: self[- ]signed certificate\n$/);
    const url = f.url;
    await f.close();
    fake = undefined;
    expect(await kafkatrace(['kube', 'run', 'node/node-a', '-e', 'BEGIN {}', '--kubeconfig', cfg])).toEqual({ code: 1, stdout: '', stderr: `ERROR: cannot reach the Kubernetes API server at ${url}/: connection refused\n` });
  });

  it('a wrong token is the server\'s refusal in one line', async () => {
    const f = await start();
    const cfg = kubeconfig(f.url, f.cert);
    writeFileSync(cfg, readFileSync(cfg, 'utf8').replace(TOKEN, 'wrong'));
    expect(await kafkatrace(['kube', 'run', 'node/node-a', '-e', 'BEGIN {}', '--kubeconfig', cfg])).toEqual({ code: 1, stdout: '', stderr: 'ERROR: cannot read node node-a: Unauthorized\n' });
  });
});
