// What `kafkatrace kube run` creates, held against Kubernetes' own OpenAPI schemas (kubernetes-models),
// and the RBAC it documents: a manifest the API server would refuse fails here, not on a cluster.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Job } from 'kubernetes-models/batch/v1';
import { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { configMapManifest, jobManifest, podCommand, scriptKey, type KubeRunSpec } from '../../src/kube/manifests.js';
import { ROOT } from '../helpers/cli.js';

const NASTY = `// "quoted" 'single' $(rm -rf /) \`id\` $HOME; echo \\\nBEGIN { printf("%s\\n", "a'b\\"c"); exit(); }\n\ttab é ✓\n`;

function spec(over: Partial<KubeRunSpec> = {}): KubeRunSpec {
  return { name: 'kafkatrace-0a1b2c3d4e', namespace: 'kafkatrace', node: 'node-7.example.com', image: 'registry.example.com/kafkatrace:0.1.0', deadlineS: 3600, script: { text: NASTY, file: 'examples/lag.ktr' }, args: ['orders', '-5', '$(id)'], options: ['--duration', '30000ms'], ...over };
}

// The Job as its pod spec's fields are typed: what the assertions below read.
interface PodSpecView {
  nodeName: string;
  hostPID: boolean;
  restartPolicy: string;
  tolerations: unknown[];
  containers: { name: string; image: string; command: string[]; workingDir: string; securityContext: { privileged: boolean; allowPrivilegeEscalation: boolean; capabilities: { add: string[]; drop: string[] } }; volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[] }[];
  volumes: { name: string; hostPath?: { path: string }; configMap?: { name: string } }[];
}

function podSpec(job: Record<string, unknown>): PodSpecView {
  return (job as { spec: { template: { spec: PodSpecView } } }).spec.template.spec;
}

describe('kafkatrace kube manifests', () => {
  it('makes a Job and a ConfigMap that validate against the Kubernetes schemas', () => {
    for (const s of [spec(), spec({ script: { tool: 'kafka-lag' }, args: [], options: [] }), spec({ script: { text: 'BEGIN {}', file: 'script.ktr' } })]) {
      const job = jobManifest(s);
      expect(() => new Job(job).validate()).not.toThrow();
      const script = s.script;
      if ('text' in script) expect(() => new ConfigMap(configMapManifest({ ...s, script }, '6f9a3c1e-0000-4000-8000-000000000001')).validate()).not.toThrow();
    }
  });

  it('the schemas refuse a broken manifest (the check above can fail)', () => {
    const job = jobManifest(spec());
    podSpec(job).containers[0]!.securityContext.capabilities.add = [39 as unknown as string];
    expect(() => new Job(job).validate()).toThrow(/capabilities\/add\/0 must be string/);
    const cm = configMapManifest({ ...spec(), script: { text: 'x', file: 'a.ktr' } }, 'u');
    (cm as { data: Record<string, unknown> }).data['a.ktr'] = 1;
    expect(() => new ConfigMap(cm).validate()).toThrow(/must be string/);
  });

  it('pins the pod to the node, with the host pids, and adds only the capabilities kafkatrace uses, unprivileged', () => {
    const job = jobManifest(spec());
    const jobSpec = (job as { spec: Record<string, unknown> }).spec;
    expect(jobSpec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 3600, ttlSecondsAfterFinished: 300 });
    const pod = podSpec(job);
    expect(pod).toMatchObject({ nodeName: 'node-7.example.com', hostPID: true, restartPolicy: 'Never', automountServiceAccountToken: false });
    const c = pod.containers[0]!;
    expect(c.securityContext.privileged).toBe(false);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['BPF', 'PERFMON', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'SYSLOG'] });
    expect(c.image).toBe('registry.example.com/kafkatrace:0.1.0');
    expect(pod.volumes.map((v) => v.hostPath?.path ?? `configMap:${v.configMap?.name}`)).toEqual(['/sys/kernel/tracing', '/sys/kernel/btf', 'configMap:kafkatrace-0a1b2c3d4e']);
    expect(c.volumeMounts.find((m) => m.name === 'btf')).toMatchObject({ mountPath: '/sys/kernel/btf', readOnly: true });
    expect(c.volumeMounts.find((m) => m.name === 'script')).toMatchObject({ mountPath: '/kafkatrace/script', readOnly: true });
    for (const labels of [(job as { metadata: { labels: object } }).metadata.labels, (jobSpec as { template: { metadata: { labels: object } } }).template.metadata.labels]) {
      expect(labels).toEqual({ 'app.kubernetes.io/name': 'kafkatrace', 'app.kubernetes.io/component': 'kube-run', 'app.kubernetes.io/managed-by': 'kafkatrace', 'app.kubernetes.io/instance': 'kafkatrace-0a1b2c3d4e' });
    }
  });

  it('carries the script in the ConfigMap byte for byte and never on the command line', () => {
    const s = spec();
    const cm = configMapManifest({ ...s, script: { text: NASTY, file: 'examples/lag.ktr' } }, 'uid-1') as { data: Record<string, string>; metadata: { ownerReferences: unknown[] } };
    expect(cm.data).toEqual({ 'lag.ktr': NASTY });
    expect(cm.metadata.ownerReferences).toEqual([{ apiVersion: 'batch/v1', kind: 'Job', name: s.name, uid: 'uid-1' }]);
    const command = podCommand(s);
    // An argument vector, no shell: the script file by name after `--`, the arguments as given.
    expect(command).toEqual(['kafkatrace', '--duration', '30000ms', '--', 'lag.ktr', 'orders', '-5', '$(id)']);
    expect(JSON.stringify(jobManifest(s))).not.toContain('rm -rf');
    expect(podSpec(jobManifest(s)).containers[0]!.workingDir).toBe('/kafkatrace/script');
    const tool = spec({ script: { tool: 'kafka-lag' }, options: [] });
    expect(podCommand(tool)).toEqual(['kafkatrace', 'run', '--', 'kafka-lag', 'orders', '-5', '$(id)']);
    // A tool carries no ConfigMap, and runs where the image's kafkatrace starts.
    expect(podSpec(jobManifest(tool)).volumes.map((v) => v.name)).toEqual(['tracefs', 'btf']);
    expect(podSpec(jobManifest(tool)).containers[0]!.workingDir).toBeUndefined();
  });

  it('names the script file after the user\'s when Kubernetes allows it as a key', () => {
    expect(scriptKey('dir/lag.ktr')).toBe('lag.ktr');
    expect(scriptKey('my script.ktr')).toBe('script.ktr');
    expect(scriptKey('..')).toBe('script.ktr');
    expect(scriptKey('é.ktr')).toBe('script.ktr');
  });
});

