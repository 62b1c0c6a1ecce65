// Pairing of requests and responses on one connection. A response carries no api key, only the
// correlation id of its request, so requests are remembered per connection until their response
// arrives (or the request needs none, the connection closes, or it times out). Which direction
// carries requests is learnt from the first response that pairs; before that, frames that read as
// requests are remembered from both directions.
import type { ConnectionInfo, Direction, ExchangeStatus, KafkaExchange } from '../model.js';
import { API_KEYS, apiName } from '../wire/api-names.js';
import { BoundedMap } from './bounded-map.js';
import { countFailure, type KafkaCounters } from './counters.js';
import type { DecodedStruct } from '../wire/values.js';
import type { DecodePlan } from '../probes/demand.js';
import { exchangeDetails, type DetailsContext } from '../probes/details.js';
import { errorName } from '../wire/error-codes.js';
import { LaneMeta, LanePending, type FastLane, type LaneContext } from '../lane/fast-lane.js';
import { setLaneGaps, WalkGaps } from '../lane/compiler.js';
import { PendingRequests } from './pending.js';
import { decodeRequest, decodeResponse, peekCorrelationId, type DecodedRequest } from '../wire/frame.js';
import { MAX_PLAUSIBLE_VERSION } from '../wire/headers.js';
import { int16At, int32At } from '../wire/reader.js';
import { requestSpec, responseSpec } from '../wire/schemas/index.js';
import { inRange, type MessageSpec } from '../wire/schemas/spec.js';
import type { CopiedRun, StreamFrame } from '../wire/stream.js';

/** What the stream keeps of the chunk in which a frame started. */
export interface FrameMeta {
  ts: bigint;
  tid: number;
}

/** State shared by all connections of one decoder (per process: topic ids, groups of client ids). */
export interface SharedState {
  counters: KafkaCounters;
  topicNames(pid: number): Map<string, string>;
  /**
   * Topic ids any process learnt. A broker answers Produce and Fetch for topics whose Metadata another
   * broker answered; a topic id is random (128 bits), one topic's in one cluster, so it names the same
   * topic wherever it was learnt. The process's own table is asked first.
   */
  anyTopicNames: Map<string, string>;
  /** A topic id named from the log directories process `pid` holds open (a broker's), asked last. */
  topicOnDisk(pid: number, id: string): string | undefined;
  groups: Map<string, string>;
  /** What the running script needs decoded; undefined: everything. */
  plan: DecodePlan | undefined;
  /** The fast lane of that plan, when it has one (lane/fast-lane.ts). */
  lane: FastLane | undefined;
  /** Hands on a reported exchange, with its decoded bodies (null when not decoded). */
  emit(exchange: KafkaExchange, request: DecodedStruct | null, response: DecodedStruct | null): void;
}

interface Pending {
  request: DecodedRequest;
  dir: Direction;
  bytes: number;
  ts: bigint;
  tid: number;
  truncated: boolean;
  /** The request body lost fields (see KafkaExchange.incomplete). */
  lost: boolean;
}

/**
 * Whether a body left undecoded was so for want of a schema of its version (counted as
 * unknown_version), rather than by the plan or by design (SASL).
 */
function unknownVersion(spec: MessageSpec | undefined, version: number, counters: KafkaCounters): boolean {
  if (!spec || inRange(spec.valid, version)) return false;
  countFailure(counters, 'unknown_version');
  return true;
}

/** A request header's api key and version, the first 4 bytes at data[at], could be real. */
function plausibleRequest(data: Uint8Array, at: number): boolean {
  const version = int16At(data, at + 2);
  return apiName(int16At(data, at)) !== undefined && version >= 0 && version <= MAX_PLAUSIBLE_VERSION;
}

const GROUP_APIS = new Set<number>([
  API_KEYS.JoinGroup, API_KEYS.SyncGroup, API_KEYS.Heartbeat, API_KEYS.LeaveGroup, API_KEYS.OffsetCommit,
  API_KEYS.OffsetFetch, API_KEYS.ConsumerGroupHeartbeat,
]);

const opposite = (d: Direction): Direction => (d === 'out' ? 'in' : 'out');

