// Per-API fields of an exchange, from its decoded request and response bodies: api-level details
// (group, member, generation, ...) and per topic-partition (or per group, per topic) items.
// Field names are the `args` names of the kafka probes. A field missing from a body (not copied, or
// absent in that version) is left out: firings read it as its unknown sentinel (firings.ts). Produce
// and Fetch items say `incomplete` when one of their values was lost with bytes not captured or not
// decoded; other exchanges' firings take it from the exchange.
// The items of the other APIs whose probe fires per item come from the arg table (args.ts's
// ItemFields and itemError); EXTRACTORS keep what is per API: the exchange-level fields, Produce's
// and Fetch's items (loss, fetch sessions, consumer groups, the fast lane's shape), and the items of
// APIs whose probe fires once.
import type { FieldValue, Fields } from '../model.js';
import { API_KEYS } from '../wire/api-names.js';
import { PROBES, type ArgSpec, type ProbeSpec, type Scope } from './args.js';
import type { DecodedStruct, DecodedValue } from '../wire/values.js';
import { errorName } from '../wire/error-codes.js';
import type { RecordsSummary } from '../wire/records.js';

export interface DetailsContext {
  /** Topic name for a topic id seen in Metadata responses of the same process. */
  topicName(id: string): string | undefined;
  /** Last fetch offset requested for a partition on this connection (fetch sessions omit unchanged ones). */
  fetchOffset(topic: string, partition: number): bigint | undefined;
  setFetchOffset(topic: string, partition: number, offset: bigint): void;
  /** The consumer group a client id was last seen in. */
  groupOf(clientId: string): string | undefined;
}

/** Which bodies of an exchange lost bytes: not captured, or not decoded (a decode failure). */
export interface BodyLoss {
  request: boolean;
  response: boolean;
}

const NO_LOSS: BodyLoss = { request: false, response: false };

export interface ExchangeDetails {
  details: Fields;
  items: Fields[];
  /** Top-level error code of the response, if it has one. */
  error?: number;
}

const NIL_UUID = '00000000-0000-0000-0000-000000000000';

const isStruct = (x: DecodedValue): boolean => typeof x === 'object' && x !== null && !Array.isArray(x);
const NO_STRUCTS: DecodedStruct[] = [];

/** The structs of an array field (the array itself when all its items are, the usual case). */
function structs(v: DecodedValue | undefined): readonly DecodedStruct[] {
  if (!Array.isArray(v)) return NO_STRUCTS;
  for (let i = 0; i < v.length; i++) if (!isStruct(v[i]!)) return v.filter(isStruct) as DecodedStruct[];
  return v as DecodedStruct[];
}

function struct(v: DecodedValue | undefined): DecodedStruct | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !('kind' in v && typeof v.kind === 'string')
    ? (v as DecodedStruct)
    : undefined;
}

function records(v: DecodedValue | undefined): RecordsSummary | undefined {
  return typeof v === 'object' && v !== null && 'batches' in v ? (v as unknown as RecordsSummary) : undefined;
}

/**
 * Copies the fields of `from` named in `map` (schema name → arg name) that are present; with
 * `missing`, only into args `out` lacks.
 */
function pick(out: Fields, from: DecodedStruct | null | undefined, map: Record<string, string>, missing = false): Fields {
  if (!from) return out;
  for (const schemaName in map) {
    const argName = map[schemaName]!;
    if (missing && out[argName] !== undefined) continue;
    const v = fieldValue(from[schemaName]);
    if (v !== undefined) out[argName] = v;
  }
  return out;
}

const isScalar = (v: DecodedValue | undefined): v is string | number | bigint | boolean =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean';

/** A decoded field as an arg's value: a scalar as is, an array or bytes as its length. */
function fieldValue(v: DecodedValue | undefined): FieldValue | undefined {
  if (isScalar(v)) return v;
  if (Array.isArray(v)) return v.length;
  if (v && typeof v === 'object' && 'kind' in v && v.kind === 'bytes') return (v as { length: number }).length;
  return undefined;
}

function withError(item: Fields, code: DecodedValue | undefined): Fields {
  if (typeof code === 'number') {
    item.error = code;
    item.error_name = errorName(code);
  }
  return item;
}

/**
 * The records and bytes of a records field; records left out (unknown) when a batch header was not
 * copied or could not be read. True when that lost the count.
 */
function addRecords(item: Fields, v: DecodedValue | undefined): boolean {
  const rec = records(v);
  if (rec) {
    item.bytes = rec.bytes;
    if (rec.complete && !rec.malformed) item.records = rec.records;
    else return true;
  } else if (v === null) {
    item.records = 0;
    item.bytes = 0;
  }
  return false;
}

/**
 * Items by topic and partition, in the order first set, like a Map keyed by key(topic, partition)
 * but without building a key string per item (the busiest APIs, Produce and Fetch, use it). Most
 * exchanges have a few items: those are found by a scan, and Maps are built only past SCAN_LIMIT.
 */
