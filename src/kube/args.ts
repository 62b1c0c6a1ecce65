// `kafkatrace kube run`'s command line, in the spirit of kubectl-trace: a target (node/NAME,
// pod/NAME, or --node / --pod), a script (-e, FILE, or --tool NAME), and where and how to run it.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KtError } from '../errors.js';
import { packageRoot } from '../package-root.js';

/** The image deploy/Containerfile builds for this version. */
export function defaultImage(): string {
  const { version } = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string };
  return `kafkatrace:${version}`;
}

export interface KubeRunOptions {
  target: { node: string } | { pod: string; namespace?: string };
  program?: string;
  file?: string;
  tool?: string;
  args: string[];
  image: string;
  namespace?: string;
  kubeconfig?: string;
  context?: string;
  timeoutMs: number;
  /** Given to the kafkatrace in the pod. */
  durationMs?: number;
  format?: 'text' | 'json';
}

export type KubeCommand = { help: true } | ({ help: false } & KubeRunOptions);

export const DEFAULT_TIMEOUT_MS = 3_600_000;

export const KUBE_HELP = (): string => `kafkatrace kube: run a script or a stdlib tool on a Kubernetes node, stream its output, clean up

USAGE
  kafkatrace kube run node/NODE | pod/[NAMESPACE/]POD  (-e 'PROGRAM' | FILE | --tool NAME) [options] [ARGS...]
  kafkatrace kube run --node NODE | --pod [NAMESPACE/]POD  ...

Creates a Job pinned to the node (the pod's node for a pod) whose one pod runs kafkatrace with the
node's processes in view (hostPID, CAP_BPF and CAP_PERFMON, not privileged), and a ConfigMap that
carries the script to it; streams the pod's output (its stdout and stderr) to standard output; and
deletes both when the script ends, on Ctrl-C (the pod is stopped first, so END and the maps are
printed) and on any failure. The exit status is the script's own, 0 after Ctrl-C, 1 when kafkatrace
kube itself fails (one line on stderr).

OPTIONS
  --node NODE         the node to trace
  --pod [NS/]POD      trace the node this pod runs on (its namespace: NS, else --namespace)
  -e PROGRAM          the script text
  FILE                a script file
  --tool NAME         a stdlib tool, as the image's kafkatrace has it (kafkatrace run --list)
  ARGS                the script's $1, $2, ... (after --, those that start with - too)
  -n, --namespace NS  where the Job and ConfigMap go (default: the context's namespace, else default)
  --image IMAGE       the kafkatrace image, with kafkatrace on its PATH (default ${defaultImage()},
                      as deploy/Containerfile builds it)
  --kubeconfig FILE   the kubeconfig (default: KUBECONFIG, else ~/.kube/config, else the pod's
                      service account when run inside a cluster)
  --context NAME      a context of the kubeconfig other than its current one
  --timeout TIME      the Job's deadline (activeDeadlineSeconds), image pull included (default 1h):
                      Kubernetes stops the pod then, and kafkatrace kube fails
  --duration TIME     stop the script after TIME, as kafkatrace --duration (less than --timeout)
  -f text|json        the output format of the kafkatrace in the pod
  -h, --help          this help
`;

/** "30s", "2m", ... as the main command line takes them. */
function duration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new KtError('usage', `${option} takes a duration such as 30s, 5m or 1h, not '${text}'`);
  return Math.round(Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!);
}

/** A name Kubernetes accepts for a node, a pod or a namespace (a DNS subdomain). */
function objectName(text: string, what: string): string {
  if (!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(text)) throw new KtError('usage', `${what} '${text}' is not a Kubernetes name`);
  return text;
}

function podTarget(text: string): { pod: string; namespace?: string } {
  const parts = text.split('/');
  if (parts.length > 2) throw new KtError('usage', `--pod takes POD or NAMESPACE/POD, not '${text}'`);
  return parts.length === 2 ? { namespace: objectName(parts[0]!, 'namespace'), pod: objectName(parts[1]!, 'pod') } : { pod: objectName(parts[0]!, 'pod') };
}

