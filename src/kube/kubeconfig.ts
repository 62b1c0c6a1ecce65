// Where the Kubernetes API server is and how to authenticate to it, as kubectl finds it: --kubeconfig,
// else the files of KUBECONFIG (merged, the first to set a name wins), else ~/.kube/config, else the
// pod's own service account when running in a cluster. Read with node's fs and the `yaml` package:
// @kubernetes/client-node 2.x needs a newer node than kafkatrace's, and brings far more than this.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { KtError } from '../errors.js';
import { readTrustedFile } from '../trusted-file.js';
import { escapeControls } from '../runtime/format/value.js';

/** Everything a request to the API server needs. */
export interface KubeConnection {
  /** The server's URL (https:, or http: behind `kubectl proxy`); a path in it prefixes every request. */
  server: URL;
  /** PEM certificates the server's must chain to; none: the system's. */
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  /** The Authorization header's value, when the user has a token or a password. */
  authorization?: string;
  insecureSkipTlsVerify: boolean;
  /** The name the server's certificate is checked against, when not the URL's host. */
  tlsServerName?: string;
  /** The context's namespace, else `default`. */
  namespace: string;
  /** Where this came from, for messages: `context NAME (FILE)` or `in-cluster service account`. */
  origin: string;
}

export interface KubeConfigRequest {
  /** --kubeconfig. */
  path?: string;
  /** --context. */
  context?: string;
  env?: NodeJS.ProcessEnv;
  home?: string;
  /** Where a pod finds its service account (tests point it elsewhere). */
  serviceAccountDir?: string;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

function fail(message: string): never {
  throw new KtError('kube-config', message);
}

/**
 * A file's bytes, refused when another user could have written it: a kubeconfig says where the
 * script goes and with whose credentials. Symbolic links are followed (k3s's kubeconfig is commonly
 * linked); the check is on the file opened.
 */
function readTrusted(path: string, what: string): Buffer {
  return readTrustedFile(path, { what, shown: escapeControls(path), code: 'kube-config', followLinks: true });
}

function exists(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false }) !== undefined;
}

type Entry = Record<string, unknown>;

/** A kubeconfig's named entries of one kind (clusters, users, contexts), each with the file it came from. */
interface Named {
  body: Entry;
  file: string;
}

interface Merged {
  clusters: Map<string, Named>;
  users: Map<string, Named>;
  contexts: Map<string, Named>;
  currentContext?: string;
}

function isEntry(v: unknown): v is Entry {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Adds one file's entries to `into`; names already there keep their first definition, as kubectl's merge does. */
function mergeFile(into: Merged, file: string): void {
  const text = readTrusted(file, 'the kubeconfig').toString('utf8');
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const at = e.linePos?.[0];
    // The message's first line, without the place it repeats.
    const what = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
    fail(`${escapeControls(file)}${at ? `:${at.line}:${at.col}` : ''}: not a kubeconfig: ${escapeControls(what)}`);
  }
  const root: unknown = doc.toJS();
  if (root === null || root === undefined) return;
  if (!isEntry(root)) fail(`${escapeControls(file)}: not a kubeconfig: a mapping of clusters, users and contexts was expected`);
  for (const [kind, inner] of [
    ['clusters', 'cluster'],
    ['users', 'user'],
    ['contexts', 'context'],
  ] as const) {
    const list = root[kind];
    if (list === undefined || list === null) continue;
    if (!Array.isArray(list)) fail(`${escapeControls(file)}: ${kind} must be a list`);
    for (const item of list) {
      if (!isEntry(item) || typeof item['name'] !== 'string') fail(`${escapeControls(file)}: every entry of ${kind} needs a name`);
      const body = item[inner] ?? {};
      if (!isEntry(body)) fail(`${escapeControls(file)}: ${kind} entry '${escapeControls(item['name'])}' has no ${inner} mapping`);
      if (!into[kind].has(item['name'])) into[kind].set(item['name'], { body, file });
    }
  }
  const current = root['current-context'];
  if (into.currentContext === undefined && typeof current === 'string' && current !== '') into.currentContext = current;
}

/** The kubeconfig files to read, in kubectl's order; none when there are none and the pod's own account applies. */
function kubeconfigFiles(req: KubeConfigRequest, env: NodeJS.ProcessEnv, home: string): string[] {
  if (req.path !== undefined) return [req.path];
  const list = env['KUBECONFIG'];
  if (list !== undefined && list !== '') {
    const files = list.split(':').filter((f) => f !== '' && exists(f));
    if (files.length === 0) fail(`none of the files KUBECONFIG names exists: ${escapeControls(list)}`);
    return files;
  }
  const own = join(home, '.kube', 'config');
  return exists(own) ? [own] : [];
}

