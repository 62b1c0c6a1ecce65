// Reassembly of one direction of one connection into Kafka frames (`int32 size` + payload).
// Chunks arrive in stream order; `skipped` bytes passed on the wire before a chunk's data but were
// not copied (record payloads past the copied head, sendfile data). Frames are cut at size
// boundaries; a frame with uncopied bytes is handed on with `truncated` set and its copied parts as
// segments. A size that cannot be real means the stream is out of sync. A size can also be plausible
// and still wrong: the caller may check the first bytes of each frame (checkHead) and reject them,
// instead of swallowing up to 100 MiB of the stream as one bogus frame. Out of sync, the stream looks
// for the next frame at once, byte by byte from just after the rejected size field: the first place
// where a frame passes every check (plausibleHead, checkHead's side-effect-free twin) and lies whole
// in the chunk. A read() returns garbage and the frames after it together, so waiting for the next
// chunk would lose them; bytes that might start a frame running past the chunk's end are carried into
// the next. A frame whose size was wrong (cut short, a flipped bit) swallows what follows it, and the
// header after it then fails: the search starts again inside it. Memory per stream is bounded by
// maxFrameCopy and MAX_CARRY.
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
  /**
   * With resync: the capture lost records of this stream before data[0], counting the frames in
   * them, so a frame in progress was cut short there, not swallowed by a wrong size.
   */
  loss?: boolean;
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
  /** checkHead's verdict without its side effects (counting, acting on other streams), to search for a frame. */
  plausibleHead?: (data: Uint8Array, at: number, n: number, size: number) => boolean;
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

/** Bytes carried across chunks while out of sync, waiting for a frame that runs past a chunk's end to end. */
const MAX_CARRY = 64 * 1024;
/** Frames searched again per push at most: each search may find frames that are searched again in turn. */
const MAX_RESCANS = 16;
/** Offsets still in the running carried at most (each is judged again with every chunk). */
const MAX_LIVE = 32;
/** The last frame handed on whole is kept, to be searched again once its bytes are gone, up to this size. */
const LAST_COPY_MAX = 4096;

/** Pushes after a header failed during which a frame ending a chunk is kept (see parse). */
const SUSPECT_PUSHES = 4;

/** Where parsing goes on after a failed header: data[off, end), data[lo, end) being the chunk's bytes (see FrameStream.parse). */
interface Resume {
  data: Uint8Array;
  lo: number;
  off: number;
  end: number;
}

/** How a frame at one offset of a chunk checks out (see judge). */
const enum Verdict {
  /** Its size or head fails. */
  Fails,
  /** Its header is not wholly in the chunk: nothing to judge yet. */
  Undecided,
  /** It passes and runs past the chunk's end. */
  Open,
  /** It passes and ends inside the chunk. */
  Whole,
}

interface OpenFrame<T> {
  size: number;
  /** Stream position of its size field (see FrameStream.base). */
  start: number;
  /** Bytes of the payload passed so far, copied or not. */
  pos: number;
  copied: number;
  truncated: boolean;
  /** Whether checkHead has run (or cannot: the head was not copied). */
  checked: boolean;
  /** The copied bytes end to end (`copied` of them): the stream's spare buffer, grown by doubling. */
  buf: Uint8Array;
  /** A view of buf, to copy into four bytes at a time. */
  bufView: DataView;
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
  /** Payload bytes kept per frame (StreamOptions.maxFrameCopy). */
  readonly maxFrameCopy: number;
  private readonly checkHead: ((data: Uint8Array, at: number, n: number, size: number) => boolean) | undefined;
  private readonly takeWalked: ((packed: Uint8Array, copied: number, runs: readonly CopiedRun[], size: number, meta: T) => boolean) | undefined;
  private readonly plausibleHead: ((data: Uint8Array, at: number, n: number, size: number) => boolean) | undefined;
  private sizeBytes = new Uint8Array(4);
  private sizeHave = 0;
  private sizeMeta: T | undefined;
  private frame: OpenFrame<T> | null = null;
  /** The buffer the next frame assembled from chunks copies into. */
  private spare: Uint8Array = EMPTY;
  private spareView: DataView<ArrayBufferLike> = new DataView(EMPTY.buffer);
  /** The data of the chunk being pushed, and a DataView of it once one is made or given (see append). */
  private source: Uint8Array = EMPTY;
  private sourceView: DataView<ArrayBufferLike> | undefined = undefined;
  private outOfSync = false;
  /** Bytes still to come of a frame handed on early by finishOpen (skipped or copied, both ignored). */
  private owedTail = 0;
  /** Out of sync: the bytes of the previous chunks from the first offset where frames may start. */
  private carry: Uint8Array | null = null;
  /** Where carry lives (carry is its start): chunks are appended in place while out of sync. */
  private carryBuf = new Uint8Array(0);
  /** Offsets in carry where frames may start: their first frame runs past its end, or its header does. */
  private live: number[] = [];
  private carryMeta: T | undefined;
  /** Frames searched again during this push (see lost). */
  private rescans = 0;
  /** Pushes so far: a frame's bytes in a chunk are valid during its push only. */
  private pushes = 0;
  /**
   * The payload of the last frame handed on whole, while its bytes can still be read: a view of the
   * chunk during its push (lastPush), of the spare buffer until the next frame is assembled, or its
   * own copy (lastPush -1). Fields rather than an object: one is set per frame.
   */
  private lastBody: Uint8Array | null = null;
  /** Stream position of the last frame's size field. */
  private lastStart = 0;
  private lastPush = -1;
  /** Stream position of data[0] of the bytes being parsed: bytes copied before (skipped ones are not counted). */
  private base = 0;
  /** The push during which a header last failed. */
  private lostAt = -Infinity;
  /** Stream position where the size field in sizeBytes starts. */
  private sizeStart = 0;

