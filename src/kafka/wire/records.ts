// Summaries of record data (the `records` field of Produce requests and Fetch responses): batch
// headers only. Records are never decompressed or decoded: only sizes and counts reach output.
import { int32At } from './reader.js';

const COMPRESSION = ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const;

/** A record batch header (magic 2). */
export interface RecordBatchHeader {
  baseOffset: bigint;
  /** Bytes after the length field. */
  batchLength: number;
  partitionLeaderEpoch: number;
  magic: number;
  /** CRC-32C as an unsigned number. */
  crc: number;
  attributes: number;
  compression: (typeof COMPRESSION)[number] | 'unknown';
  timestampType: 'create' | 'log_append';
  transactional: boolean;
  control: boolean;
  lastOffsetDelta: number;
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  baseSequence: number;
  recordCount: number;
}

export interface RecordsSummary {
  /** Declared size of the record data in bytes. */
  bytes: number;
  /** Records counted in the batches (or magic 0/1 messages) whose headers were copied. */
  records: number;
  /**
   * Offsets those batches span: each batch's last offset delta + 1 (a magic 0/1 message, 1); -1
   * when not read. A Produce's batches end at the base offset the broker assigned plus this.
   */
  offsets: number;
  /** Magic of the first batch or message set; -1 when empty or not copied. */
  magic: number;
  /** Batch headers seen (magic 2); empty from countRecords. */
  batches: RecordBatchHeader[];
  /** Whether every batch header in the declared size was copied (else `records` is a lower bound). */
  complete: boolean;
  /** A batch header was structurally impossible: the walk stopped there (`records` is a lower bound). */
  malformed: boolean;
}

/**
 * The copied bytes [at, at + n) of a records field, as a view and the index of `at` in it; null when
 * not all of them were copied. The capture copies each batch's header and skips its records, so the
 * copied parts of a records field can be far apart.
 */
export type RecordWindow = (at: number, n: number) => { view: DataView; index: number } | null;

/** Batch headers kept per records field (the count covers them all). */
const MAX_BATCHES = 64;
/** Size of a magic 2 batch header. */
export const BATCH_HEADER_SIZE = 61;
/** Where a magic 2 batch header holds its last offset delta. */
const LAST_OFFSET_DELTA_AT = 23;
/** Where a magic 2 batch header holds its record count. */
export const RECORD_COUNT_AT = 57;
/** base offset (8) + length (4): the prefix common to batches and magic 0/1 messages. */
export const LOG_OVERHEAD = 12;
/** Magic 0/1 message: offset (8) + size (4) + crc (4) + magic (1) + attributes (1). */
export const MAGIC_OFFSET = 16;

/**
 * Walks batches in `data`, the copied first part of a records field of `declared` bytes.
 * Stops at the first header not fully copied, or at a structurally impossible one.
 */
export function summarizeRecords(data: Uint8Array, declared: number): RecordsSummary {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return summarizeRecordWindows((at, n) => (at + n <= data.length ? { view, index: at } : null), declared);
}

/**
 * Walks batches by their lengths through a records field of `declared` bytes of which only some
 * windows were copied: each batch's header must be copied, its records need not be.
 */
export function summarizeRecordWindows(window: RecordWindow, declared: number): RecordsSummary {
  const summary: RecordsSummary = { bytes: declared, records: 0, offsets: 0, magic: -1, batches: [], complete: true, malformed: false };
  let pos = 0;
  while (pos < declared) {
    // A trailing partial batch is normal (the broker cuts Fetch data at max bytes).
    if (declared - pos < MAGIC_OFFSET + 1) break;
    const prefix = window(pos, MAGIC_OFFSET + 1);
    if (!prefix) {
      summary.complete = false;
      break;
    }
    const size = prefix.view.getInt32(prefix.index + 8);
    if (size < 0) {
      summary.malformed = true;
      break;
    }
    if (pos + LOG_OVERHEAD + size > declared) break;
    const magic = prefix.view.getInt8(prefix.index + MAGIC_OFFSET);
    if (summary.magic === -1) summary.magic = magic;
    if (magic === 2) {
      const header = LOG_OVERHEAD + size >= BATCH_HEADER_SIZE ? window(pos, BATCH_HEADER_SIZE) : null;
      if (LOG_OVERHEAD + size < BATCH_HEADER_SIZE) {
        summary.malformed = true;
        break;
      }
      if (!header) {
        summary.complete = false;
        break;
      }
      const batch = readBatchHeader(header.view, header.index);
      summary.records += Math.max(0, batch.recordCount);
      summary.offsets += Math.max(0, batch.lastOffsetDelta + 1);
      if (summary.batches.length < MAX_BATCHES) summary.batches.push(batch);
    } else if (magic === 0 || magic === 1) {
      summary.records += 1;
      summary.offsets += 1;
    } else {
      summary.malformed = true;
      break;
    }
    pos += LOG_OVERHEAD + size;
  }
  return summary;
}