/**
 * The correlation ids of a direction's latest acks=0 Produce requests. A broker never answers them,
 * but librdkafka's mock cluster does: such an answer must be known for what it is, neither an orphan
 * (whose resync would drop the request in progress) nor a request going the other way.
 */
class UnackedProduces {
  private static readonly SIZE = 64;
  private readonly ids = new Int32Array(UnackedProduces.SIZE);
  /** Whether the request decoded cleanly (so that its answer may teach the direction). */
  private readonly clean = new Uint8Array(UnackedProduces.SIZE);
  private readonly used = new Uint8Array(UnackedProduces.SIZE);
  private next = 0;

  add(id: number, clean: boolean): void {
    const i = this.next;
    this.ids[i] = id;
    this.clean[i] = clean ? 1 : 0;
    this.used[i] = 1;
    this.next = (i + 1) % UnackedProduces.SIZE;
  }

  /** The slot holding `id`, newest first; -1 if none. */
  find(id: number): number {
    const n = UnackedProduces.SIZE;
    for (let k = 1; k <= n; k++) {
      const i = (this.next - k + n) % n;
      if (this.used[i] === 1 && this.ids[i] === id) return i;
    }
    return -1;
  }

  isClean(slot: number): boolean {
    return this.clean[slot] === 1;
  }

  remove(slot: number): void {
    this.used[slot] = 0;
  }

  clear(): void {
    this.used.fill(0);
  }
}

/** The gaps of the walked frame offered to the lane by takeWalked. */
const walkedGaps = new WalkGaps();


/** What a connection may ask of its two streams. */
export interface StreamControl {
  /** Drops the frame in progress and resynchronises. */
  resync(dir: Direction): void;
  /** The copied head of the frame in progress, if any. */
  openHead(dir: Direction): Uint8Array | null;
  /** Hands on the frame in progress now (to onFrame), as truncated. */
  finishOpen(dir: Direction): void;
}

export interface ConnectionOptions {
  maxPending: number;
  timeoutNs: bigint;
}

export class Connection {
  private requestDir: Direction | null = null;
  private readonly pending: Record<Direction, PendingRequests<Pending>> = { out: new PendingRequests(), in: new PendingRequests() };
  /** Made at a direction's first acks=0 Produce request: most connections never send one. */
  private readonly unacked: Partial<Record<Direction, UnackedProduces>> = {};
  /** Fetch offsets asked for: BigInts from the schema decoder, numbers from the fast lane. */
  private readonly fetchOffsets = new BoundedMap<string, bigint | number>(10_000);
  /** After a SaslHandshake v0, raw SASL tokens follow without Kafka headers. */
  private saslTokens = false;
  /** Expiry runs when frame timestamps pass this (every 1/16 of the timeout, not on every frame). */
  private nextExpire = 0n;
  /** nextExpire as a double, for the fast lane's check (which makes no BigInt of a request's time). */
  private nextExpireAt = 0;
  private readonly contexts: Partial<Record<'client' | 'broker', DetailsContext & LaneContext>> = {};
  private laneContext: (DetailsContext & LaneContext) | undefined;
  /** The last connection info handed out with an exchange (most exchanges share their thread). */
  private lastConnection: ConnectionInfo | undefined;
  /** Time and thread of the walked or assembled frame offered to the lane (takeWalked, takeAssembled). */
  private walkedMeta: LaneMeta | undefined;
  /**
   * The time of the latest record flagged KC_F_LOSS, until a response answers a request seen since:
   * meanwhile (responses come in request order) a response that answers nothing answers a request
   * the capture lost, and the streams are in step.
   */
  private lossAt: bigint | null = null;

  constructor(
    public info: ConnectionInfo,
    private readonly shared: SharedState,
    private readonly options: ConnectionOptions,
    private readonly streams: StreamControl,
    origin?: 'connect' | 'accept',
  ) {
    // Kafka requests go from the end that connected to the end that accepted: a connection whose
    // start the capture saw needs no pairing to learn its direction (nor can a bad one mislead it).
    if (origin) this.requestDir = origin === 'connect' ? 'out' : 'in';
  }