class ItemIndex {
  private static readonly SCAN_LIMIT = 8;
  private byTopic: Map<string, Map<number, number>> | null = null;
  private readonly topics: string[] = [];
  private readonly partitions: number[] = [];
  readonly items: Fields[] = [];

  private find(topic: string, partition: number): number | undefined {
    if (this.byTopic) return this.byTopic.get(topic)?.get(partition);
    for (let i = 0; i < this.items.length; i++) if (this.partitions[i] === partition && this.topics[i] === topic) return i;
    return undefined;
  }

  get(topic: string, partition: number): Fields | undefined {
    const at = this.find(topic, partition);
    return at === undefined ? undefined : this.items[at];
  }

  set(topic: string, partition: number, item: Fields): void {
    const at = this.find(topic, partition);
    if (at !== undefined) {
      this.items[at] = item;
      return;
    }
    const index = this.items.length;
    this.items.push(item);
    this.topics.push(topic);
    this.partitions.push(partition);
    if (this.byTopic) this.index(topic, partition, index);
    else if (this.items.length > ItemIndex.SCAN_LIMIT) {
      this.byTopic = new Map();
      for (let i = 0; i < this.items.length; i++) if (!Number.isNaN(this.partitions[i])) this.index(this.topics[i]!, this.partitions[i]!, i);
    }
  }

  /** Appends an item whose partition is unknown: never found, never replaced. */
  addUnkeyed(item: Fields): void {
    this.items.push(item);
    this.topics.push('');
    this.partitions.push(NaN);
  }

  private index(topic: string, partition: number, at: number): void {
    let partitions = this.byTopic!.get(topic);
    if (!partitions) this.byTopic!.set(topic, (partitions = new Map()));
    partitions.set(partition, at);
  }
}

function topicOf(t: DecodedStruct, ctx: DetailsContext, nameField: string): string {
  const name = t[nameField];
  const id = t.TopicId;
  return topicNamed(typeof name === 'string' ? name : undefined, typeof id === 'string' ? id : undefined, ctx);
}

/**
 * A topic's name: the one it is named by, else the one Metadata gave its id (Fetch v13 and later name
 * topics by id alone), else the id itself; '' without either (or with the nil id).
 */
export function topicNamed(name: string | undefined, id: string | undefined, ctx: Pick<DetailsContext, 'topicName'>): string {
  if (name !== undefined) return name;
  if (id !== undefined && id !== NIL_UUID) return ctx.topicName(id) ?? id;
  return '';
}

/**
 * Who sent a Fetch request: a follower replica's broker id (ReplicaId up to v14, the ReplicaState
 * tagged field from v15), or -1, a consumer (ReplicaState absent: its default).
 */
function replicaOf(req: DecodedStruct): number {
  if (typeof req.ReplicaId === 'number') return req.ReplicaId;
  const state = req.ReplicaState;
  if (state && typeof state === 'object' && !Array.isArray(state) && !(state instanceof Uint8Array)) {
    const id = (state as DecodedStruct).ReplicaId;
    if (typeof id === 'number') return id;
  }
  return -1;
}

/**
 * The field map (schema name → arg name) of a probe's args copied as is from one body (args.ts's
 * `copy`), made once rather than per exchange.
 */
function copied(args: readonly ArgSpec[], into: 'exchange' | 'item', kind: 'request' | 'response'): Record<string, string> {
  const map: Record<string, string> = {};
  for (const a of args) if (a.body?.copy === into) for (const field of a.body[kind] ?? []) map[field] = a.name;
  return map;
}
const argsOf = (probe: string): readonly ArgSpec[] => PROBES.find((p) => p.name === probe)!.args;
const PRODUCE_REQUEST = copied(argsOf('produce'), 'exchange', 'request');
const PRODUCE_PARTITION = copied(argsOf('produce'), 'item', 'response');
const FETCH_REQUEST = copied(argsOf('fetch'), 'exchange', 'request');
const FETCH_PARTITION = copied(argsOf('fetch'), 'item', 'response');

interface ExchangeCopies {
  request: Record<string, string>;
  response: Record<string, string>;
}

/** By API key: the args of its probe copied into the exchange's details, that its extractor leaves unset. */
const EXCHANGE_COPIES: readonly (ExchangeCopies | undefined)[] = (() => {
  const out: (ExchangeCopies | undefined)[] = [];
  for (const p of PROBES) {
    const key = p.api === undefined ? undefined : API_KEYS[p.api as keyof typeof API_KEYS];
    const copies = { request: copied(p.args, 'exchange', 'request'), response: copied(p.args, 'exchange', 'response') };
    if (key !== undefined && Object.keys(copies.request).length + Object.keys(copies.response).length > 0) out[key] = copies;
  }
  return out;
})();