function str(entry: Entry, field: string, where: string): string | undefined {
  const v = entry[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') fail(`${where}: ${field} must be a string`);
  return v;
}

/** Base64 data of a `-data` field, or the file its path names (relative to the kubeconfig's folder). */
function bytes(entry: Entry, field: string, file: string, where: string): Buffer | undefined {
  const data = str(entry, `${field}-data`, where);
  if (data !== undefined) {
    if (!/^[A-Za-z0-9+/=\s]*$/.test(data)) fail(`${where}: ${field}-data is not base64`);
    return Buffer.from(data, 'base64');
  }
  const path = str(entry, field, where);
  return path === undefined ? undefined : readTrusted(resolve(dirname(file), path), `the ${field} of ${where}`);
}

/** Fields kafkatrace does not implement: one clear message rather than a request made without them. */
const UNSUPPORTED_USER = ['auth-provider', 'as', 'as-groups', 'as-uid'];

/** How long a credential plugin may take (one that waits for a browser login is given the time). */
const EXEC_TIMEOUT_MS = 120_000;

/**
 * Runs a user's exec credential plugin (aws eks get-token, gke-gcloud-auth-plugin, kubelogin) as
 * kubectl does, without a terminal: KUBERNETES_EXEC_INFO in, an ExecCredential out. The kubeconfig
 * that names it was checked to be the user's own.
 */
function execCredential(exec: Entry, file: string, where: string, cluster: { server: string; ca?: Buffer; insecure: boolean }): { token?: string; cert?: Buffer; key?: Buffer } {
  const command = str(exec, 'command', `${where} exec`);
  const apiVersion = str(exec, 'apiVersion', `${where} exec`);
  if (command === undefined || command === '') fail(`${where}: exec has no command`);
  if (apiVersion !== 'client.authentication.k8s.io/v1' && apiVersion !== 'client.authentication.k8s.io/v1beta1') fail(`${where}: exec apiVersion '${escapeControls(String(apiVersion))}' is not client.authentication.k8s.io/v1 or v1beta1`);
  if (exec['interactiveMode'] === 'Always') fail(`${where}: its exec plugin needs a terminal (interactiveMode: Always), which kafkatrace kube does not give it`);
  const args = Array.isArray(exec['args']) ? exec['args'].map(String) : [];
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const e of Array.isArray(exec['env']) ? exec['env'] : []) if (isEntry(e) && typeof e['name'] === 'string') env[e['name']] = String(e['value'] ?? '');
  const spec: Record<string, unknown> = { interactive: false };
  if (exec['provideClusterInfo'] === true) {
    spec['cluster'] = { server: cluster.server, 'certificate-authority-data': cluster.ca?.toString('base64'), 'insecure-skip-tls-verify': cluster.insecure };
  }
  env['KUBERNETES_EXEC_INFO'] = JSON.stringify({ apiVersion, kind: 'ExecCredential', spec });
  // A path with a slash is the kubeconfig's, relative to its folder; a bare name is looked up in PATH.
  const program = command.includes('/') ? resolve(dirname(file), command) : command;
  const r = spawnSync(program, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: EXEC_TIMEOUT_MS });
  const hint = typeof exec['installHint'] === 'string' ? ` (${escapeControls(exec['installHint'].trim().split('\n')[0]!)})` : '';
  if (r.error) fail(`${where}: cannot run its exec plugin ${escapeControls(command)}: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such command' : escapeControls(r.error.message)}${hint}`);
  if (r.status !== 0) fail(`${where}: its exec plugin ${escapeControls(command)} failed (status ${r.status ?? r.signal}): ${escapeControls((r.stderr.trim().split('\n')[0] ?? '').slice(0, 300))}`);
  let status: unknown;
  try {
    status = (JSON.parse(r.stdout) as { status?: unknown }).status;
  } catch {
    fail(`${where}: its exec plugin ${escapeControls(command)} printed no ExecCredential`);
  }
  if (!isEntry(status)) fail(`${where}: the ExecCredential of ${escapeControls(command)} has no status`);
  const token = typeof status['token'] === 'string' ? status['token'] : undefined;
  const cert = typeof status['clientCertificateData'] === 'string' ? Buffer.from(status['clientCertificateData']) : undefined;
  const key = typeof status['clientKeyData'] === 'string' ? Buffer.from(status['clientKeyData']) : undefined;
  if (!token && !(cert && key)) fail(`${where}: the ExecCredential of ${escapeControls(command)} has neither a token nor a client certificate and key`);
  return { token, cert, key };
}

