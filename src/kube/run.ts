// `kafkatrace kube run`: find the node, create the Job and the ConfigMap, wait for the pod, follow
// its log to standard output, and delete what it created however the run ends (the script ends, it
// fails, Ctrl-C, SIGTERM, the reader of the output goes away, kafkatrace kube fails). A Job left by a
// kafkatrace kube that was killed outright ends at its deadline and goes after ttlSecondsAfterFinished.
import { randomBytes } from 'node:crypto';
import { StringDecoder } from 'node:string_decoder';
import { KtError } from '../errors.js';
import { escapeControls } from '../runtime/format/value.js';
import type { KubeRunOptions } from './args.js';
import { KubeApiError, KubeClient } from './client.js';
import { loadKubeConfig } from './kubeconfig.js';
import { CONTAINER, configMapManifest, jobManifest, MAX_SCRIPT_BYTES, runSelector, type KubeRunSpec } from './manifests.js';

export interface KubeRunContext {
  /** The pod's log. */
  write: (s: string) => void;
  /** kafkatrace kube's own messages. */
  writeError: (s: string) => void;
  /** Reads a script file (the CLI's reader, with its messages). */
  readScript: (file: string) => { text: string; file: string };
  /** Calls `l` when standard output can no longer be written; returns the unsubscription. */
  onOutputClosed: (l: () => void) => () => void;
}

/** Waiting reasons from which a container never starts by itself. */
const STUCK = new Set(['ImagePullBackOff', 'ErrImageNeverPull', 'InvalidImageName', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);
/** How long the pod's final state may take to show once its log has ended. */
const FINAL_STATE_MS = 30_000;
/** How often the pod's state is read while it starts and ends. */
const POLL_MS = 500;
/** How long a stopped pod may take to print its END and maps. */
const STOP_GRACE_MS = 30_000;

interface ContainerState {
  waiting?: { reason?: string; message?: string };
  running?: object;
  terminated?: { exitCode?: number; reason?: string; message?: string };
}

interface Pod {
  metadata?: { name?: string };
  spec?: { nodeName?: string };
  status?: { phase?: string; reason?: string; message?: string; containerStatuses?: { name?: string; state?: ContainerState }[] };
}

function containerState(pod: Pod): ContainerState | undefined {
  return pod.status?.containerStatuses?.find((c) => c.name === CONTAINER)?.state;
}

/** Fails with one line; what the server said in it (pod reasons, messages) is anyone's text. */
function fail(message: string): never {
  throw new KtError('kube-api', escapeControls(message));
}

/** A message for a request the server refused; `what` says what was being done. */
function refused(e: unknown, what: string): never {
  if (e instanceof KubeApiError) {
    const hint = e.status === 403 ? ' (deploy/kube/rbac.yaml grants what kafkatrace kube needs)' : '';
    fail(`${what}: ${e.message}${hint}`);
  }
  throw e;
}

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });

const path = {
  node: (name: string) => `/api/v1/nodes/${encodeURIComponent(name)}`,
  pod: (ns: string, name: string) => `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}`,
  pods: (ns: string, selector: string) => `/api/v1/namespaces/${encodeURIComponent(ns)}/pods?labelSelector=${encodeURIComponent(selector)}`,
  // Creations ask for strict field validation: a field the server does not know fails, never vanishes.
  jobs: (ns: string) => `/apis/batch/v1/namespaces/${encodeURIComponent(ns)}/jobs?fieldValidation=Strict`,
  job: (ns: string, name: string) => `/apis/batch/v1/namespaces/${encodeURIComponent(ns)}/jobs/${encodeURIComponent(name)}`,
  configMaps: (ns: string) => `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps?fieldValidation=Strict`,
  configMap: (ns: string, name: string) => `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps/${encodeURIComponent(name)}`,
  jobEvents: (ns: string, name: string) => `/api/v1/namespaces/${encodeURIComponent(ns)}/events?fieldSelector=${encodeURIComponent(`involvedObject.kind=Job,involvedObject.name=${name}`)}`,
  log: (ns: string, name: string) => `/api/v1/namespaces/${encodeURIComponent(ns)}/pods/${encodeURIComponent(name)}/log?container=${CONTAINER}&follow=true`,
};

