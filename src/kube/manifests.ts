// The objects `kafkatrace kube run` creates: a Job whose one pod runs kafkatrace on the chosen node,
// and a ConfigMap that carries the script into it as a file (a script never rides on a command line).
// Pure functions of what the user asked for, so the tests validate them against Kubernetes' schemas.

/** The container's name, which the pod log request names. */
export const CONTAINER = 'kafkatrace';
/** Where the ConfigMap's script is mounted, and the container's working directory. */
export const SCRIPT_DIR = '/kafkatrace/script';
/** The script's key (and file name) when its own name cannot be one. */
const DEFAULT_KEY = 'script.ktr';
/** Kubernetes keeps an object's data under 1 MiB. */
export const MAX_SCRIPT_BYTES = 1_000_000;
/** A finished Job (and its ConfigMap, which it owns) left behind by a kafkatrace that died goes after this long. */
export const TTL_AFTER_FINISHED_S = 300;

/** What one run is: where, what, and with which image. */
export interface KubeRunSpec {
  /** The Job's and the ConfigMap's name, and the `app.kubernetes.io/instance` label of all three. */
  name: string;
  namespace: string;
  node: string;
  image: string;
  /** The Job's activeDeadlineSeconds. */
  deadlineS: number;
  /** A script to carry in the ConfigMap, or a stdlib tool the image's kafkatrace has. */
  script: { text: string; file: string } | { tool: string };
  /** $1, $2, ... */
  args: string[];
  /** Options for the kafkatrace in the pod (--duration, -f), before the script. */
  options: string[];
}

/** The labels on the Job, its pod and the ConfigMap: kafkatrace's, and which run. */
export function runLabels(name: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'kafkatrace',
    'app.kubernetes.io/component': 'kube-run',
    'app.kubernetes.io/managed-by': 'kafkatrace',
    'app.kubernetes.io/instance': name,
  };
}

/** The label selector of a run's pod. */
export function runSelector(name: string): string {
  return `app.kubernetes.io/instance=${name}`;
}

/** The ConfigMap key for a script file: its own name when Kubernetes allows it as a key, so diagnostics name it. */
export function scriptKey(file: string): string {
  const base = file.split('/').pop() ?? '';
  return /^[-._a-zA-Z0-9]{1,253}$/.test(base) && base !== '.' && base !== '..' ? base : DEFAULT_KEY;
}

/** The command of the pod's container: an argument vector, never a shell line. */
export function podCommand(spec: KubeRunSpec): string[] {
  // `--` ends the options: a script name or an argument that starts with `-` stays a positional.
  const target = 'tool' in spec.script ? ['run', ...spec.options, '--', spec.script.tool] : [...spec.options, '--', scriptKey(spec.script.file)];
  return ['kafkatrace', ...target, ...spec.args];
}

export function jobManifest(spec: KubeRunSpec): Record<string, unknown> {
  const labels = runLabels(spec.name);
  const hostPath = (name: string, path: string) => ({ name, hostPath: { path, type: 'Directory' } });
  const volumes: Record<string, unknown>[] = [hostPath('tracefs', '/sys/kernel/tracing'), hostPath('btf', '/sys/kernel/btf')];
  const mounts: Record<string, unknown>[] = [
    { name: 'tracefs', mountPath: '/sys/kernel/tracing', readOnly: true },
    { name: 'btf', mountPath: '/sys/kernel/btf', readOnly: true },
  ];
  if ('text' in spec.script) {
    volumes.push({ name: 'script', configMap: { name: spec.name } });
    mounts.push({ name: 'script', mountPath: SCRIPT_DIR, readOnly: true });
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: spec.name, namespace: spec.namespace, labels },
    spec: {
      // One attempt: a script that fails says why in its log, and a second run would repeat it.
      backoffLimit: 0,
      activeDeadlineSeconds: spec.deadlineS,
      ttlSecondsAfterFinished: TTL_AFTER_FINISHED_S,
      template: {
        metadata: { labels },
        spec: {
          // The node is the user's choice, so the scheduler is bypassed and every taint tolerated.
          nodeName: spec.node,
          tolerations: [{ operator: 'Exists' }],
          restartPolicy: 'Never',
          // The node's processes, so that pids, comm and -p mean what they mean on the node.
          hostPID: true,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          containers: [
            {
              name: CONTAINER,
              image: spec.image,
              command: podCommand(spec),
              // The script's folder, so that its diagnostics name it as the user does.
              ...('text' in spec.script ? { workingDir: SCRIPT_DIR } : {}),
              securityContext: {
                privileged: false,
                allowPrivilegeEscalation: false,
                runAsUser: 0,
                capabilities: {
                  drop: ['ALL'],
                  // BPF, PERFMON: load programs and attach them to tracepoints, uprobes and perf
                  // events. SYS_PTRACE: other processes' /proc/PID/{maps,fd,root} (user symbols,
                  // uprobes in containers, the files a broker sends with sendfile). DAC_READ_SEARCH:
                  // read those files whoever owns them. SYSLOG: kernel addresses in /proc/kallsyms.
                  add: ['BPF', 'PERFMON', 'SYS_PTRACE', 'DAC_READ_SEARCH', 'SYSLOG'],
                },
                // containerd's default profile (1.7 and later) allows bpf(2) and perf_event_open(2)
                // to CAP_BPF and CAP_PERFMON.
                seccompProfile: { type: 'RuntimeDefault' },
              },
              resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: { memory: '2Gi' } },
              volumeMounts: mounts,
            },
          ],
          volumes,
        },
      },
    },
  };
}

/** The ConfigMap holding the script, owned by the Job so that it goes when the Job goes. */
export function configMapManifest(spec: KubeRunSpec & { script: { text: string; file: string } }, jobUid: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: spec.name,
      namespace: spec.namespace,
      labels: runLabels(spec.name),
      ownerReferences: [{ apiVersion: 'batch/v1', kind: 'Job', name: spec.name, uid: jobUid }],
    },
    immutable: true,
    data: { [scriptKey(spec.script.file)]: spec.script.text },
  };
}