/** How one field of a body struct is read into an item (args.ts's ItemFields paths). */
interface Read {
  readonly field: string;
  readonly arg: string;
  readonly how: 'value' | 'first' | 'topic' | 'error';
}

/** One level of a body's items: the fields read at it, and the arrays nested in it, by field name. */
interface Level {
  readonly reads: Read[];
  readonly below: Map<string, Level>;
  /** The arg each element of this level's array is, when its elements are values rather than structs. */
  element?: string;
  /** At an item's level: the args its items take from the exchange's details (ItemFields.inherit). */
  inherit?: readonly string[];
}

interface ItemPlan {
  readonly request?: Level;
  readonly response?: Level;
  readonly keys: readonly { readonly arg: string; readonly absent: FieldValue }[];
  readonly join: boolean;
}

/** The levels of one body's item paths, or none without a path. */
function levels(probe: ProbeSpec, kind: 'request' | 'response'): Level | undefined {
  const root: Level = { reads: [], below: new Map() };
  let any = false;
  const add = (path: string, arg: string, error: boolean): void => {
    any = true;
    const names = path.split('.');
    let last = names.pop()!;
    let how: Read['how'] = error ? 'error' : 'value';
    if (last.endsWith('[]')) names.push(last.slice(0, -2));
    let level = root;
    for (const name of names) {
      let next = level.below.get(name);
      if (!next) level.below.set(name, (next = { reads: [], below: new Map() }));
      level = next;
    }
    if (last.endsWith('[]')) {
      level.element = arg;
      return;
    }
    if (last.endsWith('[0]')) [last, how] = [last.slice(0, -3), 'first'];
    else if (last.endsWith('#topic')) [last, how] = [last.slice(0, -6), 'topic'];
    level.reads.push({ field: last, arg, how });
  };
  for (const a of probe.args) for (const path of a.item?.[kind] ?? []) add(path, a.name, false);
  if (kind === 'response') for (const path of probe.itemError ?? []) add(path, 'error', true);
  if (!any) return undefined;
  const inherit = probe.args.filter((a) => a.item?.inherit).map((a) => a.name);
  const markItems = (level: Level, read: ReadonlySet<string>): void => {
    const below = new Set([...read, ...level.reads.map((r) => r.arg)]);
    if (level.element !== undefined) below.add(level.element);
    if (level.below.size === 0 || level.element !== undefined) level.inherit = inherit.filter((a) => !below.has(a));
    for (const next of level.below.values()) markItems(next, below);
  };
  markItems(root, new Set());
  return root;
}

/** By API key: how its items are made from the table's item args. */
const ITEM_PLANS: readonly (ItemPlan | undefined)[] = (() => {
  const out: (ItemPlan | undefined)[] = [];
  for (const p of PROBES) {
    const key = p.api === undefined ? undefined : API_KEYS[p.api as keyof typeof API_KEYS];
    const args = p.args.filter((a) => a.item);
    if (key === undefined || args.length === 0) continue;
    out[key] = {
      request: levels(p, 'request'),
      response: levels(p, 'response'),
      keys: args.filter((a) => a.item!.key).map((a) => ({ arg: a.name, absent: a.unknown ?? '' })),
      join: p.joinItems === true,
    };
  }
  return out;
})();

/** Reads `reads` of struct `s` into `item`; error codes only when `errors` (an item's last fields). */
function read(item: Fields, s: DecodedStruct, reads: readonly Read[], ctx: DetailsContext, errors: boolean): void {
  for (const r of reads) {
    if ((r.how === 'error') !== errors) continue;
    const v = s[r.field];
    if (r.how === 'value') {
      const value = fieldValue(v);
      if (value !== undefined) item[r.arg] = value;
    } else if (r.how === 'first') {
      if (Array.isArray(v) && isScalar(v[0])) item[r.arg] = v[0];
    } else if (r.how === 'topic') {
      if (typeof v === 'string' && v !== NIL_UUID) item[r.arg] = ctx.topicName(v) ?? v;
    } else {
      withError(item, v);
    }
  }
}

type Emit = (item: Fields, level: Level, s: DecodedStruct) => void;

/**
 * Calls `emit` with each item under `level` of struct `s`, each with the fields of the levels above
 * it, its level and its struct (whose error codes are read last).
 */
function walk(level: Level, s: DecodedStruct, above: Fields, ctx: DetailsContext, emit: Emit): void {
  const fields: Fields = { ...above };
  read(fields, s, level.reads, ctx, false);
  if (level.below.size === 0) {
    emit(fields, level, s);
    return;
  }
  read(fields, s, level.reads, ctx, true);
  for (const [name, next] of level.below) {
    const v = s[name];
    if (next.element !== undefined) {
      if (Array.isArray(v)) for (const e of v) if (isScalar(e)) emit({ ...fields, [next.element]: e }, next, s);
    } else {
      for (const child of structs(v)) walk(next, child, fields, ctx, emit);
    }
  }
}