/** Parses what follows `kafkatrace kube`. */
export function parseKubeArgs(argv: string[]): KubeCommand {
  if (argv[0] === '-h' || argv[0] === '--help' || argv.length === 0) return { help: true };
  if (argv[0] !== 'run') throw new KtError('usage', `kube takes run, not '${argv[0]}' (kafkatrace kube --help)`);
  let parsed;
  try {
    parsed = parseArgs({
      args: argv.slice(1),
      allowPositionals: true,
      strict: true,
      options: {
        node: { type: 'string' },
        pod: { type: 'string' },
        e: { type: 'string' },
        tool: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        image: { type: 'string' },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        timeout: { type: 'string' },
        duration: { type: 'string' },
        f: { type: 'string' },
        h: { type: 'boolean' },
        help: { type: 'boolean' },
      },
    });
  } catch (e) {
    throw new KtError('usage', `kube run: ${(e as Error).message.replace(/^TypeError \[\w+\]: /, '').split('\n')[0]}`);
  }
  const v = parsed.values;
  if (v.h || v.help) return { help: true };
  const positionals = [...parsed.positionals];
  let target: KubeRunOptions['target'] | undefined;
  if (v.node !== undefined && v.pod !== undefined) throw new KtError('usage', 'kube run takes --node or --pod, not both');
  if (v.node !== undefined) target = { node: objectName(v.node, 'node') };
  else if (v.pod !== undefined) target = podTarget(v.pod);
  else if (/^(node|pod)\//.test(positionals[0] ?? '')) {
    const [kind, ...rest] = positionals.shift()!.split('/');
    target = kind === 'node' ? { node: objectName(rest.join('/'), 'node') } : podTarget(rest.join('/'));
  }
  if (!target) throw new KtError('usage', 'kube run needs a target: node/NODE, pod/[NAMESPACE/]POD, --node or --pod');

  const sources = [v.e !== undefined, v.tool !== undefined].filter(Boolean).length;
  if (sources > 1) throw new KtError('usage', 'kube run takes one of -e PROGRAM, FILE and --tool NAME');
  const opts: KubeRunOptions = {
    target,
    args: [],
    image: v.image ?? defaultImage(),
    namespace: v.namespace === undefined ? undefined : objectName(v.namespace, 'namespace'),
    kubeconfig: v.kubeconfig,
    context: v.context,
    timeoutMs: v.timeout === undefined ? DEFAULT_TIMEOUT_MS : duration(v.timeout, '--timeout'),
  };
  if (v.e !== undefined) opts.program = v.e;
  else if (v.tool !== undefined) {
    if (!/^[a-z0-9][-a-z0-9_]*$/.test(v.tool)) throw new KtError('usage', `--tool takes a stdlib tool name, not '${v.tool}'`);
    opts.tool = v.tool;
  } else {
    opts.file = positionals.shift();
    if (opts.file === undefined) throw new KtError('usage', 'kube run needs a script: -e PROGRAM, FILE or --tool NAME');
  }
  opts.args = positionals;
  if (opts.image === '' || /\s/.test(opts.image)) throw new KtError('usage', `--image takes an image reference, not '${opts.image}'`);
  if (opts.timeoutMs < 1000) throw new KtError('usage', '--timeout must be at least 1s');
  if (v.duration !== undefined) {
    opts.durationMs = duration(v.duration, '--duration');
    if (opts.durationMs >= opts.timeoutMs) throw new KtError('usage', '--duration must be less than --timeout (the Job would be stopped before the script)');
  }
  if (v.f !== undefined) {
    if (v.f !== 'text' && v.f !== 'json') throw new KtError('usage', `-f takes text or json, not '${v.f}'`);
    opts.format = v.f;
  }
  return { help: false, ...opts };
}
