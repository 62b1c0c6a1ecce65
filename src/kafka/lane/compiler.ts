// Produce and Fetch bodies compiled for the fast lane (fast-lane.ts): one JavaScript function per message
// and version that reads a frame where it lies in the capture chunk, with every struct inlined into
// nested loops, and no object made per struct. The fields the lane needs land in local variables,
// and a hook per array element hands them on; every other field is stepped over with the same
// bounds and length checks the schema decoder makes. Whatever the lane does not expect (a null
// array, a tagged field present, a length past the frame) makes the function return -1: the frame
// then takes the schema decoder's path, which decodes or counts it as before.
// A frame the capture walked (its record data skipped) is read the same way from its copied bytes laid
// end to end, or where they lie in the capture records that carried them: the gaps between them
// (WalkGaps) must each be the data of one record batch past its header, which the records fields'
// walk steps over (and, in place, the record header after it); a frame with any other gap is declined.
// Generated code holds only schema field names (in comments, quoted by generated-code.ts), numbers and
// the hooks the lane itself writes, never input bytes.
import { presentFields, projectionStop, wantedField } from '../wire/body-compiler.js';
import { BATCH_HEADER_SIZE, countRecordsInto, LOG_OVERHEAD, MAGIC_OFFSET, RECORD_COUNT_AT, type CopiedBytes, type RecordsSummary } from '../wire/records.js';
import { cached, compile, literal } from '../wire/generated-code.js';
import { frameString, uuidAt } from '../wire/reader.js';
import { inRange, type FieldSpec, type MessageSpec } from '../wire/schemas/spec.js';

/** What a lane function captures and does, by field path ('TopicData.PartitionData.Index'). */
export interface LaneShape {
  /** Field path → local variable the value is read into (declared by the generated function). */
  capture: Readonly<Record<string, string>>;
  /** Array-of-structs path → code run after each element is read (it may `return -1`). */
  each: Readonly<Record<string, string>>;
  /** Code run after the last needed top-level field (it may `return -1`). */
  end: string;
  /** Locals the hooks read that no capture of this version may assign (they stay undefined). */
  declare?: readonly string[];
  /**
   * The schema decoder's projection of the body (demand.ts): the lane steps over the same top-level
   * fields, so that it checks what that path checks and no more.
   */
  keep: ReadonlySet<string>;
}

/**
 * A compiled lane body: reads b[p, e), where `p` is the body's first byte, numbers through `v`, a
 * DataView of the same bytes (one load per field where byte reads take one per byte). Returns the
 * position after the last field read, or -1 when the lane declines the frame. `P` and `X` are the
 * lane's pending request and response scratch, passed through to the hooks.
 */
export type LaneBody<P, X> = (b: Uint8Array, v: DataView, p: number, e: number, P: P, X: X) => number;

const SMALL = Array.from({ length: 1024 }, (_, i) => BigInt(i));
/** What LaneHelpers.records returns for a records field that does not fit where it lies: the lane declines the frame. */
const DECLINE = -3;

/** The gaps of a walked frame the lane reads (setLaneGaps), in the order they lie. */
export class WalkGaps {
  /** Where each lies among the bytes the lane reads. */
  readonly at: number[] = [];
  /** Its wire length: bytes of the frame that passed uncopied. */
  readonly len: number[] = [];
  /**
   * Bytes at `at` that are not the frame's, to step over with it: 0 for copied bytes laid end to
   * end; a capture record's header for bytes read where the records lie.
   */
  readonly skip: number[] = [];
  count = 0;

  add(at: number, len: number, skip: number): void {
    const n = this.count;
    this.at[n] = at;
    this.len[n] = len;
    this.skip[n] = skip;
    this.count = n + 1;
  }
}

const NO_GAPS = new WalkGaps();

/** Helpers the generated code calls for what is more than a few byte reads. */
class LaneHelpers implements CopiedBytes {
  /** Where the last uv() ended. */
  at = 0;
  located = 0;
  private bytes: Uint8Array = new Uint8Array(0);
  private end = 0;
  private readonly summary: RecordsSummary = { bytes: 0, records: 0, offsets: 0, magic: -1, batches: [], complete: true, malformed: false };
  /** The gaps of the walked frame being read (the first gapCount of them). */
  private gaps = NO_GAPS;
  private gapAt: readonly number[] = NO_GAPS.at;
  private gapCount = 0;
  /** The first gap not yet stepped over. */
  private gapNext = 0;