/**
 * An exchange's items by its API's item plan: the request's, then the response's; with `join`, an
 * item joins the earlier one with the same keys (a request's replaces it, a response's adds its
 * fields to it), in the earlier one's place.
 */
function planItems(plan: ItemPlan, req: DecodedStruct | null, resp: DecodedStruct | null, ctx: DetailsContext, details: Fields): Fields[] {
  const items: Fields[] = [];
  const at = new Map<string, number>();
  const finish = (item: Fields, level: Level, s: DecodedStruct): [Fields, string] => {
    for (const arg of level.inherit!) if (item[arg] === undefined && details[arg] !== undefined) item[arg] = details[arg]!;
    read(item, s, level.reads, ctx, true);
    // Keys lead the item, as when they are read.
    if (plan.keys.some(({ arg }) => item[arg] === undefined)) {
      const keyed: Fields = {};
      for (const { arg, absent } of plan.keys) keyed[arg] = item[arg] ?? absent;
      item = Object.assign(keyed, item);
    }
    let k = '';
    for (const { arg } of plan.keys) k += `${String(item[arg])}\u0000`;
    return [item, k];
  };
  const add = (fields: Fields, level: Level, s: DecodedStruct, fromResponse: boolean): void => {
    const [item, k] = finish(fields, level, s);
    if (!plan.join) {
      items.push(item);
      return;
    }
    const i = at.get(k);
    if (i === undefined) {
      at.set(k, items.length);
      items.push(item);
    } else if (fromResponse) Object.assign(items[i]!, item);
    else items[i] = item;
  };
  if (req && plan.request) walk(plan.request, req, {}, ctx, (item, level, s) => add(item, level, s, false));
  if (resp && plan.response) walk(plan.response, resp, {}, ctx, (item, level, s) => add(item, level, s, true));
  return items;
}

/** Exchange details an API's items give, once derived from the table. */
const AFTER_ITEMS: Record<number, (result: ExchangeDetails) => void> = {
  // One group described: the exchange is that group's.
  [API_KEYS.DescribeGroups]: (r) => {
    if (r.items.length === 1) Object.assign(r.details, r.items[0]);
  },
  [API_KEYS.DeleteTopics]: (r) => {
    r.details.topics = r.items.length;
  },
};

type Extractor = (req: DecodedStruct | null, resp: DecodedStruct | null, ctx: DetailsContext, clientId: string, loss: BodyLoss) => ExchangeDetails;

