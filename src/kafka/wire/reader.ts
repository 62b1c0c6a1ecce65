// Bounds-checked reading of Kafka primitives over the copied parts of a frame. A frame may have
// gaps (bytes the capture skipped, such as record data sent with sendfile): a read that falls in a
// gap throws DecodeError('truncated'), and a length that skips over a gap lets decoding continue
// after it. Frame decoding catches DecodeError, so no exception from a bad frame escapes.
import { KtError } from '../../errors.js';

/**
 * Why decoding stopped:
 * - truncated: the bytes needed were not copied (expected for frame heads), not an error;
 * - overrun: a length points past the end of the frame (corrupt data);
 * - bad_length: a negative or impossible length or count;
 * - bad_varint: a varint longer than its type allows;
 * - bad_header: not a plausible Kafka header;
 * - trailing: the body ended before the frame did.
 */
export type DecodeFailure = 'truncated' | 'overrun' | 'bad_length' | 'bad_varint' | 'bad_header' | 'trailing';

export class DecodeError extends KtError {
  override name = 'DecodeError';
  readonly reason: DecodeFailure;

  constructor(reason: DecodeFailure, message: string) {
    // Bad and truncated frames are routine: a stack trace per frame would dominate decoding time.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super('kafka-frame', message);
    Error.stackTraceLimit = limit;
    this.reason = reason;
  }
}

/** Copied bytes of a frame starting at `offset` (offset 0 is the first byte after the size field). */
export interface Segment {
  offset: number;
  data: Uint8Array;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
/** Strings up to this length are decoded in JavaScript when they are ASCII. */
const SHORT_STRING = 64;
const EMPTY = new Uint8Array(0);

/**
 * Recently decoded short strings by a hash of their bytes. Topic names, client ids and group ids
 * repeat in frame after frame: a hit costs one pass over the bytes and allocates nothing.
 */
const STRING_CACHE_SIZE = 1024;
const stringCache: (string | undefined)[] = new Array(STRING_CACHE_SIZE).fill(undefined);

function shortString(b: Uint8Array, at: number, n: number): string {
  let h = n;
  let ascii = true;
  for (let i = at; i < at + n; i++) {
    const c = b[i]!;
    if (c >= 0x80) ascii = false;
    h = Math.imul(h ^ c, 0x01000193);
  }
  if (!ascii) return utf8.decode(b.subarray(at, at + n));
  const slot = (h >>> 0) % STRING_CACHE_SIZE;
  const cached = stringCache[slot];
  if (cached !== undefined && cached.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (cached.charCodeAt(i) !== b[at + i]) {
        same = false;
        break;
      }
    }
    if (same) return cached;
  }
  let s = '';
  for (let i = at; i < at + n; i++) s += String.fromCharCode(b[i]!);
  stringCache[slot] = s;
  return s;
}

/** Big-endian integers at data[at], read without a Reader or a DataView (frame heads, lengths, counts). */
export const int16At = (data: Uint8Array, at: number): number => ((data[at]! << 24) | (data[at + 1]! << 16)) >> 16;
export const int32At = (data: Uint8Array, at: number): number =>
  (data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!;

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, '0'));

/**
 * Recently seen topic ids, their bytes beside their text. Every Produce v13 and Fetch v13+ partition
 * names its topic by id, the same few ids frame after frame: a hit returns the very string made
 * before, whose hash V8 has kept, so the id's Map lookups neither build nor hash a string.
 */
const UUID_CACHE_SIZE = 256;
const uuidBytes = new Int32Array(UUID_CACHE_SIZE * 4);
const uuidCache: (string | undefined)[] = new Array(UUID_CACHE_SIZE).fill(undefined);

