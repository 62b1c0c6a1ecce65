// Entry point for the runtime: feed captured chunks of Kafka connections, get exchange events.
//
//   const decoder = new KafkaDecoder({ onExchange: (ex) => ... });
//   decoder.push(chunk);          // in stream order per connection and direction
//   decoder.pushCapture(batch);   // or the capture's records, packed as the ring buffer delivers them
//   decoder.close(chunk);         // when the socket closes: pending requests reported as 'closed'
//   decoder.expire(nowNs);        // now and then: requests unanswered for too long → 'timeout'
//   decoder.counters();           // frames decoded / failed, bytes skipped, resyncs
//
// With a demand (the probes attached and the args they read), only what those need is decoded
// (src/kafka/demand.ts), and decoder.firings(ex) builds their firings. A decoder given onFiring
// instead of onExchange hands on firings alone: then Produce and Fetch frames may take the fast
// lane (src/kafka/lane.ts), which makes no exchange object at all.
import { walkRecords } from '../native/ring-records.js';
import { BoundedMap } from './bounded-map.js';
import { CAPTURE_AT, CAPTURE_FLAGS, CAPTURE_HEADER_SIZE, captureHeaderSound, captureSkipped, decodeCaptureRecord, type CaptureRecord } from './capture.js';
import { newCounters, type KafkaCounters } from './counters.js';
import { DecodePlan, type KafkaDemand } from './demand.js';
import { Connection, type ConnectionInfo, type Direction, type FrameMeta, type KafkaExchange, type SharedState } from './exchanges.js';
import { LagTracker } from './lag.js';
import { FastLane, LaneMeta, type FiringSink } from './lane.js';
import { plannedFirings, probeFirings, type DerivedEvent, type ProbeFiring } from './probes.js';
import { RebalanceTracker } from './rebalances.js';
import { FrameStream, type StreamFrame, type StreamStats } from './stream.js';

export type { ConnectionInfo, Direction, ExchangeStatus, KafkaExchange } from './exchanges.js';
export type { Fields, FieldValue } from './details.js';
export type { FrameFailure, KafkaCounters } from './counters.js';
export { derivedFiring, probeFirings, type ProbeArgs, type ProbeFiring } from './probes.js';
export type { DerivedEvent } from './probes.js';
export type { KafkaDemand } from './demand.js';
export type { FiringSink } from './lane.js';
export { apiName } from './api-names.js';
export { errorName } from './error-codes.js';

/** One captured piece of a connection's byte stream (what src/kafka/capture.ts decodes). */
export interface CaptureChunk extends ConnectionInfo {
  /** 'out': written by the traced process; 'in': read by it. */
  dir: Direction;
  /** CLOCK_MONOTONIC ns of the syscall. */
  ts: bigint;
  /** Bytes of the stream that passed before `data` without being copied. */
  skipped: number;
  data: Uint8Array;
  /** Connection id from the capture (tells a reused fd apart); without it, addresses do. */
  conn?: bigint;
  /** The capture knows a frame starts at data[0] (joined mid-stream, or after lost records). */
  resync?: boolean;
  /** The connection closed (the chunk carries no data). */
  close?: boolean;
}

export interface KafkaDecoderOptions {
  /** Called synchronously from push/close/expire; what it throws propagates to their caller. */
  onExchange?: (exchange: KafkaExchange) => void;
  /**
   * Called the same way with each probe firing (decoder.firings of each exchange, with the
   * exchange's connection, thread and time: its response's, else its request's).
   */
  onFiring?: FiringSink;
  /** false: no fast lane, every frame takes the schema decoder's path (tests compare the two). */
  lane?: boolean;
  /**
   * Called from closeAll() with the rebalances it completes (generations still waiting for members'
   * SyncGroup answers); other derived events travel in `KafkaExchange.derived`.
   */
  onDerived?: (event: DerivedEvent) => void;
  /** Requests unanswered for longer are reported as 'timeout' (default 5 min, Kafka's longest waits). */
  requestTimeoutNs?: bigint;
  /** Payload bytes kept per frame (default 1 MiB). */
  maxFrameCopy?: number;
  /** Requests awaiting a response per connection (default 4096). */
  maxPendingPerConnection?: number;
  /** Connections tracked at once; the least recently used is closed past it (default 65536). */
  maxConnections?: number;
  /** What the running script reads; without it, everything is decoded and tracked. */
  demand?: KafkaDemand;
}

