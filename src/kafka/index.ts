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
// (src/kafka/probes/demand.ts), and decoder.firings(ex) builds their firings. A decoder given onFiring
// instead of onExchange hands on firings alone: then Produce and Fetch frames may take the fast
// lane (src/kafka/lane/fast-lane.ts), which makes no exchange object at all.
import { RECORD_PREFIX } from '../native/ring-records.js';
import { FileSplice, ProcFiles, type CaptureFiles } from './capture/files.js';
import { ProcTopicIds, type TopicIdSource } from './capture/topic-ids.js';
import { CAPTURE_AT, CAPTURE_FLAGS, CAPTURE_HEADER_SIZE, captureHeaderSound, captureSkipped, decodeCaptureRecord, type CaptureRecord } from './capture/record.js';
import { BoundedMap } from './exchange/bounded-map.js';
import type { FrameMeta, SharedState } from './exchange/connection.js';
import { Connections, type ConnectionSighting, type Tracked } from './exchange/connections.js';
import { newCounters, type KafkaCounters } from './exchange/counters.js';
import { WalkGaps } from './lane/compiler.js';
import { FastLane, LaneMeta, type FiringSink } from './lane/fast-lane.js';
import type { DerivedEvent, Direction, KafkaExchange, ProbeFiring } from './model.js';
import { DecodePlan, type KafkaDemand } from './probes/demand.js';
import { plannedFirings, probeFirings } from './probes/firings.js';
import { LagTracker } from './trackers/lag.js';
import { RebalanceTracker } from './trackers/rebalances.js';
import type { ExchangeTracker } from './trackers/tracker.js';
import type { FrameStream } from './wire/stream.js';

export type { ConnectionInfo, DerivedEvent, Direction, ExchangeStatus, Fields, FieldValue, KafkaExchange, ProbeArgs, ProbeFiring } from './model.js';
export type { FrameFailure, KafkaCounters } from './exchange/counters.js';
export { derivedFiring, probeFirings } from './probes/firings.js';
export type { KafkaDemand } from './probes/demand.js';
export type { FiringSink } from './lane/fast-lane.js';

/** One captured piece of a connection's byte stream (what src/kafka/capture/record.ts decodes). */
/** One piece of one direction of a connection, as the capture gives it (its owner: ConnectionSighting). */
export interface CaptureChunk extends ConnectionSighting {
  /** 'out': written by the traced process; 'in': read by it. */
  dir: Direction;
  /** CLOCK_MONOTONIC ns of the syscall. */
  ts: bigint;
  /** Bytes of the stream that passed before `data` without being copied. */
  skipped: number;
  data: Uint8Array;
  /** The capture knows a frame starts at data[0] (joined mid-stream, or after lost records). */
  resync?: boolean;
  /** The capture lost records of this connection since this direction's previous chunk (CaptureRecord.loss). */
  loss?: boolean;
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
  /** Where the record batches a broker sent with sendfile(2) are read back (default: /proc/PID/fd). */
  files?: CaptureFiles;
  /** Where topic ids no Metadata answer named are looked up: a broker's log directories (ProcTopicIds). */
  topicIds?: TopicIdSource;
}

/** The end of the record whose size prefix is at `at` of a packed batch (as walkRecords reads it). */
const recordEnd = (dv: DataView, at: number): number => at + RECORD_PREFIX + dv.getUint32(at, true);

