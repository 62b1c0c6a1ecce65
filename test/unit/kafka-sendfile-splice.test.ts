// A broker's Fetch response as its capture delivers it: the structure written and copied, each
// partition's record batches sent with sendfile(2) from a log segment, which the capture reports as a
// KC_F_FILE record (file, offset, count). The decoder reads the batch headers back from the file (a
// fake CaptureFiles here) and counts every partition's records exactly, however the sendfile calls
// split the batches; a file that is gone leaves them unknown, counted, never 0.
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BATCH_HEADER, FileSplice, HEADER_SLOT, ProcFiles, type CaptureFiles } from '../../src/kafka/capture/files.js';
import { CAPTURE_AT, CAPTURE_FILE_SIZE, CAPTURE_HEADER_SIZE, decodeCaptureRecord, encodeCaptureRecord, FILE_AT, type CaptureFile, type CaptureRecord } from '../../src/kafka/capture/record.js';
import { KafkaDecoder, type KafkaExchange } from '../../src/kafka/index.js';
import { rng } from '../helpers/seeded.js';
import { concat, recordBatch, requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';

const SEED = Number(process.env['SEED'] ?? Date.now() % 1_000_000_007);
const PID = 4321;
const SEGMENT_FD = 211;
const DEV = 2049;
const INO = 778899n;
/** Where the batches lie in the segment file: after other partitions' data. */
const FILE_BASE = 123_457;

const identity = {
  pid: PID, tid: PID + 1, comm: 'data-plane-kafka', fd: 1033, conn: 55n, family: 4 as const,
  laddr: '127.0.0.1', lport: 9092, raddr: '127.0.0.1', rport: 48000, origin: 'accept' as const,
};

interface Partition {
  index: number;
  batches: Uint8Array[];
  records: number;
}

function partitions(random: () => number): Partition[] {
  return Array.from({ length: 5 }, (_, index) => {
    const batches: Uint8Array[] = [];
    let records = 0;
    let offset = 0n;
    for (let b = 0; b < 1 + Math.floor(random() * 4); b++) {
      const n = 1 + Math.floor(random() * 50);
      batches.push(recordBatch({ baseOffset: offset, records: n, payload: 1 + Math.floor(random() * 3000) }));
      offset += BigInt(n);
      records += n;
    }
    return { index, batches, records };
  });
}

/** A fake segment: the batches of every partition end to end, at FILE_BASE. */
class FakeFiles implements CaptureFiles {
  reads = 0;
  closed = false;
  /** Reads that fail before the file reads again (an fd closed, then the same segment opened again there). */
  failing = 0;
  /** Headers answered per call at most, as batchHeaders stops after its limit: the splice asks again. */
  perCall = Infinity;
  constructor(private readonly bytes: Uint8Array | undefined, private readonly ino = INO) {}
  headers(pid: number, fd: number, dev: number, ino: bigint, pos: number, end: number): Uint8Array | undefined {
    this.reads++;
    if (this.failing > 0 && this.failing--) return undefined;
    if (!this.bytes || pid !== PID || fd !== SEGMENT_FD || dev !== DEV || ino !== this.ino) return undefined;
    // The walk batchHeaders makes (src/native/kt_files.cc), over the fake's bytes.
    const slots: Uint8Array[] = [];
    for (let at = pos - FILE_BASE; at >= 0 && at < this.bytes.length && at + FILE_BASE < end && slots.length < this.perCall; ) {
      const header = this.bytes.subarray(at, Math.min(this.bytes.length, at + BATCH_HEADER));
      const slot = new Uint8Array(HEADER_SLOT);
      slot.set(header);
      slot[BATCH_HEADER] = header.length;
      slots.push(slot);
      const length = header.length < BATCH_HEADER ? -1 : new DataView(header.buffer, header.byteOffset).getInt32(8);
      if (length < 0) break;
      at += 12 + length;
    }
    return slots.length === 0 ? undefined : concat(...slots);
  }
  close(): void {
    this.closed = true;
  }
}

/**
 * Records as the broker's capture hands them: the request read, the response's structure written
 * (cut every `cut` bytes), and each partition's records as KC_F_FILE records, split at random points.
 */
function brokerRecords(parts: Partition[], random: () => number, cut: number): { records: Uint8Array[]; segment: Uint8Array } {
  const request = requestFrame(1, 12, 42, 'consumer-1', {
    ReplicaId: -1, MaxWaitMs: 500, MinBytes: 1, MaxBytes: 1 << 24, IsolationLevel: 0, SessionId: 0, SessionEpoch: -1,
    Topics: [{ Topic: 'orders', Partitions: parts.map((p) => ({ Partition: p.index, CurrentLeaderEpoch: -1, FetchOffset: 0n, LogStartOffset: -1, PartitionMaxBytes: 1 << 20 })) }],
    ForgottenTopicsData: [], RackId: '',
  });
  const response = responseFrame(1, 12, 42, {
    ThrottleTimeMs: 0, ErrorCode: 0, SessionId: 7,
    Responses: [{ Topic: 'orders', Partitions: parts.map((p) => ({
      PartitionIndex: p.index, ErrorCode: 0, HighWatermark: BigInt(p.records), LastStableOffset: BigInt(p.records), LogStartOffset: 0n,
      AbortedTransactions: null, PreferredReadReplica: -1, Records: concat(...p.batches),
    })) }],
  } as never);
  const segment = concat(...parts.flatMap((p) => p.batches));
  const out: Uint8Array[] = [encodeCaptureRecord({ ...identity, dir: 'in', ts: 1n, skipped: 0, data: request })];
  let offset = 0;
  const written = (data: Uint8Array): void => {
    for (let at = 0; at < data.length; at += cut) {
      const piece = data.subarray(at, Math.min(data.length, at + cut));
      out.push(encodeCaptureRecord({ ...identity, dir: 'out', ts: 2n, offset: BigInt(offset), skipped: 0, data: piece }));
      offset += piece.length;
    }
  };
  const buf = Buffer.from(response);
  let pos = 0;
  let fileAt = FILE_BASE;
  for (const p of parts) {
    const records = concat(...p.batches);
    const at = buf.indexOf(Buffer.from(records), pos);
    expect(at).toBeGreaterThan(pos);
    written(response.subarray(pos, at));
    // sendfile returns short when the socket buffer fills: the rest goes in the next call.
    for (let sent = 0; sent < records.length; ) {
      const n = random() < 0.5 ? records.length - sent : 1 + Math.floor(random() * (records.length - sent));
      const file: CaptureFile = { pos: fileAt + sent, count: n, ino: INO, dev: DEV, inFd: SEGMENT_FD };
      out.push(encodeCaptureRecord({ ...identity, dir: 'out', ts: 3n, offset: BigInt(offset), skipped: 0, data: new Uint8Array(0), file }));
      offset += n;
      sent += n;
    }
    fileAt += records.length;
    pos = at + records.length;
  }
  written(response.subarray(pos));
  return { records: out, segment };
}

function pack(records: Uint8Array[]): Uint8Array {
  return concat(...records);
}

function decode(records: Uint8Array[], files: CaptureFiles): { exchanges: KafkaExchange[]; decoder: KafkaDecoder } {
  const exchanges: KafkaExchange[] = [];
  const decoder = new KafkaDecoder({ onExchange: (e) => exchanges.push(e), files });
  decoder.pushCapture(pack(records));
  return { exchanges, decoder };
}

describe('Fetch record batches sent with sendfile(2)', () => {
  it(`are read back from the file: every partition's records exact, however sendfile split them (seed ${SEED})`, () => {
    const random = rng(SEED);
    for (let round = 0; round < 20; round++) {
      const parts = partitions(random);
      const { records, segment } = brokerRecords(parts, random, 1 + Math.floor(random() * 200));
      const files = new FakeFiles(segment);
      files.perCall = round % 2 === 0 ? Infinity : 1 + Math.floor(random() * 3);
      const { exchanges, decoder } = decode(records, files);
      expect(exchanges, `seed ${SEED}`).toHaveLength(1);
      const ex = exchanges[0]!;
      expect(ex).toMatchObject({ api: 'Fetch', status: 'complete', role: 'broker' });
      for (const p of parts) {
        expect(ex.items[p.index], `seed ${SEED} partition ${p.index}`).toMatchObject({ topic: 'orders', partition: p.index, records: p.records, incomplete: false });
      }
      expect(decoder.counters().sendfileUnread).toBe(0);
      expect(decoder.counters().framesFailed).toEqual({});
      decoder.closeAll();
      expect(files.closed).toBe(true);
    }
  });

  it('whose file is gone (fd closed or reused for another inode) leave those records unknown, counted, never 0', () => {
    const random = rng(SEED);
    const parts = partitions(random);
    const { records, segment } = brokerRecords(parts, () => 0.1, 4096);
    for (const files of [new FakeFiles(undefined), new FakeFiles(segment, INO + 1n)]) {
      const { exchanges, decoder } = decode(records, files);
      const ex = exchanges[0]!;
      expect(ex).toMatchObject({ api: 'Fetch', status: 'complete' });
      for (const p of parts) {
        expect(ex.items[p.index]).toMatchObject({ partition: p.index, incomplete: true });
        expect(ex.items[p.index]!.records).toBeUndefined();
      }
      expect(decoder.counters().sendfileUnread).toBe(parts.length);
    }
  });

  it('a batch header cut by the end of one sendfile goes on in the next', () => {
    const batch = recordBatch({ baseOffset: 10n, records: 7, payload: 500 });
    const files = new FakeFiles(batch);
    const splice = new FileSplice(files);
    const record = (offset: number, pos: number, count: number, skipped = 0): CaptureRecord => ({
      ...identity, tid: 1, dir: 'out', ts: 1n, offset: BigInt(offset), skipped, resync: false, loss: false, close: false,
      data: new Uint8Array(0), file: { pos: FILE_BASE + pos, count, ino: INO, dev: DEV, inFd: SEGMENT_FD },
    });
    expect(splice.pieces(record(100, 0, 30, 5)).map((p) => [p.skipped, [...p.data]])).toEqual([[5, [...batch.subarray(0, 30)]]]);
    const rest = splice.pieces(record(130, 30, batch.length - 30));
    expect(rest.map((p) => [p.skipped, [...p.data]])).toEqual([[0, [...batch.subarray(30, 61)]], [batch.length - 61, []]]);
    // Not contiguous in the stream: a new batch is looked for where the bytes start.
    const again = splice.pieces(record(9999, 0, 20));
    expect(again.map((p) => [p.skipped, p.data.length])).toEqual([[0, 20]]);
    expect(files.reads).toBe(2);
  });

  it('a file that cannot be read mid-batch leaves the rest of that batch skipped, never read as a batch start', () => {
    const batch = recordBatch({ baseOffset: 0n, records: 3, payload: 900 });
    const files = new FakeFiles(batch);
    const splice = new FileSplice(files);
    const record = (offset: number, pos: number, count: number): CaptureRecord => ({
      ...identity, tid: 1, dir: 'out', ts: 1n, offset: BigInt(offset), skipped: 0, resync: false, loss: false, close: false,
      data: new Uint8Array(0), file: { pos: FILE_BASE + pos, count, ino: INO, dev: DEV, inFd: SEGMENT_FD },
    });
    files.failing = 1;
    expect(splice.pieces(record(0, 0, 100))).toEqual([{ skipped: 100, data: new Uint8Array(0) }]);
    expect(splice.unread).toBe(1);
    // The rest follows it directly: skipped whole, though bytes 100.. of the file would read as some batch's header.
    expect(splice.pieces(record(100, 100, batch.length - 100))).toEqual([{ skipped: batch.length - 100, data: new Uint8Array(0) }]);
    expect(files.reads).toBe(1);
    // Past that batch, a file record not following it starts at a batch again.
    expect(splice.pieces(record(5000, 0, 61)).map((p) => p.data.length)).toEqual([61]);
  });
});

describe('the capture structs', () => {
  const header = readFileSync(new URL('../../bpf-templates/kafka-capture.h', import.meta.url), 'utf8');
  /** A struct's fields and the byte offsets its comments give (`type name; /* N: ...`), and its size (its last comment's N). */
  const layout = (name: string): { at: Record<string, number>; size: number } => {
    const body = new RegExp(`struct ${name} \\{([^}]*)\\}`).exec(header)![1]!;
    const at = Object.fromEntries([...body.matchAll(/(\w+)(?:\[\d+\])?;\s*\/\* (\d+)(?::| \*\/)/g)].map((m) => [m[1]!.replace(/_(\w)/g, (_, c: string) => c.toUpperCase()), Number(m[2])]));
    return { at, size: Number(/\/\* (\d+)/.exec(body.slice(body.lastIndexOf('/*')))![1]) };
  };

  it('record.ts reads kc_file and kc_event at the offsets kafka-capture.h gives', () => {
    const file = layout('kc_file');
    expect(file.at).toEqual(FILE_AT);
    expect(file.size).toBe(CAPTURE_FILE_SIZE);
    const event = layout('kc_event');
    expect(Object.fromEntries(Object.entries(event.at).filter(([k]) => k !== 'pad'))).toEqual(CAPTURE_AT);
    expect(event.size).toBe(CAPTURE_HEADER_SIZE);
    // The C compiler checks the same offsets (_Static_assert), so the two cannot drift apart.
    expect(header).toContain('_Static_assert(sizeof(struct kc_file) == 32');
  });

  it('a file record round-trips, and one of the wrong size is refused', () => {
    const file: CaptureFile = { pos: 2 ** 40 + 3, count: 65536, ino: 2n ** 40n + 5n, dev: 0x10302, inFd: 77 };
    const record = encodeCaptureRecord({ ...identity, tid: 1, dir: 'out', ts: 9n, skipped: 4, data: new Uint8Array(0), file });
    const decoded = decodeCaptureRecord(record.subarray(4));
    expect(decoded).toMatchObject({ file, skipped: 4, resync: false });
    expect(decoded.data.length).toBe(0);
    const short = record.slice(4, record.length - 1);
    new DataView(short.buffer).setUint16(CAPTURE_AT.len, CAPTURE_FILE_SIZE - 1, true);
    expect(() => decodeCaptureRecord(short)).toThrow(/file record holds 31 data bytes, not 32/);
  });
});

describe('ProcFiles', () => {
  it('reads the batch headers of a file another fd of a process has open, only while that fd names the same regular file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kt-procfiles-'));
    const files = new ProcFiles();
    try {
      const path = join(dir, '00000000000000000000.log');
      const batches = [recordBatch({ baseOffset: 0n, records: 3, payload: 200 }), recordBatch({ baseOffset: 3n, records: 1, payload: 10 }), recordBatch({ baseOffset: 4n, records: 5, payload: 700 })];
      // The last batch cut 30 bytes into its header, as a segment being appended to may be.
      const segment = concat(batches[0]!, batches[1]!, batches[2]!.subarray(0, 30));
      writeFileSync(path, segment);
      const fd = openSync(path, 'r');
      const st = fstatSync(fd, { bigint: true });
      const dev = Number(st.dev);
      const slots = (got: Uint8Array | undefined): number[][] => {
        const out: number[][] = [];
        for (let at = 0; got && at < got.length; at += HEADER_SLOT) out.push([...got.subarray(at, at + got[at + BATCH_HEADER]!)]);
        return out;
      };
      const header = (b: Uint8Array, n = BATCH_HEADER): number[] => [...b.subarray(0, n)];
      // Another inode or device: not the file the capture saw.
      expect(files.headers(process.pid, fd, dev, st.ino + 1n, 0, segment.length)).toBeUndefined();
      expect(files.headers(process.pid, fd, dev + 1, st.ino, 0, segment.length)).toBeUndefined();
      // Batch after batch, the one cut short last, with what there is of it.
      expect(slots(files.headers(process.pid, fd, dev, st.ino, 0, segment.length))).toEqual([header(batches[0]!), header(batches[1]!), header(batches[2]!, 30)]);
      // Only the batches that start before the end asked for; from the second batch on.
      expect(slots(files.headers(process.pid, fd, dev, st.ino, 0, batches[0]!.length))).toEqual([header(batches[0]!)]);
      expect(slots(files.headers(process.pid, fd, dev, st.ino, batches[0]!.length, segment.length))).toEqual([header(batches[1]!), header(batches[2]!, 30)]);
      // At the file's end: nothing.
      expect(files.headers(process.pid, fd, dev, st.ino, segment.length, segment.length + 100)).toBeUndefined();
      // Not a regular file, or no such fd: nothing, and no throw.
      const devNull = openSync('/dev/null', 'r');
      const nullSt = fstatSync(devNull, { bigint: true });
      expect(files.headers(process.pid, devNull, Number(nullSt.dev), nullSt.ino, 0, 4)).toBeUndefined();
      closeSync(devNull);
      closeSync(fd);
      expect(files.headers(process.pid, 987_654, dev, st.ino, 0, 4)).toBeUndefined();
      // Held open once read: the segment stays readable after its fd is closed and the file deleted.
      rmSync(path);
      expect(slots(files.headers(process.pid, fd, dev, st.ino, 0, 1))).toEqual([header(batches[0]!)]);
    } finally {
      files.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops at a batch whose length is negative: its end is unknown', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kt-procfiles-'));
    const files = new ProcFiles();
    try {
      const path = join(dir, '00000000000000000000.log');
      const bad = recordBatch({ baseOffset: 0n, records: 1, payload: 10 });
      new DataView(bad.buffer, bad.byteOffset).setInt32(8, -5);
      const segment = concat(bad, recordBatch({ baseOffset: 1n, records: 1, payload: 10 }));
      writeFileSync(path, segment);
      const fd = openSync(path, 'r');
      const st = fstatSync(fd, { bigint: true });
      const got = files.headers(process.pid, fd, Number(st.dev), st.ino, 0, segment.length)!;
      expect(got.length).toBe(HEADER_SLOT);
      expect([...got.subarray(0, BATCH_HEADER)]).toEqual([...bad.subarray(0, BATCH_HEADER)]);
      closeSync(fd);
    } finally {
      files.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
