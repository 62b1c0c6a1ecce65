// What a running script needs from the decoder, and what the decoder then decodes: bodies only of
// the APIs whose probes (or trackers) need them, Produce and Fetch bodies only in the fields the
// demanded args come from, the lag and rebalance trackers only when something reads their output,
// and probe firings only for attached probes, with only the demanded args.
import { API_KEYS, apiName } from '../wire/api-names.js';
import { decodedApiKeys } from '../wire/schemas/index.js';
import { compileArgs, probeName, type ArgsBuilder, type FiringPlan } from './firings.js';
import type { BodyFields } from '../wire/frame.js';
import { COMMON_ARGS, PROBES, type Tracker } from './args.js';

/** What the attached kafka probes read (src/runtime/kafka-source.ts computes it from the plan). */
export interface KafkaDemand {
  /** kafka probe names attached, after `kafka:` ('request', 'produce', 'lag', ...). */
  probes: Iterable<string>;
  /** The `args.NAME` names those probes read, in predicates and actions. */
  args: Iterable<string>;
}

/** Args that come from the headers, frame sizes and connection alone: no body is decoded for them. */
const HEADER_ARGS = new Set(COMMON_ARGS.filter((a) => a.header).map((a) => a.name));

/** The names of args (and probes) a tracker fills. */
const trackerArgs = (tracker: Tracker): Set<string> =>
  new Set(PROBES.flatMap((p) => p.args).filter((a) => a.tracker === tracker).map((a) => a.name));
const trackerProbes = (tracker: Tracker): Set<string> => new Set(PROBES.filter((p) => p.tracker === tracker).map((p) => p.name));

/** Probes and args fed by the lag tracker (src/kafka/trackers/lag.ts). */
const LAG_PROBES = trackerProbes('lag');
const LAG_ARGS = trackerArgs('lag');
/** APIs whose exchanges the lag tracker learns from. */
const LAG_APIS = new Set<number>([API_KEYS.Produce, API_KEYS.Fetch, API_KEYS.ListOffsets, API_KEYS.OffsetCommit, API_KEYS.OffsetFetch, API_KEYS.DeleteTopics]);
/** Probes and args fed by the rebalance tracker (src/kafka/trackers/rebalances.ts). */
const REBALANCE_PROBES = trackerProbes('rebalance');
const REBALANCE_ARGS = trackerArgs('rebalance');
const REBALANCE_APIS = new Set<number>([
  API_KEYS.FindCoordinator, API_KEYS.JoinGroup, API_KEYS.SyncGroup, API_KEYS.Heartbeat, API_KEYS.LeaveGroup,
  API_KEYS.ConsumerGroupHeartbeat,
]);
/**
 * APIs that feed state other exchanges read (topic names of topic ids, the group of a client id):
 * decoded whenever any body is, being rare next to Produce and Fetch.
 */
const STATE_APIS = [
  API_KEYS.Metadata, API_KEYS.JoinGroup, API_KEYS.SyncGroup, API_KEYS.Heartbeat, API_KEYS.LeaveGroup,
  API_KEYS.OffsetCommit, API_KEYS.OffsetFetch, API_KEYS.ConsumerGroupHeartbeat,
];

/**
 * Schema fields (by name, at any depth) of one Produce or Fetch body that each arg comes from (its
 * own, or the common arg's for that probe). The fields that tell items apart, and error codes, are
 * always kept (ALWAYS below).
 */
function bodyFields(probe: 'produce' | 'fetch', kind: 'request' | 'response'): Record<string, readonly string[]> {
  const table: Record<string, string[]> = {};
  const own = PROBES.find((p) => p.name === probe)!.args;
  for (const [name, body] of [...own.map((a) => [a.name, a.body] as const), ...COMMON_ARGS.map((a) => [a.name, a[probe]?.body] as const)]) {
    for (const field of body?.[kind] ?? []) (table[name] ??= []).push(field);
  }
  return table;
}
const PRODUCE_REQUEST_ARGS = bodyFields('produce', 'request');
const PRODUCE_RESPONSE_ARGS = bodyFields('produce', 'response');
const FETCH_REQUEST_ARGS = bodyFields('fetch', 'request');
const FETCH_RESPONSE_ARGS = bodyFields('fetch', 'response');
/**
 * Acks decides whether a Produce waits for a response (status), so it is read even when no Produce
 * body is needed; FetchOffset is remembered per connection for fetch sessions, so that a demand
 * changed later (a REPL block attached) finds it up to date.
 */