  /** A non-negative integer as a BigInt, from a table when small (offsets, counts). */
  big(x: number): bigint {
    return x >= 0 && x < 1024 ? SMALL[x]! : BigInt(x);
  }

  /**
   * An int64 as a number, NaN when past 2^53 either way (a true value out there cannot round into
   * the safe range): offsets and the like stay numbers until an arg needs their BigInt.
   */
  n64(v: DataView, p: number): number {
    const x = v.getInt32(p) * 4294967296 + v.getUint32(p + 4);
    return Number.isSafeInteger(x) ? x : NaN;
  }

  uuid(b: Uint8Array, p: number): string {
    return uuidAt(b, p);
  }

  /** An unsigned varint of more than one byte at b[p]; -1 when malformed or past `e` (position in `at`). */
  uv(b: Uint8Array, p: number, e: number): number {
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (p >= e) return -1;
      const x = b[p++]!;
      result += (x & 0x7f) * 2 ** shift;
      if ((x & 0x80) === 0) {
        this.at = p;
        return result > 0xffffffff ? -1 : result;
      }
    }
    return -1;
  }

  /** The last string read at each site of the generated code, and a view of its bytes (see str). */
  private readonly last: string[] = [];
  private readonly lastBytes: DataView[] = [];
  /** Their lengths (a DataView's byteLength is a call into V8, not a load). */
  private readonly lastLength: number[] = [];
  private sites = 0;

  /** A number for a place in generated code that reads strings (a topic name, a client id). */
  site(): number {
    return this.sites++;
  }

  /**
   * The string of n bytes at b[p]. A site reads the same topic or client id frame after frame: the
   * bytes it read last are compared with these, and its string reused (comparing with the string's
   * char codes went through V8's per-character string dispatch, several times as slow).
   */
  str(b: Uint8Array, v: DataView, p: number, n: number, site: number): string {
    const last = this.lastBytes[site];
    if (last !== undefined && this.lastLength[site] === n) {
      let i = 0;
      while (i + 4 <= n && v.getInt32(p + i) === last.getInt32(i)) i += 4;
      while (i < n && v.getUint8(p + i) === last.getUint8(i)) i++;
      if (i === n) return this.last[site]!;
    }
    const copy = new Uint8Array(n);
    copy.set(b.subarray(p, p + n));
    this.lastBytes[site] = new DataView(copy.buffer);
    this.lastLength[site] = n;
    return (this.last[site] = frameString(b, p, n));
  }

  /** The gaps of the frame about to be read (none: a frame copied whole). */
  setGaps(gaps: WalkGaps): void {
    this.gaps = gaps;
    this.gapAt = gaps.at;
    this.gapCount = gaps.count;
    this.gapNext = 0;
  }

  /** Whether every gap before `p` (where the read stopped) was a batch's data, stepped over. */
  gapsBefore(p: number): boolean {
    return this.gapNext >= this.gapCount || this.gapAt[this.gapNext]! >= p;
  }

  /**
   * The records counted in a records field of `n` wire bytes at b[p] (`v` over b), the copied bytes
   * ending at `e`: -2 when a batch header could not be read or is malformed (the count is unknown),
   * DECLINE when the field does not fit there. The position after the field goes in `at`. A field
   * of one whole magic 2 batch, what producers send per partition, is read here; the rest is
   * countRecords' (records.ts), which counts that one the same, or walked's when a gap lies in it.
   */
  records(b: Uint8Array, v: DataView, p: number, n: number, e: number): number {
    if (this.gapNext < this.gapCount && this.gapAt[this.gapNext]! < p + n) return this.walked(v, p, n, e);
    if (p + n > e) return DECLINE;
    this.at = p + n;
    if (n >= BATCH_HEADER_SIZE && p + BATCH_HEADER_SIZE <= e && v.getInt8(p + MAGIC_OFFSET) === 2 && v.getInt32(p + 8) === n - LOG_OVERHEAD) {
      return Math.max(0, v.getInt32(p + RECORD_COUNT_AT));
    }
    this.bytes = b;
    this.end = e;
    const summary = countRecordsInto(this.summary, this, p, n);
    return summary.complete && !summary.malformed ? summary.records : -2;
  }

  /**
   * records() for a field with gaps, batch by batch as the capture walks it (the 12 bytes of base
   * offset and length, the header's next 49 bytes copied, the rest skipped; a length past the field
   * stands for the rest of it) and counting as countRecords does. Each batch is either copied whole
   * or followed by a gap of exactly its uncopied bytes (and what the gap skips); else -1.
   */
  private walked(v: DataView, p: number, n: number, e: number): number {
    let c = p;
    let pos = 0;
    let records = 0;
    let counting = true;
    let malformed = false;
    while (pos < n) {
      const left = n - pos;
      const gap = this.gapNext < this.gapCount ? this.gapAt[this.gapNext]! : Infinity;
      if (left < LOG_OVERHEAD) {
        if (gap < c + left || c + left > e) return DECLINE;
        c += left;
        break;
      }
      if (gap < c + LOG_OVERHEAD || c + LOG_OVERHEAD > e) return DECLINE;
      const size = v.getInt32(c + 8);
      const rest = size < 0 || size > left - LOG_OVERHEAD ? left - LOG_OVERHEAD : size;
      const copied = LOG_OVERHEAD + Math.min(rest, BATCH_HEADER_SIZE - LOG_OVERHEAD);
      let next: number;
      if (copied < LOG_OVERHEAD + rest && gap === c + copied && this.gaps.len[this.gapNext] === LOG_OVERHEAD + rest - copied) {
        next = c + copied + this.gaps.skip[this.gapNext]!;
        this.gapNext++;
      } else if (gap >= c + LOG_OVERHEAD + rest) {
        next = c + LOG_OVERHEAD + rest;
      } else {
        return DECLINE;
      }
      if (next > e) return DECLINE;
      if (counting) {
        // As countRecordsInto: a partial last batch ends the count; a malformed one makes it unknown.
        const magic = left < MAGIC_OFFSET + 1 ? -1 : v.getInt8(c + MAGIC_OFFSET);
        if (left < MAGIC_OFFSET + 1 || (size >= 0 && size > left - LOG_OVERHEAD)) counting = false;
        else if (magic === 2 && size >= BATCH_HEADER_SIZE - LOG_OVERHEAD) records += Math.max(0, v.getInt32(c + RECORD_COUNT_AT));
        else if (size >= 0 && (magic === 0 || magic === 1)) records++;
        else counting = !(malformed = true);
      }
      pos += LOG_OVERHEAD + rest;
      c = next;
    }
    this.at = c;
    return malformed ? -2 : records;
  }

  locate(at: number, n: number): Uint8Array | null {
    if (at + n > this.end) return null;
    this.located = at;
    return this.bytes;
  }
}

