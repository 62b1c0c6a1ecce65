// deploy/kubernetes/: every manifest valid by the Kubernetes OpenAPI schemas (strictly: no field they
// do not define), the agent configuration in the ConfigMap accepted by the agent's own loader, the
// DaemonSet holding to its least privilege, the pieces agreeing with one another (ports, labels,
// paths), and the PrometheusRule generated from deploy/prometheus/kafkatrace-rules.yml.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig, parseConfig, resolveScripts } from '../../src/agent/config.js';
import { stdlibTools } from '../../src/cli/source.js';
import { ROOT } from '../helpers/cli.js';
import { manifestProblems } from '../helpers/k8s-manifests.js';

const DIR = join(ROOT, 'deploy', 'kubernetes');
// Manifests are free-form YAML; the schemas, not the types, judge them.
type Obj = Record<string, any>;

const read = (file: string): Obj => parse(readFileSync(join(DIR, file), 'utf8')) as Obj;
const manifestFiles = (): string[] => readdirSync(DIR).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();

const podSpec = (ds: Obj): Obj => ds['spec']['template']['spec'];
const agent = (ds: Obj): Obj => podSpec(ds)['containers'].find((c: Obj) => c['name'] === 'agent');

/** The capabilities the agent needs at run time; README "Running on a cluster" says what each is for. */
const CAPABILITIES = ['BPF', 'PERFMON', 'SYS_PTRACE', 'DAC_READ_SEARCH'];

/** What keeps the DaemonSet from running the agent as it should, with no more privilege than that. */
function daemonSetProblems(ds: Obj): string[] {
  const problems: string[] = [];
  const spec = podSpec(ds);
  if (spec['hostPID'] !== true) problems.push('hostPID is not true: the capture reports host pids, read through /proc');
  if (spec['hostNetwork']) problems.push('hostNetwork: the pod would serve /metrics on the node');
  for (const c of [...(spec['initContainers'] ?? []), ...spec['containers']] as Obj[]) {
    const sc = c['securityContext'] ?? {};
    if (sc['privileged'] !== false) problems.push(`${c['name']}: privileged is not false`);
    if (sc['allowPrivilegeEscalation'] !== false) problems.push(`${c['name']}: allowPrivilegeEscalation is not false`);
    if (sc['readOnlyRootFilesystem'] !== true) problems.push(`${c['name']}: the root filesystem is writable`);
    if (JSON.stringify(sc['capabilities']?.['drop']) !== '["ALL"]') problems.push(`${c['name']}: capabilities do not drop ALL`);
    const add = [...(sc['capabilities']?.['add'] ?? [])].sort();
    const want = c['name'] === 'agent' ? [...CAPABILITIES].sort() : [];
    if (JSON.stringify(add) !== JSON.stringify(want)) problems.push(`${c['name']}: capabilities added are ${add.join(', ') || 'none'}, not ${want.join(', ') || 'none'}`);
  }
  const a = agent(ds);
  const mounts = new Map<string, Obj>((a['volumeMounts'] as Obj[]).map((m) => [m['mountPath'], m]));
  const volumes = new Map<string, Obj>((spec['volumes'] as Obj[]).map((v) => [v['name'], v]));
  for (const path of ['/sys/kernel/tracing', '/sys/kernel/btf', '/sys/fs/cgroup']) {
    const m = mounts.get(path);
    if (!m) problems.push(`${path} is not mounted`);
    else {
      if (m['readOnly'] !== true) problems.push(`${path} is mounted writable`);
      if (volumes.get(m['name'])?.['hostPath']?.['path'] !== path) problems.push(`${path} is not the node's ${path}`);
    }
  }
  const args = a['args'] as string[];
  const config = mounts.get(args[args.indexOf('--config') + 1]!);
  if (!config) problems.push(`--config ${args[args.indexOf('--config') + 1]} is not a mounted file`);
  else {
    // A ConfigMap volume's files are symbolic links, which the agent refuses: subPath mounts the file.
    if (config['subPath'] === undefined) problems.push('the configuration is mounted without subPath (a symbolic link)');
    const mode = volumes.get(config['name'])?.['configMap']?.['defaultMode'];
    if (typeof mode !== 'number' || (mode & 0o022) !== 0) problems.push(`the configuration's mode ${mode} lets others write it`);
  }
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    const get = a[probe]?.['httpGet'];
    if (get?.['path'] !== '/healthz' || get?.['port'] !== 'metrics') problems.push(`${probe} is not GET /healthz on the metrics port`);
  }
  return problems;
}