export class KafkaDecoder {
  private readonly counts = newCounters();
  private readonly connections: Connections;
  /** The time and thread of the record whose frames go to the lane (which copies what it keeps of them). */
  private readonly laneMeta = new LaneMeta();
  /** The gaps of a walked frame gathered from the records that carry its pieces (see gather). */
  private readonly gatherGaps = new WalkGaps();
  /** Where gather left off: the record holding the end of the frame it gathered, and that record's end. */
  private gatheredRecord = 0;
  private gatheredEnd = 0;
  private readonly topicIds = new BoundedMap<number, Map<string, string>>(4_096);
  private readonly groups = new BoundedMap<string, string>(100_000);
  private readonly rebalances = new RebalanceTracker();
  private readonly lag = new LagTracker();
  private readonly splice: FileSplice;
  private readonly diskTopics: TopicIdSource;
  /** The trackers the plan needs (all without a plan), in the order they see each exchange. */
  private trackers: readonly ExchangeTracker[] = [];
  private readonly shared: SharedState = {
    counters: this.counts,
    groups: this.groups,
    plan: undefined,
    topicNames: (pid) => {
      let m = this.topicIds.get(pid);
      if (!m) {
        m = new BoundedMap<string, string>(100_000);
        this.topicIds.set(pid, m);
      }
      return m;
    },
    anyTopicNames: new BoundedMap<string, string>(100_000),
    topicOnDisk: (pid, id) => this.diskTopics.name(pid, id),
    lane: undefined,
    emit: (ex, request, response) => {
      const trackers = this.trackers;
      for (let i = 0; i < trackers.length; i++) trackers[i]!.observe(ex, request, response);
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
    this.splice = new FileSplice(options.files ?? new ProcFiles());
    this.diskTopics = options.topicIds ?? new ProcTopicIds();
    this.connections = new Connections(this.shared, {
      maxConnections: options.maxConnections ?? 65_536,
      maxPendingPerConnection: options.maxPendingPerConnection ?? 4_096,
      requestTimeoutNs: options.requestTimeoutNs ?? 300_000_000_000n,
      maxFrameCopy: options.maxFrameCopy,
    });
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
    const trackers: ExchangeTracker[] = [];
    if (!plan || plan.rebalance) trackers.push(this.rebalances);
    if (!plan || plan.lag) trackers.push(this.lag);
    this.trackers = trackers;
  }

  /** The probe firings of an exchange: with a demand, of its probes and args only (see probeFirings). */
  firings(ex: KafkaExchange): ProbeFiring[] {
    const plan = this.shared.plan;
    return plan ? plannedFirings(ex, plan) : probeFirings(ex);
  }

  /** Feeds one chunk (a CaptureRecord from src/kafka/capture/record.ts fits as is, a file record included). */
  push(chunk: CaptureChunk | CaptureRecord): void {
    if ('file' in chunk && chunk.file) {
      this.pushFile(chunk);
      return;
    }
    const t = this.connections.track(chunk);
    if (!t) return;
    if (chunk.loss) t.conn.afterLoss(chunk.ts);
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

  /** A KC_F_FILE record: the batches it stands for, read back from the file, as the capture would have walked them. */
  private pushFile(record: CaptureRecord): void {
    const pieces = this.splice.pieces(record);
    for (let i = 0; i < pieces.length; i++) {
      const { skipped, data } = pieces[i]!;
      this.push({ ...record, file: undefined, skipped, data, resync: false, loss: i === 0 && record.loss });
    }
  }

  /**
   * Feeds a batch of capture records packed as the ring buffer delivers them (src/native/
   * ring-records.ts). A record of a known connection is read in place: its whole frames go to the
   * fast lane with no record object, so do walked frames whose pieces follow it (gather), and what
   * else it has goes on as a chunk with the connection's addresses and comm (no strings made again).
   * A record of a connection not tracked yet becomes a CaptureRecord.
   */
  pushCapture(batch: Uint8Array): void {
    const dv = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
    for (let at = 0; at + RECORD_PREFIX <= batch.length; ) {
      const end = recordEnd(dv, at);
      // The addon writes whole records: one that overruns the batch means nothing after it is sound.
      if (end > batch.length) {
        this.counts.badRecords++;
        return;
      }
      at = this.pushRecord(batch, dv, at + RECORD_PREFIX, end);
    }
  }

  /** Feeds the record at [start, end) of the batch; returns where the next record not fed yet is. */
  private pushRecord(batch: Uint8Array, dv: DataView, start: number, end: number): number {
    if ((batch[start + CAPTURE_AT.flags]! & CAPTURE_FLAGS.file) !== 0) {
      const record = this.captureRecord(batch, start, end);
      if (record) this.pushFile(record);
      return end;
    }
    const t = this.recordConnection(dv, start, end);
    if (!t) {
      const record = this.captureRecord(batch, start, end);
      if (record) this.push(record);
    } else if (this.shared.lane && batch[start + CAPTURE_AT.flags] === 0 && captureSkipped(dv, start) === 0) {
      return this.laneRecord(t, batch, dv, start, end);
    } else if ((batch[start + CAPTURE_AT.flags]! & CAPTURE_FLAGS.close) === 0) {
      this.connections.touch(t);
      if ((batch[start + CAPTURE_AT.flags]! & CAPTURE_FLAGS.loss) !== 0) t.conn.afterLoss(dv.getBigUint64(start + CAPTURE_AT.ts, true));
      this.feedRecord(t, batch, dv, start, 0, captureSkipped(dv, start));
    } else {
      this.push(this.knownChunk(t, batch, dv, start));
    }
    return end;
  }

  /**
   * The schema decoder's path (or a walked frame's way to the lane) for the record at batch[start]
   * of connection `t`, from `from` bytes into its data, `skipped` bytes passing before them: its
   * bytes go to the stream in place.
   */
  private feedRecord(t: Tracked, batch: Uint8Array, dv: DataView, start: number, from: number, skipped: number): void {
    const dir: Direction = batch[start + CAPTURE_AT.dir] === 0 ? 'out' : 'in';
    const dataStart = start + CAPTURE_HEADER_SIZE;
    const meta = { ts: dv.getBigUint64(start + CAPTURE_AT.ts, true), tid: dv.getUint32(start + CAPTURE_AT.tid, true) };
    const flags = batch[start + CAPTURE_AT.flags]!;
    const resync = (flags & CAPTURE_FLAGS.resync) !== 0;
    this.streamOf(t, dir).pushRange(batch, dataStart + from, dataStart + dv.getUint16(start + CAPTURE_AT.len, true), skipped, resync, (flags & CAPTURE_FLAGS.loss) !== 0, meta, dir === 'out' ? t.onFrame.out : t.onFrame.in, dv);
  }

  /**
   * The tracked connection of the record at [start, end) of `dv`'s batch, when its header is sound (as
   * decodeCaptureRecord checks it) and names that connection's id; otherwise undefined.
   */
  private recordConnection(dv: DataView, start: number, end: number): Tracked | undefined {
    if (!captureHeaderSound(dv, start, end - start)) return undefined;
    const t = this.connections.find(dv.getUint32(start + CAPTURE_AT.pid, true), dv.getUint32(start + CAPTURE_AT.fd, true));
    // The id's halves are compared here, not passed on: a uint32 past 2^31 passed to a call is boxed.
    if (!t || dv.getUint32(start + CAPTURE_AT.conn, true) !== t.idLow || dv.getUint32(start + CAPTURE_AT.conn + 4, true) !== t.idHigh) return undefined;
    return t;
  }

  /**
   * The fast lane's share of pushCapture: a record of connection `t` with nothing skipped and no
   * flag, at [start, end). Its whole frames go to the lane, and a walked frame that starts in it with
   * its pieces (gather) and the whole frames after it; the rest (what the lane declines) to the
   * schema decoder's path. Returns where the next record not fed yet is.
   */
  private laneRecord(t: Tracked, batch: Uint8Array, dv: DataView, start: number, end: number): number {
    this.connections.touch(t);
    const dir: Direction = batch[start + CAPTURE_AT.dir] === 0 ? 'out' : 'in';
    const stream = this.streamOf(t, dir);
    const meta = this.laneMeta;
    // The record being read, where it ends, and where its bytes not taken yet start.
    let record = start;
    let recordEndAt = end;
    let from = start + CAPTURE_HEADER_SIZE;
    for (;;) {
      meta.setRecord(dv, record + CAPTURE_AT.ts, dv.getUint32(record + CAPTURE_AT.tid, true));
      const dataStart = record + CAPTURE_HEADER_SIZE;
      const dataEnd = dataStart + dv.getUint16(record + CAPTURE_AT.len, true);
      const off = stream.takeWhole(batch, from, dataEnd, meta, t.conn, dir);
      if (off === dataEnd) return recordEndAt;
      from = this.gather(t, dir, stream, batch, dv, off, dataEnd, recordEndAt);
      if (from < 0) {
        this.feedRecord(t, batch, dv, record, off - dataStart, 0);
        return recordEndAt;
      }
      record = this.gatheredRecord;
      recordEndAt = this.gatheredEnd;
    }
  }

  /**
   * A walked frame that starts at batch[off] and runs past its record's data (which ends at
   * dataEnd; the next record is at recordAt), taken where its pieces lie when the records after it carry
   * them all: each of the same connection and direction, with no flag, after bytes skipped (as the
   * capture walks a frame, one record per piece). The lane reads the pieces in place, stepping over
   * the record headers between them at the gaps. Returns where the bytes after the frame start, in
   * the record at gatheredRecord (which ends at gatheredEnd); -1 when nothing was taken.
   */
  private gather(t: Tracked, dir: Direction, stream: FrameStream<FrameMeta>, batch: Uint8Array, dv: DataView, off: number, dataEnd: number, recordAt: number): number {
    const size = stream.gatherableSize(batch, off, dataEnd);
    if (size < 0) return -1;
    const gaps = this.gatherGaps;
    gaps.count = 0;
    const dirByte = dir === 'out' ? 0 : 1;
    /** Payload bytes of the frame passed so far, copied and skipped. */
    let wire = dataEnd - off - 4;
    let copied = wire;
    let skipped = 0;
    let pieceEnd = dataEnd;
    let pieces = 0;
    for (let at = recordAt; at + RECORD_PREFIX <= batch.length; ) {
      const start = at + RECORD_PREFIX;
      const end = recordEnd(dv, at);
      if (end > batch.length || this.recordConnection(dv, start, end) !== t || batch[start + CAPTURE_AT.dir] !== dirByte || batch[start + CAPTURE_AT.flags] !== 0) return -1;
      const k = captureSkipped(dv, start);
      if (k === 0 || wire + k > size) return -1;
      const dataStart = start + CAPTURE_HEADER_SIZE;
      const len = dv.getUint16(start + CAPTURE_AT.len, true);
      gaps.add(pieceEnd, k, dataStart - pieceEnd);
      wire += k;
      skipped += k;
      pieces++;
      if (wire + len >= size) {
        const frameEnd = dataStart + size - wire;
        copied += size - wire;
        if (copied > stream.maxFrameCopy || !t.conn.takeGathered(dir, batch, off + 4, frameEnd - off - 4, size, this.laneMeta, gaps)) return -1;
        stream.passGathered(4 + copied, skipped);
        for (let i = 0; i < pieces; i++) this.connections.touch(t);
        this.gatheredRecord = start;
        this.gatheredEnd = end;
        return frameEnd;
      }
      wire += len;
      copied += len;
      pieceEnd = dataStart + len;
      at = end;
    }
    return -1;
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
    this.connections.close(id);
  }

  /** Closes every connection and completes open rebalances (at exit), and the files held to read sendfile bytes back. */
  closeAll(): void {
    this.connections.closeAll();
    this.closeFiles();
    for (const ev of this.rebalances.flush()) this.options.onDerived?.(ev);
  }

  /** Closes the files held open to read sendfile(2) bytes back (they reopen when needed). */
  closeFiles(): void {
    this.splice.close();
  }

  /** Reports requests that waited longer than the timeout at `nowNs` (CLOCK_MONOTONIC). */
  expire(nowNs: bigint): void {
    this.connections.expire(nowNs);
  }

  counters(): KafkaCounters {
    const c: KafkaCounters = { ...this.counts, framesFailed: { ...this.counts.framesFailed }, sendfileUnread: this.splice.unread };
    this.connections.setStreamStats(c);
    return c;
  }

  /** Connections currently tracked. */
  get connectionCount(): number {
    return this.connections.size;
  }
}
