// Exchange → kafka probe firings with flat `args` (integers as bigint, as the runtime's values are):
// `kafka:request` once per exchange; the API's own probe (`kafka:produce`, ...) once per item for
// APIs with per topic-partition items, else once; `kafka:rebalance` and `kafka:member` for the events
// the exchange completed (src/kafka/trackers/rebalances.ts), with the common args of their own group's last
// exchange (DerivedEvent.common), not those of the exchange that completed them.
// `kafka:lag` once per group/topic/partition lag view the exchange changed (src/kafka/trackers/lag.ts).
// Exchanges without a response carry latency -1, error 0, error_name '', response_bytes -1 and their
// status ('no_response', 'closed', 'timeout') in `status`. An arg whose value was not seen reads as
// its sentinel in UNKNOWN, never as 0; `incomplete` says when that is because bytes were lost.
import type { DerivedEvent, FieldValue, Fields, KafkaExchange, ProbeArgs, ProbeFiring } from '../model.js';
import { API_KEYS } from '../wire/api-names.js';
import { cached, compile, inherited, literal } from '../wire/generated-code.js';

/** APIs whose probe fires once per item (topic-partition, topic or group). */
const PER_ITEM = new Set<number>([
  API_KEYS.Produce, API_KEYS.Fetch, API_KEYS.ListOffsets, API_KEYS.OffsetCommit, API_KEYS.OffsetFetch,
  API_KEYS.AddPartitionsToTxn, API_KEYS.CreateTopics, API_KEYS.DeleteTopics, API_KEYS.DescribeGroups,
]);

/**
 * What each probe's args read when their value is unknown: not captured, not decoded, absent from
 * the exchange's version, or never sent (no response, acks=0). The decoder leaves such fields out;
 * firings fill them from here. stdlib/kafka-probes.json documents each one ("unknown"), and a test
 * keeps the two in step. Strings not in the table read '' when unknown.
 */
export const UNKNOWN: Readonly<Record<string, ProbeArgs>> = {
  produce: { topic: '', partition: -1n, records: -1n, offsets: -1n, bytes: -1n, acks: -2n, base_offset: -1n },
  fetch: {
    partition: -1n, fetch_offset: -1n, high_watermark: -1n, last_stable_offset: -1n, log_start_offset: -1n, lag: -1n,
    time_lag: -1n, records: -1n, bytes: -1n,
  },
  listoffsets: { partition: -1n, offset: -1n },
  metadata: { topics: -1n, brokers: -1n },
  offsetcommit: { generation: -1n, partition: -1n, committed_offset: -1n, committed_lag: -1n },
  offsetfetch: { partition: -1n, committed_offset: -1n },
  findcoordinator: { node_id: -1n, port: -1n },
  joingroup: { generation: -1n, members: -1n },
  heartbeat: { generation: -1n },
  syncgroup: { generation: -1n, assignments: -1n, join_to_sync: -1n, join_time: -1n },
  describegroups: { members: -1n },
  listgroups: { groups: -1n },
  apiversions: { api_count: -1n },
  initproducerid: { producer_id: -1n, producer_epoch: -1n },
  addpartitionstotxn: { partition: -1n },
  endtxn: { committed: -1n },
  consumergroupheartbeat: { member_epoch: -1n },
  lag: { partition: -1n, high_watermark: -1n, committed_offset: -1n, committed_lag: -1n, fetch_offset: -1n, lag: -1n },
  rebalance: { previous_generation: -1n, synced: -1n, sync_failed: -1n, duration: -1n, departed: -1n, assigned_partitions: -1n },
  member: { generation: -1n },
};

const NO_LATENCY = -1n;
const NO_RESPONSE_BYTES = -1;
/** The common args with an unknown sentinel: an exchange without a response has neither. */
export const UNKNOWN_COMMON: Readonly<ProbeArgs> = { latency: NO_LATENCY, response_bytes: BigInt(NO_RESPONSE_BYTES) };

const NO_UNKNOWN: ProbeArgs = {};

/** The unknown sentinels of a probe's args (UNKNOWN). */
export function unknownArgs(probe: string): ProbeArgs {
  return UNKNOWN[probe] ?? NO_UNKNOWN;
}

/** Sets the args of `unknown` that `args` lacks. */
function addUnknown(args: ProbeArgs, unknown: ProbeArgs): ProbeArgs {
  for (const k in unknown) if (args[k] === undefined) args[k] = unknown[k]!;
  return args;
}

function toArg(v: FieldValue): bigint | string {
  if (typeof v === 'string' || typeof v === 'bigint') return v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  return BigInt(Math.trunc(v));
}

function addFields(args: ProbeArgs, fields: Fields): ProbeArgs {
  for (const k in fields) args[k] = toArg(fields[k]!);
  return args;
}