const READ: Record<string, [number, string]> = {
  bool: [1, 'b[p] !== 0'],
  int8: [1, 'v.getInt8(p)'],
  int16: [2, 'v.getInt16(p)'],
  uint16: [2, 'v.getUint16(p)'],
  int32: [4, 'v.getInt32(p)'],
  uint32: [4, 'v.getUint32(p)'],
  int64: [8, 'H.n64(v, p)'],
  float64: [8, 'v.getFloat64(p)'],
  uuid: [16, 'H.uuid(b, p)'],
};

class LaneGenerator {
  private depth = 0;
  /** Locals the generated code assigns (captures, and `<capture>Bytes` of records fields). */
  readonly locals = new Set<string>();

  constructor(private readonly version: number, private readonly flexible: boolean, private readonly shape: LaneShape) {}

  private present(fields: readonly FieldSpec[]): FieldSpec[] {
    return presentFields(fields, this.version, this.flexible);
  }

  /** Whether anything under `path` is captured or hooked. */
  needed(path: string): boolean {
    const under = (k: string): boolean => k === path || k.startsWith(`${path}.`);
    return Object.keys(this.shape.capture).some(under) || Object.keys(this.shape.each).some(under);
  }

  /**
   * The top struct's fields, up to the last one the lane or the projection needs, as the schema
   * decoder's projected body (body-compiler.ts) goes. One that ends with the body (no field or
   * tagged section after it) must end at the frame's end, as that path checks ('trailing'). One that
   * needs a tagged field of the top struct (Fetch's ReplicaState, a follower's) reads the whole body,
   * as that path does: with the tagged section empty (the field at its default, a consumer's), the
   * lane takes it; else that path does.
   */
  top(fields: readonly FieldSpec[]): string[] {
    const keep = this.shape.keep;
    const stop = projectionStop(fields, this.version, this.flexible, (f) => this.needed(f.n) || wantedField(f, keep, this.version));
    if (!stop) return [...this.struct(fields, ''), 'if (p !== e) return -1;'];
    const lines = stop.fields.flatMap((f) => this.field(f, f.n));
    if (stop.whole) lines.push('if (p !== e) return -1;');
    return lines;
  }

