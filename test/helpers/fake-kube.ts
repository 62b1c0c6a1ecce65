// A fake Kubernetes API server for `kafkatrace kube`: it records every request and plays the life of
// the Job's pod (pending, running with a log, then ended with an exit code, or stopped when its Job
// is deleted), over https with a certificate made by openssl, or plain http. As a kubelet, it runs
// the pod's container here: its command, with the built CLI as `kafkatrace`, among its ConfigMap's files.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, ROOT } from './cli.js';

export interface Recorded {
  method: string;
  path: string;
  query: URLSearchParams;
  authorization?: string;
  body?: unknown;
  /** The body's bytes as sent. */
  raw: string;
}

export interface PodPlay {
  /** Pod-list answers that show the pod waiting before it runs. */
  pendingPolls: number;
  /** What the pod writes to its log, piece by piece (pieces may split a character). */
  log: Buffer[];
  /** The container's exit code when it ends by itself; undefined: it runs until its Job is deleted. */
  exitCode?: number;
  /** The terminated state's reason and message when it is not a script's own exit (StartError, OOMKilled). */
  ended?: { reason: string; message: string };
  /** What it writes when stopped (its END and maps). */
  onStop?: Buffer[];
  /** It goes on running and writing after its Job is deleted (a stop that hangs). */
  ignoresStop?: boolean;
  /** The container really runs (as a kubelet would run it); its log is what it prints, its exit code its own. */
  kubelet?: boolean;
  /** A waiting reason the container is stuck in (ImagePullBackOff). */
  stuck?: string;
  /** After the log, the Job reaches its deadline: Kubernetes deletes the pod and marks the Job failed. */
  deadline?: boolean;
  /** Pod Security refuses the pod: the Job creation answers with a warning, and no pod ever comes. */
  podSecurity?: boolean;
}

export interface FakeKubeOptions {
  tls: boolean;
  token: string;
  nodes: string[];
  /** Pods that exist: namespace/name → node. */
  pods: Record<string, string>;
  play: PodPlay;
  /** Requests answered 403 Forbidden: `METHOD resource` (e.g. `POST jobs`). */
  forbid?: string[];
}

export interface FakeKube {
  url: string;
  /** PEM of the server's certificate (for a kubeconfig's certificate-authority-data). */
  cert?: string;
  requests: Recorded[];
  /** Namespace/name of the objects that exist now. */
  jobs: Set<string>;
  configMaps: Map<string, { data: Record<string, string> }>;
  /** As a kubelet: the container's process once started. */
  container(): ChildProcess | undefined;
  close(): Promise<void>;
}

interface JobBody {
  metadata: { name: string };
  spec: { template: { spec: { containers: { command: string[]; workingDir?: string }[] } } };
}

/** A container run here: what it printed so far, and whether it has ended. */
interface Local {
  child: ChildProcess;
  dir?: string;
  printed: Buffer[];
  ended: boolean;
  listeners: Set<() => void>;
}

/** A self-signed certificate for 127.0.0.1, made by openssl in a temporary directory. */
export function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'kt-fake-kube-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=fake-kube', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function status(res: http.ServerResponse, code: number, reason: string, message: string): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message, code }));
}

function json(res: http.ServerResponse, body: unknown, code = 200): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A kubeconfig at `file` for the fake: its server, a bearer token, and the CA that signed it when it is https. */
export function kubeconfigFile(file: string, server: string, token: string, ca?: string): string {
  const cluster = ca ? { server, 'certificate-authority-data': Buffer.from(ca).toString('base64') } : { server };
  writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'Config', 'current-context': 'ctx', clusters: [{ name: 'c', cluster }], users: [{ name: 'u', user: { token } }], contexts: [{ name: 'ctx', context: { cluster: 'c', user: 'u', namespace: 'kafkatrace' } }] }));
  chmodSync(file, 0o600);
  return file;
}

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the CLI without blocking this process, which serves the fake; `whenOut` acts on its output as it comes. */
export function launch(args: string[], whenOut?: (stdout: string, child: ChildProcess) => void): { child: ChildProcess; done: Promise<CliRun> } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, NO_COLOR: '1', KUBECONFIG: '' } });
  const done = new Promise<CliRun>((resolve) => {
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
      whenOut?.(stdout, child);
    });
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
  return { child, done };
}

/** Runs `kafkatrace ARGS` to its end (see launch). */
export function runKube(args: string[], whenOut?: (stdout: string, child: ChildProcess) => void): Promise<CliRun> {
  return launch(args, whenOut).done;
}

