// How `kafkatrace kube` finds the API server and its credentials (kubeconfig files as kubectl reads
// them, or the pod's service account), and its command line: mistakes are one clear message.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { defaultImage, parseKubeArgs } from '../../src/kube/args.js';
import { loadKubeConfig } from '../../src/kube/kubeconfig.js';
import { kafkatrace } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'kt-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(content: string | object, mode = 0o600, name = `f${n++}`): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === 'string' ? content : stringify(content));
  chmodSync(path, mode);
  return path;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

function config(over: { user?: object; cluster?: object; namespace?: string; current?: string } = {}): object {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    'current-context': over.current ?? 'prod',
    clusters: [
      { name: 'prod', cluster: { server: 'https://10.0.0.1:6443/prefix/', 'certificate-authority-data': b64('CA PEM'), ...over.cluster } },
      { name: 'dev', cluster: { server: 'http://127.0.0.1:8001' } },
    ],
    users: [{ name: 'alice', user: { token: 'tok', ...over.user } }],
    contexts: [
      { name: 'prod', context: { cluster: 'prod', user: 'alice', namespace: over.namespace } },
      { name: 'dev', context: { cluster: 'dev' } },
    ],
  };
}

const none = { env: {}, home: join(dir, 'no-home'), serviceAccountDir: join(dir, 'no-sa') };

