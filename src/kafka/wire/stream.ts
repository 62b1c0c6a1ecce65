// Reassembly of one direction of one connection into Kafka frames (`int32 size` + payload).
// Chunks arrive in stream order; `skipped` bytes passed on the wire before a chunk's data but were
// not copied (record payloads past the copied head, sendfile data). Frames are cut at size
// boundaries; a frame with uncopied bytes is handed on with `truncated` set and its copied parts as
// segments. A size that cannot be real means the stream is out of sync: the rest of the chunk is
// dropped and parsing restarts at the next chunk's data, where a capture usually starts a syscall's
// buffer. A size can also be plausible and still wrong: the caller may check the first bytes of each
// frame (checkHead) and reject them, which resynchronises the same way instead of swallowing up to
// 100 MiB of the stream as one bogus frame. Memory per stream is bounded by maxFrameCopy.
import { int32At, type Segment } from './reader.js';

/** Takes whole frames in place, for one direction `D` of a connection (the fast lane's Connection). */
export interface WholeFrameTaker<T, D> {
  takeWhole(dir: D, data: Uint8Array, start: number, size: number, meta: T): boolean;
}

export interface StreamChunk {
  data: Uint8Array;
  /** Bytes of the stream that passed before `data` without being copied. */
  skipped: number;
  /** The capture knows a frame starts at data[0] (after lost records): restart framing there. */
  resync?: boolean;
}

export interface StreamFrame<T> {
  /**
   * Copied parts of the payload (offset 0 = first byte after the size field). Valid during emit
   * only: a frame that lay inside one chunk is a view of that chunk, which the caller may reuse.
   */
  segments: Segment[];
  /** Payload size from the size field. */
  size: number;
  truncated: boolean;
  /** What the caller passed with the chunk in which the frame started (e.g. its timestamp). */
  meta: T;
}

export interface StreamOptions<T = unknown> {
  /** Larger sizes mean the stream is out of sync (Kafka's own default limit is 100 MiB). */
  maxFrameSize?: number;
  /** Payload bytes kept per frame; the rest counts as not copied. */
  maxFrameCopy?: number;
  /**
   * Called once per frame with its first HEAD_BYTES payload bytes (fewer for smaller frames), bytes
   * [at, at + n) of `data`, when they were copied (no view is made: one per frame costs more than
   * the check); false means the frame cannot be real and the stream is out of sync.
   */
  checkHead?: (data: Uint8Array, at: number, n: number, size: number) => boolean;
  /**
   * Offered a frame with uncopied bytes before it is emitted: its copied bytes end to end, `copied`
   * of them in `packed`, and the runs they came in (where each lies in the payload, and its length).
   * True: taken, not emitted. The bytes are valid during the call only.
   */
  takeWalked?: (packed: Uint8Array, copied: number, runs: readonly CopiedRun[], size: number, meta: T) => boolean;
}

/** A run of copied bytes of a frame: `offset` in its payload, `len` bytes (`start` in the packed bytes). */
export interface CopiedRun {
  offset: number;
  start: number;
  len: number;
}

/** Payload bytes handed to checkHead: enough for a request's api key, version and correlation id. */
const HEAD_BYTES = 8;

export interface StreamStats {
  frames: number;
  resyncs: number;
  /** Bytes passed on as `skipped` by the capture. */
  bytesSkipped: number;
  /** Copied bytes thrown away while out of sync or over maxFrameCopy. */
  bytesDropped: number;
}

const DEFAULT_MAX_FRAME_SIZE = 100 * 1024 * 1024;
const DEFAULT_MAX_FRAME_COPY = 1024 * 1024;
/**
 * `n` bytes of `data` from `start`, as a plain Uint8Array: Buffer's subarray (capture data may be a
 * Buffer) builds a Buffer through a slower path, twice per frame.
 */
const view = (data: Uint8Array, start: number, n: number): Uint8Array => new Uint8Array(data.buffer, data.byteOffset + start, n);

