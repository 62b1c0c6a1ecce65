// Decodes the records of bpf-templates/kafka-capture.bpf.c's `kafka_events` ring buffer (layout:
// struct kc_event in bpf-templates/kafka-capture.h, little-endian, data after a 104-byte header).
// A record is one contiguous piece of one direction of one TCP connection: `skipped` bytes passed
// uncopied before `data`, so a record feeds src/kafka/stream.ts as `{ data, skipped }` unchanged.

export const CAPTURE_HEADER_SIZE = 104;
/** Most data bytes one record carries (KC_REC_CAP). */
export const CAPTURE_RECORD_CAP = 4096;

const F_RESYNC = 1;
const F_CLOSE = 2;
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
  /** The connection closed (no data). */
  close: boolean;
  data: Uint8Array;
}

export class CaptureDecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CaptureDecodeError';
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

function cString(b: Uint8Array): string {
  const end = b.indexOf(0);
  return new TextDecoder().decode(end < 0 ? b : b.subarray(0, end));
}

/** Decodes one record; `data` is a view into `record` (not a copy). */
export function decodeCaptureRecord(record: Uint8Array): CaptureRecord {
  if (record.length < CAPTURE_HEADER_SIZE) {
    throw new CaptureDecodeError(`capture record of ${record.length} bytes is shorter than its ${CAPTURE_HEADER_SIZE}-byte header`);
  }
  const dv = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const len = dv.getUint16(44, true);
  if (CAPTURE_HEADER_SIZE + len > record.length) {
    throw new CaptureDecodeError(`capture record says ${len} data bytes but holds ${record.length - CAPTURE_HEADER_SIZE}`);
  }
  const familyCode = dv.getUint16(48, true);
  if (familyCode !== AF_INET && familyCode !== AF_INET6) {
    throw new CaptureDecodeError(`capture record has unknown address family ${familyCode}`);
  }
  const family = familyCode === AF_INET ? 4 : 6;
  const addr = (at: number): string =>
    family === 4 ? ipv4(record.subarray(at, at + 4)) : formatIpv6(record.subarray(at, at + 16));
  const flags = dv.getUint8(47);
  return {
    ts: dv.getBigUint64(0, true),
    conn: dv.getBigUint64(8, true),
    offset: dv.getBigUint64(16, true),
    skipped: Number(dv.getBigUint64(24, true)),
    pid: dv.getUint32(32, true),
    tid: dv.getUint32(36, true),
    fd: dv.getUint32(40, true),
    dir: dv.getUint8(46) === 0 ? 'out' : 'in',
    resync: (flags & F_RESYNC) !== 0,
    close: (flags & F_CLOSE) !== 0,
    family,
    lport: dv.getUint16(50, true),
    rport: dv.getUint16(52, true),
    laddr: addr(56),
    raddr: addr(72),
    comm: cString(record.subarray(88, 104)),
    data: record.subarray(CAPTURE_HEADER_SIZE, CAPTURE_HEADER_SIZE + len),
  };
}