/** The 16 bytes at data[at] as a UUID's text. */
export function uuidAt(data: Uint8Array, at: number): string {
  const a = int32At(data, at);
  const b = int32At(data, at + 4);
  const c = int32At(data, at + 8);
  const d = int32At(data, at + 12);
  const slot = (Math.imul(a ^ Math.imul(b, 0x01000193) ^ Math.imul(c, 0x85ebca6b) ^ Math.imul(d, 0xc2b2ae35), 0x27d4eb2d) >>> 0) % UUID_CACHE_SIZE;
  const k = slot * 4;
  const cached = uuidCache[slot];
  if (cached !== undefined && uuidBytes[k] === a && uuidBytes[k + 1] === b && uuidBytes[k + 2] === c && uuidBytes[k + 3] === d) return cached;
  const h = (i: number): string => HEX[data[at + i]!]!;
  const text = `${h(0)}${h(1)}${h(2)}${h(3)}-${h(4)}${h(5)}-${h(6)}${h(7)}-${h(8)}${h(9)}-${h(10)}${h(11)}${h(12)}${h(13)}${h(14)}${h(15)}`;
  uuidBytes[k] = a;
  uuidBytes[k + 1] = b;
  uuidBytes[k + 2] = c;
  uuidBytes[k + 3] = d;
  uuidCache[slot] = text;
  return text;
}

/** The string of `n` bytes at data[at] (a Kafka string's bytes, UTF-8). */
export function frameString(data: Uint8Array, at: number, n: number): string {
  return n <= SHORT_STRING ? shortString(data, at, n) : utf8.decode(data.subarray(at, at + n));
}

export class Reader {
  pos: number;
  private segStart = 0;
  private segEnd = 0;
  private bytes: Uint8Array = EMPTY;
  /** A view of `bytes`, made when first needed (int64, float64, record windows): most reads need none. */
  private view: DataView<ArrayBufferLike> | null = null;

  /**
   * @param segments copied parts of the frame, sorted by offset, not overlapping
   * @param declaredEnd the frame's real size (past the copied bytes when the frame was truncated)
   */
  constructor(readonly segments: readonly Segment[], readonly declaredEnd: number, pos = 0) {
    this.pos = pos;
  }

  static of(data: Uint8Array, declaredEnd = data.length): Reader {
    return new Reader([{ offset: 0, data }], declaredEnd);
  }

  /** Bytes left in the frame as declared (not all of them may have been copied). */
  get declaredRemaining(): number {
    return this.declaredEnd - this.pos;
  }

  /** Makes [pos, pos + n) readable through `view` at `pos - segStart`, or throws. */
  private need(n: number): number {
    if (this.pos >= this.segStart && this.pos + n <= this.segEnd) return this.pos - this.segStart;
    if (this.pos + n > this.declaredEnd) {
      throw new DecodeError('overrun', `${n} bytes needed at byte ${this.pos}, past the end of the frame`);
    }
    const s = this.segmentHolding(this.pos, n);
    if (!s) throw new DecodeError('truncated', `bytes ${this.pos}..${this.pos + n} of the frame were not copied`);
    this.segStart = s.offset;
    this.segEnd = s.offset + s.data.length;
    this.bytes = s.data;
    this.view = null;
    return this.pos - this.segStart;
  }