/** The node to run on: the one named, after checking it exists, or the pod's. */
async function resolveNode(client: KubeClient, opts: KubeRunOptions, namespace: string): Promise<string> {
  if ('node' in opts.target) {
    const node = opts.target.node;
    await client.request('GET', path.node(node)).catch((e: unknown) => {
      if (e instanceof KubeApiError && e.status === 404) fail(`no node named ${node}`);
      refused(e, `cannot read node ${node}`);
    });
    return node;
  }
  const ns = opts.target.namespace ?? namespace;
  const name = `${ns}/${opts.target.pod}`;
  const pod = await client.request<Pod>('GET', path.pod(ns, opts.target.pod)).catch((e: unknown) => {
    if (e instanceof KubeApiError && e.status === 404) fail(`no pod named ${name}`);
    refused(e, `cannot read pod ${name}`);
  });
  const node = pod.spec?.nodeName;
  if (!node) fail(`pod ${name} is not on a node yet (it has not been scheduled)`);
  return node;
}

/** Runs the command; resolves to the exit status. */
export async function kubeRun(opts: KubeRunOptions, ctx: KubeRunContext): Promise<number> {
  const script: KubeRunSpec['script'] = opts.tool !== undefined ? { tool: opts.tool } : opts.program !== undefined ? { text: opts.program, file: 'script.ktr' } : ctx.readScript(opts.file!);
  if ('text' in script && Buffer.byteLength(script.text) > MAX_SCRIPT_BYTES) throw new KtError('usage', `the script is larger than a ConfigMap holds (${MAX_SCRIPT_BYTES} bytes)`);
  const conn = loadKubeConfig({ path: opts.kubeconfig, context: opts.context });
  const client = new KubeClient(conn, (text) => ctx.writeError(`kafkatrace kube: warning from the API server: ${text}\n`));
  const namespace = opts.namespace ?? conn.namespace;
  const node = await resolveNode(client, opts, namespace);

  const options: string[] = [];
  if (opts.durationMs !== undefined) options.push('--duration', `${opts.durationMs}ms`);
  if (opts.format !== undefined) options.push('-f', opts.format);
  const spec: KubeRunSpec = {
    name: `kafkatrace-${randomBytes(5).toString('hex')}`,
    namespace,
    node,
    image: opts.image,
    deadlineS: Math.ceil(opts.timeoutMs / 1000),
    script,
    args: opts.args,
    options,
  };
  return new Run(client, spec, ctx).run();
}

class Run {
  /** Aborted by Ctrl-C, SIGTERM or a closed output: the run stops and cleans up. */
  private readonly stop = new AbortController();
  /** Aborted by a second Ctrl-C, or once the stopped pod had its time: the log is left. */
  private readonly leave = new AbortController();
  private created = { job: false, configMap: false };

  constructor(
    private readonly client: KubeClient,
    private readonly spec: KubeRunSpec,
    private readonly ctx: KubeRunContext,
  ) {}

  /** A message on stderr; what the server said in it is anyone's text. */
  private say(line: string): void {
    this.ctx.writeError(`kafkatrace kube: ${escapeControls(line)}\n`);
  }

