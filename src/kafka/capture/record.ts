// Decodes the records of bpf-templates/kafka-capture.bpf.c's `kafka_events` ring buffer (layout:
// struct kc_event in bpf-templates/kafka-capture.h, little-endian, data after a 104-byte header).
// A record is one contiguous piece of one direction of one TCP connection: `skipped` bytes passed
// uncopied before `data`, so a record feeds src/kafka/wire/stream.ts as `{ data, skipped }` unchanged;
// a KC_F_FILE record instead says which file a broker's sendfile(2) bytes came from (files.ts).
// Records arrive packed in batches (src/native/ring-records.ts); KafkaDecoder.pushCapture reads the
// header fields it needs in place (CAPTURE_AT), decodeCaptureRecord makes the whole record.
import { RECORD_PREFIX, ringRecords } from '../../native/ring-records.js';
import { KtError } from '../../errors.js';

export const CAPTURE_HEADER_SIZE = 104;
/** Most data bytes one record carries (KC_REC_CAP). */
export const CAPTURE_RECORD_CAP = 4096;

/** Byte offsets of kc_event's fields. */
export const CAPTURE_AT = {
  ts: 0, conn: 8, offset: 16, skipped: 24, pid: 32, tid: 36, fd: 40, len: 44, dir: 46, flags: 47, family: 48,
  lport: 50, rport: 52, origin: 54, laddr: 56, raddr: 72, comm: 88,
} as const;

/** kc_event's origin (KC_ORIGIN_* in bpf-templates/kafka-capture.h): index 1 connect, 2 accept. */
const ORIGINS = [undefined, 'connect', 'accept'] as const;

/** Bits of kc_event's flags (KC_F_* in bpf-templates/kafka-capture.h). */
export const CAPTURE_FLAGS = { resync: 1, close: 2, loss: 4, file: 8 } as const;

/** Byte offsets of struct kc_file's fields: the data of a KC_F_FILE record. */
export const FILE_AT = { pos: 0, count: 8, ino: 16, dev: 24, inFd: 28 } as const;
export const CAPTURE_FILE_SIZE = 32;

/**
 * Where the bytes of a KC_F_FILE record came from: `count` bytes of the stream, sent with sendfile(2)
 * from the file open as `inFd` in the sending process, from its offset `pos`.
 */
export interface CaptureFile {
  pos: number;
  count: number;
  /** The file's inode and device (as stat(2) reports them), to tell a reused fd apart. */
  ino: bigint;
  dev: number;
  inFd: number;
}
const AF_INET = 2;
const AF_INET6 = 10;

export interface CaptureRecord {
  pid: number;
  tid: number;
  comm: string;
  fd: number;
  /** Connection id: CLOCK_MONOTONIC ns when the capture first saw the connection (tells fd reuse apart). */
  conn: bigint;
  family: 4 | 6;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  /** 'out': written by the traced process; 'in': read by it. */
  dir: 'out' | 'in';
  /** CLOCK_MONOTONIC ns at the syscall's exit. */
  ts: bigint;
  /** Stream offset of data[0] in this direction, counted from when the capture first saw it. */
  offset: bigint;
  /** Bytes of this direction that passed uncopied since the previous record. */
  skipped: number;
  /** The capture assumes a frame starts at data[0] (joined mid-stream, or after lost records). */
  resync: boolean;
  /**
   * Records of this connection were lost since this direction's previous record: with resync, frames
   * of this direction before data[0]; without, of the other direction (whose responses may follow).
   */
  loss: boolean;
  /** The connection closed (no data). */
  close: boolean;
  /**
   * How the capture met the connection: this end connect()ed (a Kafka client: its requests go out)
   * or accept()ed (a broker: requests come in); absent when the capture joined it mid-stream.
   */
  origin?: 'connect' | 'accept';
  /** A KC_F_FILE record: `file.count` bytes of the stream went by sendfile(2) from this file (data is empty). */
  file?: CaptureFile;
  data: Uint8Array;
}

export class CaptureDecodeError extends KtError {
  override name = 'CaptureDecodeError';
  constructor(message: string) {
    super('capture-record', message);
  }
}