describe('deploy/kube/rbac.yaml', () => {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'kube', 'rbac.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string; metadata: { name: string }; rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[] });
  const models: Record<string, new (o: never) => { validate(): void }> = { Namespace, ClusterRole, Role, ClusterRoleBinding, RoleBinding };

  it('validates against the Kubernetes schemas', () => {
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'ClusterRole', 'Role', 'ClusterRoleBinding', 'RoleBinding']);
    for (const d of docs) expect(() => new models[d.kind]!(d as never).validate(), d.kind).not.toThrow();
  });

  it('defines the namespace as deploy/kubernetes/namespace.yaml does, either file applied first', () => {
    const agents = parse(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'namespace.yaml'), 'utf8')) as unknown;
    expect(docs.find((d) => d.kind === 'Namespace')).toEqual(agents);
  });

  it('grants each request kafkatrace kube makes, and no more', () => {
    const grants = (kind: string) =>
      docs
        .find((d) => d.kind === kind)!
        .rules!.flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${r.apiGroups[0] ? `${res}.${r.apiGroups[0]}` : res}:${v}`)))
        .sort();
    expect(grants('ClusterRole')).toEqual(['nodes:get', 'pods:get']);
    expect(grants('Role')).toEqual(['configmaps:create', 'configmaps:delete', 'events:list', 'jobs.batch:create', 'jobs.batch:delete', 'jobs.batch:get', 'pods/log:get', 'pods:get', 'pods:list']);
  });
});