/** The smallest payload of a real frame: a response header's correlation id. */
const MIN_FRAME_SIZE = 4;

interface OpenFrame<T> {
  size: number;
  /** Bytes of the payload passed so far, copied or not. */
  pos: number;
  copied: number;
  truncated: boolean;
  /** Whether checkHead has run (or cannot: the head was not copied). */
  checked: boolean;
  /** The copied bytes end to end (`copied` of them): the stream's spare buffer, grown by doubling. */
  buf: Uint8Array;
  /** Where each run of copied bytes lies in the payload (`offset`) and in buf (`start`). */
  segments: CopiedRun[];
  meta: T;
}

const EMPTY = new Uint8Array(0);
/** The first buffer of a frame assembled from chunks: most such frames are small, or walked. */
const FIRST_BUFFER = 512;
/** Bytes appended by a loop rather than set(). */
const SMALL_COPY = 128;
/** A stream keeps for its next frame a buffer up to this size (nothing keeps a frame's bytes past emit). */
const SPARE_MAX = 64 * 1024;

export class FrameStream<T> {
  readonly stats: StreamStats = { frames: 0, resyncs: 0, bytesSkipped: 0, bytesDropped: 0 };
  private readonly maxFrameSize: number;
  private readonly maxFrameCopy: number;
  private readonly checkHead: ((data: Uint8Array, at: number, n: number, size: number) => boolean) | undefined;
  private readonly takeWalked: ((packed: Uint8Array, copied: number, runs: readonly CopiedRun[], size: number, meta: T) => boolean) | undefined;
  private sizeBytes = new Uint8Array(4);
  private sizeHave = 0;
  private sizeMeta: T | undefined;
  private frame: OpenFrame<T> | null = null;
  /** The buffer the next frame assembled from chunks copies into. */
  private spare: Uint8Array = EMPTY;
  private outOfSync = false;
  /** Bytes still to come of a frame handed on early by finishOpen (skipped or copied, both ignored). */
  private owedTail = 0;

  constructor(options: StreamOptions<T> = {}) {
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.maxFrameCopy = options.maxFrameCopy ?? DEFAULT_MAX_FRAME_COPY;
    this.checkHead = options.checkHead;
    this.takeWalked = options.takeWalked;
  }

  /**
   * Offers `taker` the frames lying whole at the start of data[start, end), a chunk with nothing
   * skipped before it, while the stream is between frames, until a frame is not whole or `taker`
   * declines it (a frame taken is neither checked nor emitted). Returns where the rest of the chunk
   * starts, for push. (An object and a direction rather than a closure per direction: the call stays
   * monomorphic, and the JIT inlines it.)
   */
  takeWhole<M, D>(data: Uint8Array, start: number, end: number, meta: M, taker: WholeFrameTaker<M, D>, dir: D): number {
    if (this.frame || this.sizeHave > 0 || this.owedTail > 0) return start;
    let off = start;
    while (end - off >= 4) {
      const size = int32At(data, off);
      if (size < MIN_FRAME_SIZE || size > this.maxFrameSize || size > this.maxFrameCopy || end - off - 4 < size) break;
      if (!taker.takeWhole(dir, data, off + 4, size, meta)) break;
      this.stats.frames++;
      off += 4 + size;
    }
    return off;
  }

  /** Feeds one chunk; calls `emit` for every frame it completes. */
  push(chunk: StreamChunk, meta: T, emit: (frame: StreamFrame<T>) => void): void {
    this.pushRange(chunk.data, 0, chunk.data.length, chunk.skipped, chunk.resync === true, meta, emit);
  }