function ipv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** RFC 5952 text: lower case, longest run (2+) of zero groups as "::", IPv4-mapped as ::ffff:a.b.c.d. */
export function formatIpv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${ipv4(b.subarray(12))}`;
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(':');
  return `${hex.slice(0, bestAt).join(':')}::${hex.slice(bestAt + bestLen).join(':')}`;
}

const utf8 = new TextDecoder();

function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return utf8.decode(end < 0 ? b : b.subarray(0, end));
}

/**
 * Whether the header of the `size`-byte record at `start` of `dv` is sound: the checks
 * decodeCaptureRecord makes, for KafkaDecoder.pushCapture, which reads records in place (small
 * enough for the JIT to inline; captureHeaderError says what is wrong).
 */
export function captureHeaderSound(dv: DataView, start: number, size: number): boolean {
  if (size < CAPTURE_HEADER_SIZE || CAPTURE_HEADER_SIZE + dv.getUint16(start + CAPTURE_AT.len, true) > size) return false;
  const family = dv.getUint16(start + CAPTURE_AT.family, true);
  return (family === AF_INET || family === AF_INET6) && !fileMisfit(dv, start);
}

/** A KC_F_FILE record whose data is not one struct kc_file. */
const fileMisfit = (dv: DataView, start: number): boolean =>
  (dv.getUint8(start + CAPTURE_AT.flags) & CAPTURE_FLAGS.file) !== 0 && dv.getUint16(start + CAPTURE_AT.len, true) !== CAPTURE_FILE_SIZE;

/** The struct kc_file at `at` of `dv`. */
function captureFile(dv: DataView, at: number): CaptureFile {
  return {
    pos: Number(dv.getBigUint64(at + FILE_AT.pos, true)),
    count: Number(dv.getBigUint64(at + FILE_AT.count, true)),
    ino: dv.getBigUint64(at + FILE_AT.ino, true),
    dev: dv.getUint32(at + FILE_AT.dev, true),
    inFd: dv.getInt32(at + FILE_AT.inFd, true),
  };
}

/** What is wrong with the header of the `size`-byte record at `start` of `dv`; undefined when it is sound. */
function captureHeaderError(dv: DataView, start: number, size: number): string | undefined {
  if (captureHeaderSound(dv, start, size)) return undefined;
  if (size < CAPTURE_HEADER_SIZE) return `capture record of ${size} bytes is shorter than its ${CAPTURE_HEADER_SIZE}-byte header`;
  const len = dv.getUint16(start + CAPTURE_AT.len, true);
  if (CAPTURE_HEADER_SIZE + len > size) return `capture record says ${len} data bytes but holds ${size - CAPTURE_HEADER_SIZE}`;
  if (fileMisfit(dv, start)) return `capture file record holds ${len} data bytes, not ${CAPTURE_FILE_SIZE}`;
  return `capture record has unknown address family ${dv.getUint16(start + CAPTURE_AT.family, true)}`;
}

/** The `skipped` field of the record at `start` of `dv`. */
export const captureSkipped = (dv: DataView, start: number): number =>
  dv.getUint32(start + CAPTURE_AT.skipped, true) + dv.getUint32(start + CAPTURE_AT.skipped + 4, true) * 2 ** 32;

/** Decodes one record; `data` is a view into `record` (not a copy). */
export function decodeCaptureRecord(record: Uint8Array): CaptureRecord {
  const dv = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const error = captureHeaderError(dv, 0, record.length);
  if (error !== undefined) throw new CaptureDecodeError(error);
  const len = dv.getUint16(CAPTURE_AT.len, true);
  const family = dv.getUint16(CAPTURE_AT.family, true) === AF_INET ? 4 : 6;
  const addr = (at: number): string =>
    family === 4 ? ipv4(record.subarray(at, at + 4)) : formatIpv6(record.subarray(at, at + 16));
  const flags = dv.getUint8(CAPTURE_AT.flags);
  const origin = ORIGINS[dv.getUint8(CAPTURE_AT.origin)];
  const file = (flags & CAPTURE_FLAGS.file) !== 0 ? captureFile(dv, CAPTURE_HEADER_SIZE) : undefined;
  return {
    ts: dv.getBigUint64(CAPTURE_AT.ts, true),
    conn: dv.getBigUint64(CAPTURE_AT.conn, true),
    offset: dv.getBigUint64(CAPTURE_AT.offset, true),
    skipped: captureSkipped(dv, 0),
    pid: dv.getUint32(CAPTURE_AT.pid, true),
    tid: dv.getUint32(CAPTURE_AT.tid, true),
    fd: dv.getUint32(CAPTURE_AT.fd, true),
    dir: dv.getUint8(CAPTURE_AT.dir) === 0 ? 'out' : 'in',
    resync: (flags & CAPTURE_FLAGS.resync) !== 0,
    loss: (flags & CAPTURE_FLAGS.loss) !== 0,
    close: (flags & CAPTURE_FLAGS.close) !== 0,
    family,
    lport: dv.getUint16(CAPTURE_AT.lport, true),
    rport: dv.getUint16(CAPTURE_AT.rport, true),
    laddr: addr(CAPTURE_AT.laddr),
    raddr: addr(CAPTURE_AT.raddr),
    comm: cString(record.subarray(CAPTURE_AT.comm, CAPTURE_HEADER_SIZE)),
    ...(origin ? { origin } : {}),
    ...(file ? { file } : {}),
    data: file ? record.subarray(CAPTURE_HEADER_SIZE, CAPTURE_HEADER_SIZE) : record.subarray(CAPTURE_HEADER_SIZE, CAPTURE_HEADER_SIZE + len),
  };
}

/** The records of a packed batch; throws at the first that overruns the batch or does not decode. */
export function captureRecords(batch: Buffer): CaptureRecord[] {
  return ringRecords(batch).map(decodeCaptureRecord);
}

function addressBytes(family: 4 | 6, text: string): Uint8Array {
  const out = new Uint8Array(16);
  if (family === 4) {
    text.split('.').forEach((n, i) => (out[i] = Number(n)));
    return out;
  }
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(text);
  if (mapped) {
    out[10] = out[11] = 0xff;
    out.set(addressBytes(4, mapped[1]!).subarray(0, 4), 12);
    return out;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (s: string | undefined): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const before = groups(head);
  const after = groups(tail);
  const all = [...before, ...Array<number>(8 - before.length - after.length).fill(0), ...after];
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/**
 * The inverse of decodeCaptureRecord (what the capture program writes for `record`), packed with
 * its size as in a batch: tests and the bench feed the decoder what a drain of the ring would.
 */
export function encodeCaptureRecord(record: Omit<CaptureRecord, 'offset' | 'resync' | 'loss' | 'close'> & Partial<Pick<CaptureRecord, 'offset' | 'resync' | 'loss' | 'close'>>): Uint8Array {
  const data = record.file ? fileBytes(record.file) : record.data;
  const size = CAPTURE_HEADER_SIZE + data.length;
  const out = new Uint8Array(RECORD_PREFIX + size);
  const dv = new DataView(out.buffer, RECORD_PREFIX);
  new DataView(out.buffer).setUint32(0, size, true);
  dv.setBigUint64(CAPTURE_AT.ts, record.ts, true);
  dv.setBigUint64(CAPTURE_AT.conn, record.conn, true);
  dv.setBigUint64(CAPTURE_AT.offset, record.offset ?? 0n, true);
  dv.setBigUint64(CAPTURE_AT.skipped, BigInt(record.skipped), true);
  dv.setUint32(CAPTURE_AT.pid, record.pid, true);
  dv.setUint32(CAPTURE_AT.tid, record.tid, true);
  dv.setUint32(CAPTURE_AT.fd, record.fd, true);
  dv.setUint16(CAPTURE_AT.len, data.length, true);
  dv.setUint8(CAPTURE_AT.dir, record.dir === 'out' ? 0 : 1);
  dv.setUint8(CAPTURE_AT.flags, (record.resync ? CAPTURE_FLAGS.resync : 0) | (record.loss ? CAPTURE_FLAGS.loss : 0) | (record.close ? CAPTURE_FLAGS.close : 0) | (record.file ? CAPTURE_FLAGS.file : 0));
  dv.setUint16(CAPTURE_AT.family, record.family === 4 ? AF_INET : AF_INET6, true);
  dv.setUint16(CAPTURE_AT.lport, record.lport, true);
  dv.setUint16(CAPTURE_AT.rport, record.rport, true);
  dv.setUint8(CAPTURE_AT.origin, record.origin ? ORIGINS.indexOf(record.origin) : 0);
  const body = out.subarray(RECORD_PREFIX);
  body.set(addressBytes(record.family, record.laddr), CAPTURE_AT.laddr);
  body.set(addressBytes(record.family, record.raddr), CAPTURE_AT.raddr);
  body.set(new TextEncoder().encode(record.comm).subarray(0, 15), CAPTURE_AT.comm);
  body.set(data, CAPTURE_HEADER_SIZE);
  return out;
}

/** A struct kc_file's bytes. */
function fileBytes(file: CaptureFile): Uint8Array {
  const out = new Uint8Array(CAPTURE_FILE_SIZE);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(FILE_AT.pos, BigInt(file.pos), true);
  dv.setBigUint64(FILE_AT.count, BigInt(file.count), true);
  dv.setBigUint64(FILE_AT.ino, file.ino, true);
  dv.setUint32(FILE_AT.dev, file.dev, true);
  dv.setInt32(FILE_AT.inFd, file.inFd, true);
  return out;
}