  /**
   * The fast lane's turn at a frame lying whole in a chunk, bytes [start, start + size) of `data`
   * (lane/fast-lane.ts), `wire` bytes on the wire (more for a walked frame: see takeWalked); false:
   * nothing changed, and the frame goes the usual way (onFrame).
   */
  takeWhole(dir: Direction, data: Uint8Array, start: number, size: number, meta: LaneMeta, wire = size): boolean {
    const lane = this.shared.lane;
    if (!lane || this.saslTokens || this.requestDir === null) return false;
    if (meta.approx >= this.nextExpireAt) this.expireBy(meta.ts);
    const counters = this.shared.counters;
    if (dir === this.requestDir) {
      const p = lane.request(data, meta.view, start, size, wire);
      if (!p) return false;
      p.truncated = wire !== size;
      p.dir = dir;
      p.tsHi = meta.hi;
      p.tsLo = meta.lo;
      p.tid = meta.tid;
      counters.framesDecoded++;
      this.remember(dir, p.id, p);
      return true;
    }
    if (size < 4) return false;
    const id = meta.view.getInt32(start);
    const pending = this.pending[this.requestDir];
    const p = pending.get(id);
    if (!(p instanceof LanePending)) return false;
    // The lane's requests go one way, the connection's requestDir, which is set once: so does its role.
    const ctx = (this.laneContext ??= this.context(this.requestDir === 'out' ? 'client' : 'broker'));
    if (!lane.respond(p, data, start, size, meta, this.info, ctx, wire)) return false;
    if (this.lossAt !== null) this.answered(p.ts);
    pending.delete(id);
    counters.framesDecoded++;
    counters.exchanges++;
    return true;
  }

  /** Expiry runs when frame timestamps pass nextExpire. */
  private expireBy(ts: bigint): void {
    if (ts < this.nextExpire) return;
    this.expire(ts);
    this.nextExpire = ts + this.options.timeoutNs / 16n;
    this.nextExpireAt = Number(this.nextExpire);
  }

