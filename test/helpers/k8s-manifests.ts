// Kubernetes manifests judged by the Kubernetes OpenAPI schemas (kubernetes-models, and the
// Prometheus Operator's CRD schemas from @kubernetes-models/prometheus-operator), strictly: a field
// the schema does not define is a problem too, as `kubectl apply --validate=strict` has it.
import { PodMonitor, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { ConfigMap, Namespace, Service } from 'kubernetes-models/v1';

interface ModelClass {
  // The models type their data by kind; a manifest read from YAML is judged by their validators.
  new (data: any): { validate(): void; toJSON(): object };
}

const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/DaemonSet': DaemonSet,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

/** What the validator read of each object: its fields, or all of them when it listed its keys (maps). */
interface Reads {
  keys: Set<string>;
  listed: boolean;
}

/**
 * The schema's complaints about `manifest`, then the paths of the fields it does not define. The
 * compiled validators read every field their schema defines and list the keys only of free-form
 * maps (labels, data), so a field never read is one the schema does not know.
 */
export function manifestProblems(manifest: Record<string, unknown>): string[] {
  const model = MODELS[`${String(manifest['apiVersion'])}/${String(manifest['kind'])}`];
  if (!model) return [`no schema for ${String(manifest['apiVersion'])} ${String(manifest['kind'])}`];
  const data = new model(manifest).toJSON();
  const reads = new WeakMap<object, Reads>();
  const proxies = new WeakMap<object, object>();
  const watch = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    let proxy = proxies.get(value);
    if (!proxy) {
      const r: Reads = { keys: new Set(), listed: false };
      reads.set(value, r);
      proxy = new Proxy(value, {
        get(target, key, receiver) {
          if (typeof key === 'string') r.keys.add(key);
          return watch(Reflect.get(target, key, receiver));
        },
        has(target, key) {
          if (typeof key === 'string') r.keys.add(key);
          return Reflect.has(target, key);
        },
        ownKeys(target) {
          r.listed = true;
          return Reflect.ownKeys(target);
        },
      });
      proxies.set(value, proxy);
    }
    return proxy;
  };
  try {
    model.prototype.validate.call(watch(data));
  } catch (e) {
    return [(e as Error).message];
  }
  const unknown: string[] = [];
  const walk = (value: unknown, path: string): void => {
    if (value === null || typeof value !== 'object') return;
    const r = reads.get(value);
    if (!r) return;
    for (const [k, v] of Object.entries(value)) {
      if (!Array.isArray(value) && !r.listed && !r.keys.has(k)) unknown.push(`${path}/${k}: not a field of the schema`);
      else walk(v, `${path}/${k}`);
    }
  };
  walk(data, '');
  return unknown;
}
