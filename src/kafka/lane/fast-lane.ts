// The fast lane: Produce and Fetch frames that lie whole in one capture chunk, that the capture
// walked (their copied bytes laid end to end, the record data skipped between them), or that the
// stream put together from several chunks, for a running script whose demand the lane can serve
// (kafka:produce, kafka:fetch, and the kafka:request firings of their exchanges), go from the bytes
// to probe firings with no view, reader, decoded struct, exchange or item object on the way. Bodies
// are read in place by functions compiled per version (compiler.ts); a request waits for its
// response as a LanePending, which the rest of the decoder can read as any other pending request
// (its `request` is made when asked for: a response that does not take the lane, a close, a
// timeout). Everything else, and whatever a lane function declines, takes the schema decoder's path
// (exchange/connection.ts), with the same outcome: test/unit/kafka-lane.test.ts decodes the same
// streams both ways and compares the firings.
import type { ConnectionInfo, Direction, ProbeArgs } from '../model.js';
import { API_KEYS } from '../wire/api-names.js';
import { cached, compile, inherited, literal } from '../wire/generated-code.js';
import type { DecodedStruct } from '../wire/values.js';
import type { DecodePlan } from '../probes/demand.js';
import { METADATA_TOPIC, METADATA_TOPIC_ID, topicNamed } from '../probes/details.js';
import { errorName } from '../wire/error-codes.js';
import type { DecodedRequest } from '../wire/frame.js';
import { isFlexible } from '../wire/headers.js';
import { compileLaneBody, laneBig, laneGapsBefore, laneString, type LaneBody, type LaneShape } from './compiler.js';
import { unknownArgs } from '../probes/firings.js';
import { requestSpec, responseSpec } from '../wire/schemas/index.js';
import { inRange, type MessageSpec } from '../wire/schemas/spec.js';
import { API_SCOPES, COMMON_ARGS, PROBES, type LaneArg, type LaneCode } from '../probes/args.js';

/** Where firings go: the probe, its args, the connection and thread, and the firing's time. */
export type FiringSink = (probe: string, args: ProbeArgs, connection: ConnectionInfo, tid: number, nsecs: bigint) => void;

/** How the lane reaches per-connection state (topic names of ids, fetch offsets of fetch sessions). */
export interface LaneContext {
  topicName(id: string): string | undefined;
  /** The offset last asked for; NaN when past 2^53 (the lane then declines the response). */
  laneFetchOffset(topic: string, partition: number): number | undefined;
  setFetchOffset(topic: string, partition: number, offset: number): void;
}

/** One partition of a request read by the lane. */
interface LaneItem {
  /** Undefined in Fetch v13 and later, which name topics by id. */
  topic: string | undefined;
  id: string | undefined;
  part: number;
  /**
   * Produce: records counted in the partition's data (-1: null data; -2: a batch header that could
   * not be read, so unknown; undefined: not read), and its size.
   */
  records: number | undefined;
  bytes: number | undefined;
  /** Fetch: the offset asked for (the lane reads int64 fields as numbers: compiler.ts). */
  fo: number | undefined;
}