  /**
   * The fast lane's turn at a frame with uncopied bytes, before it is emitted (FrameStream's
   * takeWalked): a Produce request, or a response to a lane request, that the capture walked. Its
   * copied bytes lie end to end in packed[0, copied), and the gaps between its runs (record data,
   * unless the lane finds otherwise) are described to the lane. False: nothing changed.
   */
  takeWalked(dir: Direction, packed: Uint8Array, copied: number, runs: readonly CopiedRun[], size: number, meta: FrameMeta): boolean {
    if (!this.walkable(dir, packed, 0, copied)) return false;
    const gaps = walkedGaps;
    gaps.count = 0;
    let wireEnd = 0;
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i]!;
      if (run.offset > wireEnd) gaps.add(run.start, run.offset - wireEnd, 0);
      wireEnd = run.offset + run.len;
    }
    if (wireEnd < size) gaps.add(copied, size - wireEnd, 0);
    return this.takeWithGaps(dir, packed, 0, copied, size, this.metaOver(packed, copied, meta), gaps);
  }

  /** The lane's time, thread and view for `n` bytes from data[0] that the stream copied (walked or assembled frames). */
  private metaOver(data: Uint8Array, n: number, meta: FrameMeta): LaneMeta {
    const laneMeta = (this.walkedMeta ??= new LaneMeta());
    // A stream packs its frames in the same buffer, mostly: one view of it serves.
    const v = laneMeta.view;
    if (v.buffer !== data.buffer || v.byteOffset !== data.byteOffset || v.byteLength < n) laneMeta.setChunk(data, meta.ts, meta.tid);
    else laneMeta.setView(v, meta.ts, meta.tid);
    return laneMeta;
  }

  /**
   * takeWalked for a frame read where its pieces lie, in the capture records that carried them:
   * `copied` bytes from data[start] (meta.view over data), `size` on the wire, the record headers
   * between its pieces stepped over at its gaps.
   */
  takeGathered(dir: Direction, data: Uint8Array, start: number, copied: number, size: number, meta: LaneMeta, gaps: WalkGaps): boolean {
    return this.walkable(dir, data, start, copied) && this.takeWithGaps(dir, data, start, copied, size, meta, gaps);
  }

  /**
   * The fast lane's turn at a whole frame the stream put together from several chunks: the JVM's
   * clients and brokers read a frame's size, then its payload, in two reads (two capture records).
   */
  private takeAssembled(dir: Direction, frame: StreamFrame<FrameMeta>): boolean {
    const first = frame.segments[0];
    if (frame.segments.length !== 1 || first!.offset !== 0 || first!.data.length !== frame.size) return false;
    const data = first!.data;
    // Most frames are no Produce or Fetch, nor an answer to one the lane read: no view made for them.
    return this.walkable(dir, data, 0, data.length) && this.takeWhole(dir, data, 0, data.length, this.metaOver(data, data.length, frame.meta));
  }

  /** Whether a walked or assembled frame whose copied bytes start at data[start] may be the lane's: a Produce or Fetch request, or a response to a lane request. */
  private walkable(dir: Direction, data: Uint8Array, start: number, copied: number): boolean {
    if (!this.shared.lane || this.saslTokens || this.requestDir === null || copied < 8) return false;
    if (dir === this.requestDir) {
      const api = int16At(data, start);
      return api === API_KEYS.Produce || api === API_KEYS.Fetch;
    }
    return this.pending[this.requestDir].get(int32At(data, start)) instanceof LanePending;
  }

  private takeWithGaps(dir: Direction, data: Uint8Array, start: number, copied: number, size: number, meta: LaneMeta, gaps: WalkGaps): boolean {
    setLaneGaps(gaps);
    try {
      if (!this.takeWhole(dir, data, start, copied, meta, size)) return false;
    } finally {
      setLaneGaps(undefined);
    }
    this.shared.counters.framesTruncated++;
    return true;
  }

  onFrame(dir: Direction, frame: StreamFrame<FrameMeta>): void {
    if (this.shared.lane && !frame.truncated && this.takeAssembled(dir, frame)) return;
    this.expireBy(frame.meta.ts);
    const counters = this.shared.counters;
    const other = opposite(dir);
    let id: number | null = null;
    if (this.requestDir !== dir) {
      id = peekCorrelationId(frame);
      const req = id === null ? undefined : this.pendingRequest(other, id);
      if (req && id !== null && (this.requestDir !== null || this.soundPairing(req, frame))) {
        this.pending[other].delete(id);
        if (this.requestDir === null) {
          this.requestDir = other;
          this.pending[dir].clear();
        }
        if (this.lossAt !== null) this.answered(req.ts);
        this.complete(req, frame);
        return;
      }
      if (id !== null && this.answersUnacked(dir, id, frame)) return;
    }
    if (this.saslTokens) {
      // Tokens are never decoded; the first frame that reads as a whole request ends them.
      const req = decodeRequest(frame);
      if (this.requestDir === other || 'rejected' in req || req.failure !== null) {
        countFailure(counters, 'sasl_token');
        return;
      }
      this.saslTokens = false;
      this.accept(dir, req, frame);
      return;
    }
    if (this.requestDir === other) {
      if (id === null) countFailure(counters, 'truncated_header');
      else if (this.lossAt !== null) countFailure(counters, 'request_lost');
      else this.orphan(other);
      return;
    }
    // Until a pairing has taught the direction, requests decode whole: soundPairing judges by their failures.
    const req = decodeRequest(frame, this.requestDir === null ? undefined : this.shared.plan?.requests);
    if ('rejected' in req) {
      const answer = req.rejected === 'bad_header' && this.answersLost(dir);
      countFailure(counters, req.rejected === 'truncated' ? 'truncated_header' : answer ? 'request_lost' : req.rejected);
      return;
    }
    this.accept(dir, req, frame);
  }

  /**
   * The request `id` awaiting its response in direction `dir`. A request whose tail the capture has
   * not reported yet (its head copied, the rest skipped) is still open in its stream; a response to
   * it proves it complete on the wire, so it is finished early.
   */
  private pendingRequest(dir: Direction, id: number): Pending | undefined {
    const found = this.pending[dir].get(id);
    if (found) return found;
    const head = this.streams.openHead(dir);
    if (!head || head.length < 8) return undefined;
    if (int32At(head, 4) !== id) return undefined;
    this.streams.finishOpen(dir);
    return this.pending[dir].get(id);
  }

  /**
   * Whether a frame in direction `dir` answers one of the latest acks=0 Produce requests going the
   * other way: it is counted and dropped. Before the direction is known, it teaches the direction on
   * the terms of soundPairing.
   */
  private answersUnacked(dir: Direction, id: number, frame: StreamFrame<FrameMeta>): boolean {
    const other = opposite(dir);
    const ring = this.unacked[other];
    const slot = ring ? ring.find(id) : -1;
    if (!ring || slot < 0) return false;
    if (this.requestDir === null) {
      if (!ring.isClean(slot)) {
        const asRequest = decodeRequest(frame);
        if (!('rejected' in asRequest) && asRequest.failure === null) return false;
      }
      this.requestDir = other;
      this.pending[dir].clear();
      this.unacked[dir]?.clear();
    }
    ring.remove(slot);
    countFailure(this.shared.counters, 'acks0_response');
    return true;
  }

  /** The capture lost records of this connection (a record flagged KC_F_LOSS, at `ts`). */
  afterLoss(ts: bigint): void {
    this.lossAt = ts;
  }

  /** A response answered a request of time `ts`: one seen since the loss ends its window. */
  private answered(ts: bigint): void {
    const at = this.lossAt;
    if (at !== null && ts >= at) this.lossAt = null;
  }

  /**
   * Outside a loss window (see lossAt), a response that answers no request means requests were lost,
   * most likely because the request stream is inside a frame whose size was wrong (it would
   * otherwise swallow the stream up to that size): the request stream drops the frame in progress
   * and resynchronises.
   */
  private orphan(requestDir: Direction): void {
    countFailure(this.shared.counters, 'orphan_response');
    this.streams.resync(requestDir);
  }

  /**
   * Before the direction is known, a response can pass for a request (a small correlation id reads
   * as api key 0 and a plausible version) and a request's api key and version for a correlation id.
   * A pairing teaches the direction only if the remembered request decoded cleanly, or the frame
   * that would answer it does not.
   */
  private soundPairing(req: Pending, frame: StreamFrame<FrameMeta>): boolean {
    if (req.request.failure === null) return true;
    const asRequest = decodeRequest(frame);
    return 'rejected' in asRequest || asRequest.failure !== null;
  }

  /**
   * Whether a frame whose head is bytes [at, at + n) of `data` can be real in direction `dir`: a
   * response to a pending request, or (unless the direction is known to carry responses) a
   * plausible request header.
   */
  checkHead(dir: Direction, data: Uint8Array, at: number, n: number): boolean {
    if (this.saslTokens || n < 4) return true;
    const other = opposite(dir);
    if (this.requestDir !== dir) {
      const id = int32At(data, at);
      if (this.pendingRequest(other, id) || (this.unacked[other]?.find(id) ?? -1) >= 0) return true;
    }
    if (this.requestDir === other) {
      // After a loss the frame is real, the answer to a lost request (onFrame counts it).
      if (this.lossAt !== null) return true;
      this.orphan(other);
      return false;
    }
    if (plausibleRequest(data, at) || this.answersLost(dir)) return true;
    countFailure(this.shared.counters, 'bad_header');
    return false;
  }

  /**
   * Whether a frame in direction `dir` that is no request answers a request the capture lost: after
   * a loss, before the direction is known, once the other direction has sent requests (the frame is
   * real: the capture found its boundary).
   */
  private answersLost(dir: Direction): boolean {
    return this.lossAt !== null && this.requestDir === null && this.pending[opposite(dir)].size > 0;
  }

  /**
   * checkHead's verdict, with nothing counted and no stream touched, where a stream out of sync
   * searches for a frame; a request there also needs room for its header (api key, version,
   * correlation id).
   */
  plausibleHead(dir: Direction, data: Uint8Array, at: number, n: number): boolean {
    if (this.saslTokens) return true;
    if (n < 4) return false;
    const other = opposite(dir);
    if (this.requestDir !== dir) {
      const id = int32At(data, at);
      if (this.pending[other].get(id) || (this.unacked[other]?.find(id) ?? -1) >= 0) return true;
      const head = this.streams.openHead(other);
      if (head && head.length >= 8 && int32At(head, 4) === id) return true;
    }
    return this.requestDir !== other && n >= 8 && plausibleRequest(data, at);
  }

  /** Reports every request still waiting for its response as `closed`. */
  close(): void {
    for (const dir of ['out', 'in'] as const) {
      for (const [, p] of this.pending[dir].entries()) this.report(p, null, 'closed');
      this.pending[dir].clear();
    }
  }

  /** Reports requests older than the timeout as `timeout`. */
  expire(now: bigint): void {
    for (const dir of ['out', 'in'] as const) {
      const pending = this.pending[dir];
      for (const [id, p] of pending.entries()) {
        if (now - p.ts <= this.options.timeoutNs) break;
        pending.delete(id);
        this.report(p, null, 'timeout');
      }
    }
  }

  private accept(dir: Direction, req: DecodedRequest, frame: StreamFrame<FrameMeta>): void {
    const counters = this.shared.counters;
    counters.framesDecoded++;
    if (frame.truncated) counters.framesTruncated++;
    if (req.failure !== null && req.failure !== 'truncated') countFailure(counters, req.failure);
    const lost = req.failure !== null || (req.body === null && unknownVersion(requestSpec(req.header.apiKey), req.header.apiVersion, counters));
    const p: Pending = { request: req, dir, bytes: frame.size + 4, ts: frame.meta.ts, tid: frame.meta.tid, truncated: frame.truncated, lost };
    this.rememberGroup(p);
    if (req.header.apiKey === API_KEYS.Produce && req.body?.Acks === 0) {
      (this.unacked[dir] ??= new UnackedProduces()).add(req.header.correlationId, req.failure === null);
      this.report(p, null, 'no_response');
      return;
    }
    this.remember(dir, req.header.correlationId, p);
  }

  /** Keeps a request until its response; one with the same correlation id, or the oldest past maxPending, is given up. */
  private remember(dir: Direction, id: number, p: Pending): void {
    const pending = this.pending[dir];
    const previous = pending.get(id);
    if (previous) {
      pending.delete(id);
      this.report(previous, null, 'timeout');
    }
    pending.set(id, p);
    if (pending.size > this.options.maxPending) {
      const [oldestId, oldest] = pending.oldest()!;
      pending.delete(oldestId);
      this.report(oldest, null, 'timeout');
    }
  }

  private complete(p: Pending, frame: StreamFrame<FrameMeta>): void {
    const counters = this.shared.counters;
    const { apiKey, apiVersion } = p.request.header;
    const resp = decodeResponse(frame, apiKey, apiVersion, this.shared.plan?.responses);
    counters.framesDecoded++;
    if (frame.truncated) counters.framesTruncated++;
    if (resp.failure !== null && resp.failure !== 'truncated') countFailure(counters, resp.failure);
    if (apiKey === API_KEYS.SaslHandshake && apiVersion === 0) this.saslTokens = true;
    if (apiKey === API_KEYS.Metadata && resp.body) this.learnTopicIds(resp.body);
    const lost = resp.failure !== null || (resp.body === null && unknownVersion(responseSpec(apiKey), apiVersion, counters));
    this.report(p, { body: resp.body, bytes: frame.size + 4, ts: frame.meta.ts, truncated: frame.truncated, lost }, 'complete');
  }

  private report(
    p: Pending,
    resp: { body: DecodedStruct | null; bytes: number; ts: bigint; truncated: boolean; lost: boolean } | null,
    status: ExchangeStatus,
  ): void {
    const h = p.request.header;
    const clientId = h.clientId ?? '';
    const role = p.dir === 'out' ? 'client' : 'broker';
    const loss = { request: p.lost, response: resp?.lost ?? false };
    const { details, items, error: topError } = exchangeDetails(h.apiKey, p.request.body, resp?.body ?? null, this.context(role), clientId, loss);
    let error: number | null = null;
    if (resp) {
      error = topError ?? 0;
      if (error === 0) {
        const itemError = items.find((i) => typeof i.error === 'number' && i.error !== 0)?.error;
        if (typeof itemError === 'number') error = itemError;
      }
    }
    const exchange: KafkaExchange = {
      api: p.request.api,
      api_key: h.apiKey,
      version: h.apiVersion,
      correlation_id: h.correlationId,
      client_id: clientId,
      role,
      status,
      latency: resp ? resp.ts - p.ts : null,
      error,
      error_name: error === null ? null : errorName(error),
      request_bytes: p.bytes,
      response_bytes: resp?.bytes ?? null,
      request_ts: p.ts,
      response_ts: resp?.ts ?? null,
      truncated: p.truncated || (resp?.truncated ?? false),
      incomplete: loss.request || loss.response,
      connection: this.connectionOf(p.tid),
      details,
      items,
    };
    const counters = this.shared.counters;
    counters.exchanges++;
    if (!resp) counters.unanswered++;
    this.shared.emit(exchange, p.request.body, resp?.body ?? null);
  }

  /** The connection's info with the thread of one exchange (a literal: a spread per exchange cost more). */
  private connectionOf(tid: number): ConnectionInfo {
    const last = this.lastConnection;
    if (last && last.tid === tid) return last;
    const i = this.info;
    return (this.lastConnection = { pid: i.pid, tid, comm: i.comm, fd: i.fd, laddr: i.laddr, lport: i.lport, raddr: i.raddr, rport: i.rport });
  }

  /** The details and lane context of a role; built once per connection and role, not per exchange. */
  private context(role: 'client' | 'broker'): DetailsContext & LaneContext {
    const cached = this.contexts[role];
    if (cached) return cached;
    const pid = this.info.pid;
    // The keys of the last partition and client id asked for: a connection asks for the same ones
    // exchange after exchange, and a key string per lookup was a measurable share of decoding.
    let lastTopic = '';
    let lastPartition = NaN;
    let lastOffsetKey = '';
    const offsetKey = (topic: string, partition: number): string => {
      if (topic !== lastTopic || partition !== lastPartition) {
        lastTopic = topic;
        lastPartition = partition;
        lastOffsetKey = `${topic}\u0000${partition}`;
      }
      return lastOffsetKey;
    };
    let lastClientId: string | undefined;
    let lastGroupKey = '';
    const ctx: DetailsContext & LaneContext = {
      // Looked up per call: the per-process topic table may be evicted and recreated meanwhile.
      topicName: (id) => this.shared.topicNames(pid).get(id) ?? this.shared.anyTopicNames.get(id) ?? this.shared.topicOnDisk(pid, id),
      fetchOffset: (topic, partition) => {
        const offset = this.fetchOffsets.get(offsetKey(topic, partition));
        return typeof offset === 'number' ? BigInt(offset) : offset;
      },
      laneFetchOffset: (topic, partition) => {
        const offset = this.fetchOffsets.get(offsetKey(topic, partition));
        if (typeof offset !== 'bigint') return offset;
        const n = Number(offset);
        return Number.isSafeInteger(n) ? n : NaN;
      },
      setFetchOffset: (topic: string, partition: number, offset: bigint | number) => this.fetchOffsets.set(offsetKey(topic, partition), offset),
      groupOf: (id) => {
        if (id !== lastClientId) {
          lastClientId = id;
          lastGroupKey = this.groupKey(role, id);
        }
        return this.shared.groups.get(lastGroupKey);
      },
    };
    this.contexts[role] = ctx;
    return ctx;
  }

  /** Brokers see many clients: their client ids are told apart by remote address. */
  private groupKey(role: 'client' | 'broker', clientId: string): string {
    return role === 'client' ? `${this.info.pid}\u0000${clientId}` : `${this.info.pid}\u0000${this.info.raddr}\u0000${clientId}`;
  }

  private rememberGroup(p: Pending): void {
    const h = p.request.header;
    if (!GROUP_APIS.has(h.apiKey) || !p.request.body) return;
    const body = p.request.body;
    let group = body.GroupId;
    if (group === undefined && Array.isArray(body.Groups)) {
      const first = body.Groups[0];
      if (first && typeof first === 'object' && !Array.isArray(first) && 'GroupId' in first) group = first.GroupId;
    }
    if (typeof group === 'string') this.shared.groups.set(this.groupKey(p.dir === 'out' ? 'client' : 'broker', h.clientId ?? ''), group);
  }

  private learnTopicIds(body: DecodedStruct): void {
    const names = this.shared.topicNames(this.info.pid);
    const any = this.shared.anyTopicNames;
    const topics = body.Topics;
    if (!Array.isArray(topics)) return;
    for (const t of topics) {
      if (!t || typeof t !== 'object' || Array.isArray(t)) continue;
      const s = t as DecodedStruct;
      if (typeof s.TopicId === 'string' && typeof s.Name === 'string') {
        names.set(s.TopicId, s.Name);
        any.set(s.TopicId, s.Name);
      }
    }
  }
}