  /** push of a chunk whose data is data[start, end), with no chunk object (or view) made for it. */
  pushRange(data: Uint8Array, start: number, end: number, skippedBefore: number, resync: boolean, meta: T, emit: (frame: StreamFrame<T>) => void): void {
    if (skippedBefore > 0) this.stats.bytesSkipped += skippedBefore;
    let skipped = skippedBefore;
    if (resync) {
      this.flush(emit);
      this.owedTail = 0;
      this.stats.resyncs++;
      skipped = 0;
    } else if (this.owedTail > 0) {
      const k = Math.min(skipped, this.owedTail);
      skipped -= k;
      this.owedTail -= k;
    }
    if (skipped > 0 && !this.outOfSync) this.skip(skipped, emit);
    // A new chunk is where an out-of-sync stream tries again.
    this.outOfSync = false;
    let off = start;
    // emit and checkHead may call back into this stream (abandon, finishOpen): state is re-read each turn.
    while (off < end) {
      if (this.outOfSync) {
        this.stats.bytesDropped += end - off;
        return;
      }
      if (this.owedTail > 0) {
        const k = Math.min(this.owedTail, end - off);
        off += k;
        this.owedTail -= k;
        this.stats.bytesDropped += k;
        continue;
      }
      if (!this.frame) {
        if (this.sizeHave === 0 && end - off >= 4) {
          const size = int32At(data, off);
          if (size >= MIN_FRAME_SIZE && size <= this.maxFrameSize && end - off - 4 >= size) {
            off = this.whole(data, off + 4, size, end, meta, emit);
            continue;
          }
        }
        if (this.sizeHave === 0) this.sizeMeta = meta;
        while (this.sizeHave < 4 && off < end) this.sizeBytes[this.sizeHave++] = data[off++]!;
        if (this.sizeHave < 4) break;
        this.sizeHave = 0;
        const size = int32At(this.sizeBytes, 0);
        if (size < MIN_FRAME_SIZE || size > this.maxFrameSize) {
          this.lostSync(end - off);
          return;
        }
        this.frame = { size, pos: 0, copied: 0, truncated: false, checked: !this.checkHead, buf: this.spare, segments: [], meta: this.sizeMeta as T };
        continue;
      }
      const f = this.frame;
      const n = Math.min(f.size - f.pos, end - off);
      this.append(f, data, off, n);
      off += n;
      if (!f.checked && !this.headOk(f) && this.frame === f) {
        this.lostSync(end - off);
        return;
      }
      if (this.frame === f && f.pos === f.size) this.finish(emit);
    }
  }


  /** Hands on the frame in progress, if any, as truncated (the connection closed mid-frame). */
  flush(emit: (frame: StreamFrame<T>) => void): void {
    if (this.frame) {
      this.frame.truncated = true;
      this.finish(emit);
    }
    this.sizeHave = 0;
  }

  /** The copied first bytes of the frame in progress (at least HEAD_BYTES of them), if any. */
  openHead(): Uint8Array | null {
    const first = this.frame?.segments[0];
    if (!first || first.offset !== 0 || first.len < Math.min(HEAD_BYTES, this.frame!.size)) return null;
    return this.frame!.buf.subarray(0, first.len);
  }

  /**
   * Hands on the frame in progress now, as truncated: the other direction proved it complete on the
   * wire (a response to it arrived) though its tail has not been reported yet. The tail is then
   * ignored when it comes, copied or skipped.
   */
  finishOpen(emit: (frame: StreamFrame<T>) => void): void {
    const f = this.frame;
    if (!f) return;
    this.owedTail = f.size - f.pos;
    f.truncated = true;
    this.finish(emit);
  }

  /** Drops the frame in progress, if any, and waits for the next chunk to parse again. */
  abandon(): void {
    if (this.frame) this.lostSync(0);
  }