describe('kubeconfig', () => {
  it('reads the current context: server, CA, token, namespace', () => {
    const c = loadKubeConfig({ ...none, path: file(config({ namespace: 'shop' })) });
    expect(c.server.href).toBe('https://10.0.0.1:6443/prefix/');
    expect(c.ca?.toString()).toBe('CA PEM');
    expect(c.authorization).toBe('Bearer tok');
    expect(c.namespace).toBe('shop');
    expect(c.insecureSkipTlsVerify).toBe(false);
  });

  it('takes --context, and defaults the namespace to default', () => {
    const c = loadKubeConfig({ ...none, path: file(config()), context: 'dev' });
    expect(c.namespace).toBe('default');
    expect(c.authorization).toBeUndefined();
    expect(c.server.href).toBe('http://127.0.0.1:8001/');
    expect(() => loadKubeConfig({ ...none, path: file(config()), context: 'nope' })).toThrow(/^no context named 'nope' in /);
  });

  it('reads certificate and key files relative to the kubeconfig, and a tokenFile', () => {
    const sub = join(dir, 'certs');
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, 'c.pem'), 'CERT');
    writeFileSync(join(sub, 'k.pem'), 'KEY');
    writeFileSync(join(sub, 'tok'), 'from-file\n');
    writeFileSync(join(sub, 'ca.pem'), 'CA FILE');
    const path = file(config({ user: { token: undefined, 'client-certificate': 'certs/c.pem', 'client-key': 'certs/k.pem', tokenFile: 'certs/tok' }, cluster: { 'certificate-authority-data': undefined, 'certificate-authority': 'certs/ca.pem' } }));
    const c = loadKubeConfig({ ...none, path });
    expect([c.cert?.toString(), c.key?.toString(), c.ca?.toString(), c.authorization]).toEqual(['CERT', 'KEY', 'CA FILE', 'Bearer from-file']);
  });

  it('takes a username and password as basic authentication', () => {
    const c = loadKubeConfig({ ...none, path: file(config({ user: { token: undefined, username: 'bob', password: 'pw' } })) });
    expect(c.authorization).toBe(`Basic ${b64('bob:pw')}`);
  });

  it('merges the files of KUBECONFIG, the first to name an entry winning, and skips missing ones', () => {
    const first = file({ 'current-context': 'dev', clusters: [{ name: 'dev', cluster: { server: 'https://first:1' } }], contexts: [] });
    const second = file(config());
    const c = loadKubeConfig({ ...none, env: { KUBECONFIG: `${join(dir, 'missing')}:${first}:${second}` } });
    expect(c.server.href).toBe('https://first:1/');
    expect(c.origin).toBe(`context 'dev' (${second})`);
  });

  it('falls back to ~/.kube/config, then to the service account inside a pod', () => {
    const home = join(dir, 'home');
    mkdirSync(join(home, '.kube'), { recursive: true });
    file(config(), 0o600, 'home/.kube/config');
    expect(loadKubeConfig({ ...none, home }).authorization).toBe('Bearer tok');
    const sa = join(dir, 'sa');
    mkdirSync(sa, { recursive: true });
    writeFileSync(join(sa, 'token'), 'sa-token\n');
    writeFileSync(join(sa, 'ca.crt'), 'SA CA');
    writeFileSync(join(sa, 'namespace'), 'kafkatrace');
    const c = loadKubeConfig({ ...none, serviceAccountDir: sa, env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443' } });
    expect([c.server.href, c.authorization, c.ca?.toString(), c.namespace]).toEqual(['https://[fd00::1]/', 'Bearer sa-token', 'SA CA', 'kafkatrace']);
    expect(() => loadKubeConfig(none)).toThrow('no kubeconfig: pass --kubeconfig FILE, set KUBECONFIG, or write ~/.kube/config');
  });

  it('follows a symbolic link to a kubeconfig, and refuses one another user could have written', () => {
    const target = file(config());
    const link = join(dir, 'link');
    symlinkSync(target, link);
    expect(loadKubeConfig({ ...none, path: link }).authorization).toBe('Bearer tok');
    const open = file(config(), 0o666);
    expect(() => loadKubeConfig({ ...none, path: open })).toThrow(`not using the kubeconfig ${open}: it is writable by others (mode 666)`);
    const group = file(config(), 0o620);
    expect(() => loadKubeConfig({ ...none, path: group })).toThrow('it is writable by its group (mode 620)');
  });

  it('runs an exec credential plugin as kubectl does, and says why one failed', () => {
    const plugin = join(dir, 'bin', 'get-token');
    mkdirSync(join(dir, 'bin'), { recursive: true });
    // It answers with what it was given, so the test sees KUBERNETES_EXEC_INFO and the env list arrive.
    writeFileSync(
      plugin,
      `#!${process.execPath}
const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);
if (process.argv[2] === 'fail') { console.error('token expired: run sso login\\nmore'); process.exit(3); }
console.log(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential', status: { token: [process.env.REGION, info.spec.interactive, info.spec.cluster.server].join('|') } }));
`,
    );
    chmodSync(plugin, 0o755);
    const exec = (over: object) => ({ token: undefined, exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './bin/get-token', args: [], env: [{ name: 'REGION', value: 'eu-1' }], provideClusterInfo: true, ...over } });
    expect(loadKubeConfig({ ...none, path: file(config({ user: exec({}) })) }).authorization).toBe('Bearer eu-1|false|https://10.0.0.1:6443/prefix/');
    const bad = (over: object) => () => loadKubeConfig({ ...none, path: file(config({ user: exec(over) })) });
    expect(bad({ args: ['fail'] })).toThrow("user 'alice': its exec plugin ./bin/get-token failed (status 3): token expired: run sso login");
    expect(bad({ command: 'kt-no-such-plugin', installHint: 'install it from example.com' })).toThrow("user 'alice': cannot run its exec plugin kt-no-such-plugin: no such command (install it from example.com)");
    expect(bad({ interactiveMode: 'Always' })).toThrow('its exec plugin needs a terminal (interactiveMode: Always)');
    expect(bad({ apiVersion: 'client.authentication.k8s.io/v1alpha1' })).toThrow("exec apiVersion 'client.authentication.k8s.io/v1alpha1' is not");
  });

  it('says what is wrong with a malformed or unsupported kubeconfig', () => {
    const bad = (c: string | object) => () => loadKubeConfig({ ...none, path: file(c) });
    const broken = file('clusters:\n  - name: a\n   cluster: {}\n');
    expect(() => loadKubeConfig({ ...none, path: broken })).toThrow(`${broken}:3:1: not a kubeconfig: Sequence item without - indicator`);
    expect(bad(config({ user: { 'auth-provider': { name: 'gcp' } } }))).toThrow("user 'alice' uses auth-provider, which kafkatrace kube does not support");
    expect(bad(config({ cluster: { server: 'ftp://x' } }))).toThrow("cluster 'prod': server 'ftp://x' is neither https nor http");
    expect(bad(config({ user: { 'client-certificate-data': b64('C') } }))).toThrow("user 'alice' has a client certificate but no key");
    expect(bad({ ...config(), 'current-context': undefined })).toThrow(/sets no current-context: pass --context NAME$/);
    expect(bad(config({ user: { 'client-key': 'missing.pem', 'client-certificate-data': b64('C') } }))).toThrow(`cannot read the client-key of user 'alice' ${join(dir, 'missing.pem')}: no such file`);
  });
});