/** A time in ns from its two 32-bit halves. */
function timeOf(hi: number, lo: number): bigint {
  const v = hi * 4294967296 + lo;
  return Number.isSafeInteger(v) ? BigInt(v) : (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * The time and thread of the capture record whose frames the lane is offered. The time stays two
 * 32-bit halves until its BigInt is asked for: a request needs none (latency is worked out from the
 * halves), and making one per record was a measurable share of the lane's cost.
 */
export class LaneMeta {
  hi = 0;
  lo = 0;
  tid = 0;
  /** A view of the bytes the offered frames lie in: the lane reads numbers through it. */
  view: DataView<ArrayBufferLike> = new DataView(new ArrayBuffer(0));
  private big: bigint | undefined = undefined;
  /** Where `view` holds the time, until its BigInt is made. */
  private at = 0;

  /** Frames in a capture record of a packed batch (`view`): its time is a little-endian u64 at view[at]. */
  setRecord(view: DataView, at: number, tid: number): void {
    this.lo = view.getUint32(at, true);
    this.hi = view.getUint32(at + 4, true);
    this.tid = tid;
    // A batch's records share its view: storing it again would pay the write barrier per record.
    if (this.view !== view) this.view = view;
    this.at = at;
    this.big = undefined;
  }

  /** Frames in a chunk's data, with the chunk's time. */
  setChunk(data: Uint8Array, ts: bigint, tid: number): void {
    this.setView(new DataView(data.buffer, data.byteOffset, data.byteLength), ts, tid);
  }

  /** Frames in the bytes `view` covers, with their time. */
  setView(view: DataView, ts: bigint, tid: number): void {
    this.hi = Number(ts >> 32n);
    this.lo = Number(BigInt.asUintN(32, ts));
    this.tid = tid;
    this.view = view;
    this.big = ts;
  }

  get ts(): bigint {
    // getBigUint64 is a builtin; BigInt() of a number goes through the runtime.
    return (this.big ??= this.view.getBigUint64(this.at, true));
  }

  /** The time as a double: exact up to 2^53 ns (104 days of uptime), within a few ns beyond. */
  get approx(): number {
    return this.hi * 4294967296 + this.lo;
  }
}

/** A lane body that declines every frame. */
const declineAll = (): number => -1;

/** The items of a request with none yet (add replaces it, never fills it). */
const NO_ITEMS: readonly LaneItem[] = [];

/** A Produce or Fetch request read by the lane, waiting for its response. */
export class LanePending {
  dir: Direction = 'out';
  /** The request's time, as LaneMeta keeps it. */
  tsHi = 0;
  tsLo = 0;
  private big: bigint | undefined = undefined;
  tid = 0;
  /** Whether the capture walked the request (its record data not copied). */
  truncated = false;
  readonly lost = false;
  /** Whether its version is flexible (the response header has tagged fields); set by FastLane.request. */
  flexible = false;
  /** Its response's lane body; set by FastLane.request. */
  responseBody: LaneBody<LanePending, ResponseScratch> = declineAll;
  acks = 0;
  /** Fetch: the follower's broker id, -1 for a consumer (read only when an arg needs it: ReplicaId). */
  replica = -1;
  /** The request's partitions, in order (see add). */
  items: readonly LaneItem[] = NO_ITEMS;
  private decoded: DecodedRequest | undefined;

  constructor(readonly apiKey: number, readonly version: number, readonly id: number, readonly clientId: string | null, readonly bytes: number) {}

  get ts(): bigint {
    return (this.big ??= timeOf(this.tsHi, this.tsLo));
  }

  /**
   * Adds a partition. The first makes an array of one: an empty array's first push allocates room
   * for 17, which showed in profiles, and most requests have one partition.
   */
  add(item: LaneItem): void {
    if (this.items === NO_ITEMS) this.items = [item];
    else (this.items as LaneItem[]).push(item);
  }

  /**
   * Which of the request's partitions the response's k-th answers: the k-th, when the response
   * keeps the request's order; else the first alike (a broker answers from a map, in its own
   * order); -1 when none.
   */
  indexOf(k: number, topic: string | undefined, id: string | undefined, part: number): number {
    const items = this.items;
    const at = items[k];
    if (at !== undefined && at.part === part && at.topic === topic && at.id === id) return k;
    for (let j = 0; j < items.length; j++) {
      const item = items[j]!;
      if (item.part === part && item.topic === topic && item.id === id) return j;
    }
    return -1;
  }

  /** The request as the schema decoder would have projected it, for the decoder's other paths. */
  get request(): DecodedRequest {
    return (this.decoded ??= {
      header: { apiKey: this.apiKey, apiVersion: this.version, correlationId: this.id, clientId: this.clientId, headerVersion: isFlexible(this.apiKey, this.version) ? 2 : 1 },
      api: this.apiKey === API_KEYS.Produce ? 'Produce' : 'Fetch',
      body: this.apiKey === API_KEYS.Produce ? this.produceBody() : this.fetchBody(),
      failure: null,
    });
  }

  private produceBody(): DecodedStruct {
    const TopicData = this.items.map((i) => {
      const partition: Record<string, unknown> = { Index: i.part };
      if (i.records !== undefined) {
        partition.Records = i.records === -1 ? null : { bytes: i.bytes, records: Math.max(i.records, 0), offsets: -1, magic: -1, batches: [], complete: true, malformed: i.records < -1 };
      }
      return i.id === undefined ? { Name: i.topic!, PartitionData: [partition] } : { TopicId: i.id, PartitionData: [partition] };
    });
    return { Acks: this.acks, TopicData } as unknown as DecodedStruct;
  }

  private fetchBody(): DecodedStruct {
    const Topics = this.items.map((i) => {
      const Partitions = [{ Partition: i.part, FetchOffset: BigInt(i.fo!) }];
      return i.id === undefined ? { Topic: i.topic!, Partitions } : { TopicId: i.id, Partitions };
    });
    // The replica as read (-1 where the lane did not read it), which details.ts's replicaOf reads first.
    return { ReplicaId: this.replica, Topics } as unknown as DecodedStruct;
  }
}

/** Per-partition values of the response being read, reused from response to response. */
class ResponseScratch {
  n = 0;
  readonly topic: (string | undefined)[] = [];
  readonly id: (string | undefined)[] = [];
  readonly part: number[] = [];
  readonly err: number[] = [];
  readonly base: (number | undefined)[] = [];
  readonly hw: (number | undefined)[] = [];
  readonly lso: (number | undefined)[] = [];
  readonly lsto: (number | undefined)[] = [];
  readonly records: number[] = [];
  readonly bytes: number[] = [];
  readonly fo: (number | undefined)[] = [];
  readonly lag: (number | undefined)[] = [];
  /** Topic names of the request's partitions. */
  readonly requested: string[] = [];
  /** Produce: the response that answered each of the request's partitions (its `response` number). */
  private readonly answeredBy: number[] = [];
  /** Counts the responses read, telling one's answers from another's. */
  response = 0;

  /**
   * Keeps a Produce response's answer for the request's partition j (see LanePending.indexOf); false
   * when there is none, or the response already answered it.
   */
  answer(j: number, err: number | undefined, base: number | undefined): boolean {
    if (j < 0 || this.answeredBy[j] === this.response) return false;
    this.answeredBy[j] = this.response;
    this.err[j] = err!;
    this.base[j] = base;
    return true;
  }
}

/** What a firing's args are built from besides the pending request and the response scratch. */
interface FiringSource {
  api: string;
  apiKey: number;
  /** The response's time (latency is made only for the scripts that read it). */
  meta: LaneMeta;
  role: 'client' | 'broker';
  /** The scope arg (set only when the plan reads it). */
  scope: string;
  bytes: number;
  info: ConnectionInfo;
}

type Builder = (
  P: LanePending, X: ResponseScratch, i: number, R: FiringSource, big: (x: number) => bigint, errorName: (c: number) => string,
  latency: (P: LanePending, R: LaneMeta) => bigint,
) => ProbeArgs;

/** A request's latency from the halves of its time and of its response's (no BigInt of either). */
function latency(P: LanePending, R: LaneMeta): bigint {
  const ns = (R.hi - P.tsHi) * 4294967296 + (R.lo - P.tsLo);
  return Number.isSafeInteger(ns) ? laneBig(ns) : R.ts - P.ts;
}

type ShapeName = 'produceRequest' | 'produceResponse' | 'fetchRequest' | 'fetchResponse';

const SHAPES: Record<ShapeName, Omit<LaneShape, 'keep'>> = {
  produceRequest: {
    capture: {
      Acks: 'acks', 'TopicData.Name': 'topic', 'TopicData.TopicId': 'tid', 'TopicData.PartitionData.Index': 'part',
      'TopicData.PartitionData.Records': 'rec',
    },
    each: { 'TopicData.PartitionData': 'P.add({ topic, id: tid, part, records: rec, bytes: recBytes, fo: undefined });' },
    end: 'if (P.items.length === 0) return -1; P.acks = acks;',
  },
  produceResponse: {
    capture: {
      'Responses.Name': 'topic', 'Responses.TopicId': 'tid', 'Responses.PartitionResponses.Index': 'part',
      'Responses.PartitionResponses.ErrorCode': 'err', 'Responses.PartitionResponses.BaseOffset': 'base',
    },
    // The schema decoder's items follow the request's partitions: the lane keeps each answer at its
    // partition's place, and takes responses that answer each partition once.
    each: {
      'Responses.PartitionResponses': 'if (!X.answer(P.indexOf(k, topic, tid, part), err, base)) return -1; k++;',
    },
    end: 'if (k !== P.items.length) return -1; X.n = k;',
  },
  fetchRequest: {
    // From v15 a follower says who it is in the tagged ReplicaState, which the lane leaves to the
    // schema decoder (compiler.ts): a request the lane reads there is a consumer's.
    capture: { ReplicaId: 'rid', 'Topics.Topic': 'topic', 'Topics.TopicId': 'tid', 'Topics.Partitions.Partition': 'part', 'Topics.Partitions.FetchOffset': 'fo' },
    each: { 'Topics.Partitions': 'P.add({ topic, id: tid, part, records: 0, bytes: 0, fo });' },
    end: 'if (rid !== undefined) P.replica = rid;',
  },
  fetchResponse: {
    capture: {
      'Responses.Topic': 'topic', 'Responses.TopicId': 'tid', 'Responses.Partitions.PartitionIndex': 'part',
      'Responses.Partitions.ErrorCode': 'err', 'Responses.Partitions.HighWatermark': 'hw',
      'Responses.Partitions.LastStableOffset': 'lso', 'Responses.Partitions.LogStartOffset': 'lsto',
      'Responses.Partitions.Records': 'rec',
    },
    each: {
      'Responses.Partitions':
        'X.topic[k] = topic; X.id[k] = tid; X.part[k] = part; X.err[k] = err; X.hw[k] = hw; X.lso[k] = lso; X.lsto[k] = lsto; X.records[k] = rec; X.bytes[k] = recBytes; k++;',
    },
    // A Fetch response without partitions fires once, without an item: the schema decoder's path.
    end: 'if (k === 0) return -1; X.n = k;',
  },
};

export type LaneProbe = 'produce' | 'fetch';

/** The probe each shape's firings belong to. */
const SHAPE_PROBE: Record<ShapeName, LaneProbe> = { produceRequest: 'produce', produceResponse: 'produce', fetchRequest: 'fetch', fetchResponse: 'fetch' };

/**
 * Captures made only for the args named (args.ts's `needs`): others leave their local undefined (no
 * BigInt made, no records counted).
 */
const OPTIONAL = Object.fromEntries((Object.keys(SHAPES) as ShapeName[]).map((name) => {
  const optional: Record<string, string[]> = {};
  for (const [arg, lane] of laneArgs(SHAPE_PROBE[name])) {
    for (const path of lane.needs ?? []) if (path in SHAPES[name].capture) (optional[path] ??= []).push(arg);
  }
  return [name, optional];
})) as Record<ShapeName, Record<string, string[]>>;

/** A shape with only the captures `args` need, stepping as far as the projection `keep` goes. */
function shapeFor(name: ShapeName, args: ReadonlySet<string>, keep: ReadonlySet<string>): LaneShape {
  const { capture, each, end } = SHAPES[name];
  const optional = OPTIONAL[name];
  const kept = Object.entries(capture).filter(([path]) => optional[path]?.some((a) => args.has(a)) ?? true);
  // The hooks read every local, `recBytes` too (the size compiler.ts gives a records capture `rec`).
  return { capture: Object.fromEntries(kept), each, end, declare: [...Object.values(capture), 'recBytes'], keep };
}

/** The lane's args of a probe's firings, by name (probes/args.ts): its own, then the common ones. */
function laneArgs(probe: LaneProbe): Map<string, LaneArg> {
  const out = new Map<string, LaneArg>();
  for (const a of PROBES.find((p) => p.name === probe)!.args) if (a.lane) out.set(a.name, a.lane);
  for (const a of COMMON_ARGS) {
    const lane = a[probe]?.lane ?? a.lane;
    if (lane && !out.has(a.name)) out.set(a.name, lane);
  }
  return out;
}

/** How the lane makes each arg of Produce and Fetch firings; an arg absent from one probe's is absent from its firings. */
const LANE_CODE: Record<LaneProbe, ReadonlyMap<string, LaneCode>> = {
  produce: new Map([...laneArgs('produce')].map(([name, lane]) => [name, lane.code])),
  fetch: new Map([...laneArgs('fetch')].map(([name, lane]) => [name, lane.code])),
};

/**
 * Args the schema decoder gives Produce or Fetch firings, their own or common, that the lane does not
 * make (args.ts declares no lane code for them): the lane declines a demand for any of them.
 */
const BEYOND = new Set((['produce', 'fetch'] as const).flatMap((probe) =>
  [...PROBES.find((p) => p.name === probe)!.args, ...COMMON_ARGS].filter((a) => !LANE_CODE[probe].has(a.name)).map((a) => a.name)));

/** What the lane makes of an arg: 'lane' (it makes it), 'beyond' (it cannot), 'absent' (no Produce or Fetch firing has it). */
export function laneArgKinds(name: string): 'lane' | 'beyond' | 'absent' {
  if (BEYOND.has(name)) return 'beyond';
  return LANE_CODE.produce.has(name) || LANE_CODE.fetch.has(name) ? 'lane' : 'absent';
}

/**
 * Args of the kafka:request firing of a Produce or Fetch exchange besides the common ones: those
 * details.ts puts in the exchange's details (its `copy: 'exchange'` args, and the replica and group
 * its Fetch extractor sets). A firing of the schema decoder's path has them; every other arg of the
 * probe is absent from it on either path.
 */
const EXCHANGE_ARGS: Record<LaneProbe, ReadonlySet<string>> = {
  produce: new Set(PROBES.find((p) => p.name === 'produce')!.args.filter((a) => a.body?.copy === 'exchange').map((a) => a.name)),
  fetch: new Set([...PROBES.find((p) => p.name === 'fetch')!.args.filter((a) => a.body?.copy === 'exchange').map((a) => a.name), 'replica', 'group']),
};

/**
 * How the lane makes each arg of the kafka:request firing of a Produce or Fetch exchange, whose code
 * reads only the request `P` and the source `R` (not the items'): null where it cannot (an error
 * of the whole exchange; details the lane does not read), and absent where that firing has no such arg.
 */
const REQUEST_CODE: Record<LaneProbe, ReadonlyMap<string, LaneCode | null>> = {
  produce: requestCode('produce'),
  fetch: requestCode('fetch'),
};

function requestCode(probe: LaneProbe): Map<string, LaneCode | null> {
  const out = new Map<string, LaneCode | null>(COMMON_ARGS.map((a) => [a.name, a.lane?.code ?? null]));
  for (const a of PROBES.find((p) => p.name === probe)!.args) if (EXCHANGE_ARGS[probe].has(a.name)) out.set(a.name, a.lane?.code ?? null);
  return out;
}

/** What the lane makes of an arg of a Produce or Fetch exchange's kafka:request firing (as laneArgKinds). */
export function laneRequestArgKinds(probe: LaneProbe, name: string): 'lane' | 'beyond' | 'absent' {
  const code = REQUEST_CODE[probe].get(name);
  return code === undefined ? 'absent' : code === null ? 'beyond' : 'lane';
}

/**
 * The builder of the args of one probe's firings (`request`: the kafka:request firing of a `probe`
 * exchange), in the demand's order; undefined when an arg is beyond the lane.
 */
function compileBuilder(probe: LaneProbe, names: readonly string[], request = false): Builder | undefined {
  return cached(`lane-args ${request ? 'request ' : ''}${probe} ${names.map(literal).join(',')}`, () => generateBuilder(probe, names, request));
}

/**
 * Args always present are set in one object literal (one allocation with its final shape, where
 * adding them one by one moved the object through a shape per arg); optional ones are added after.
 */
function generateBuilder(probe: LaneProbe, names: readonly string[], request: boolean): Builder | undefined {
  const fields: string[] = [];
  const optional: string[] = [];
  for (const name of names) {
    if (inherited(name)) continue;
    if (BEYOND.has(name)) return undefined;
    const code = request ? REQUEST_CODE[probe].get(name) : LANE_CODE[probe].get(name);
    if (code === null) return undefined;
    const key = literal(name);
    if (typeof code === 'string') fields.push(`${key}: ${code}`);
    else if (code !== undefined) {
      // kafka:request firings read no sentinel (firings.ts's plannedFirings).
      const unknown = request ? undefined : unknownArgs(probe)[name];
      // A sentinel in the literal keeps the firing's shape whether or not the value was there.
      if (typeof unknown === 'bigint') fields.push(`${key}: (v = ${code.present}) === undefined ? ${unknown}n : big(v)`);
      else optional.push(`v = ${code.present}; if (v !== undefined) args[${key}] = big(v);`);
    }
  }
  const source = `return function build(P, X, i, R, big, errorName, latency) {\nlet v;\nconst args = { ${fields.join(', ')} };\n${optional.join('\n')}\nreturn args;\n};`;
  return compile<Builder>([], source, []);
}

const clientIdAt = laneString();

const PRODUCE_SCOPE = API_SCOPES[API_KEYS.Produce] ?? 'client';
const FETCH_SCOPE = API_SCOPES[API_KEYS.Fetch] ?? 'client';

/** A Fetch's scope, as details.ts's requestScope reads it from the request's body. */
function fetchScope(P: LanePending): string {
  for (const item of P.items) if (item.topic === METADATA_TOPIC || item.id === METADATA_TOPIC_ID) return 'controller';
  return P.replica >= 0 ? 'inter-broker' : FETCH_SCOPE;
}

const PRODUCE = { request: requestSpec(API_KEYS.Produce)!, response: responseSpec(API_KEYS.Produce)! };
const FETCH = { request: requestSpec(API_KEYS.Fetch)!, response: responseSpec(API_KEYS.Fetch)! };

/**
 * The shapes in the order the hot paths index them: loading by a shape's name at one site, with
 * four names, went through V8's megamorphic keyed loads.
 */
const SHAPE_ORDER: readonly ShapeName[] = ['produceRequest', 'produceResponse', 'fetchRequest', 'fetchResponse'];
/** A request shape's index; its response's is the next (see request). */
const PRODUCE_REQUEST = 0;
const FETCH_REQUEST = 2;

export class FastLane {
  /** Lane bodies by shape (SHAPE_ORDER) and version, compiled when first needed. */
  private readonly bodies: (LaneBody<LanePending, ResponseScratch> | undefined)[][] = [[], [], [], []];
  private readonly shapeAt: (LaneShape | undefined)[];
  private readonly scratch = new ResponseScratch();
  private readonly source: FiringSource = { api: '', apiKey: 0, meta: undefined as unknown as LaneMeta, role: 'client', scope: '', bytes: 0, info: undefined as unknown as ConnectionInfo };

  private constructor(
    /** The shapes of the APIs the lane takes (those whose bodies the plan projects). */
    shapes: Partial<Record<ShapeName, LaneShape>>,
    private readonly fires: { produce: boolean; fetch: boolean },
    private readonly build: { produce: Builder; fetch: Builder },
    /** The builders of the exchanges' kafka:request firings, when the plan fires it. */
    private readonly buildRequest: { produce: Builder; fetch: Builder } | undefined,
    /** Whether the plan reads the scope arg (R.scope is worked out for it). */
    private readonly scoped: boolean,
    private readonly sink: FiringSink,
  ) {
    this.shapeAt = SHAPE_ORDER.map((name) => shapes[name]);
  }

  /**
   * The lane of a running script's plan, or undefined when the plan needs what only the schema
   * decoder gives: the lag or rebalance trackers, or args the lane does not make.
   */
  static of(plan: DecodePlan, sink: FiringSink): FastLane | undefined {
    if (plan.lag || plan.rebalance) return undefined;
    const names = [...plan.args];
    const produce = compileBuilder('produce', names);
    const fetch = compileBuilder('fetch', names);
    if (!produce || !fetch) return undefined;
    let buildRequest: { produce: Builder; fetch: Builder } | undefined;
    if (plan.fires('request')) {
      const produceRequest = compileBuilder('produce', names, true);
      const fetchRequest = compileBuilder('fetch', names, true);
      if (!produceRequest || !fetchRequest) return undefined;
      buildRequest = { produce: produceRequest, fetch: fetchRequest };
    }
    const shapes: Partial<Record<ShapeName, LaneShape>> = {};
    for (const [key, request, response] of [[API_KEYS.Produce, 'produceRequest', 'produceResponse'], [API_KEYS.Fetch, 'fetchRequest', 'fetchResponse']] as const) {
      // An API whose response the plan does not decode is the schema decoder's (it reads little of it).
      const requestKeep = plan.body('request', key);
      const responseKeep = plan.body('response', key);
      if (!(requestKeep instanceof Set) || !(responseKeep instanceof Set)) continue;
      shapes[request] = shapeFor(request, plan.args, requestKeep);
      shapes[response] = shapeFor(response, plan.args, responseKeep);
    }
    return new FastLane(shapes, { produce: plan.fires('produce'), fetch: plan.fires('fetch') }, { produce, fetch }, buildRequest, plan.args.has('scope'), sink);
  }

  /**
   * Reads a Produce or Fetch request at data[start, start + size) (`view` over data), `wire` bytes on
   * the wire (more than size for a walked frame); null when the lane declines it.
   */
  request(data: Uint8Array, view: DataView, start: number, size: number, wire = size): LanePending | null {
    const e = start + size;
    if (size < 10) return null;
    const apiKey = view.getInt16(start);
    if (apiKey !== API_KEYS.Produce && apiKey !== API_KEYS.Fetch) return null;
    const version = view.getInt16(start + 2);
    const spec = apiKey === API_KEYS.Produce ? PRODUCE.request : FETCH.request;
    const shape = apiKey === API_KEYS.Produce ? PRODUCE_REQUEST : FETCH_REQUEST;
    if (!inRange(spec.valid, version) || !this.shapeAt[shape]) return null;
    const id = view.getInt32(start + 4);
    let p = start + 8;
    const n = view.getInt16(p);
    p += 2;
    if (n < -1 || n > e - p) return null;
    const clientId = n < 0 ? null : clientIdAt(data, view, p, n);
    if (n > 0) p += n;
    const flexible = inRange(spec.flexible, version);
    if (flexible) {
      if (p >= e || data[p] !== 0) return null;
      p++;
    }
    const pending = new LanePending(apiKey, version, id, clientId, wire + 4);
    const body = this.body(spec, shape, version);
    const end = body(data, view, p, e, pending, this.scratch);
    if (end < 0 || !laneGapsBefore(end)) return null;
    pending.flexible = flexible;
    pending.responseBody = this.body(apiKey === API_KEYS.Produce ? PRODUCE.response : FETCH.response, shape + 1, version);
    // acks=0 is answered by nothing: the schema decoder's path reports it at once.
    return apiKey === API_KEYS.Produce && pending.acks === 0 ? null : pending;
  }

  /**
   * Reads the response to `P` at data[start, start + size) and fires its probes; false when the lane
   * declines it: nothing fired, and nothing changed but, for a Fetch whose kept offset is past 2^53,
   * the request's fetch offsets, which the schema decoder's path then sets again, in the same order
   * (details.ts sets them before it looks up the partitions the request left out, as fetchItems does).
   */
  respond(P: LanePending, data: Uint8Array, start: number, size: number, meta: LaneMeta, info: ConnectionInfo, ctx: LaneContext, wire = size): boolean {
    const e = start + size;
    let p = start + 4;
    if (P.flexible) {
      if (p >= e || data[p] !== 0) return false;
      p++;
    }
    const X = this.scratch;
    X.response++;
    const end = P.responseBody(data, meta.view, p, e, P, X);
    if (end < 0 || !laneGapsBefore(end)) return false;
    const R = this.source;
    R.meta = meta;
    R.role = P.dir === 'out' ? 'client' : 'broker';
    R.bytes = wire + 4;
    R.info = info;
    if (P.apiKey === API_KEYS.Produce) {
      R.api = 'Produce';
      R.apiKey = API_KEYS.Produce;
      // Produce v13 names topics by id alone: the firings carry the name Metadata gave it, else the id.
      for (const item of P.items) if (item.id !== undefined) item.topic = topicNamed(undefined, item.id, ctx);
      R.scope = PRODUCE_SCOPE;
      if (this.buildRequest) this.sink('request', this.buildRequest.produce(P, X, -1, R, laneBig, errorName, latency), info, P.tid, meta.ts);
      if (this.fires.produce) for (let i = 0; i < X.n; i++) this.sink('produce', this.build.produce(P, X, i, R, laneBig, errorName, latency), info, P.tid, meta.ts);
      return true;
    }
    R.api = 'Fetch';
    R.apiKey = API_KEYS.Fetch;
    if (!this.fetchItems(P, X, ctx)) return false;
    if (this.scoped) R.scope = fetchScope(P);
    if (this.buildRequest) this.sink('request', this.buildRequest.fetch(P, X, -1, R, laneBig, errorName, latency), info, P.tid, meta.ts);
    if (this.fires.fetch) for (let i = 0; i < X.n; i++) this.sink('fetch', this.build.fetch(P, X, i, R, laneBig, errorName, latency), info, P.tid, meta.ts);
    return true;
  }

  private body(spec: MessageSpec, shape: number, version: number): LaneBody<LanePending, ResponseScratch> {
    return (this.bodies[shape]![version] ??= compileLaneBody(spec, version, this.shapeAt[shape]!));
  }

  /**
   * Topic names, fetch offsets and lag of a Fetch response's partitions, as details.ts makes them;
   * false when an offset this connection kept is past what a number holds exactly.
   */
  private fetchItems(P: LanePending, X: ResponseScratch, ctx: LaneContext): boolean {
    const items = P.items;
    const requested = X.requested;
    for (let j = 0; j < items.length; j++) {
      const item = items[j]!;
      const topic = topicNamed(item.topic, item.id, ctx);
      requested[j] = topic;
      ctx.setFetchOffset(topic, item.part, item.fo!);
    }
    for (let i = 0; i < X.n; i++) {
      const topic = topicNamed(X.topic[i], X.id[i], ctx);
      const part = X.part[i]!;
      X.topic[i] = topic;
      let fo: number | undefined;
      // The last request entry of a partition wins, as in details.ts's item index.
      for (let j = items.length - 1; j >= 0; j--) {
        if (items[j]!.part === part && requested[j] === topic) {
          fo = items[j]!.fo;
          break;
        }
      }
      if (fo === undefined) fo = ctx.laneFetchOffset(topic, part);
      if (fo !== fo) return false;
      X.fo[i] = fo;
      const hw = X.hw[i];
      X.lag[i] = hw !== undefined && fo !== undefined && fo >= 0 ? hw - fo : undefined;
    }
    return true;
  }
}