const EXTRACTORS: Record<number, Extractor> = {
  // A partition whose index was lost fires with partition -1 and incomplete 1; so does one whose
  // answer a lossy response may have lost (base_offset and error unknown).
  [API_KEYS.Produce]: (req, resp, ctx, _clientId, loss) => {
    const details = pick({}, req, PRODUCE_REQUEST);
    const items = new ItemIndex();
    for (const t of structs(req?.TopicData)) {
      const topic = topicOf(t, ctx, 'Name');
      for (const p of structs(t.PartitionData)) {
        const known = typeof p.Index === 'number';
        const partition = known ? (p.Index as number) : -1;
        const item: Fields = { topic, partition };
        if (typeof details.acks === 'number') item.acks = details.acks;
        const lost = addRecords(item, p.Records);
        const rec = records(p.Records);
        if (rec && !lost && rec.offsets >= 0) item.offsets = rec.offsets;
        else if (p.Records === null) item.offsets = 0;
        item.incomplete = lost || (loss.request && (!known || p.Records === undefined));
        if (known) items.set(topic, partition, item);
        else items.addUnkeyed(item);
      }
    }
    const answered = loss.response && resp !== null ? new Set<Fields>() : undefined;
    for (const t of structs(resp?.Responses)) {
      const topic = topicOf(t, ctx, 'Name');
      for (const p of structs(t.PartitionResponses)) {
        const known = typeof p.Index === 'number';
        const partition = known ? (p.Index as number) : -1;
        const item = (known ? items.get(topic, partition) : undefined) ?? { topic, partition, incomplete: loss.request };
        pick(item, p, PRODUCE_PARTITION);
        withError(item, p.ErrorCode);
        if (answered && known && p.BaseOffset !== undefined) answered.add(item);
        if (known) items.set(topic, partition, item);
        else items.addUnkeyed(item);
      }
    }
    if (answered) for (const item of items.items) if (!answered.has(item)) item.incomplete = true;
    return { details, items: items.items };
  },

  [API_KEYS.Fetch]: (req, resp, ctx, clientId, loss) => {
    const details = pick({}, req, FETCH_REQUEST);
    if (req) details.replica = replicaOf(req);
    const group = ctx.groupOf(clientId);
    if (group !== undefined) details.group = group;
    const requested = new ItemIndex();
    for (const t of structs(req?.Topics)) {
      const topic = topicOf(t, ctx, 'Topic');
      for (const p of structs(t.Partitions)) {
        const partition = typeof p.Partition === 'number' ? p.Partition : -1;
        const item: Fields = { topic, partition };
        if (typeof p.FetchOffset === 'bigint') {
          item.fetch_offset = p.FetchOffset;
          ctx.setFetchOffset(topic, partition, p.FetchOffset);
        }
        requested.set(topic, partition, item);
      }
    }
    if (!resp) return { details, items: requested.items.map((i) => withGroup(i, group)) };
    const items: Fields[] = [];
    for (const t of structs(resp.Responses)) {
      const topic = topicOf(t, ctx, 'Topic');
      for (const p of structs(t.Partitions)) {
        const known = typeof p.PartitionIndex === 'number';
        const partition = known ? (p.PartitionIndex as number) : -1;
        const item: Fields = { topic, partition };
        const fetchOffset = requested.get(topic, partition)?.fetch_offset ?? ctx.fetchOffset(topic, partition);
        if (fetchOffset !== undefined) item.fetch_offset = fetchOffset;
        pick(item, p, FETCH_PARTITION);
        if (typeof item.high_watermark === 'bigint' && typeof item.fetch_offset === 'bigint' && item.fetch_offset >= 0n) {
          item.lag = item.high_watermark - item.fetch_offset;
        }
        // Records is a partition's last field: with it, the partition was read whole.
        item.incomplete = addRecords(item, p.Records) || (loss.response && (!known || p.Records === undefined));
        withError(item, p.ErrorCode);
        items.push(withGroup(item, group));
      }
    }
    return { details, items, error: errorCode(resp.ErrorCode) };
  },

  [API_KEYS.ListOffsets]: (req) => ({ details: pick({}, req, { IsolationLevel: 'isolation_level', ReplicaId: 'replica_id' }), items: [] }),

  [API_KEYS.Metadata]: (req, resp) => {
    const details = pick({}, req, { Topics: 'requested_topics', AllowAutoTopicCreation: 'allow_auto_topic_creation' });
    pick(details, resp, { Brokers: 'brokers', Topics: 'topics', ClusterId: 'cluster_id', ControllerId: 'controller_id' });
    const items: Fields[] = [];
    for (const t of structs(resp?.Topics)) {
      const item = pick({ topic: str(t.Name) }, t, { TopicId: 'topic_id', Partitions: 'partitions', IsInternal: 'internal' });
      items.push(withError(item, t.ErrorCode));
    }
    return { details, items };
  },

  [API_KEYS.OffsetCommit]: (req) => ({
    details: pick({}, req, { GroupId: 'group', MemberId: 'member', GenerationIdOrMemberEpoch: 'generation', GroupInstanceId: 'group_instance_id' }),
    items: [],
  }),

  [API_KEYS.OffsetFetch]: (req, resp) => {
    const reqGroups = structs(req?.Groups);
    const details = pick({}, req, { GroupId: 'group', RequireStable: 'require_stable' });
    if (reqGroups.length > 0) {
      pick(details, reqGroups[0], { GroupId: 'group', MemberId: 'member', MemberEpoch: 'member_epoch' });
      details.groups = reqGroups.length;
    }
    const groupError = structs(resp?.Groups).map((g) => g.ErrorCode).find((c) => typeof c === 'number' && c !== 0);
    return { details, items: [], error: errorCode(resp?.ErrorCode ?? groupError) };
  },

  [API_KEYS.FindCoordinator]: (req, resp) => {
    const details = pick({}, req, { Key: 'key', KeyType: 'key_type' });
    const keys = req?.CoordinatorKeys;
    if (Array.isArray(keys) && typeof keys[0] === 'string') {
      details.key = keys[0];
      details.keys = keys.length;
    }
    pick(details, resp, { NodeId: 'node_id', Host: 'host', Port: 'port' });
    const coordinators = structs(resp?.Coordinators);
    const items = coordinators.map((c) => withError(pick({}, c, { Key: 'key', NodeId: 'node_id', Host: 'host', Port: 'port' }), c.ErrorCode));
    if (coordinators[0]) pick(details, coordinators[0], { NodeId: 'node_id', Host: 'host', Port: 'port' });
    if ((details.key_type ?? 0) === 0 && typeof details.key === 'string') details.group = details.key;
    if (details.key_type === 1 && typeof details.key === 'string') details.transactional_id = details.key;
    const itemError = coordinators.map((c) => c.ErrorCode).find((c) => typeof c === 'number' && c !== 0);
    return { details, items, error: errorCode(resp?.ErrorCode ?? itemError) };
  },

  [API_KEYS.JoinGroup]: (req, resp) => {
    const details = pick({}, req, {
      GroupId: 'group', MemberId: 'member', GroupInstanceId: 'group_instance_id', ProtocolType: 'protocol_type',
      SessionTimeoutMs: 'session_timeout_ms', RebalanceTimeoutMs: 'rebalance_timeout_ms', Reason: 'reason', Protocols: 'protocols',
    });
    pick(details, resp, { GenerationId: 'generation', ProtocolType: 'protocol_type', ProtocolName: 'protocol', Leader: 'leader', MemberId: 'member', Members: 'members' });
    if (typeof details.leader === 'string' && typeof details.member === 'string' && details.member !== '') {
      details.is_leader = details.leader === details.member;
    }
    return { details, items: [] };
  },

  [API_KEYS.Heartbeat]: (req) => ({
    details: pick({}, req, { GroupId: 'group', GenerationId: 'generation', MemberId: 'member', GroupInstanceId: 'group_instance_id' }),
    items: [],
  }),

  [API_KEYS.LeaveGroup]: (req, resp) => {
    const details = pick({}, req, { GroupId: 'group', MemberId: 'member' });
    const members = structs(req?.Members);
    if (members.length > 0) {
      pick(details, members[0], { MemberId: 'member', GroupInstanceId: 'group_instance_id', Reason: 'reason' });
      details.members = members.length;
    }
    const items = structs(resp?.Members).map((m) =>
      withError(withGroup(pick({}, m, { MemberId: 'member', GroupInstanceId: 'group_instance_id' }), details.group), m.ErrorCode));
    return { details, items };
  },

  [API_KEYS.SyncGroup]: (req, resp) => {
    const details = pick({}, req, {
      GroupId: 'group', GenerationId: 'generation', MemberId: 'member', GroupInstanceId: 'group_instance_id',
      ProtocolType: 'protocol_type', ProtocolName: 'protocol', Assignments: 'assignments',
    });
    pick(details, resp, { ProtocolType: 'protocol_type', ProtocolName: 'protocol', Assignment: 'assignment_bytes' });
    return { details, items: [] };
  },

  [API_KEYS.DescribeGroups]: (req) => ({ details: pick({}, req, { Groups: 'groups' }), items: [] }),

  [API_KEYS.ListGroups]: (req, resp) => {
    const details = pick({}, req, { StatesFilter: 'states_filter', TypesFilter: 'types_filter' });
    pick(details, resp, { Groups: 'groups' });
    const items = structs(resp?.Groups).map((g) =>
      pick({}, g, { GroupId: 'group', ProtocolType: 'protocol_type', GroupState: 'state', GroupType: 'type' }));
    return { details, items };
  },

  [API_KEYS.ApiVersions]: (req, resp) => ({
    details: pick(pick({}, req, { ClientSoftwareName: 'client_software_name', ClientSoftwareVersion: 'client_software_version' }), resp, { ApiKeys: 'api_count' }),
    items: structs(resp?.ApiKeys).map((k) => pick({}, k, { ApiKey: 'api_key', MinVersion: 'min_version', MaxVersion: 'max_version' })),
  }),

  [API_KEYS.InitProducerId]: (req, resp) => ({
    details: pick(pick({}, req, { TransactionalId: 'transactional_id', TransactionTimeoutMs: 'transaction_timeout_ms' }), resp, { ProducerId: 'producer_id', ProducerEpoch: 'producer_epoch' }),
    items: [],
  }),

  [API_KEYS.AddPartitionsToTxn]: (req, resp) => {
    const details = pick({}, req, { V3AndBelowTransactionalId: 'transactional_id', V3AndBelowProducerId: 'producer_id', V3AndBelowProducerEpoch: 'producer_epoch' });
    const txn = structs(req?.Transactions)[0];
    if (txn) pick(details, txn, { TransactionalId: 'transactional_id', ProducerId: 'producer_id', ProducerEpoch: 'producer_epoch' });
    return { details, items: [], error: errorCode(resp?.ErrorCode) };
  },

  [API_KEYS.EndTxn]: (req, resp) => ({
    details: pick(pick({}, req, { TransactionalId: 'transactional_id', ProducerId: 'producer_id', ProducerEpoch: 'producer_epoch', Committed: 'committed' }), resp, { ProducerId: 'producer_id', ProducerEpoch: 'producer_epoch' }),
    items: [],
  }),

  [API_KEYS.CreateTopics]: (req) => ({ details: pick({}, req, { timeoutMs: 'timeout_ms', validateOnly: 'validate_only', Topics: 'topics' }), items: [] }),

  [API_KEYS.DeleteTopics]: (req) => ({ details: pick({}, req, { TimeoutMs: 'timeout_ms' }), items: [] }),

  [API_KEYS.ConsumerGroupHeartbeat]: (req, resp, ctx) => heartbeat(pick({}, req, {
    GroupId: 'group', MemberId: 'member', MemberEpoch: 'member_epoch', InstanceId: 'group_instance_id',
    RackId: 'rack', RebalanceTimeoutMs: 'rebalance_timeout_ms', ServerAssignor: 'assignor', SubscribedTopicNames: 'subscribed_topics',
  }), resp, ctx),

  [API_KEYS.ShareGroupHeartbeat]: (req, resp, ctx) => heartbeat(pick({}, req, {
    GroupId: 'group', MemberId: 'member', MemberEpoch: 'member_epoch', RackId: 'rack', SubscribedTopicNames: 'subscribed_topics',
  }), resp, ctx),

  // A partition's items join the request's acknowledgements and the response's acquired records; a
  // partition only one side names has none of the other's: 0 acknowledged, and 0 acquired when the
  // response was seen whole (unknown without it).
  [API_KEYS.ShareFetch]: (req, resp, ctx, _clientId, loss) => {
    const details = pick({}, req, { GroupId: 'group', MemberId: 'member', ShareSessionEpoch: 'session_epoch' });
    const items = acknowledged(req, ctx);
    for (const t of structs(resp?.Responses)) {
      const topic = topicOf(t, ctx, 'Name');
      for (const p of structs(t.Partitions)) {
        const item = shareItem(items, req, topic, p.PartitionIndex);
        let acquired = 0;
        let deliveries = -1;
        const ranges = structs(p.AcquiredRecords);
        for (const r of ranges) {
          if (typeof r.FirstOffset === 'bigint' && typeof r.LastOffset === 'bigint' && r.LastOffset >= r.FirstOffset) acquired += Number(r.LastOffset - r.FirstOffset) + 1;
          if (typeof r.DeliveryCount === 'number') deliveries = Math.max(deliveries, r.DeliveryCount);
        }
        if (Array.isArray(p.AcquiredRecords)) {
          item.records = acquired;
          item.acquired_ranges = ranges.length;
          if (deliveries >= 0) item.max_delivery_count = deliveries;
        }
        const rec = records(p.Records);
        if (rec) item.bytes = rec.bytes;
        else if (p.Records === null) item.bytes = 0;
        if (typeof p.AcknowledgeErrorCode === 'number') item.ack_error = p.AcknowledgeErrorCode;
        withError(item, p.ErrorCode);
      }
    }
    if (resp && !loss.response) {
      for (const item of items.items) {
        if (item.records !== undefined || item.partition === -1) continue;
        item.records = 0;
        item.acquired_ranges = 0;
        item.bytes = 0;
      }
    }
    return { details, items: items.items, error: errorCode(resp?.ErrorCode) };
  },

  [API_KEYS.ShareAcknowledge]: (req, resp, ctx) => {
    const details = pick({}, req, { GroupId: 'group', MemberId: 'member', ShareSessionEpoch: 'session_epoch' });
    const items = acknowledged(req, ctx);
    for (const t of structs(resp?.Responses)) {
      const topic = topicOf(t, ctx, 'Name');
      for (const p of structs(t.Partitions)) withError(shareItem(items, req, topic, p.PartitionIndex), p.ErrorCode);
    }
    return { details, items: items.items, error: errorCode(resp?.ErrorCode) };
  },
};