  constructor(options: StreamOptions<T> = {}) {
    this.maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.maxFrameCopy = options.maxFrameCopy ?? DEFAULT_MAX_FRAME_COPY;
    this.checkHead = options.checkHead;
    this.takeWalked = options.takeWalked;
    this.plausibleHead = options.plausibleHead;
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
    if (off > start) {
      // A frame the taker accepts at a chunk's start puts a stream out of sync back in step.
      if (this.outOfSync) {
        this.outOfSync = false;
        this.dropCarry();
      }
      this.base += off - start;
      this.lastBody = null;
    }
    return off;
  }

  /**
   * The payload size of the frame whose size field starts at data[off], when its caller may gather
   * the frame's pieces from the chunks that follow and have it taken whole (passGathered): the stream
   * is between frames and in step, and the frame, of a size that can be real, runs past `end` after
   * at least its head (HEAD_BYTES). Otherwise -1.
   */
  gatherableSize(data: Uint8Array, off: number, end: number): number {
    if (this.frame || this.sizeHave > 0 || this.owedTail > 0 || this.outOfSync || end - off < 4 + HEAD_BYTES) return -1;
    const size = int32At(data, off);
    return size >= MIN_FRAME_SIZE && size <= this.maxFrameSize && end - off - 4 < size ? size : -1;
  }

  /**
   * A frame of gatherableSize was taken from its pieces: `copied` bytes of it (its size field
   * included, at most maxFrameCopy) and `skipped` more passed, as they would have through push.
   */
  passGathered(copied: number, skipped: number): void {
    this.stats.frames++;
    this.stats.bytesSkipped += skipped;
    this.base += copied;
    this.lastBody = null;
  }

  /** Feeds one chunk; calls `emit` for every frame it completes. */
  push(chunk: StreamChunk, meta: T, emit: (frame: StreamFrame<T>) => void): void {
    this.pushRange(chunk.data, 0, chunk.data.length, chunk.skipped, chunk.resync === true, chunk.loss === true, meta, emit);
  }

  /**
   * push of a chunk whose data is data[start, end), with no chunk object (or view) made for it;
   * `dataView`, when given, is a DataView of all of `data` (the caller's, for a batch of chunks).
   */
  pushRange(data: Uint8Array, start: number, end: number, skippedBefore: number, resync: boolean, loss: boolean, meta: T, emit: (frame: StreamFrame<T>) => void, dataView?: DataView<ArrayBufferLike>): void {
    this.source = data;
    this.sourceView = dataView;
    this.pushRangeOf(data, start, end, skippedBefore, resync, loss, meta, emit);
    // Not kept past the push: the chunk's buffer is the caller's (a capture batch, megabytes).
    this.source = EMPTY;
    this.sourceView = undefined;
  }