interface Tracked {
  key: number | string;
  pid: number;
  fd: number;
  /** Closed or evicted: no longer in the decoder's connections (a stale entry of `recent`). */
  closed: boolean;
  id: bigint | undefined;
  /** The id's low and high 32 bits (-1 without one: no record matches), for pushCapture. */
  idLow: number;
  idHigh: number;
  conn: Connection;
  streams: Record<Direction, FrameStream<FrameMeta>>;
  /** Frame handlers per direction, made once rather than per chunk. */
  onFrame: Record<Direction, (frame: StreamFrame<FrameMeta>) => void>;
  /** The decoder's push count when the connection last moved to the back of the LRU order. */
  moved: number;
}

/**
 * A connection moves to the back of the LRU order only when it has not moved for maxConnections /
 * LRU_SLACK chunks: moving it on every chunk (a Map delete and set) was a large share of the cost of
 * a chunk, and a connection used that recently is not the one to evict anyway.
 */
const LRU_SLACK = 64;

/** Slots of KafkaDecoder.recent (a power of two). */
const RECENT_SLOTS = 64;

/**
 * A connection's key from its pid (at most 2^22, the kernel's PID_MAX_LIMIT) and fd (below 2^31): a
 * number below 2^53, so exact and unique, and cheaper to hash than a string built per chunk. Values
 * outside those ranges (never from the kernel) get a string key instead.
 */
const connectionKey = (pid: number, fd: number): number | string =>
  pid >= 0 && pid < 2 ** 22 && fd >= 0 && fd < 2 ** 31 && Number.isInteger(pid) && Number.isInteger(fd) ? pid * 2 ** 31 + fd : `${pid}:${fd}`;

const sameAddresses = (a: ConnectionInfo, b: ConnectionInfo): boolean =>
  a.lport === b.lport && a.rport === b.rport && a.laddr === b.laddr && a.raddr === b.raddr;

export class KafkaDecoder {
  private readonly counts = newCounters();
  private readonly connections: Map<number | string, Tracked> = new Map();
  /**
   * Connections pushCapture found lately, by pid and fd: a Map lookup by a key above 2^31 (a heap
   * number, hashed outside the JIT's code) was a large share of a record's cost.
   */
  private readonly recent: (Tracked | undefined)[] = new Array<Tracked | undefined>(RECENT_SLOTS).fill(undefined);
  /** The time and thread of the record whose frames go to the lane (which copies what it keeps of them). */
  private readonly laneMeta = new LaneMeta();
  private readonly topicIds = new BoundedMap<number, Map<string, string>>(4_096);
  private readonly groups = new BoundedMap<string, string>(100_000);
  private readonly lag = new LagTracker();
  private readonly rebalances = new RebalanceTracker();
  /** Stream stats of closed connections, so counters() stays cumulative. */
  private readonly closedStats: Omit<StreamStats, 'frames'> = { resyncs: 0, bytesSkipped: 0, bytesDropped: 0 };
  private readonly timeoutNs: bigint;
  private readonly maxConnections: number;
  /** Chunks pushed so far (the LRU order's clock). */
  private pushes = 0;
  private readonly lruSlack: number;
  private readonly shared: SharedState = {
    counters: this.counts,
    groups: this.groups,
    rebalances: this.rebalances,
    plan: undefined,
    topicNames: (pid) => {
      let m = this.topicIds.get(pid);
      if (!m) {
        m = new BoundedMap<string, string>(100_000);
        this.topicIds.set(pid, m);
      }
      return m;
    },
    lane: undefined,
    emit: (ex) => {
      const plan = this.shared.plan;
      if (!plan || plan.lag) this.lag.observe(ex);
      this.options.onExchange?.(ex);
      const onFiring = this.options.onFiring;
      if (!onFiring) return;
      const nsecs = ex.response_ts ?? ex.request_ts;
      for (const f of this.firings(ex)) {
        const c = f.connection ?? ex.connection;
        onFiring(f.probe, f.args, c, c.tid, f.nsecs ?? nsecs);
      }
    },
  };

