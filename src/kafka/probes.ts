// Exchange → kafka probe firings with flat `args` (integers as bigint, as the runtime's values are):
// `kafka:request` once per exchange; the API's own probe (`kafka:produce`, ...) once per item for
// APIs with per topic-partition items, else once; `kafka:rebalance` and `kafka:member` for the events
// the exchange completed (src/kafka/rebalances.ts), with the exchange's common args.
// `kafka:lag` once per group/topic/partition lag view the exchange changed (src/kafka/lag.ts).
// Exchanges without a response carry latency 0, error 0, error_name '', response_bytes 0 and their
// status ('no_response', 'closed', 'timeout') in `status`.
import { API_KEYS } from './api-names.js';
import type { DecodePlan } from './demand.js';
import type { FieldValue, Fields } from './details.js';
import type { KafkaExchange } from './exchanges.js';
import type { DerivedEvent } from './rebalances.js';

export type ProbeArgs = Record<string, bigint | string>;

export interface ProbeFiring {
  /** Probe name after `kafka:` (lower-case API name, `request` or `rebalance`). */
  probe: string;
  args: ProbeArgs;
}

/** APIs whose probe fires once per item (topic-partition, topic or group). */
const PER_ITEM = new Set<number>([
  API_KEYS.Produce, API_KEYS.Fetch, API_KEYS.ListOffsets, API_KEYS.OffsetCommit, API_KEYS.OffsetFetch,
  API_KEYS.AddPartitionsToTxn, API_KEYS.CreateTopics, API_KEYS.DeleteTopics, API_KEYS.DescribeGroups,
]);

/** Lag args that read -1, not 0, when unknown (the decoder leaves them out then). */
const UNKNOWN_LAG: Record<string, ProbeArgs> = {
  fetch: { lag: -1n, time_lag: -1n },
  offsetcommit: { committed_lag: -1n },
};

