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
import { COMMON_ARGS, PROBES, type ArgSpec, type CommonArg } from './args.js';

/** APIs whose probe fires once per item (topic-partition, topic or group). */
const PER_ITEM = new Set<number>([
  API_KEYS.Produce, API_KEYS.Fetch, API_KEYS.ListOffsets, API_KEYS.OffsetCommit, API_KEYS.OffsetFetch,
  API_KEYS.AddPartitionsToTxn, API_KEYS.CreateTopics, API_KEYS.DeleteTopics, API_KEYS.DescribeGroups,
  API_KEYS.ConsumerGroupDescribe, API_KEYS.ShareFetch, API_KEYS.ShareAcknowledge,
]);

/** A sentinel as an arg's value. */
const sentinel = (v: number | string): bigint | string => (typeof v === 'number' ? BigInt(v) : v);

function unknownOf(args: readonly ArgSpec[]): ProbeArgs {
  const out: ProbeArgs = {};
  for (const a of args) if (a.unknown !== undefined) out[a.name] = sentinel(a.unknown);
  return out;
}

/**
 * What each probe's args read when their value is unknown (args.ts): not captured, not decoded,
 * absent from the exchange's version, or never sent (no response, acks=0). The decoder leaves such
 * fields out; firings fill them from here. Strings without a sentinel read '' when unknown.
 */
export const UNKNOWN: Readonly<Record<string, ProbeArgs>> = Object.fromEntries(
  PROBES.map((p) => [p.name, unknownOf(p.args)] as const).filter(([, u]) => Object.keys(u).length > 0),
);

/** The common args with an unknown sentinel: an exchange without a response has neither. */
export const UNKNOWN_COMMON: Readonly<ProbeArgs> = unknownOf(COMMON_ARGS);

const NO_UNKNOWN: ProbeArgs = {};

/** The unknown sentinels of a probe's args (UNKNOWN). */
export function unknownArgs(probe: string): ProbeArgs {
  return UNKNOWN[probe] ?? NO_UNKNOWN;
}

/** The counts a per-item probe's args read when a whole exchange named no item: none, seen. */
const NONE_SEEN = new Map<string, ProbeArgs>(
  PROBES.map((p) => [p.name, Object.fromEntries(p.args.filter((a) => a.name === 'records' || a.name === 'bytes').map((a) => [a.name, 0n]))] as const),
);

/**
 * The args a per-item probe's one firing reads where its exchange has no item: an incremental
 * Fetch with nothing new was seen whole and carries 0 records; without its response, or with bytes
 * lost, the counts stay unknown.
 */
function noItems(ex: KafkaExchange, probe: string): ProbeArgs {
  return ex.status === 'complete' && !ex.incomplete ? (NONE_SEEN.get(probe) ?? NO_UNKNOWN) : NO_UNKNOWN;
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

/**
 * The common args of an exchange, built as one object literal calling each getter at a site of its
 * own (a loop over the table stores by a name that changes each turn and calls through one
 * megamorphic site: about twice as slow per firing). The names are the table's, quoted by literal().
 */
export const commonArgs = compile<(ex: KafkaExchange) => ProbeArgs>(
  ['get'],
  `return function commonArgs(ex) {\nreturn { ${COMMON_ARGS.map((a, i) => `${literal(a.name)}: get[${i}](ex)`).join(', ')} };\n};`,
  [COMMON_ARGS.map((a) => a.get)],
);

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
    const none = PER_ITEM.has(ex.api_key) ? noItems(ex, probe) : NO_UNKNOWN;
    firings.push({ probe, args: addUnknown(addFields(addFields(commonArgs(ex), ex.details), none), unknown) });
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

/** The getters of the common args, by name. */
const COMMON_GETTERS: ReadonlyMap<string, CommonArg['get']> = new Map(COMMON_ARGS.map((a) => [a.name, a.get]));

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
  const getters: CommonArg['get'][] = [];
  const lines = names.filter((name) => !inherited(name)).map((name) => {
    const n = literal(name);
    const get = COMMON_GETTERS.get(name);
    if (get !== undefined) getters.push(get);
    return [
      `v = b === undefined ? undefined : b[${n}];`,
      `if (v === undefined) v = a[${n}];`,
      `v = v !== undefined ? toArg(v) : ${get === undefined ? 'undefined' : `get[${getters.length - 1}](ex)`};`,
      `if (v === undefined) v = u[${n}];`,
      `if (v !== undefined) args[${n}] = v;`,
    ].join('\n');
  });
  const source = `return function build(ex, u, a, b) {\nconst args = {};\nlet v;\n${lines.join('\n')}\nreturn args;\n};`;
  return compile<ArgsBuilder>(['toArg', 'get'], source, [toArg, getters]);
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
    } else if (PER_ITEM.has(ex.api_key)) {
      firings.push({ probe, args: build(ex, unknown, ex.details, noItems(ex, probe)) });
    } else {
      firings.push({ probe, args: build(ex, unknown, ex.details) });
    }
  }
  for (const d of ex.derived ?? []) if (plan.fires(d.probe)) firings.push({ probe: d.probe, args: plannedDerived(d, plan), connection: d.connection, nsecs: d.ts });
  if (plan.fires('lag')) for (const view of ex.lag ?? []) firings.push({ probe: 'lag', args: build(ex, NO_UNKNOWN, view) });
  return firings;
}

/** A derived event's firing with only the args `plan` demands. */
function plannedDerived(ev: DerivedEvent, plan: FiringPlan): ProbeArgs {
  const all = derivedFiring(ev).args;
  const args: ProbeArgs = {};
  for (const name of plan.args) if (all[name] !== undefined) args[name] = all[name]!;
  return args;
}