/**
 * A KIP-848 or share group heartbeat's details (`details` from its request) and items: the response's
 * member id and epoch, and its assignment when it carries one (one item per topic-partition).
 */
function heartbeat(details: Fields, resp: DecodedStruct | null, ctx: DetailsContext): ExchangeDetails {
  pick(details, resp, { MemberId: 'member', MemberEpoch: 'member_epoch', HeartbeatIntervalMs: 'heartbeat_interval_ms' });
  const assignment = struct(resp?.Assignment);
  const items: Fields[] = [];
  if (assignment) {
    const parts: string[] = [];
    for (const t of structs(assignment.TopicPartitions)) {
      const topic = topicOf(t, ctx, 'Name');
      const ps = Array.isArray(t.Partitions) ? t.Partitions.filter((p): p is number => typeof p === 'number') : [];
      for (const p of ps) items.push(withGroup({ topic, partition: p, member: str(details.member) }, details.group));
      parts.push(`${topic}[${ps.join(',')}]`);
    }
    details.assignment = parts.join(' ');
    details.assigned_partitions = items.length;
  }
  return { details, items };
}

/** The acknowledgement args, by AcknowledgeType id (1 accept, 2 release, 3 reject, 4 renew; 0 marks a gap). */
const ACK_ARGS = ['', 'accepted', 'released', 'rejected', 'renewed'] as const;