  constructor(private readonly options: KafkaDecoderOptions) {
    this.timeoutNs = options.requestTimeoutNs ?? 300_000_000_000n;
    this.maxConnections = options.maxConnections ?? 65_536;
    this.lruSlack = Math.floor(this.maxConnections / LRU_SLACK);
    this.setDemand(options.demand);
  }

  /**
   * Changes what is decoded from the next frame on (probes attached or detached); undefined:
   * everything. Tracker state is kept, though it missed what passed while its tracker was off.
   */
  setDemand(demand: KafkaDemand | undefined): void {
    const plan = demand && new DecodePlan(demand);
    const { onExchange, onFiring, lane } = this.options;
    this.shared.plan = plan;
    this.shared.lane = plan && onFiring && !onExchange && lane !== false ? FastLane.of(plan, onFiring) : undefined;
  }

  /** The probe firings of an exchange: with a demand, of its probes and args only (see probeFirings). */
  firings(ex: KafkaExchange): ProbeFiring[] {
    const plan = this.shared.plan;
    return plan ? plannedFirings(ex, plan) : probeFirings(ex);
  }

  /** Feeds one chunk (a CaptureRecord from src/kafka/capture.ts fits as is). */
  push(chunk: CaptureChunk): void {
    const t = this.track(chunk);
    if (!t) return;
    let rest: CaptureChunk = chunk;
    // The fast lane takes whole frames straight from the chunk.
    if (this.shared.lane && chunk.skipped === 0 && !chunk.resync) {
      const data = chunk.data;
      const meta = this.laneMeta;
      meta.setChunk(data, chunk.ts, chunk.tid);
      const off = this.streamOf(t, chunk.dir).takeWhole(data, 0, data.length, meta, t.conn, chunk.dir);
      if (off === data.length) return;
      if (off > 0) rest = { ...chunk, data: data.subarray(off) };
    }
    this.feed(t, rest);
  }

  /**
   * Feeds a batch of capture records packed as the ring buffer delivers them (src/native/
   * ring-records.ts). A record of a known connection is read in place: its whole frames go to the
   * fast lane with no record object, and what else it has goes on as a chunk with the connection's
   * addresses and comm (no strings made again). A record of a connection not tracked yet becomes a
   * CaptureRecord.
   */
  pushCapture(batch: Uint8Array): void {
    const dv = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
    if (!walkRecords(batch, (start, end) => this.pushRecord(batch, dv, start, end))) this.counts.badRecords++;
  }

  private pushRecord(batch: Uint8Array, dv: DataView, start: number, end: number): void {
    const t = this.recordConnection(batch, dv, start, end);
    if (!t) {
      const record = this.captureRecord(batch, start, end);
      if (record) this.push(record);
    } else if (this.shared.lane && batch[start + CAPTURE_AT.flags] === 0 && captureSkipped(dv, start) === 0) {
      this.laneRecord(t, batch, dv, start);
    } else if ((batch[start + CAPTURE_AT.flags]! & CAPTURE_FLAGS.close) === 0) {
      this.touch(t);
      this.feedRecord(t, batch, dv, start, 0);
    } else {
      this.push(this.knownChunk(t, batch, dv, start));
    }
  }

  /**
   * The schema decoder's path (or a walked frame's way to the lane) for the record at batch[start]
   * of connection `t`, from `from` bytes into its data: its bytes go to the stream in place.
   */
  private feedRecord(t: Tracked, batch: Uint8Array, dv: DataView, start: number, from: number): void {
    const dir: Direction = batch[start + CAPTURE_AT.dir] === 0 ? 'out' : 'in';
    const dataStart = start + CAPTURE_HEADER_SIZE;
    const meta = { ts: dv.getBigUint64(start + CAPTURE_AT.ts, true), tid: dv.getUint32(start + CAPTURE_AT.tid, true) };
    const resync = (batch[start + CAPTURE_AT.flags]! & CAPTURE_FLAGS.resync) !== 0;
    this.streamOf(t, dir).pushRange(batch, dataStart + from, dataStart + dv.getUint16(start + CAPTURE_AT.len, true), from === 0 ? captureSkipped(dv, start) : 0, resync, meta, dir === 'out' ? t.onFrame.out : t.onFrame.in);
  }