  /** A struct's fields at `path` ('' for the top struct), then its tagged section. */
  private struct(fields: readonly FieldSpec[], path: string): string[] {
    const lines = this.present(fields).flatMap((f) => this.field(f, path === '' ? f.n : `${path}.${f.n}`));
    // A tagged field present is rare in these bodies: the schema decoder's path takes it.
    if (this.flexible) lines.push('if (p >= e || b[p] !== 0) return -1;', 'p++;');
    return lines;
  }

  /** Reads a length into `n`: compact (unsigned varint minus one) or int16/int32; -1 is null. */
  private length(compact: boolean, width: 2 | 4): string[] {
    if (compact) {
      return [
        'if (p >= e) return -1;',
        'n = b[p];',
        'if (n < 128) p++; else { n = H.uv(b, p, e); if (n < 0) return -1; p = H.at; }',
        'n -= 1;',
      ];
    }
    return [`if (p + ${width} > e) return -1;`, `n = ${READ[width === 2 ? 'int16' : 'int32']![1]};`, `p += ${width};`];
  }

  private field(f: FieldSpec, path: string): string[] {
    const compact = f.fx !== undefined ? inRange(f.fx, this.version) : this.flexible;
    const nullable = inRange(f.nv, this.version);
    const local = this.shape.capture[path];
    if (local !== undefined) this.locals.add(local);
    const lines = [`// ${literal(path)}`];
    if (f.a) {
      lines.push(...this.length(compact, 4), 'if (n < -1 || p + Math.max(n, 0) > e) return -1;');
      if (f.t !== 'struct') {
        const w = READ[f.t]?.[0];
        if (w !== undefined) lines.push(`if (n > 0) { if (p + n * ${w} > e) return -1; p += n * ${w}; }`);
        else lines.push(`for (let i = 0, m = n; i < m; i++) { ${this.skipVariable(f.t, compact, false).join(' ')} }`);
        return lines;
      }
      const hook = this.shape.each[path];
      // The schema decoder keeps a null array as null: no elements, which the lane does not report.
      if (hook !== undefined) lines.push('if (n < 0) return -1;');
      const i = `i${this.depth}`;
      const m = `m${this.depth}`;
      this.depth++;
      const body = this.struct(f.f ?? [], path);
      this.depth--;
      lines.push(`for (let ${i} = 0, ${m} = n; ${i} < ${m}; ${i}++) {`, ...body, ...(hook === undefined ? [] : [hook]), '}');
      return lines;
    }
    if (f.t === 'struct') {
      if (nullable) lines.push('if (p >= e) return -1;', 'if (b[p++] >= 128) {} else {', ...this.struct(f.f ?? [], path), '}');
      else lines.push(...this.struct(f.f ?? [], path));
      return lines;
    }
    const fixed = READ[f.t];
    if (fixed) {
      const [w, read] = fixed;
      lines.push(`if (p + ${w} > e) return -1;`);
      if (local !== undefined) lines.push(`${local} = ${read};`);
      // An int64 past 2^53 is the schema decoder's (its BigInt is exact).
      if (local !== undefined && f.t === 'int64') lines.push(`if (${local} !== ${local}) return -1;`);
      lines.push(`p += ${w};`);
      return lines;
    }
    if (f.t === 'records') {
      // A records field reads as its record count and its size in bytes; null as -1 and 0. Its
      // record data may be a walked frame's gap: H.records steps over it (H.at).
      lines.push(...this.length(compact, 4), 'if (n < -1) return -1;');
      if (local === undefined) return [...lines, `if (n > 0) { if (H.records(b, v, p, n, e) === ${DECLINE}) return -1; p = H.at; }`];
      this.locals.add(`${local}Bytes`);
      lines.push(`if (n < 0) { ${local} = -1; ${local}Bytes = 0; } else { ${local} = H.records(b, v, p, n, e); if (${local} === ${DECLINE}) return -1; ${local}Bytes = n; p = H.at; }`);
      return lines;
    }
    if (local === undefined) return [...lines, ...this.skipVariable(f.t, compact, nullable)];
    lines.push(...this.length(compact, f.t === 'string' ? 2 : 4), 'if (n < -1 || p + n > e) return -1;');
    if (f.t === 'string') lines.push(`if (n < 0) { ${nullable ? `${local} = null;` : 'return -1;'} } else { ${local} = H.str(b, v, p, n, ${helpers.site()}); p += n; }`);
    else throw new Error(`the lane cannot capture a ${f.t} field (${path})`);
    return lines;
  }