/**
 * The partitions of a ShareFetch or ShareAcknowledge request with the records each acknowledges, by
 * type: a batch's one type covers all its offsets, else it has one per offset. A batch whose offsets
 * and types disagree is malformed and left out.
 */
function acknowledged(req: DecodedStruct | null, ctx: DetailsContext): ItemIndex {
  const items = new ItemIndex();
  for (const t of structs(req?.Topics)) {
    const topic = topicOf(t, ctx, 'Name');
    for (const p of structs(t.Partitions)) {
      const item = shareItem(items, req, topic, p.PartitionIndex);
      const counts = [0, 0, 0, 0, 0];
      for (const b of structs(p.AcknowledgementBatches)) {
        const types = Array.isArray(b.AcknowledgeTypes) ? b.AcknowledgeTypes : [];
        if (typeof b.FirstOffset !== 'bigint' || typeof b.LastOffset !== 'bigint' || b.LastOffset < b.FirstOffset) continue;
        const span = Number(b.LastOffset - b.FirstOffset) + 1;
        if (types.length === 1 && typeof types[0] === 'number') counts[types[0]] = (counts[types[0]] ?? 0) + span;
        else if (types.length === span) for (const type of types) if (typeof type === 'number') counts[type] = (counts[type] ?? 0) + 1;
      }
      for (let type = 1; type < ACK_ARGS.length; type++) item[ACK_ARGS[type]!] = counts[type]!;
    }
  }
  return items;
}