  private dataView(): DataView {
    return (this.view ??= new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength));
  }

  /** The segment holding all of [at, at + n), by binary search: a walked Fetch response has thousands. */
  private segmentHolding(at: number, n: number): Segment | undefined {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const s = this.segments[mid]!;
      const end = s.offset + s.data.length;
      if (at < s.offset) hi = mid - 1;
      else if (at + n <= end) return s;
      else if (at >= end) lo = mid + 1;
      else return undefined;
    }
    return undefined;
  }

  int8(): number {
    const at = this.need(1);
    this.pos += 1;
    return (this.bytes[at]! << 24) >> 24;
  }

  bool(): boolean {
    return this.int8() !== 0;
  }

  int16(): number {
    const at = this.need(2);
    this.pos += 2;
    return int16At(this.bytes, at);
  }

  uint16(): number {
    const at = this.need(2);
    this.pos += 2;
    const b = this.bytes;
    return (b[at]! << 8) | b[at + 1]!;
  }

  int32(): number {
    const at = this.need(4);
    this.pos += 4;
    return int32At(this.bytes, at);
  }

  uint32(): number {
    return this.int32() >>> 0;
  }

  int64(): bigint {
    const at = this.need(8);
    this.pos += 8;
    const hi = int32At(this.bytes, at);
    const lo = int32At(this.bytes, at + 4) >>> 0;
    // Offsets, timestamps and ids fit in 53 bits: one BigInt from a number, no DataView.
    const v = hi * 4294967296 + lo;
    return Number.isSafeInteger(v) ? BigInt(v) : this.dataView().getBigInt64(at);
  }

  float64(): number {
    const at = this.need(8);
    this.pos += 8;
    return this.dataView().getFloat64(at);
  }

  uuid(): string {
    const at = this.need(16);
    this.pos += 16;
    return uuidAt(this.bytes, at);
  }

  /** Unsigned LEB128 of at most 32 bits (5 bytes). */
  uvarint(): number {
    // One byte is the usual case (lengths and counts below 128, empty tagged fields).
    if (this.pos >= this.segStart && this.pos < this.segEnd) {
      const b = this.bytes[this.pos - this.segStart]!;
      if ((b & 0x80) === 0) {
        this.pos += 1;
        return b;
      }
    }
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      const b = this.int8() & 0xff;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) throw new DecodeError('bad_varint', `varint too large at byte ${this.pos}`);
        return result;
      }
    }
    throw new DecodeError('bad_varint', `varint longer than 5 bytes at byte ${this.pos}`);
  }

  /** Zig-zag signed varint (32 bits). */
  varint(): number {
    const u = this.uvarint();
    return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
  }

  /** Zig-zag signed varlong (64 bits), at most 10 bytes. */
  varlong(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = this.int8() & 0xff;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return (result >> 1n) ^ -(result & 1n);
    }
    throw new DecodeError('bad_varint', `varlong longer than 10 bytes at byte ${this.pos}`);
  }

  /**
   * A length or element count: int32 (int16 for classic strings), or unsigned varint minus one when
   * compact. -1 is null; other negatives, and lengths that cannot fit in the frame, are errors.
   */
  length(compact: boolean, short = false): number | null {
    const n = compact ? this.uvarint() - 1 : short ? this.int16() : this.int32();
    if (n === -1) return null;
    if (n < -1) throw new DecodeError('bad_length', `negative length ${n} at byte ${this.pos}`);
    if (n > this.declaredRemaining) {
      throw new DecodeError('overrun', `length ${n} at byte ${this.pos} runs past the end of the frame`);
    }
    return n;
  }

  string(n: number): string {
    const at = this.need(n);
    this.pos += n;
    return frameString(this.bytes, at, n);
  }

  /** The copied bytes from `pos` on, up to n and up to the next gap, without advancing. */
  available(n: number): Uint8Array {
    for (const s of this.segments) {
      if (this.pos >= s.offset && this.pos < s.offset + s.data.length) {
        const at = this.pos - s.offset;
        return s.data.subarray(at, Math.min(s.data.length, at + n));
      }
    }
    return EMPTY;
  }

  /** Index in the array locate() last returned. */
  located = 0;

  /** The array holding copied bytes [at, at + n) (their index in `located`), or null if not all copied. */
  locate(at: number, n: number): Uint8Array | null {
    if (at >= this.segStart && at + n <= this.segEnd) {
      this.located = at - this.segStart;
      return this.bytes;
    }
    const s = this.segmentHolding(at, n);
    if (!s) return null;
    this.located = at - s.offset;
    return s.data;
  }

  /** The copied bytes [at, at + n) of the frame as a view and the index of `at` in it; null if not all copied. */
  window(at: number, n: number): { view: DataView; index: number } | null {
    if (at >= this.segStart && at + n <= this.segEnd) return { view: this.dataView(), index: at - this.segStart };
    const s = this.segmentHolding(at, n);
    return s ? { view: new DataView(s.data.buffer, s.data.byteOffset, s.data.byteLength), index: at - s.offset } : null;
  }

  /** Advances by n bytes that must have been copied (what reading them would check, without a value). */
  skipCopied(n: number): void {
    this.need(n);
    this.pos += n;
  }

  /** Advances by n bytes whether or not they were copied. */
  skip(n: number): void {
    if (this.pos + n > this.declaredEnd) {
      throw new DecodeError('overrun', `${n} bytes skipped at byte ${this.pos}, past the end of the frame`);
    }
    this.pos += n;
  }
}