  private pushRangeOf(data: Uint8Array, start: number, end: number, skippedBefore: number, resync: boolean, loss: boolean, meta: T, emit: (frame: StreamFrame<T>) => void): void {
    this.pushes++;
    this.rescans = 0;
    if (skippedBefore > 0) this.stats.bytesSkipped += skippedBefore;
    let skipped = skippedBefore;
    if (resync) {
      this.flush(emit, loss);
      this.owedTail = 0;
      this.outOfSync = false;
      this.stats.resyncs++;
      skipped = 0;
    } else if (this.owedTail > 0) {
      const k = Math.min(skipped, this.owedTail);
      skipped -= k;
      this.owedTail -= k;
    }
    if (skipped > 0) {
      if (!this.outOfSync) this.skip(skipped, emit);
      // No frame before a skip is searched again after it, and no header across it is: skipped
      // bytes stay out of base, which a mangled capture record could push past 2^53 (where
      // positions lose bytes, and a search that restarts from one never gets past it).
      this.lastBody = null;
    }
    let off = start;
    if (this.outOfSync) {
      // Out of sync, a new chunk is searched for a frame, after what the last one carried (unless
      // bytes passed uncopied in between).
      if (skipped > 0) this.dropCarry();
      const carried = this.carry;
      const live = this.live;
      this.carry = null;
      this.live = [];
      this.outOfSync = false;
      if (carried) {
        data = this.extend(carried, data, start, end);
        this.base -= carried.length;
        start = 0;
        end = data.length;
        off = this.resume(data, carried.length, end, live, meta, 0);
      } else {
        off = this.resume(data, start, end, live, meta, start);
      }
    }
    this.base -= start;
    this.parse(data, start, off, end, meta, emit);
  }

  /**
   * Parses data[off, end), then moves base past it. base is the stream position of data[0];
   * data[lo, end) is the chunk (bytes before lo are not there: a header that began before lo was
   * copied).
   */
  private parse(data: Uint8Array, lo: number, off: number, end: number, meta: T, emit: (frame: StreamFrame<T>) => void): void {
    let next = this.parseRun(data, lo, off, end, meta, emit);
    while (next !== null) next = this.parseRun(next.data, next.lo, next.off, next.end, meta, emit);
  }