function toArg(v: FieldValue): bigint | string {
  if (typeof v === 'string' || typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  return BigInt(Math.trunc(v));
}

function addFields(args: ProbeArgs, fields: Fields): ProbeArgs {
  for (const k in fields) args[k] = toArg(fields[k]!);
  return args;
}

function addArgs(args: ProbeArgs, more: ProbeArgs): void {
  for (const k in more) args[k] = more[k]!;
}

export function commonArgs(ex: KafkaExchange): ProbeArgs {
  const c = ex.connection;
  return {
    api: ex.api,
    api_key: BigInt(ex.api_key),
    version: BigInt(ex.version),
    correlation_id: BigInt(ex.correlation_id),
    client_id: ex.client_id,
    latency: ex.latency ?? 0n,
    error: BigInt(ex.error ?? 0),
    error_name: ex.error_name ?? '',
    role: ex.role,
    status: ex.status,
    request_bytes: BigInt(ex.request_bytes),
    response_bytes: BigInt(ex.response_bytes ?? 0),
    laddr: c.laddr,
    lport: BigInt(c.lport),
    raddr: c.raddr,
    rport: BigInt(c.rport),
  };
}

export function probeFirings(ex: KafkaExchange): ProbeFiring[] {
  // Each firing's args are built afresh rather than copied with `{ ...args }`: V8 gives every object
  // that grows after a spread a hidden class of its own, slow to build and to read; a fresh literal
  // grown field by field shares its hidden class with the other firings of the same probe.
  const withDetails = addFields(commonArgs(ex), ex.details);
  const firings: ProbeFiring[] = [{ probe: 'request', args: withDetails }];
  const probe = probeName(ex.api);
  if (PER_ITEM.has(ex.api_key) && ex.items.length > 0) {
    const unknownLag = UNKNOWN_LAG[probe];
    for (const item of ex.items) {
      // The item's own error (per partition) wins over the exchange's.
      const args = addFields(commonArgs(ex), ex.details);
      if (unknownLag) addArgs(args, unknownLag);
      firings.push({ probe, args: addFields(args, item) });
    }
  } else {
    firings.push({ probe, args: withDetails });
  }
  for (const d of ex.derived ?? []) firings.push({ probe: d.probe, args: addFields(commonArgs(ex), d.fields) });
  for (const view of ex.lag ?? []) firings.push({ probe: 'lag', args: addFields(commonArgs(ex), view) });
  return firings;
}

/** The firing of a derived event completed without an exchange (KafkaDecoder's onDerived). */
export function derivedFiring(ev: DerivedEvent): ProbeFiring {
  const c = ev.connection;
  return { probe: ev.probe, args: addFields({ laddr: c.laddr, lport: BigInt(c.lport), raddr: c.raddr, rport: BigInt(c.rport) }, ev.fields) };
}

const PROBE_NAMES = new Map<string, string>();
/** The probe of an API's name, without a new string per exchange. */
export function probeName(api: string): string {
  let name = PROBE_NAMES.get(api);
  if (name === undefined) PROBE_NAMES.set(api, (name = api.toLowerCase()));
  return name;
}

/** One common arg of an exchange (what commonArgs sets), made only when asked for. */
function commonArg(ex: KafkaExchange, name: string): bigint | string | undefined {
  switch (name) {
    case 'api': return ex.api;
    case 'api_key': return BigInt(ex.api_key);
    case 'version': return BigInt(ex.version);
    case 'correlation_id': return BigInt(ex.correlation_id);
    case 'client_id': return ex.client_id;
    case 'latency': return ex.latency ?? 0n;
    case 'error': return BigInt(ex.error ?? 0);
    case 'error_name': return ex.error_name ?? '';
    case 'role': return ex.role;
    case 'status': return ex.status;
    case 'request_bytes': return BigInt(ex.request_bytes);
    case 'response_bytes': return BigInt(ex.response_bytes ?? 0);
    case 'laddr': return ex.connection.laddr;
    case 'lport': return BigInt(ex.connection.lport);
    case 'raddr': return ex.connection.raddr;
    case 'rport': return BigInt(ex.connection.rport);
    default: return undefined;
  }
}

/** Builds the demanded args of one firing from up to three layers of fields (see compileArgs). */
export type ArgsBuilder = (ex: KafkaExchange, a: Fields | ProbeArgs, b?: Fields | ProbeArgs, c?: Fields) => ProbeArgs;

/**
 * The builder of a demand's args: each arg from the last layer that has it (as probeFirings lets
 * later fields override earlier ones), else from the exchange's common args. Compiled per demand
 * so that each arg is a named property load, not a keyed load by a name that changes each turn.
 * The names come from scripts (args.NAME identifiers) and reach the code JSON-quoted.
 */
export function compileArgs(names: readonly string[]): ArgsBuilder {
  // No arg is named like an Object.prototype member, which a property load would find on any layer.
  const lines = names.filter((name) => !(name in Object.prototype)).map((name) => {
    const n = JSON.stringify(name);
    return [
      `v = c === undefined ? undefined : c[${n}];`,
      `if (v === undefined && b !== undefined) v = b[${n}];`,
      `if (v === undefined) v = a[${n}];`,
      `v = v !== undefined ? toArg(v) : commonArg(ex, ${n});`,
      `if (v !== undefined) args[${n}] = v;`,
    ].join('\n');
  });
  const source = `return function build(ex, a, b, c) {\nconst args = {};\nlet v;\n${lines.join('\n')}\nreturn args;\n};`;
  return new Function('toArg', 'commonArg', source)(toArg, commonArg) as ArgsBuilder;
}

/**
 * probeFirings for a running script: firings only of the probes `plan` has attached, each with
 * only the args the script reads, with the values probeFirings would give them.
 */
export function plannedFirings(ex: KafkaExchange, plan: DecodePlan): ProbeFiring[] {
  const build = plan.buildArgs;
  const firings: ProbeFiring[] = [];
  if (plan.fires('request')) firings.push({ probe: 'request', args: build(ex, ex.details) });
  const probe = probeName(ex.api);
  if (plan.fires(probe)) {
    if (PER_ITEM.has(ex.api_key) && ex.items.length > 0) {
      const unknownLag = UNKNOWN_LAG[probe];
      for (const item of ex.items) firings.push({ probe, args: build(ex, ex.details, unknownLag, item) });
    } else {
      firings.push({ probe, args: build(ex, ex.details) });
    }
  }
  for (const d of ex.derived ?? []) if (plan.fires(d.probe)) firings.push({ probe: d.probe, args: build(ex, d.fields) });
  if (plan.fires('lag')) for (const view of ex.lag ?? []) firings.push({ probe: 'lag', args: build(ex, view) });
  return firings;
}