  /**
   * A frame of `size` bytes at data[start] lies wholly inside the chunk: it is handed on as a view of
   * the chunk, without copying (emit runs before push returns, so the caller's buffer is still
   * intact; nothing keeps a frame's segments past emit). Same outcome as the copying path: the head is
   * checked, bytes past maxFrameCopy are dropped. Returns where parsing goes on.
   */
  private whole(data: Uint8Array, start: number, size: number, chunkEnd: number, meta: T, emit: (frame: StreamFrame<T>) => void): number {
    const end = start + size;
    const keep = Math.min(size, this.maxFrameCopy);
    const head = Math.min(HEAD_BYTES, size);
    if (this.checkHead && keep >= head && !this.checkHead(data, start, head, size)) {
      this.lostSync(chunkEnd - end);
      return chunkEnd;
    }
    if (keep < size) this.stats.bytesDropped += size - keep;
    this.stats.frames++;
    emit({ segments: [{ offset: 0, data: view(data, start, keep) }], size, truncated: keep < size, meta });
    return end;
  }

  private skip(n: number, emit: (frame: StreamFrame<T>) => void): void {
    while (n > 0) {
      const f = this.frame;
      // Skipping a size field (or past a frame's end into one) loses the frame boundaries.
      if (!f) {
        this.lostSync(0);
        return;
      }
      const k = Math.min(n, f.size - f.pos);
      f.pos += k;
      f.truncated = true;
      // A head cut short by a skip cannot be checked.
      if (!f.checked && f.pos >= Math.min(HEAD_BYTES, f.size)) f.checked = true;
      n -= k;
      if (f.pos === f.size) this.finish(emit);
    }
  }

  /** Appends data[at, at + n) to the frame. */
  private append(f: OpenFrame<T>, data: Uint8Array, at: number, n: number): void {
    const keep = Math.min(n, this.maxFrameCopy - f.copied);
    if (keep < n) {
      f.truncated = true;
      this.stats.bytesDropped += n - keep;
    }
    if (keep > 0) {
      if (f.copied + keep > f.buf.length) {
        const grown = new Uint8Array(Math.min(Math.max(2 * f.buf.length, FIRST_BUFFER, f.copied + keep), f.size, this.maxFrameCopy));
        grown.set(f.buf.subarray(0, f.copied));
        f.buf = grown;
        if (grown.length <= SPARE_MAX) this.spare = grown;
      }
      // A walked frame comes in pieces of tens of bytes: a loop costs less than a view to set() from.
      const buf = f.buf;
      const to = f.copied;
      if (keep <= SMALL_COPY) for (let i = 0; i < keep; i++) buf[to + i] = data[at + i]!;
      else buf.set(view(data, at, keep), to);
      const last = f.segments[f.segments.length - 1];
      if (last && last.offset + last.len === f.pos) last.len += keep;
      else f.segments.push({ offset: f.pos, start: f.copied, len: keep });
      f.copied += keep;
    }
    f.pos += n;
  }

  /** Runs checkHead once the head is in; true while it is not. */
  private headOk(f: OpenFrame<T>): boolean {
    const need = Math.min(HEAD_BYTES, f.size);
    const first = f.segments[0];
    if (f.pos < need) return true;
    f.checked = true;
    if (!first || first.offset !== 0 || first.len < need) return true;
    return this.checkHead!(f.buf, 0, need, f.size);
  }

  private finish(emit: (frame: StreamFrame<T>) => void): void {
    const f = this.frame!;
    this.frame = null;
    this.stats.frames++;
    const truncated = f.truncated || f.pos < f.size;
    if (truncated && this.takeWalked && f.segments[0]?.offset === 0 && this.takeWalked(f.buf, f.copied, f.segments, f.size, f.meta)) return;
    const segments: Segment[] = [];
    for (const s of f.segments) segments.push({ offset: s.offset, data: f.buf.subarray(s.start, s.start + s.len) });
    emit({ segments, size: f.size, truncated, meta: f.meta });
  }

  private lostSync(dropped: number): void {
    this.stats.resyncs++;
    this.stats.bytesDropped += dropped;
    this.frame = null;
    this.sizeHave = 0;
    this.outOfSync = true;
  }
}