const ALWAYS = {
  produceRequest: ['Acks', 'Name', 'TopicId', 'Index'],
  produceResponse: ['Name', 'TopicId', 'Index', 'ErrorCode'],
  fetchRequest: ['Topic', 'TopicId', 'Partition', 'FetchOffset'],
  fetchResponse: ['Topic', 'TopicId', 'PartitionIndex', 'ErrorCode'],
};

export class DecodePlan implements FiringPlan {
  readonly probes: ReadonlySet<string>;
  readonly args: ReadonlySet<string>;
  /** Builds a firing's demanded args (in the order of `args`). */
  readonly buildArgs: ArgsBuilder;
  /** Whether exchanges go through the lag tracker. */
  readonly lag: boolean;
  /** Whether exchanges go through the rebalance tracker. */
  readonly rebalance: boolean;
  /** What the wire decoder decodes of each API's request bodies (frame.ts's WantedBodies). */
  readonly requests = new Map<number, BodyFields>();
  /** And of its response bodies. */
  readonly responses = new Map<number, BodyFields>();

  constructor(demand: KafkaDemand) {
    this.probes = new Set(demand.probes);
    this.args = new Set(demand.args);
    const args = [...this.args];
    this.buildArgs = compileArgs(args);
    this.lag = [...this.probes].some((p) => LAG_PROBES.has(p)) || args.some((a) => LAG_ARGS.has(a));
    this.rebalance = [...this.probes].some((p) => REBALANCE_PROBES.has(p)) || args.some((a) => REBALANCE_ARGS.has(a));
    const requestBodyArgs = this.probes.has('request') && args.some((a) => !HEADER_ARGS.has(a));
    const needed = (apiKey: number): boolean => requestBodyArgs || this.probes.has(apiProbe(apiKey))
      || (this.lag && LAG_APIS.has(apiKey)) || (this.rebalance && REBALANCE_APIS.has(apiKey));
    let any = false;
    for (const key of decodedApiKeys()) {
      if (key === API_KEYS.Produce || key === API_KEYS.Fetch || !needed(key)) continue;
      this.requests.set(key, 'full');
      this.responses.set(key, 'full');
      any = true;
    }
    // Own entries only: an arg named like an Object.prototype member must not find that member.
    const fields = (always: string[], table: Record<string, readonly string[]>): Set<string> =>
      new Set([...always, ...args.flatMap((a) => (Object.hasOwn(table, a) ? table[a]! : []))]);
    if (needed(API_KEYS.Produce)) {
      const request = fields(ALWAYS.produceRequest, PRODUCE_REQUEST_ARGS);
      const response = fields(ALWAYS.produceResponse, PRODUCE_RESPONSE_ARGS);
      // The lag tracker reads where acknowledged batches end.
      if (this.lag) {
        request.add('Records');
        response.add('BaseOffset');
      }
      this.requests.set(API_KEYS.Produce, request);
      this.responses.set(API_KEYS.Produce, response);
      any = true;
    } else {
      this.requests.set(API_KEYS.Produce, new Set(['Acks']));
      this.responses.set(API_KEYS.Produce, null);
    }
    if (needed(API_KEYS.Fetch)) {
      const response = fields(ALWAYS.fetchResponse, FETCH_RESPONSE_ARGS);
      if (this.lag) response.add('HighWatermark');
      this.requests.set(API_KEYS.Fetch, fields(ALWAYS.fetchRequest, FETCH_REQUEST_ARGS));
      this.responses.set(API_KEYS.Fetch, response);
      any = true;
    } else {
      this.requests.set(API_KEYS.Fetch, new Set(ALWAYS.fetchRequest));
      this.responses.set(API_KEYS.Fetch, null);
    }
    if (any) {
      for (const key of STATE_APIS) {
        this.requests.set(key, 'full');
        this.responses.set(key, 'full');
      }
    }
  }

  /** How the request (or response) body of `apiKey` is decoded. */
  body(kind: 'request' | 'response', apiKey: number): BodyFields {
    return (kind === 'request' ? this.requests : this.responses).get(apiKey) ?? null;
  }

  /** Whether firings of the probe are built at all. */
  fires(probe: string): boolean {
    return this.probes.has(probe);
  }
}

/** The probe name of an API (`produce` for Produce). */
const apiProbe = (apiKey: number): string => {
  const api = apiName(apiKey);
  return api === undefined ? '' : probeName(api);
};