/** Copied bytes of a frame, found without allocating: the array holding [at, at + n), `located` its index there. */
export interface CopiedBytes {
  locate(at: number, n: number): Uint8Array | null;
  readonly located: number;
}

/**
 * summarizeRecordWindows for the counts alone (batches stays empty), over the records field of
 * `declared` bytes at `start` of `src`: no DataView, window or batch header object per batch.
 */
export function countRecords(src: CopiedBytes, start: number, declared: number): RecordsSummary {
  return countRecordsInto({ bytes: declared, records: 0, offsets: 0, magic: -1, batches: [], complete: true, malformed: false }, src, start, declared);
}

/** countRecords into a summary of the caller's (reused by the fast lane: no object per field). */
export function countRecordsInto(summary: RecordsSummary, src: CopiedBytes, start: number, declared: number): RecordsSummary {
  summary.bytes = declared;
  summary.records = 0;
  summary.offsets = 0;
  summary.magic = -1;
  summary.complete = true;
  summary.malformed = false;
  let pos = 0;
  while (pos < declared) {
    if (declared - pos < MAGIC_OFFSET + 1) break;
    const prefix = src.locate(start + pos, MAGIC_OFFSET + 1);
    if (!prefix) {
      summary.complete = false;
      break;
    }
    const at = src.located;
    const size = int32At(prefix, at + 8);
    if (size < 0) {
      summary.malformed = true;
      break;
    }
    if (pos + LOG_OVERHEAD + size > declared) break;
    const magic = (prefix[at + MAGIC_OFFSET]! << 24) >> 24;
    if (summary.magic === -1) summary.magic = magic;
    if (magic === 2) {
      if (LOG_OVERHEAD + size < BATCH_HEADER_SIZE) {
        summary.malformed = true;
        break;
      }
      const header = src.locate(start + pos, BATCH_HEADER_SIZE);
      if (!header) {
        summary.complete = false;
        break;
      }
      summary.records += Math.max(0, int32At(header, src.located + RECORD_COUNT_AT));
      summary.offsets += Math.max(0, int32At(header, src.located + LAST_OFFSET_DELTA_AT) + 1);
    } else if (magic === 0 || magic === 1) {
      summary.records += 1;
      summary.offsets += 1;
    } else {
      summary.malformed = true;
      break;
    }
    pos += LOG_OVERHEAD + size;
  }
  return summary;
}

function readBatchHeader(view: DataView, pos: number): RecordBatchHeader {
  const attributes = view.getInt16(pos + 21);
  const codec = attributes & 0x07;
  return {
    baseOffset: view.getBigInt64(pos),
    batchLength: view.getInt32(pos + 8),
    partitionLeaderEpoch: view.getInt32(pos + 12),
    magic: view.getInt8(pos + 16),
    crc: view.getUint32(pos + 17),
    attributes,
    compression: COMPRESSION[codec] ?? 'unknown',
    timestampType: attributes & 0x08 ? 'log_append' : 'create',
    transactional: (attributes & 0x10) !== 0,
    control: (attributes & 0x20) !== 0,
    lastOffsetDelta: view.getInt32(pos + LAST_OFFSET_DELTA_AT),
    baseTimestamp: view.getBigInt64(pos + 27),
    maxTimestamp: view.getBigInt64(pos + 35),
    producerId: view.getBigInt64(pos + 43),
    producerEpoch: view.getInt16(pos + 51),
    baseSequence: view.getInt32(pos + 53),
    recordCount: view.getInt32(pos + RECORD_COUNT_AT),
  };
}