  /**
   * The tracked connection of the record at batch[start, end), when its header is sound (as
   * decodeCaptureRecord checks it) and names that connection's id; otherwise undefined.
   */
  private recordConnection(batch: Uint8Array, dv: DataView, start: number, end: number): Tracked | undefined {
    if (!captureHeaderSound(dv, start, end - start)) return undefined;
    const pid = dv.getUint32(start + CAPTURE_AT.pid, true);
    const fd = dv.getUint32(start + CAPTURE_AT.fd, true);
    const slot = (pid ^ fd) & (RECENT_SLOTS - 1);
    let t = this.recent[slot];
    if (!t || t.pid !== pid || t.fd !== fd || t.closed) {
      t = this.connections.get(connectionKey(pid, fd));
      if (!t) return undefined;
      this.recent[slot] = t;
    }
    if (dv.getUint32(start + CAPTURE_AT.conn, true) !== t.idLow || dv.getUint32(start + CAPTURE_AT.conn + 4, true) !== t.idHigh) return undefined;
    return t;
  }

  /**
   * The fast lane's share of pushCapture: a record of connection `t` with nothing skipped and no
   * flag. Its whole frames go to the lane; the rest (what the lane declines) to the schema
   * decoder's path.
   */
  private laneRecord(t: Tracked, batch: Uint8Array, dv: DataView, start: number): void {
    this.touch(t);
    const dir: Direction = batch[start + CAPTURE_AT.dir] === 0 ? 'out' : 'in';
    const meta = this.laneMeta;
    meta.setRecord(dv, start + CAPTURE_AT.ts, dv.getUint32(start + CAPTURE_AT.tid, true));
    const dataStart = start + CAPTURE_HEADER_SIZE;
    const dataEnd = dataStart + dv.getUint16(start + CAPTURE_AT.len, true);
    const off = this.streamOf(t, dir).takeWhole(batch, dataStart, dataEnd, meta, t.conn, dir);
    if (off < dataEnd) this.feedRecord(t, batch, dv, start, off - dataStart);
  }

  /** The record at batch[start] of connection `t` (its close) as a chunk, with the connection's addresses and comm. */
  private knownChunk(t: Tracked, batch: Uint8Array, dv: DataView, start: number): CaptureChunk {
    const { pid, comm, fd, laddr, lport, raddr, rport } = t.conn.info;
    const flags = batch[start + CAPTURE_AT.flags]!;
    const dataStart = start + CAPTURE_HEADER_SIZE;
    return {
      pid, tid: dv.getUint32(start + CAPTURE_AT.tid, true), comm, fd, laddr, lport, raddr, rport,
      dir: batch[start + CAPTURE_AT.dir] === 0 ? 'out' : 'in',
      ts: dv.getBigUint64(start + CAPTURE_AT.ts, true),
      skipped: captureSkipped(dv, start),
      conn: t.id,
      resync: (flags & CAPTURE_FLAGS.resync) !== 0,
      close: (flags & CAPTURE_FLAGS.close) !== 0,
      data: new Uint8Array(batch.buffer, batch.byteOffset + dataStart, dv.getUint16(start + CAPTURE_AT.len, true)),
    };
  }

  private captureRecord(batch: Uint8Array, start: number, end: number): CaptureRecord | undefined {
    try {
      return decodeCaptureRecord(batch.subarray(start, end));
    } catch {
      this.counts.badRecords++;
      return undefined;
    }
  }

  /** The chunk's connection, opened if new; undefined when the chunk closed it. */
  private track(chunk: CaptureChunk): Tracked | undefined {
    const key = connectionKey(chunk.pid, chunk.fd);
    let t = this.connections.get(key);
    // The fd now names another socket (its close was not seen): finish the old connection. The
    // capture's connection id tells; without one, the addresses do.
    if (t && (t.id !== chunk.conn || (chunk.conn === undefined && !sameAddresses(t.conn.info, chunk)))) {
      this.close(chunk);
      t = undefined;
    }
    if (chunk.close) {
      if (t) this.close(chunk);
      return undefined;
    }
    if (!t) {
      this.pushes++;
      return this.open(key, chunk);
    }
    this.touch(t);
    return t;
  }

  /** Counts a push, and moves the connection to the back of the LRU order when due. */
  private touch(t: Tracked): void {
    const now = ++this.pushes;
    if (now - t.moved <= this.lruSlack) return;
    this.connections.delete(t.key);
    this.connections.set(t.key, t);
    t.moved = now;
  }