describe('the Kubernetes manifests', () => {
  const work = mkdtempSync(join(tmpdir(), 'kt-deploy-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.each(manifestFiles())('%s is valid by the Kubernetes OpenAPI schemas, with no field they do not define', (file) => {
    const m = read(file);
    expect(manifestProblems(m)).toEqual([]);
    expect(m['metadata']['labels']).toEqual({ 'app.kubernetes.io/name': 'kafkatrace' });
    if (m['kind'] !== 'Namespace') expect(m['metadata']['namespace']).toBe('kafkatrace');
  });

  it('are refused, each, when broken', () => {
    const ds = read('daemonset.yaml');
    const broken = (change: (d: Obj) => void): string[] => {
      const d = structuredClone(ds);
      change(d);
      return manifestProblems(d);
    };
    expect(broken((d) => (agent(d)['securityContext']['capabilities']['add'] = 'BPF'))).toEqual([expect.stringMatching(/capabilities\/add must be array/)]);
    expect(broken((d) => (agent(d)['ports'][0]['containerPort'] = '9464'))).toEqual([expect.stringMatching(/containerPort must be integer/)]);
    expect(broken((d) => (podSpec(d)['hostPid'] = true))).toEqual(['/spec/template/spec/hostPid: not a field of the schema']);
    expect(broken((d) => (agent(d)['securityContext']['readonlyRootFilesystem'] = true))).toEqual([
      '/spec/template/spec/containers/0/securityContext/readonlyRootFilesystem: not a field of the schema',
    ]);
    const rule = read('prometheusrule.yaml');
    rule['spec']['groups'][0]['rules'][0]['recrd'] = 'x';
    expect(manifestProblems(rule)).toContain('/spec/groups/0/rules/0/recrd: not a field of the schema');
    const monitor = read('podmonitor.yaml');
    monitor['spec']['podMetricsEndpoints'][0]['interval'] = 15;
    expect(manifestProblems(monitor)).toEqual([expect.stringMatching(/interval must be string/)]);
  });

  it('are all applied by the kustomization, the namespace first', () => {
    const k = read('kustomization.yaml');
    expect([...k['resources']].sort()).toEqual(manifestFiles());
    expect(k['resources'][0]).toBe('namespace.yaml');
  });

  it('hold the agent configuration the agent loads, the Kafka tools with labels cluster and node', () => {
    const cm = read('configmap.yaml');
    const text = cm['data']['agent.yaml'] as string;
    const cfg = parseConfig(text, 'agent.yaml', { NODE_NAME: 'worker-7' });
    expect(cfg.labels).toEqual({ cluster: 'production', node: 'worker-7' });
    expect(cfg.listen).toEqual({ kind: 'prometheus', host: '0.0.0.0', port: 9464 });
    expect(cfg.scripts.map((s) => [s.name, s.tool])).toEqual([
      ['overview', 'kafka-overview'],
      ['lag', 'kafka-lag'],
      ['rebalances', 'kafka-rebalances'],
      ['latency', 'kafka-latency'],
      ['errors', 'kafka-errors'],
    ]);
    const tools = new Map(stdlibTools().map((t) => [t.name, t.path]));
    for (const s of resolveScripts(cfg, 'agent.yaml', tools)) expect(typeof s.text, s.name).toBe('string');
    // As mounted: a file of root's (or this user's) that nobody else may write.
    const file = join(work, 'agent.yaml');
    writeFileSync(file, text, { mode: 0o444 });
    expect(loadConfig(file, { NODE_NAME: 'worker-7' }).labels['node']).toBe('worker-7');
    // Without the environment the DaemonSet gives it, the agent refuses the file.
    expect(() => parseConfig(text, 'agent.yaml', {})).toThrow(/^agent\.yaml:\d+:\d+: ERROR: label node: the environment variable NODE_NAME is not set/);
  });

  it('give the agent every environment variable its configuration names', () => {
    const text = read('configmap.yaml')['data']['agent.yaml'] as string;
    const named = [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)].map((m) => m[1]);
    const env = new Map<string, Obj>((agent(read('daemonset.yaml'))['env'] as Obj[]).map((e) => [e['name'], e]));
    expect(named.length).toBeGreaterThan(0);
    for (const name of named) expect(env.has(name), name).toBe(true);
    expect(env.get('NODE_NAME')?.['valueFrom']).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
  });

  it('run the agent on the node, not privileged, with exactly the capabilities it needs', () => {
    const ds = read('daemonset.yaml');
    expect(daemonSetProblems(ds)).toEqual([]);
    const broken = (change: (d: Obj) => void): string[] => {
      const d = structuredClone(ds);
      change(d);
      return daemonSetProblems(d);
    };
    expect(broken((d) => (agent(d)['securityContext']['privileged'] = true))).toEqual(['agent: privileged is not false']);
    expect(broken((d) => agent(d)['securityContext']['capabilities']['add'].push('SYS_ADMIN'))).toEqual([
      'agent: capabilities added are BPF, DAC_READ_SEARCH, PERFMON, SYS_ADMIN, SYS_PTRACE, not BPF, DAC_READ_SEARCH, PERFMON, SYS_PTRACE',
    ]);
    expect(broken((d) => (podSpec(d)['hostPID'] = false))).toHaveLength(1);
    expect(broken((d) => delete agent(d)['volumeMounts'].find((m: Obj) => m['mountPath'] === '/etc/kafkatrace/agent.yaml')['subPath'])).toEqual([
      'the configuration is mounted without subPath (a symbolic link)',
    ]);
    expect(broken((d) => (agent(d)['volumeMounts'].find((m: Obj) => m['mountPath'] === '/sys/kernel/tracing')['readOnly'] = false))).toEqual([
      '/sys/kernel/tracing is mounted writable',
    ]);
  });

  it('agree on the pods, the port and the configuration file', () => {
    const ds = read('daemonset.yaml');
    const podLabels = ds['spec']['template']['metadata']['labels'];
    expect(ds['spec']['selector']['matchLabels']).toEqual(podLabels);
    const port = agent(ds)['ports'].find((p: Obj) => p['name'] === 'metrics');
    expect(port['containerPort']).toBe(parseConfig(read('configmap.yaml')['data']['agent.yaml'], 'agent.yaml', { NODE_NAME: 'n' }).listen.port);

    const service = read('service.yaml');
    expect(service['spec']['clusterIP']).toBe('None');
    expect(service['spec']['selector']).toEqual(podLabels);
    expect(service['spec']['ports']).toEqual([{ name: 'metrics', port: port['containerPort'], targetPort: 'metrics', protocol: 'TCP' }]);

    const monitor = read('podmonitor.yaml');
    expect(monitor['spec']['selector']['matchLabels']).toEqual(podLabels);
    expect(monitor['spec']['podMetricsEndpoints'].map((e: Obj) => [e['port'], e['path']])).toEqual([['metrics', '/metrics']]);

    const policy = read('networkpolicy.yaml');
    expect(policy['spec']['podSelector']['matchLabels']).toEqual(podLabels);
    expect(policy['spec']['ingress'].flatMap((i: Obj) => i['ports'].map((p: Obj) => p['port']))).toEqual(['metrics']);

    const cm = read('configmap.yaml');
    const configVolume = podSpec(ds)['volumes'].find((v: Obj) => v['configMap']);
    expect(configVolume['configMap']['name']).toBe(cm['metadata']['name']);
    const mount = agent(ds)['volumeMounts'].find((m: Obj) => m['name'] === configVolume['name']);
    expect(Object.keys(cm['data'])).toContain(mount['subPath']);
  });

  it('carry the rules of deploy/prometheus as a PrometheusRule, generated (node scripts/gen-deploy.mjs)', () => {
    const run = spawnSync(process.execPath, [join(ROOT, 'scripts', 'gen-deploy.mjs'), '--print'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(readFileSync(join(DIR, 'prometheusrule.yaml'), 'utf8')).toBe(run.stdout);
    const rules = parse(readFileSync(join(ROOT, 'deploy', 'prometheus', 'kafkatrace-rules.yml'), 'utf8')) as Obj;
    expect(read('prometheusrule.yaml')['spec']['groups']).toEqual(rules['groups']);
  });
});