describe('kafkatrace kube command line', () => {
  it('takes a target as kubectl-trace does, or as --node and --pod', () => {
    expect(parseKubeArgs(['run', 'node/n1', '-e', 'BEGIN {}'])).toMatchObject({ target: { node: 'n1' }, program: 'BEGIN {}', image: defaultImage() });
    expect(parseKubeArgs(['run', 'pod/shop/web-1', 'a.ktr', 'x', 'y'])).toMatchObject({ target: { pod: 'web-1', namespace: 'shop' }, file: 'a.ktr', args: ['x', 'y'] });
    expect(parseKubeArgs(['run', '--pod', 'web-1', '--tool', 'kafka-lag', '-n', 'kt', '--timeout', '10m', '--duration', '30s', '-f', 'json'])).toMatchObject({ target: { pod: 'web-1' }, tool: 'kafka-lag', namespace: 'kt', timeoutMs: 600_000, durationMs: 30_000, format: 'json' });
    expect(parseKubeArgs(['run', 'node/n1', '-e', 'BEGIN {}', '--', '-5', '--x'])).toMatchObject({ args: ['-5', '--x'] });
    expect(parseKubeArgs(['--help'])).toEqual({ help: true });
    expect(parseKubeArgs(['run', '--help'])).toEqual({ help: true });
    expect(defaultImage()).toMatch(/^kafkatrace:\d+\.\d+\.\d+/);
  });

  it('refuses what it cannot run, in one line', () => {
    const usage = (argv: string[]) => () => parseKubeArgs(argv);
    expect(usage(['get'])).toThrow("kube takes run, not 'get' (kafkatrace kube --help)");
    expect(usage(['run', '-e', 'BEGIN {}'])).toThrow('kube run needs a target: node/NODE, pod/[NAMESPACE/]POD, --node or --pod');
    expect(usage(['run', '--node', 'a', '--pod', 'b', '-e', 'x'])).toThrow('kube run takes --node or --pod, not both');
    expect(usage(['run', 'node/a'])).toThrow('kube run needs a script: -e PROGRAM, FILE or --tool NAME');
    expect(usage(['run', 'node/a', '-e', 'x', '--tool', 'kafka-lag'])).toThrow('kube run takes one of -e PROGRAM, FILE and --tool NAME');
    expect(usage(['run', 'node/Bad_Name', '-e', 'x'])).toThrow("node 'Bad_Name' is not a Kubernetes name");
    expect(usage(['run', 'pod/a/b/c', '-e', 'x'])).toThrow("--pod takes POD or NAMESPACE/POD, not 'a/b/c'");
    expect(usage(['run', 'node/a', '-e', 'x', '--duration', '2h'])).toThrow('--duration must be less than --timeout');
    expect(usage(['run', 'node/a', '-e', 'x', '--bogus'])).toThrow(/^kube run: Unknown option '--bogus'/);
  });

  it('is in the main help, has its own, and a mistake is one line with status 1', () => {
    expect(kafkatrace(['--help']).stdout).toContain('kafkatrace kube run node/NODE|pod/POD');
    const help = kafkatrace(['kube', '--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toContain(`--image IMAGE       the kafkatrace image, with kafkatrace on its PATH (default ${defaultImage()},`);
    expect(kafkatrace(['kube', 'run', 'node/a'])).toEqual({ code: 1, stdout: '', stderr: 'ERROR: kube run needs a script: -e PROGRAM, FILE or --tool NAME\n' });
    expect(kafkatrace(['kube', 'run', 'node/a', join(dir, 'none.ktr'), '--kubeconfig', join(dir, 'none')])).toEqual({ code: 1, stdout: '', stderr: `ERROR: failed to open file '${join(dir, 'none.ktr')}': No such file or directory\n` });
    const big = join(dir, 'big.ktr');
    writeFileSync(big, `// ${'x'.repeat(1_000_000)}\nBEGIN {}\n`);
    expect(kafkatrace(['kube', 'run', 'node/a', big, '--kubeconfig', join(dir, 'none')])).toEqual({ code: 1, stdout: '', stderr: 'ERROR: the script is larger than a ConfigMap holds (1000000 bytes)\n' });
    expect(kafkatrace(['kube', 'run', 'node/a', '-e', 'BEGIN {}', '--kubeconfig', join(dir, 'none')])).toEqual({ code: 1, stdout: '', stderr: `ERROR: cannot read the kubeconfig ${join(dir, 'none')}: no such file\n` });
  });
});