  /** Steps over a string or bytes field with the checks decoding it makes. */
  private skipVariable(t: string, compact: boolean, nullable: boolean): string[] {
    const nullCheck = nullable ? 'n < -1' : 'n < 0';
    return [...this.length(compact, t === 'string' ? 2 : 4), `if (${nullCheck} || p + n > e) return -1;`, 'if (n > 0) p += n;'];
  }
}

const helpers = new LaneHelpers();

/** Compiles a lane body of `spec` at `version` (which must be in spec.valid), or finds it compiled. */
export function compileLaneBody<P, X>(spec: MessageSpec, version: number, shape: LaneShape): LaneBody<P, X> {
  const key = JSON.stringify([spec.name, version, shape.capture, shape.each, shape.end, shape.declare ?? [], [...shape.keep].sort()]);
  return cached(`lane-body ${key}`, () => generateLaneBody<P, X>(spec, version, shape));
}

const SKIP_CHECK = /^if \(p \+ (\d+) > e\) return -1;$/;

/**
 * Fixed-size fields stepped over one after another become one check and one step: nothing happens
 * between them, and the frame is too short for the run exactly when it is too short for one of them.
 */
function coalesceSkips(lines: readonly string[]): string[] {
  const out: string[] = [];
  /** The run's fields' comments, and those read since (of the run's next field, or of what follows it). */
  let runComments: string[] = [];
  let comments: string[] = [];
  let run = 0;
  const flush = (): void => {
    if (run > 0) out.push(...runComments, `if (p + ${run} > e) return -1;`, `p += ${run};`);
    out.push(...comments);
    runComments = [];
    comments = [];
    run = 0;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const check = SKIP_CHECK.exec(line);
    if (check && lines[i + 1] === `p += ${check[1]};`) {
      run += Number(check[1]);
      runComments.push(...comments);
      comments = [];
      i++;
    } else if (line.startsWith('//')) {
      comments.push(line);
    } else {
      flush();
      out.push(line);
    }
  }
  flush();
  return out;
}

function generateLaneBody<P, X>(spec: MessageSpec, version: number, shape: LaneShape): LaneBody<P, X> {
  const gen = new LaneGenerator(version, inRange(spec.flexible, version), shape);
  const body = coalesceSkips(gen.top(spec.fields));
  const source = [
    'return function laneBody(b, v, p, e, P, X) {',
    `let n = 0, k = 0${[...new Set([...Object.values(shape.capture), ...(shape.declare ?? []), ...gen.locals])].map((l) => `, ${l}`).join('')};`,
    ...body,
    shape.end,
    'return p;',
    '};',
  ].join('\n');
  return compile<LaneBody<P, X>>(['H'], source, [helpers]);
}

/** The gaps of the walked frame the lane reads next (fast-lane.ts); undefined: none. */
export const setLaneGaps = (gaps: WalkGaps | undefined): void => helpers.setGaps(gaps ?? NO_GAPS);
/** Whether the gaps before `p` were all stepped over as batch data; see LaneHelpers.gapsBefore. */
export const laneGapsBefore = (p: number): boolean => helpers.gapsBefore(p);

/** A non-negative count as the runtime's BigInt, from a table when small. */
export const laneBig = (x: number): bigint => helpers.big(x);

/** A string reader for one site of the lane's own code (LaneHelpers.str). */
export function laneString(): (b: Uint8Array, v: DataView, p: number, n: number) => string {
  const site = helpers.site();
  return (b, v, p, n) => helpers.str(b, v, p, n, site);
}