  private streamOf(t: Tracked, dir: Direction): FrameStream<FrameMeta> {
    return dir === 'out' ? t.streams.out : t.streams.in;
  }

  /** The schema decoder's path: the stream reassembles frames and hands them to the connection. */
  private feed(t: Tracked, chunk: CaptureChunk): void {
    const out = chunk.dir === 'out';
    this.streamOf(t, chunk.dir).push(chunk, { ts: chunk.ts, tid: chunk.tid }, out ? t.onFrame.out : t.onFrame.in);
  }

  /** The connection closed: frames in progress are decoded as truncated, pending requests reported. */
  close(id: { pid: number; fd: number }): void {
    const key = connectionKey(id.pid, id.fd);
    const t = this.connections.get(key);
    if (!t) return;
    this.connections.delete(key);
    t.closed = true;
    for (const dir of ['out', 'in'] as const) {
      t.streams[dir].flush((frame) => t.conn.onFrame(dir, frame));
      const s = t.streams[dir].stats;
      this.closedStats.resyncs += s.resyncs;
      this.closedStats.bytesSkipped += s.bytesSkipped;
      this.closedStats.bytesDropped += s.bytesDropped;
    }
    t.conn.close();
  }

  /** Closes every connection and completes open rebalances (at exit). */
  closeAll(): void {
    for (const t of [...this.connections.values()]) this.close(t.conn.info);
    for (const ev of this.rebalances.flush()) this.options.onDerived?.(ev);
  }

  /** Reports requests that waited longer than the timeout at `nowNs` (CLOCK_MONOTONIC). */
  expire(nowNs: bigint): void {
    for (const t of this.connections.values()) t.conn.expire(nowNs);
  }

  counters(): KafkaCounters {
    const c: KafkaCounters = { ...this.counts, framesFailed: { ...this.counts.framesFailed } };
    c.resyncs = this.closedStats.resyncs;
    c.bytesSkipped = this.closedStats.bytesSkipped;
    c.bytesDropped = this.closedStats.bytesDropped;
    for (const t of this.connections.values()) {
      for (const s of [t.streams.out.stats, t.streams.in.stats]) {
        c.resyncs += s.resyncs;
        c.bytesSkipped += s.bytesSkipped;
        c.bytesDropped += s.bytesDropped;
      }
    }
    return c;
  }

  /** Connections currently tracked. */
  get connectionCount(): number {
    return this.connections.size;
  }

  private open(key: number | string, info: CaptureChunk): Tracked {
    if (this.connections.size >= this.maxConnections) {
      const oldest = this.connections.values().next().value as Tracked;
      this.close(oldest.conn.info);
    }
    const { pid, tid, comm, fd, laddr, lport, raddr, rport } = info;
    const conn = new Connection({ pid, tid, comm, fd, laddr, lport, raddr, rport }, this.shared, {
      maxPending: this.options.maxPendingPerConnection ?? 4_096,
      timeoutNs: this.timeoutNs,
    }, {
      resync: (dir) => t.streams[dir].abandon(),
      openHead: (dir) => t.streams[dir].openHead(),
      finishOpen: (dir) => t.streams[dir].finishOpen((frame) => conn.onFrame(dir, frame)),
    });
    const stream = (dir: Direction): FrameStream<FrameMeta> =>
      new FrameStream<FrameMeta>({
        maxFrameCopy: this.options.maxFrameCopy,
        checkHead: (data, at, n) => conn.checkHead(dir, data, at, n),
        takeWalked: (packed, copied, runs, size, meta) => conn.takeWalked(dir, packed, copied, runs, size, meta),
        plausibleHead: (data, at, n) => conn.plausibleHead(dir, data, at, n),
      });
    const t: Tracked = {
      key,
      pid,
      fd,
      closed: false,
      id: info.conn,
      idLow: info.conn === undefined ? -1 : Number(BigInt.asUintN(32, info.conn)),
      idHigh: info.conn === undefined ? -1 : Number(BigInt.asUintN(32, info.conn >> 32n)),
      conn,
      streams: { out: stream('out'), in: stream('in') },
      onFrame: { out: (frame) => conn.onFrame('out', frame), in: (frame) => conn.onFrame('in', frame) },
      moved: this.pushes,
    };
    this.connections.set(key, t);
    return t;
  }
}
