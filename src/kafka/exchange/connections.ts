// The connections a decoder follows, by pid and fd: each with its pairing (Connection) and its two
// frame streams. A connection opens when first seen, and closes when the capture says so, when its
// fd turns out to name another socket, or when it is the least recently used past maxConnections.
import type { ConnectionInfo, Direction } from '../model.js';
import { FrameStream, type StreamFrame, type StreamStats } from '../wire/stream.js';
import { Connection, type FrameMeta, type SharedState } from './connection.js';
import type { KafkaCounters } from './counters.js';

export interface Tracked {
  key: number | string;
  pid: number;
  fd: number;
  /** Closed or evicted: no longer in the table (a stale entry of `recent`). */
  closed: boolean;
  id: bigint | undefined;
  /** The id's low and high 32 bits (-1 without one: no record matches). */
  idLow: number;
  idHigh: number;
  conn: Connection;
  streams: Record<Direction, FrameStream<FrameMeta>>;
  /** Frame handlers per direction, made once rather than per chunk. */
  onFrame: Record<Direction, (frame: StreamFrame<FrameMeta>) => void>;
  /** The table's push count when the connection last moved to the back of the LRU order. */
  moved: number;
}

/** Who a chunk belongs to (the facade's CaptureChunk is one). */
export interface ConnectionSighting extends ConnectionInfo {
  /** Connection id from the capture (tells a reused fd apart); without it, addresses do. */
  conn?: bigint;
  /** The connection closed. */
  close?: boolean;
  /** The capture saw this end connect() (a client) or accept() (a broker): CaptureRecord.origin. */
  origin?: 'connect' | 'accept';
}

export interface ConnectionsOptions {
  /** Connections tracked at once; the least recently used is closed past it. */
  maxConnections: number;
  maxPendingPerConnection: number;
  requestTimeoutNs: bigint;
  /** Payload bytes kept per frame (FrameStream's default without it). */
  maxFrameCopy: number | undefined;
}

/**
 * A connection moves to the back of the LRU order only when it has not moved for maxConnections /
 * LRU_SLACK chunks: moving it on every chunk (a Map delete and set) was a large share of the cost of
 * a chunk, and a connection used that recently is not the one to evict anyway.
 */
const LRU_SLACK = 64;

/** Slots of Connections.recent (a power of two). */
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

export class Connections {
  private readonly byKey: Map<number | string, Tracked> = new Map();
  /**
   * Connections found lately by find, by pid and fd: a Map lookup by a key above 2^31 (a heap
   * number, hashed outside the JIT's code) was a large share of a record's cost.
   */
  private readonly recent: (Tracked | undefined)[] = new Array<Tracked | undefined>(RECENT_SLOTS).fill(undefined);
  /** Stream stats of closed connections, so that addStreamStats stays cumulative. */
  private readonly closedStats: Omit<StreamStats, 'frames'> = { resyncs: 0, bytesSkipped: 0, bytesDropped: 0 };
  /** Chunks pushed so far (the LRU order's clock). */
  private pushes = 0;
  private readonly lruSlack: number;

  constructor(private readonly shared: SharedState, private readonly options: ConnectionsOptions) {
    this.lruSlack = Math.floor(options.maxConnections / LRU_SLACK);
  }

  /** The chunk's connection, opened if new; undefined when the chunk closed it. */
  track(chunk: ConnectionSighting): Tracked | undefined {
    const key = connectionKey(chunk.pid, chunk.fd);
    let t = this.byKey.get(key);
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

  /** The tracked connection of `pid` and `fd`, if any (its id is the caller's to check); not touched. */
  find(pid: number, fd: number): Tracked | undefined {
    const slot = (pid ^ fd) & (RECENT_SLOTS - 1);
    let t = this.recent[slot];
    if (!t || t.pid !== pid || t.fd !== fd || t.closed) {
      t = this.byKey.get(connectionKey(pid, fd));
      if (!t) return undefined;
      this.recent[slot] = t;
    }
    return t;
  }

  /** Counts a push, and moves the connection to the back of the LRU order when due. */
  touch(t: Tracked): void {
    const now = ++this.pushes;
    if (now - t.moved <= this.lruSlack) return;
    this.byKey.delete(t.key);
    this.byKey.set(t.key, t);
    t.moved = now;
  }

  /** The connection closed: frames in progress are decoded as truncated, pending requests reported. */
  close(id: { pid: number; fd: number }): void {
    const key = connectionKey(id.pid, id.fd);
    const t = this.byKey.get(key);
    if (!t) return;
    this.byKey.delete(key);
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

  closeAll(): void {
    for (const t of [...this.byKey.values()]) this.close(t.conn.info);
  }

  /** Reports requests that waited longer than the timeout at `nowNs` (CLOCK_MONOTONIC). */
  expire(nowNs: bigint): void {
    for (const t of this.byKey.values()) t.conn.expire(nowNs);
  }

  /** Sets the stream counters of `c` to those of every connection so far, closed ones included. */
  setStreamStats(c: KafkaCounters): void {
    c.resyncs = this.closedStats.resyncs;
    c.bytesSkipped = this.closedStats.bytesSkipped;
    c.bytesDropped = this.closedStats.bytesDropped;
    for (const t of this.byKey.values()) {
      for (const s of [t.streams.out.stats, t.streams.in.stats]) {
        c.resyncs += s.resyncs;
        c.bytesSkipped += s.bytesSkipped;
        c.bytesDropped += s.bytesDropped;
      }
    }
  }

  /** Connections currently tracked. */
  get size(): number {
    return this.byKey.size;
  }

  private open(key: number | string, info: ConnectionSighting): Tracked {
    if (this.byKey.size >= this.options.maxConnections) {
      const oldest = this.byKey.values().next().value as Tracked;
      this.close(oldest.conn.info);
    }
    const { pid, tid, comm, fd, laddr, lport, raddr, rport } = info;
    const conn = new Connection({ pid, tid, comm, fd, laddr, lport, raddr, rport }, this.shared, {
      maxPending: this.options.maxPendingPerConnection,
      timeoutNs: this.options.requestTimeoutNs,
    }, {
      resync: (dir) => t.streams[dir].abandon(),
      openHead: (dir) => t.streams[dir].openHead(),
      finishOpen: (dir) => t.streams[dir].finishOpen((frame) => conn.onFrame(dir, frame)),
    }, info.origin);
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
    this.byKey.set(key, t);
    return t;
  }
}