  /** parse up to a header that fails: then where the search goes on (see lost), else null. */
  private parseRun(data: Uint8Array, lo: number, off: number, end: number, meta: T, emit: (frame: StreamFrame<T>) => void): Resume | null {
    // emit and checkHead may call back into this stream (abandon, finishOpen): state is re-read each turn.
    while (off < end) {
      if (this.outOfSync) {
        if (!this.carry) this.stats.bytesDropped += end - off;
        break;
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
            const next = this.whole(data, off + 4, size, meta, emit);
            if (next >= 0) {
              off = next;
              continue;
            }
            return this.lost(data, lo, off, end, data.subarray(off, off + 4 + Math.min(HEAD_BYTES, size)), meta);
          }
        }
        if (this.sizeHave === 0) {
          this.sizeMeta = meta;
          this.sizeStart = this.base + off;
        }
        while (this.sizeHave < 4 && off < end) this.sizeBytes[this.sizeHave++] = data[off++]!;
        if (this.sizeHave < 4) break;
        this.sizeHave = 0;
        const size = int32At(this.sizeBytes, 0);
        if (size < MIN_FRAME_SIZE || size > this.maxFrameSize) {
          return this.lost(data, lo, this.sizeStart - this.base, end, this.sizeBytes, meta);
        }
        // The spare buffer is about to be written: the last frame, if it lies there, is copied first.
        if (this.lastBody !== null && this.lastBody.buffer === this.spare.buffer) this.keepLast();
        this.frame = { size, start: this.sizeStart, pos: 0, copied: 0, truncated: false, checked: !this.checkHead, buf: this.spare, bufView: this.spareView, segments: [], meta: this.sizeMeta as T };
        continue;
      }
      const f = this.frame;
      const n = Math.min(f.size - f.pos, end - off);
      this.append(f, data, off, n);
      off += n;
      if (!f.checked && !this.headOk(f) && this.frame === f) {
        return this.lost(data, lo, f.start - this.base, end, this.header(f), meta);
      }
      if (this.frame === f && f.pos === f.size) this.finish(emit);
    }
    this.base += end;
    // The frame before one that a later chunk may prove wrong (a header that fails, a stream that
    // ends inside it) is the one to search again then: its bytes outlive the chunk when small. One
    // that ends the chunk is kept only shortly after garbage (a wrong size ends exactly there by
    // chance; copying every chunk's last frame would slow every stream).
    const body = this.lastBody;
    if (body !== null && this.lastPush >= 0) {
      const end = this.lastStart + 4 + body.length;
      const suspect = end === this.base && this.pushes - this.lostAt <= SUSPECT_PUSHES;
      if (suspect || (this.sizeHave > 0 && this.sizeStart === end) || this.frame?.start === end) this.keepLast();
    }
    return null;
  }

  /** The last frame's own copy, or none when it is too large to keep. */
  private keepLast(): void {
    const body = this.lastBody!;
    this.lastBody = body.length <= LAST_COPY_MAX ? body.slice() : null;
    this.lastPush = -1;
  }

  /**
   * The header (size field, then head) at stream position base + at failed a check: the stream
   * searches on from the byte after it, or, when the frame before it ended just there, from the byte
   * after that frame's size field: a wrong size there (a frame cut short, a flipped bit) swallowed
   * what followed it. Header bytes before the chunk (before lo) are searched too. Returns the bytes
   * to go on parsing (the chunk's, or earlier bytes joined to it) and where.
   */
  private lost(data: Uint8Array, lo: number, at: number, end: number, header: Uint8Array, meta: T): Resume {
    this.lostAt = this.pushes;
    this.stats.resyncs++;
    this.stats.bytesDropped++;
    this.frame = null;
    this.sizeHave = 0;
    const before = at < lo ? header.subarray(0, Math.min(lo - at, header.length)) : EMPTY;
    const rest = data.subarray(Math.max(at, lo), end);
    const body = this.lastBody;
    this.lastBody = null;
    if (body && this.lastStart + 4 + body.length === this.base + at && (this.lastPush < 0 || this.lastPush === this.pushes) && this.rescans++ < MAX_RESCANS) {
      const all = joined([sizeField(body.length).subarray(1), body, before, rest]);
      this.base = this.lastStart + 1;
      // The last frame's bytes were handed on already, and the failed header's first byte counted.
      return { data: all, lo: 0, off: this.resume(all, 0, all.length, [], meta, 3 + body.length + 1), end: all.length };
    }
    if (at >= lo) return { data, lo, off: this.resume(data, at + 1, end, [], meta, at + 1), end };
    this.base += lo - (before.length - 1);
    const all = joined([before.subarray(1), rest]);
    return { data: all, lo: 0, off: this.resume(all, 0, all.length, [], meta, 0), end: all.length };
  }

  /**
   * Where frames start again in data[.., end): the first offset with a frame that passes, whole in
   * the chunk (one that turns out wrong is searched again from its next byte, see lost). `live` are
   * offsets before `from` still in the running (their frames ran past the last chunk's end); from
   * `from` on, every offset is tried. With none, the bytes from the first offset still in the running
   * are carried to the next chunk (at most MAX_CARRY of them, from at most MAX_LIVE offsets) and the
   * stream stays out of sync (returns end). Bytes from `uncounted` on are counted as dropped once
   * given up.
   */
  private resume(data: Uint8Array, from: number, end: number, live: number[], meta: T, uncounted: number): number {
    const running: number[] = [];
    const whole = (q: number): boolean => {
      const v = this.judge(data, q, end);
      if (v === Verdict.Whole) return true;
      if (v !== Verdict.Fails) running.push(q);
      return false;
    };
    const at = (q: number): number => {
      this.stats.bytesDropped += Math.max(0, q - uncounted);
      return q;
    };
    for (const q of live) if (whole(q)) return at(q);
    for (let q = from; q < end; q++) if (whole(q)) return at(q);
    // Frames that begin more than MAX_CARRY back, or before the latest MAX_LIVE, are given up (taking
    // one blindly could swallow the stream behind a wrong size).
    const kept = running.filter((q) => end - q <= MAX_CARRY).slice(-MAX_LIVE);
    const first = kept[0];
    if (first === undefined) {
      this.outOfSync = true;
      return at(end);
    }
    at(first);
    this.keep(data, first, end);
    this.carryMeta = meta;
    this.live = kept.map((q) => q - first);
    this.outOfSync = true;
    return end;
  }

  /** How a frame at data[q] checks out, in bytes that end at `end`. */
  private judge(data: Uint8Array, q: number, end: number): Verdict {
    if (end - q < 4) return Verdict.Undecided;
    const size = int32At(data, q);
    if (size < MIN_FRAME_SIZE || size > this.maxFrameSize) return Verdict.Fails;
    const head = Math.min(HEAD_BYTES, size);
    if (end - q - 4 < head) return Verdict.Undecided;
    if (this.plausibleHead && !this.plausibleHead(data, q + 4, head, size)) return Verdict.Fails;
    return q + 4 + size > end ? Verdict.Open : Verdict.Whole;
  }

  /** `carried` (carryBuf's start) then data[start, end), in carryBuf: grown by doubling, so carrying costs each byte once. */
  private extend(carried: Uint8Array, data: Uint8Array, start: number, end: number): Uint8Array {
    const n = carried.length + end - start;
    if (n > this.carryBuf.length) {
      const grown = new Uint8Array(Math.max(n, 2 * this.carryBuf.length));
      grown.set(carried);
      this.carryBuf = grown;
    }
    this.carryBuf.set(view(data, start, end - start), carried.length);
    return this.carryBuf.subarray(0, n);
  }

  /** Carries data[first, end) (data may be a view of carryBuf itself). */
  private keep(data: Uint8Array, first: number, end: number): void {
    const n = end - first;
    if (data.buffer === this.carryBuf.buffer) {
      this.carryBuf.copyWithin(0, data.byteOffset + first, data.byteOffset + end);
    } else {
      if (n > this.carryBuf.length) this.carryBuf = new Uint8Array(Math.max(n, 2 * this.carryBuf.length));
      this.carryBuf.set(view(data, first, n));
    }
    this.carry = this.carryBuf.subarray(0, n);
  }

  private dropCarry(): void {
    if (this.carry) this.stats.bytesDropped += this.carry.length;
    this.carry = null;
    this.live = [];
  }

  /** The bytes of an open frame's size field and copied head. */
  private header(f: OpenFrame<T>): Uint8Array {
    const first = f.segments[0];
    const head = first && first.offset === 0 ? f.buf.subarray(0, Math.min(first.len, HEAD_BYTES)) : EMPTY;
    return joined([sizeField(f.size), head]);
  }

  /**
   * Hands on the frame in progress, if any, as truncated (the connection closed mid-frame). A stream
   * that ends inside a frame may have been swallowed by a wrong size: the frames in the bytes after
   * that size field, up to the end, come out first, unless `cut` (the capture lost what came
   * next: the frame's size was right, and frames read in its copied bytes would be phantoms). Bytes
   * carried while out of sync are parsed too.
   */
  flush(emit: (frame: StreamFrame<T>) => void, cut = false): void {
    // The last chunk's bytes may be gone: only copies are read from here on.
    this.pushes++;
    this.rescans = 0;
    const carried = this.carry;
    if (carried && this.carryMeta !== undefined) {
      const open = this.live.find((q) => this.judge(carried, q, carried.length) === Verdict.Open);
      this.carry = null;
      this.live = [];
      this.outOfSync = false;
      if (open !== undefined) {
        this.stats.bytesDropped += open;
        this.base -= carried.length;
        this.parse(carried, 0, open, carried.length, this.carryMeta, emit);
      } else {
        this.stats.bytesDropped += carried.length;
      }
    }
    if (!cut) this.searchTail(emit);
    if (this.frame) {
      this.frame.truncated = true;
      this.finish(emit);
    }
    this.sizeHave = 0;
    this.outOfSync = false;
    this.dropCarry();
  }

  /**
   * The stream ends inside a frame (or its size field). When frames that pass every check end it
   * exactly, a wrong size swallowed them: that of the frame in progress, or of the whole frame just
   * before it. The frame in progress is handed on, truncated, and the bytes after the first size
   * field are searched as after any wrong size.
   */
  private searchTail(emit: (frame: StreamFrame<T>) => void): void {
    const f = this.frame;
    let tail: Uint8Array;
    let start: number;
    let meta: T;
    if (f) {
      if (f.truncated || f.copied !== f.pos) return;
      tail = joined([sizeField(f.size), f.buf.subarray(0, f.copied)]);
      ({ start, meta } = f);
    } else if (this.sizeHave > 0) {
      tail = this.sizeBytes.slice(0, this.sizeHave);
      start = this.sizeStart;
      meta = this.sizeMeta as T;
    } else {
      return;
    }
    const body = this.lastBody;
    if (body && this.lastPush < 0 && this.lastStart + 4 + body.length === start) {
      tail = joined([sizeField(body.length), body, tail]);
      start = this.lastStart;
    }
    const all = tail.subarray(1);
    if (!this.endsWithFrames(all)) return;
    if (f) {
      f.truncated = true;
      this.finish(emit);
    }
    this.sizeHave = 0;
    this.lastBody = null;
    this.stats.resyncs++;
    this.base = start + 1;
    this.parse(all, 0, this.resume(all, 0, all.length, [], meta, all.length), all.length, meta, emit);
  }

  /** Whether a frame that passes every check ends data exactly (as the last of any run of frames to its end does). */
  private endsWithFrames(data: Uint8Array): boolean {
    for (let p = data.length - 4 - MIN_FRAME_SIZE; p >= 0; p--) {
      if (this.judge(data, p, data.length) === Verdict.Whole && p + 4 + int32At(data, p) === data.length) return true;
    }
    return false;
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

  /** Drops the frame in progress, if any, and searches the next chunk for a frame. */
  abandon(): void {
    if (!this.frame) return;
    this.stats.resyncs++;
    this.frame = null;
    this.sizeHave = 0;
    this.outOfSync = true;
  }

  /**
   * A frame of `size` bytes at data[start] lies wholly inside the chunk: it is handed on as a view of
   * the chunk, without copying (emit runs before push returns, so the caller's buffer is still
   * intact; nothing keeps a frame's segments past emit). Same outcome as the copying path: the head is
   * checked, bytes past maxFrameCopy are dropped. Returns where parsing goes on, or -1 when the head
   * fails its check.
   */
  private whole(data: Uint8Array, start: number, size: number, meta: T, emit: (frame: StreamFrame<T>) => void): number {
    const end = start + size;
    const keep = Math.min(size, this.maxFrameCopy);
    const head = Math.min(HEAD_BYTES, size);
    if (this.checkHead && keep >= head && !this.checkHead(data, start, head, size)) return -1;
    if (keep < size) this.stats.bytesDropped += size - keep;
    this.stats.frames++;
    const body = view(data, start, keep);
    if (keep < size) this.lastBody = null;
    else {
      this.lastBody = body;
      this.lastStart = this.base + start - 4;
      this.lastPush = this.pushes;
    }
    emit({ segments: [{ offset: 0, data: body }], size, truncated: keep < size, meta });
    return end;
  }

  private skip(n: number, emit: (frame: StreamFrame<T>) => void): void {
    while (n > 0) {
      const f = this.frame;
      // Skipping a size field (or past a frame's end into one) loses the frame boundaries.
      if (!f) {
        this.stats.resyncs++;
        this.sizeHave = 0;
        this.outOfSync = true;
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
        f.bufView = new DataView(grown.buffer);
        if (grown.length <= SPARE_MAX) {
          this.spare = grown;
          this.spareView = f.bufView;
        }
      }
      // A walked frame comes in pieces of tens of bytes: a loop costs less than a view to set() from,
      // and one of four-byte words a quarter of one of bytes.
      const to = f.copied;
      if (keep <= SMALL_COPY) {
        let from = data === this.source ? this.sourceView : undefined;
        if (from === undefined) {
          from = new DataView(data.buffer, data.byteOffset, data.byteLength);
          if (data === this.source) this.sourceView = from;
        }
        copyWords(from, at, f.bufView, to, keep);
      } else {
        f.buf.set(view(data, at, keep), to);
      }
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
    // Kept until the next frame is assembled in the spare buffer (see parse).
    if (!truncated && f.size <= LAST_COPY_MAX && f.copied === f.size && f.segments.length === 1) {
      this.lastBody = f.buf.subarray(0, f.size);
      this.lastStart = f.start;
      this.lastPush = -1;
    } else {
      this.lastBody = null;
    }
    if (truncated && this.takeWalked && f.segments[0]?.offset === 0 && this.takeWalked(f.buf, f.copied, f.segments, f.size, f.meta)) return;
    const segments: Segment[] = [];
    for (const s of f.segments) segments.push({ offset: s.offset, data: f.buf.subarray(s.start, s.start + s.len) });
    emit({ segments, size: f.size, truncated, meta: f.meta });
  }
}

/** Copies n bytes from src[at] to dst[to] (distinct buffers). */
function copyWords(src: DataView, at: number, dst: DataView, to: number, n: number): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) dst.setInt32(to + i, src.getInt32(at + i, true), true);
  for (; i < n; i++) dst.setUint8(to + i, src.getUint8(at + i));
}

/** The parts end to end, in a new array. */
function joined(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A size field (big-endian int32) holding `n`. */
function sizeField(n: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, n);
  return out;
}