/**
 * The item of a share partition, made when new: with no acknowledgements when the request was
 * decoded (it acknowledged none there), else with them unknown.
 */
function shareItem(items: ItemIndex, req: DecodedStruct | null, topic: string, index: DecodedValue | undefined): Fields {
  const partition = typeof index === 'number' ? index : -1;
  let item = partition >= 0 ? items.get(topic, partition) : undefined;
  if (item) return item;
  item = { topic, partition };
  if (req) for (let type = 1; type < ACK_ARGS.length; type++) item[ACK_ARGS[type]!] = 0;
  if (partition >= 0) items.set(topic, partition, item);
  else items.addUnkeyed(item);
  return item;
}

/** KRaft's metadata log, as its Fetch requests name it: by name, or by its fixed topic id. */
export const METADATA_TOPIC = '__cluster_metadata';
export const METADATA_TOPIC_ID = '00000000-0000-0000-0000-000000000001';

/** APIs whose scope only their request body tells: unknown ('') without it. */
const BODY_SCOPED = new Set<number>([API_KEYS.Fetch, API_KEYS.OffsetForLeaderEpoch, API_KEYS.ListOffsets, API_KEYS.AddPartitionsToTxn]);

/** A replica id of a request: -1 (a consumer's), or absent, unless a broker sent it. */
function replicaId(req: DecodedStruct): number | undefined {
  const id = req.ReplicaId ?? struct(req.ReplicaState)?.ReplicaId;
  return typeof id === 'number' ? id : undefined;
}

/**
 * The scope of a request whose body says it, where it differs from its API's (args.ts's API_SCOPES):
 * a Fetch of the metadata log is the KRaft quorum's (voters' and brokers' alike), one from a
 * follower (replica id >= 0) the brokers'; so is a follower's OffsetForLeaderEpoch or ListOffsets,
 * and an AddPartitionsToTxn of version 4 or later (its Transactions array: brokers batch them).
 * Without the body (bytes lost, a version no schema knows) their scope is unknown.
 */
function requestScope(apiKey: number, req: DecodedStruct | null): Scope | '' | undefined {
  if (!req) return BODY_SCOPED.has(apiKey) ? '' : undefined;
  if (apiKey === API_KEYS.Fetch) {
    for (const t of structs(req.Topics)) if (t.Topic === METADATA_TOPIC || t.TopicId === METADATA_TOPIC_ID) return 'controller';
  }
  if (apiKey === API_KEYS.Fetch || apiKey === API_KEYS.OffsetForLeaderEpoch || apiKey === API_KEYS.ListOffsets) {
    const id = replicaId(req);
    return id !== undefined && id >= 0 ? 'inter-broker' : undefined;
  }
  if (apiKey === API_KEYS.AddPartitionsToTxn && req.Transactions !== undefined) return 'inter-broker';
  return undefined;
}

function str(v: DecodedValue | FieldValue | undefined): string {
  return typeof v === 'string' ? v : '';
}

function errorCode(v: DecodedValue | undefined): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function withGroup(item: Fields, group: FieldValue | undefined): Fields {
  if (typeof group === 'string') item.group = group;
  return item;
}

/** Details of an exchange of `apiKey`; empty for header-only APIs. */
export function exchangeDetails(
  apiKey: number,
  req: DecodedStruct | null,
  resp: DecodedStruct | null,
  ctx: DetailsContext,
  clientId: string,
  loss: BodyLoss = NO_LOSS,
): ExchangeDetails {
  const extract = EXTRACTORS[apiKey];
  const result = extract ? extract(req, resp, ctx, clientId, loss) : { details: {}, items: [] };
  const copies = EXCHANGE_COPIES[apiKey];
  if (copies) pick(pick(result.details, req, copies.request, true), resp, copies.response, true);
  const plan = ITEM_PLANS[apiKey];
  if (plan) {
    result.items = planItems(plan, req, resp, ctx, result.details);
    AFTER_ITEMS[apiKey]?.(result);
  }
  if (result.error === undefined && resp && typeof resp.ErrorCode === 'number') result.error = resp.ErrorCode;
  const scope = requestScope(apiKey, req);
  if (scope !== undefined) result.details.scope = scope;
  return result;
}