/** The connection a kubeconfig's context describes. */
function fromKubeconfig(merged: Merged, contextName: string | undefined, files: string[]): KubeConnection {
  const name = contextName ?? merged.currentContext;
  if (name === undefined) fail(`${files.map(escapeControls).join(':')} sets no current-context: pass --context NAME`);
  const context = merged.contexts.get(name);
  if (!context) fail(`no context named '${escapeControls(name)}' in ${files.map(escapeControls).join(':')}`);
  const where = `context '${escapeControls(name)}'`;
  const clusterName = str(context.body, 'cluster', where);
  const cluster = clusterName === undefined ? undefined : merged.clusters.get(clusterName);
  if (!cluster) fail(`${where} names no cluster that the kubeconfig defines${clusterName ? ` (cluster '${escapeControls(clusterName)}')` : ''}`);
  const clusterWhere = `cluster '${escapeControls(clusterName!)}'`;
  const server = str(cluster.body, 'server', clusterWhere);
  if (server === undefined) fail(`${clusterWhere} has no server`);
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    fail(`${clusterWhere}: server '${escapeControls(server)}' is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`${clusterWhere}: server '${escapeControls(server)}' is neither https nor http`);
  if (str(cluster.body, 'proxy-url', clusterWhere) !== undefined) fail(`${clusterWhere} sets proxy-url, which kafkatrace kube does not support`);
  const conn: KubeConnection = {
    server: url,
    ca: bytes(cluster.body, 'certificate-authority', cluster.file, clusterWhere),
    insecureSkipTlsVerify: cluster.body['insecure-skip-tls-verify'] === true,
    tlsServerName: str(cluster.body, 'tls-server-name', clusterWhere),
    namespace: str(context.body, 'namespace', where) || 'default',
    origin: `${where} (${escapeControls(context.file)})`,
  };
  const userName = str(context.body, 'user', where);
  if (userName === undefined || userName === '') return conn;
  const user = merged.users.get(userName);
  if (!user) fail(`${where} names user '${escapeControls(userName)}', which the kubeconfig does not define`);
  const userWhere = `user '${escapeControls(userName)}'`;
  const unsupported = UNSUPPORTED_USER.find((f) => user.body[f] !== undefined && user.body[f] !== null);
  if (unsupported) fail(`${userWhere} uses ${unsupported}, which kafkatrace kube does not support: use a token, a client certificate, an exec plugin, or kubectl proxy (--kubeconfig with server http://127.0.0.1:8001)`);
  const exec = user.body['exec'];
  if (exec !== undefined && exec !== null) {
    if (!isEntry(exec)) fail(`${userWhere}: exec must be a mapping`);
    const got = execCredential(exec, user.file, userWhere, { server, ca: conn.ca, insecure: conn.insecureSkipTlsVerify });
    Object.assign(conn, { cert: got.cert, key: got.key, authorization: got.token ? `Bearer ${got.token}` : undefined });
    return conn;
  }
  conn.cert = bytes(user.body, 'client-certificate', user.file, userWhere);
  conn.key = bytes(user.body, 'client-key', user.file, userWhere);
  if ((conn.cert === undefined) !== (conn.key === undefined)) fail(`${userWhere} has a client ${conn.cert ? 'certificate but no key' : 'key but no certificate'}`);
  const tokenFile = str(user.body, 'tokenFile', userWhere);
  const token = str(user.body, 'token', userWhere) ?? (tokenFile === undefined ? undefined : readTrusted(resolve(dirname(user.file), tokenFile), `the tokenFile of ${userWhere}`).toString('utf8').trim());
  const username = str(user.body, 'username', userWhere);
  if (token !== undefined && token !== '') conn.authorization = `Bearer ${token}`;
  else if (username !== undefined) conn.authorization = `Basic ${Buffer.from(`${username}:${str(user.body, 'password', userWhere) ?? ''}`).toString('base64')}`;
  return conn;
}

/** The pod's own service account, as client-go's in-cluster configuration reads it. */
function inCluster(env: NodeJS.ProcessEnv, dir: string): KubeConnection | undefined {
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (!host || !port || !exists(join(dir, 'token'))) return undefined;
  const token = readTrusted(join(dir, 'token'), 'the service account token').toString('utf8').trim();
  const namespace = exists(join(dir, 'namespace')) ? readTrusted(join(dir, 'namespace'), 'the service account namespace').toString('utf8').trim() : 'default';
  return {
    server: new URL(`https://${host.includes(':') ? `[${host}]` : host}:${port}`),
    ca: readTrusted(join(dir, 'ca.crt'), 'the service account CA'),
    authorization: `Bearer ${token}`,
    insecureSkipTlsVerify: false,
    namespace: namespace || 'default',
    origin: 'the in-cluster service account',
  };
}

/** The connection to use; throws one clear KtError when there is none or it is malformed. */
export function loadKubeConfig(req: KubeConfigRequest = {}): KubeConnection {
  const env = req.env ?? process.env;
  const files = kubeconfigFiles(req, env, req.home ?? homedir());
  if (files.length === 0) {
    const pod = inCluster(env, req.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
    if (pod && req.context === undefined) return pod;
    fail(req.context !== undefined && pod ? '--context needs a kubeconfig, and there is none (in a pod, kafkatrace kube uses its service account)' : 'no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or write ~/.kube/config');
  }
  const merged: Merged = { clusters: new Map(), users: new Map(), contexts: new Map() };
  for (const f of files) mergeFile(merged, f);
  return fromKubeconfig(merged, req.context, files);
}