  async run(): Promise<number> {
    const onSignal = (): void => {
      if (this.stop.signal.aborted) this.leave.abort();
      else this.stop.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const unsubscribe = this.ctx.onOutputClosed(() => {
      this.stop.abort();
      this.leave.abort();
    });
    try {
      return await this.trace();
    } finally {
      await this.cleanUp();
      unsubscribe();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  }

  private async trace(): Promise<number> {
    const { spec, client } = this;
    const job = await client.request<{ metadata?: { uid?: string } }>('POST', path.jobs(spec.namespace), jobManifest(spec)).catch((e: unknown) => refused(e, `cannot create Job ${spec.namespace}/${spec.name}`));
    this.created.job = true;
    if ('text' in spec.script) {
      const uid = job.metadata?.uid;
      if (!uid) fail(`the API server gave Job ${spec.namespace}/${spec.name} no uid`);
      await client.request('POST', path.configMaps(spec.namespace), configMapManifest({ ...spec, script: spec.script }, uid)).catch((e: unknown) => refused(e, `cannot create ConfigMap ${spec.namespace}/${spec.name}`));
      this.created.configMap = true;
    }
    this.say(`Job ${spec.namespace}/${spec.name} on node ${spec.node}: waiting for its pod`);

    const pod = await this.started();
    if (pod === undefined) return 0;
    const decoder = new StringDecoder('utf8');
    const stopped = this.stop.signal;
    stopped.addEventListener('abort', () => void this.stopPod(), { once: true });
    try {
      await client.follow(path.log(spec.namespace, pod), (chunk) => this.ctx.write(decoder.write(chunk)), this.leave.signal);
    } catch (e) {
      if (!stopped.aborted) refused(e, `cannot read the log of pod ${spec.namespace}/${pod}`);
    }
    const rest = decoder.end();
    if (rest) this.ctx.write(rest);
    if (stopped.aborted) return 0;
    return this.exitStatus(pod);
  }

  /**
   * Ctrl-C stops the pod by deleting the Job: its kafkatrace gets SIGTERM and prints END and the
   * maps into the log, which is followed until it ends, for STOP_GRACE_MS at most.
   */
  private async stopPod(): Promise<void> {
    if (this.leave.signal.aborted) return;
    await this.deleteJob();
    await sleep(STOP_GRACE_MS, this.leave.signal);
    this.leave.abort();
  }

  /** The pod's name once its container runs or has run; undefined when the run was stopped first. */
  private async started(): Promise<string | undefined> {
    const { spec, client } = this;
    const signal = this.stop.signal;
    while (!signal.aborted) {
      const list = await client.request<{ items?: Pod[] }>('GET', path.pods(spec.namespace, runSelector(spec.name)), undefined, signal).catch((e: unknown) => {
        if (signal.aborted) return { items: [] };
        return refused(e, `cannot list the pods of Job ${spec.namespace}/${spec.name}`);
      });
      for (const pod of list.items ?? []) {
        const name = pod.metadata?.name ?? '';
        const state = containerState(pod);
        if (state?.running || state?.terminated) return name;
        const reason = state?.waiting?.reason;
        if (reason !== undefined && STUCK.has(reason)) fail(`pod ${spec.namespace}/${name} cannot start: ${reason}${state?.waiting?.message ? `: ${state.waiting.message}` : ''}`);
        if (pod.status?.phase === 'Failed') fail(`pod ${spec.namespace}/${name} failed before it ran: ${pod.status.reason ?? 'no reason given'}${pod.status.message ? `: ${pod.status.message}` : ''}`);
      }
      if ((list.items ?? []).length === 0) await this.jobProblem();
      await sleep(POLL_MS, signal);
    }
    return undefined;
  }

  /**
   * Fails when the Job has no pod and will have none: it failed (its deadline passed first), or the
   * Job controller may not create its pod (Pod Security admission refuses hostPID and added
   * capabilities outside a privileged namespace), which shows only as a FailedCreate event.
   */
  private async jobProblem(): Promise<void> {
    const { spec } = this;
    const job = await this.client.request<{ status?: { conditions?: { type?: string; status?: string; reason?: string; message?: string }[] } }>('GET', path.job(spec.namespace, spec.name), undefined, this.stop.signal).catch(() => undefined);
    const failed = job?.status?.conditions?.find((c) => c.type === 'Failed' && c.status === 'True');
    if (failed) fail(`Job ${spec.namespace}/${spec.name} failed: ${failed.reason ?? ''}${failed.message ? `: ${failed.message}` : ''}`);
    // Events are a hint: without the right to list them, the wait goes on to the deadline.
    const events = await this.client.request<{ items?: { reason?: string; message?: string }[] }>('GET', path.jobEvents(spec.namespace, spec.name), undefined, this.stop.signal).catch(() => undefined);
    const refusal = events?.items?.find((e) => e.reason === 'FailedCreate');
    if (refusal) fail(`Job ${spec.namespace}/${spec.name} cannot create its pod: ${refusal.message ?? 'no message'}`);
  }

  /**
   * The container's exit status, once the pod says it. A status that never shows is a failure,
   * never 0; so is a Job that Kubernetes stopped at its deadline, whatever its pod's status.
   */
  private async exitStatus(pod: string): Promise<number> {
    const { spec, client } = this;
    const until = Date.now() + FINAL_STATE_MS;
    let status: number | undefined;
    let gone = false;
    while (!this.stop.signal.aborted) {
      let p: Pod | undefined;
      try {
        p = await client.request<Pod>('GET', path.pod(spec.namespace, pod), undefined, this.stop.signal);
      } catch (e) {
        if (this.stop.signal.aborted) return 0;
        if (!(e instanceof KubeApiError && e.status === 404)) refused(e, `cannot read pod ${spec.namespace}/${pod}`);
      }
      const terminated = p && containerState(p)?.terminated;
      if (terminated && typeof terminated.exitCode === 'number') {
        // Beyond a script's own exit: OOMKilled, or StartError when the image has no kafkatrace on its PATH.
        if (terminated.reason !== undefined && !['Completed', 'Error'].includes(terminated.reason)) this.say(`pod ${spec.namespace}/${pod} ended: ${terminated.reason}${terminated.message ? `: ${terminated.message}` : ''}`);
        status = terminated.exitCode;
        break;
      }
      gone = p === undefined;
      if (gone || Date.now() > until) break;
      await sleep(POLL_MS, this.stop.signal);
    }
    if (this.stop.signal.aborted) return 0;
    if (await this.deadlinePassed()) fail(`Job ${spec.namespace}/${spec.name} reached its --timeout (activeDeadlineSeconds: ${spec.deadlineS}) and Kubernetes stopped it`);
    if (status === undefined) fail(`the log of pod ${spec.namespace}/${pod} ended but the pod ${gone ? 'is gone' : 'has not ended'}, so its exit status is unknown`);
    return status;
  }

  private async deadlinePassed(): Promise<boolean> {
    const { spec } = this;
    const job = await this.client.request<{ status?: { conditions?: { type?: string; status?: string; reason?: string }[] } }>('GET', path.job(spec.namespace, spec.name)).catch(() => undefined);
    return !!job?.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True' && c.reason === 'DeadlineExceeded');
  }

  private jobDeleted?: Promise<void>;

  /** Deletes the Job and, with it, its pod (Foreground: the Job stays until the pod is gone). */
  private deleteJob(): Promise<void> {
    this.jobDeleted ??= this.delete(path.job(this.spec.namespace, this.spec.name), `Job ${this.spec.namespace}/${this.spec.name}`);
    return this.jobDeleted;
  }

  private async delete(at: string, what: string): Promise<void> {
    try {
      await this.client.request('DELETE', at, { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Foreground' });
    } catch (e) {
      if (e instanceof KubeApiError && e.status === 404) return;
      this.say(`could not delete ${what}: ${e instanceof Error ? e.message : String(e)}; delete it with kubectl delete -n ${this.spec.namespace} ${what.split(' ')[0]!.toLowerCase()} ${this.spec.name}`);
    }
  }

  private async cleanUp(): Promise<void> {
    // A second Ctrl-C leaves the log, not the clean-up.
    this.stop.abort();
    this.leave.abort();
    if (this.created.job) await this.deleteJob();
    if (this.created.configMap) await this.delete(path.configMap(this.spec.namespace, this.spec.name), `ConfigMap ${this.spec.namespace}/${this.spec.name}`);
  }
}