export function commonArgs(ex: KafkaExchange): ProbeArgs {
  const c = ex.connection;
  return {
    api: ex.api,
    api_key: BigInt(ex.api_key),
    version: BigInt(ex.version),
    correlation_id: BigInt(ex.correlation_id),
    client_id: ex.client_id,
    latency: ex.latency ?? NO_LATENCY,
    error: BigInt(ex.error ?? 0),
    error_name: ex.error_name ?? '',
    role: ex.role,
    status: ex.status,
    incomplete: ex.incomplete ? 1n : 0n,
    request_bytes: BigInt(ex.request_bytes),
    response_bytes: BigInt(ex.response_bytes ?? NO_RESPONSE_BYTES),
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
  const firings: ProbeFiring[] = [{ probe: 'request', args: addFields(commonArgs(ex), ex.details) }];
  const probe = probeName(ex.api);
  const unknown = unknownArgs(probe);
  if (PER_ITEM.has(ex.api_key) && ex.items.length > 0) {
    for (const item of ex.items) {
      // The item's own error (per partition) wins over the exchange's.
      firings.push({ probe, args: addUnknown(addFields(addFields(commonArgs(ex), ex.details), item), unknown) });
    }
  } else {
    firings.push({ probe, args: addUnknown(addFields(commonArgs(ex), ex.details), unknown) });
  }
  for (const d of ex.derived ?? []) firings.push(derivedFiring(d));
  for (const view of ex.lag ?? []) firings.push({ probe: 'lag', args: addFields(commonArgs(ex), view) });
  return firings;
}

/**
 * The firing of a derived event: its own fields over the common args of the exchange it was last
 * seen on (its own group's), whichever exchange was being decoded when it completed.
 */
export function derivedFiring(ev: DerivedEvent): ProbeFiring {
  return { probe: ev.probe, args: addUnknown(addFields({ ...ev.common }, ev.fields), unknownArgs(ev.probe)), connection: ev.connection, nsecs: ev.ts };
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
    case 'latency': return ex.latency ?? NO_LATENCY;
    case 'error': return BigInt(ex.error ?? 0);
    case 'error_name': return ex.error_name ?? '';
    case 'role': return ex.role;
    case 'status': return ex.status;
    case 'incomplete': return ex.incomplete ? 1n : 0n;
    case 'request_bytes': return BigInt(ex.request_bytes);
    case 'response_bytes': return BigInt(ex.response_bytes ?? NO_RESPONSE_BYTES);
    case 'laddr': return ex.connection.laddr;
    case 'lport': return BigInt(ex.connection.lport);
    case 'raddr': return ex.connection.raddr;
    case 'rport': return BigInt(ex.connection.rport);
    default: return undefined;
  }
}

/**
 * Builds the demanded args of one firing from up to two layers of fields, the exchange and the
 * probe's unknown sentinels (see compileArgs).
 */
export type ArgsBuilder = (ex: KafkaExchange, unknown: ProbeArgs, a: Fields | ProbeArgs, b?: Fields) => ProbeArgs;

/**
 * The builder of a demand's args: each arg from the last layer that has it (as probeFirings lets
 * later fields override earlier ones), else from the exchange's common args, else its unknown
 * sentinel. Compiled per demand
 * so that each arg is a named property load, not a keyed load by a name that changes each turn.
 * The names come from scripts (args.NAME identifiers) and reach the code as literals.
 */
export function compileArgs(names: readonly string[]): ArgsBuilder {
  return cached(`args ${names.map(literal).join(',')}`, () => generateArgs(names));
}

function generateArgs(names: readonly string[]): ArgsBuilder {
  const lines = names.filter((name) => !inherited(name)).map((name) => {
    const n = literal(name);
    return [
      `v = b === undefined ? undefined : b[${n}];`,
      `if (v === undefined) v = a[${n}];`,
      `v = v !== undefined ? toArg(v) : commonArg(ex, ${n});`,
      `if (v === undefined) v = u[${n}];`,
      `if (v !== undefined) args[${n}] = v;`,
    ].join('\n');
  });
  const source = `return function build(ex, u, a, b) {\nconst args = {};\nlet v;\n${lines.join('\n')}\nreturn args;\n};`;
  return compile<ArgsBuilder>(['toArg', 'commonArg'], source, [toArg, commonArg]);
}

/** What plannedFirings reads of a running script's plan (demand.ts's DecodePlan). */
export interface FiringPlan {
  readonly args: ReadonlySet<string>;
  readonly buildArgs: ArgsBuilder;
  /** Whether firings of the probe are built at all. */
  fires(probe: string): boolean;
}

/**
 * probeFirings for a running script: firings only of the probes `plan` has attached, each with
 * only the args the script reads, with the values probeFirings would give them.
 */
export function plannedFirings(ex: KafkaExchange, plan: FiringPlan): ProbeFiring[] {
  const build = plan.buildArgs;
  const firings: ProbeFiring[] = [];
  if (plan.fires('request')) firings.push({ probe: 'request', args: build(ex, NO_UNKNOWN, ex.details) });
  const probe = probeName(ex.api);
  if (plan.fires(probe)) {
    const unknown = unknownArgs(probe);
    if (PER_ITEM.has(ex.api_key) && ex.items.length > 0) {
      for (const item of ex.items) firings.push({ probe, args: build(ex, unknown, ex.details, item) });
    } else {
      firings.push({ probe, args: build(ex, unknown, ex.details) });
    }
  }
  for (const d of ex.derived ?? []) if (plan.fires(d.probe)) firings.push({ probe: d.probe, args: plannedDerived(d, plan), connection: d.connection, nsecs: d.ts });
  if (plan.fires('lag')) for (const view of ex.lag ?? []) firings.push({ probe: 'lag', args: build(ex, NO_UNKNOWN, view) });
  return firings;
}

/** A derived event's firing with only the args `plan` demands. */
export function plannedDerived(ev: DerivedEvent, plan: FiringPlan): ProbeArgs {
  const all = derivedFiring(ev).args;
  const args: ProbeArgs = {};
  for (const name of plan.args) if (all[name] !== undefined) args[name] = all[name]!;
  return args;
}