export async function startFakeKube(opts: FakeKubeOptions): Promise<FakeKube> {
  const requests: Recorded[] = [];
  const jobs = new Set<string>();
  const configMaps = new Map<string, { data: Record<string, string> }>();
  let pod: { ns: string; name: string; job: string; polls: number; state: 'waiting' | 'running' | 'terminated'; exitCode?: number; stop: () => void; stopped: Promise<void>; gone?: boolean } | undefined;
  const sockets = new Set<import('node:net').Socket>();
  let jobBody: JobBody | undefined;
  let local: Local | undefined;

  /** Runs the Job's container here, its working directory holding the ConfigMap's files as its volume would. */
  function runContainer(): void {
    const p = pod!;
    const c = jobBody!.spec.template.spec.containers[0]!;
    if (c.command[0] !== 'kafkatrace') throw new Error(`the container runs ${c.command[0]}, not kafkatrace`);
    let cwd = ROOT;
    let dir: string | undefined;
    if (c.workingDir !== undefined) {
      dir = cwd = mkdtempSync(join(tmpdir(), 'kt-fake-pod-'));
      for (const [key, text] of Object.entries(configMaps.get(`${p.ns}/${p.job}`)?.data ?? {})) writeFileSync(join(dir, key), text);
    }
    const child = spawn(process.execPath, [BIN, ...c.command.slice(1)], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const l: Local = { child, dir, printed: [], ended: false, listeners: new Set() };
    const printed = (chunk: Buffer): void => {
      l.printed.push(chunk);
      for (const f of l.listeners) f();
    };
    child.stdout!.on('data', printed);
    child.stderr!.on('data', printed);
    child.on('close', (code, signal) => {
      p.exitCode = code ?? 128 + constants.signals[signal!];
      p.state = 'terminated';
      l.ended = true;
      if (dir) rmSync(dir, { recursive: true, force: true });
      for (const f of l.listeners) f();
    });
    local = l;
  }

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => void answer(req, res, Buffer.concat(chunks).toString('utf8')));
  };

  async function answer(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    let body: unknown;
    try {
      body = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      body = undefined;
    }
    const method = req.method ?? 'GET';
    requests.push({ method, path: url.pathname, query: url.searchParams, authorization: req.headers.authorization, body, raw });
    if (req.headers.authorization !== `Bearer ${opts.token}`) return status(res, 401, 'Unauthorized', 'Unauthorized');
    const p = url.pathname;
    let m: RegExpExecArray | null;
    const resource = /\/(nodes|pods|jobs|configmaps)(\/|$)/.exec(p)?.[1] ?? '';
    if (opts.forbid?.includes(`${method} ${resource}`)) {
      return status(res, 403, 'Forbidden', `${resource === 'jobs' ? 'jobs.batch' : resource} is forbidden: User "alice" cannot ${method === 'POST' ? 'create' : method.toLowerCase()} resource "${resource}" in API group "${resource === 'jobs' ? 'batch' : ''}"`);
    }
    if ((m = /^\/api\/v1\/nodes\/([^/]+)$/.exec(p)) && method === 'GET') {
      return opts.nodes.includes(m[1]!) ? json(res, { kind: 'Node', metadata: { name: m[1] } }) : status(res, 404, 'NotFound', `nodes "${m[1]}" not found`);
    }
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs$/.exec(p)) && method === 'POST') {
      const job = body as JobBody;
      jobBody = job;
      jobs.add(`${m[1]}/${job.metadata.name}`);
      let stop!: () => void;
      const stopped = new Promise<void>((resolve) => (stop = resolve));
      pod = { ns: m[1]!, name: `${job.metadata.name}-x7k2p`, job: job.metadata.name, polls: 0, state: 'waiting', stop: () => (local ? local.child.kill('SIGTERM') : stop()), stopped };
      if (opts.play.podSecurity) res.setHeader('warning', `299 - "would violate PodSecurity \\"baseline:latest\\": host namespaces (hostPID=true)"`);
      return json(res, { ...job, metadata: { ...job.metadata, uid: '0f3c9a5e-1d2b-4c6d-8e9f-a0b1c2d3e4f5' } }, 201);
    }
    if ((m = /^\/apis\/batch\/v1\/namespaces\/([^/]+)\/jobs\/([^/]+)$/.exec(p))) {
      const key = `${m[1]}/${m[2]}`;
      const conditions = pod?.gone ? [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' }] : [];
      if (method === 'GET') return jobs.has(key) ? json(res, { kind: 'Job', metadata: { name: m[2] }, status: { conditions } }) : status(res, 404, 'NotFound', `jobs.batch "${m[2]}" not found`);
      if (method === 'DELETE') {
        if (!jobs.delete(key)) return status(res, 404, 'NotFound', `jobs.batch "${m[2]}" not found`);
        pod?.stop?.();
        return json(res, { kind: 'Status', status: 'Success' });
      }
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps$/.exec(p)) && method === 'POST') {
      const cm = body as { metadata: { name: string }; data: Record<string, string> };
      configMaps.set(`${m[1]}/${cm.metadata.name}`, { data: cm.data });
      return json(res, cm, 201);
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/configmaps\/([^/]+)$/.exec(p)) && method === 'DELETE') {
      return configMaps.delete(`${m[1]}/${m[2]}`) ? json(res, { kind: 'Status', status: 'Success' }) : status(res, 404, 'NotFound', `configmaps "${m[2]}" not found`);
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods$/.exec(p)) && method === 'GET') {
      const instance = url.searchParams.get('labelSelector')?.replace('app.kubernetes.io/instance=', '');
      if (!pod || pod.ns !== m[1] || pod.job !== instance || opts.play.podSecurity) return json(res, { kind: 'PodList', items: [] });
      if (pod.state === 'waiting' && ++pod.polls > opts.play.pendingPolls && !opts.play.stuck) {
        pod.state = 'running';
        if (opts.play.kubelet) runContainer();
      }
      return json(res, { kind: 'PodList', items: [podObject()] });
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/events$/.exec(p)) && method === 'GET') {
      const about = url.searchParams.get('fieldSelector');
      const refused = opts.play.podSecurity && pod && about === `involvedObject.kind=Job,involvedObject.name=${pod.job}`;
      const items = refused ? [{ reason: 'FailedCreate', type: 'Warning', message: `Error creating: pods "${pod!.job}-x7k2p" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostPID=true)` }] : [];
      return json(res, { kind: 'EventList', items });
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(p)) && method === 'GET') {
      if (!pod || pod.name !== m[2]) return status(res, 404, 'NotFound', `pods "${m[2]}" not found`);
      return streamLog(res);
    }
    if ((m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/.exec(p)) && method === 'GET') {
      if (pod && pod.ns === m[1] && pod.name === m[2]) return pod.gone ? status(res, 404, 'NotFound', `pods "${m[2]}" not found`) : json(res, podObject());
      const node = opts.pods[`${m[1]}/${m[2]}`];
      return node === undefined ? status(res, 404, 'NotFound', `pods "${m[2]}" not found`) : json(res, { kind: 'Pod', metadata: { name: m[2], namespace: m[1] }, spec: { nodeName: node }, status: { phase: 'Running' } });
    }
    return status(res, 404, 'NotFound', `the fake has no ${method} ${p}`);
  }

  function podObject(): unknown {
    const p = pod!;
    const state = p.state === 'waiting' ? { waiting: { reason: opts.play.stuck ?? 'ContainerCreating', message: opts.play.stuck ? 'Back-off pulling image "kafkatrace:nope"' : undefined } } : p.state === 'running' ? { running: { startedAt: '2026-01-01T00:00:00Z' } } : { terminated: { exitCode: p.exitCode, ...(opts.play.ended ?? { reason: p.exitCode === 0 ? 'Completed' : 'Error' }) } };
    const phase = p.state === 'waiting' ? 'Pending' : p.state === 'running' ? 'Running' : p.exitCode === 0 ? 'Succeeded' : 'Failed';
    return { kind: 'Pod', metadata: { name: p.name, namespace: p.ns }, status: { phase, containerStatuses: [{ name: 'kafkatrace', state }] } };
  }

  async function streamLog(res: http.ServerResponse): Promise<void> {
    const p = pod!;
    res.writeHead(200, { 'content-type': 'text/plain' });
    if (local) {
      const l = local;
      let sent = 0;
      const pump = (): void => {
        while (sent < l.printed.length) res.write(l.printed[sent++]);
        if (!l.ended) return;
        l.listeners.delete(pump);
        res.end();
      };
      l.listeners.add(pump);
      return pump();
    }
    for (const piece of opts.play.log) {
      res.write(piece);
      await sleep(30);
    }
    if (opts.play.deadline) {
      p.gone = true;
      res.end();
      return;
    }
    if (opts.play.exitCode !== undefined) {
      p.state = 'terminated';
      p.exitCode = opts.play.exitCode;
      res.end();
      return;
    }
    // Runs until its Job is deleted: then its kafkatrace prints END and the maps and exits 0.
    await p.stopped;
    for (const piece of opts.play.onStop ?? []) res.write(piece);
    if (opts.play.ignoresStop) return;
    p.state = 'terminated';
    p.exitCode = 0;
    res.end();
  }

  const tlsPair = opts.tls ? selfSigned() : undefined;
  const server = tlsPair ? https.createServer({ cert: tlsPair.cert, key: tlsPair.key }, handler) : http.createServer(handler);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    cert: tlsPair?.cert,
    requests,
    jobs,
    configMaps,
    container: () => local?.child,
    close: async () => {
      if (local && !local.ended) {
        const ended = once(local.child, 'close');
        local.child.kill('SIGKILL');
        await ended;
      }
      await new Promise<void>((resolve) => {
        pod?.stop?.();
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      });
    },
  };
}
