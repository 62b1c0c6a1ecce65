// The record batches a broker sends with sendfile(2) straight from its log segment, read back. The
// capture cannot see those bytes; for a walked Fetch response it hands a KC_F_FILE record instead
// (bpf-templates/kafka-capture.h: the file, its offset and the byte count). FileSplice turns such a
// record into the pieces the capture would have made had the bytes been written: each batch's
// 61-byte header copied, its records skipped, so the decoder sees the response as on the client's
// side. Segments are append-only, so the bytes are still there when read a little later. A file
// that is gone (its fd closed or reused: another device or inode) or unreadable leaves the bytes
// skipped, the partition's records unknown, and the record counted.
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { batchHeaders } from '../../native/index.js';
import type { CaptureRecord } from './record.js';

/** Reads batch headers of a file that another process has open: the seam between FileSplice and the machine. */
export interface CaptureFiles {
  /**
   * The headers of the record batches that follow one another from `pos` up to `end` of the
   * regular file open as `fd` in process `pid`, when that fd still names the file (`dev`, `ino`, as
   * stat(2) reports them): each in a HEADER_SLOT-byte slot, as batchHeaders (src/native) lays them
   * out. It may stop early (the caller asks again from there); undefined when the file is gone or
   * nothing could be read. Never throws.
   */
  headers(pid: number, fd: number, dev: number, ino: bigint, pos: number, end: number): Uint8Array | undefined;
  /** Closes the files it holds open. */
  close(): void;
}

/** A batch header's slot in what CaptureFiles.headers answers: its bytes, then the count read at BATCH_HEADER. */
export const HEADER_SLOT = 64;

/** Files held open at once: a broker serves fetches from few segments at a time. */
const MAX_OPEN = 64;

interface OpenFile {
  fd: number;
  dev: bigint;
  ino: bigint;
}

/**
 * CaptureFiles through /proc/PID/fd/FD: the kernel's link to the very file the process has open (no
 * path anyone could swap), opened once and kept (a deleted segment stays readable), checked to be a
 * regular file with the device and inode the capture saw. Only root runs a capture, and only batch
 * headers are taken from what is read.
 */
export class ProcFiles implements CaptureFiles {
  private readonly open = new Map<string, OpenFile>();

  headers(pid: number, fd: number, dev: number, ino: bigint, pos: number, end: number): Uint8Array | undefined {
    const file = this.file(pid, fd, BigInt(dev), ino);
    if (!file) return undefined;
    try {
      return batchHeaders(file.fd, pos, end);
    } catch {
      return undefined;
    }
  }

  close(): void {
    for (const f of this.open.values()) closeQuietly(f.fd);
    this.open.clear();
  }

  private file(pid: number, fd: number, dev: bigint, ino: bigint): OpenFile | undefined {
    const key = `${pid}/${fd}`;
    const held = this.open.get(key);
    if (held && held.dev === dev && held.ino === ino) {
      this.open.delete(key);
      this.open.set(key, held);
      return held;
    }
    if (held) {
      closeQuietly(held.fd);
      this.open.delete(key);
    }
    let opened: number;
    try {
      opened = openSync(`/proc/${pid}/fd/${fd}`, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch {
      return undefined;
    }
    try {
      const st = fstatSync(opened, { bigint: true });
      if (!st.isFile() || st.dev !== dev || st.ino !== ino) {
        closeQuietly(opened);
        return undefined;
      }
    } catch {
      closeQuietly(opened);
      return undefined;
    }
    const file = { fd: opened, dev, ino };
    this.open.set(key, file);
    if (this.open.size > MAX_OPEN) {
      const [oldest, f] = this.open.entries().next().value as [string, OpenFile];
      closeQuietly(f.fd);
      this.open.delete(oldest);
    }
    return file;
  }
}

/** Closes `fd`, never throwing: what reads another process's files must never throw. */
export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed: nothing held.
  }
}

/** One piece of the stream as the capture would have made it: `skipped` bytes passed, then `data`. */
export interface FilePiece {
  skipped: number;
  data: Uint8Array;
}

/** A record batch's base offset and length, which give its size (Kafka's LOG_OVERHEAD). */
const BATCH_PREFIX = 12;
/** A magic 2 batch header: what the capture copies of each batch (BATCH_HEADER in kafka-capture.bpf.c). */
export const BATCH_HEADER = 61;

/** Where the walk of one direction's file bytes stopped: inside a batch, to go on in the next record. */
interface FileWalk {
  /** Stream offset just past the last file record's bytes. */
  streamEnd: bigint;
  dev: number;
  ino: bigint;
  /** File offset just past them. */
  fileEnd: number;
  /** The batch they ended in: where it starts and ends in the file, and its header bytes. */
  batchStart: number;
  batchEnd: number;
  header: Uint8Array;
}

/** Connections' directions whose walk is remembered (one per Fetch response in flight). */
const MAX_WALKS = 16_384;

export class FileSplice {
  private readonly walks = new Map<string, FileWalk>();
  /** KC_F_FILE records whose bytes could not be read back: their batches are unknown. */
  unread = 0;

  constructor(private readonly files: CaptureFiles) {}

  /**
   * The pieces a KC_F_FILE record stands for, in stream order: its `skipped` bytes first, then each
   * batch header it covers, copied, and the rest of each batch skipped. When the file cannot be
   * read, one piece skipping all of it.
   */
  pieces(record: CaptureRecord): FilePiece[] {
    const file = record.file!;
    const key = `${record.conn}/${record.dir}`;
    const { pos, count } = file;
    const end = pos + count;
    const prev = this.walks.get(key);
    this.walks.delete(key);
    const goesOn = prev !== undefined && record.skipped === 0 && prev.streamEnd === record.offset && prev.dev === file.dev && prev.ino === file.ino && prev.fileEnd === pos && pos < prev.batchEnd;
    let batchStart = goesOn ? prev.batchStart : pos;
    let batchEnd = goesOn ? prev.batchEnd : pos;
    let header = goesOn ? prev.header : EMPTY;
    const pieces: FilePiece[] = [];
    let skipped = record.skipped;
    // The headers read ahead, from the batch that starts where the last one read ends.
    let slots: Uint8Array | undefined;
    let slot = 0;
    for (let at = pos; at < end; ) {
      if (at >= batchEnd) {
        if (slots === undefined || slot >= slots.length) {
          slots = this.files.headers(record.pid, file.inFd, file.dev, file.ino, at, end);
          slot = 0;
          if (slots === undefined || slots.length < HEADER_SLOT) {
            this.unread++;
            // The batch may go on in the next record: all of it is skipped too, never read as a batch's start.
            this.remember(key, record, { batchStart: end, batchEnd: Infinity, header: EMPTY });
            return [{ skipped: skipped + end - at, data: EMPTY }];
          }
        }
        batchStart = at;
        header = slots.subarray(slot, slot + slots[slot + BATCH_HEADER]!);
        slot += HEADER_SLOT;
        const length = header.length >= BATCH_PREFIX ? new DataView(header.buffer, header.byteOffset).getInt32(8) : -1;
        // A batch cut short (the fetch's size limit) or past the file's end: the rest is its tail.
        batchEnd = length >= 0 ? at + BATCH_PREFIX + length : end;
      }
      const copyEnd = Math.min(batchStart + header.length, batchEnd, end);
      if (at < copyEnd) {
        pieces.push({ skipped, data: header.subarray(at - batchStart, copyEnd - batchStart) });
        skipped = 0;
        at = copyEnd;
      }
      const skipEnd = Math.min(batchEnd, end);
      skipped += skipEnd - at;
      at = skipEnd;
    }
    if (skipped > 0) pieces.push({ skipped, data: EMPTY });
    // A copy: the header is a view of all the headers read at once.
    if (end < batchEnd) this.remember(key, record, { batchStart, batchEnd, header: header.slice() });
    return pieces;
  }

  /** Where the file record `record` of `key` left off: inside a batch, to go on in the next. */
  private remember(key: string, record: CaptureRecord, batch: Pick<FileWalk, 'batchStart' | 'batchEnd' | 'header'>): void {
    const { pos, count, dev, ino } = record.file!;
    this.walks.set(key, { streamEnd: record.offset + BigInt(count), dev, ino, fileEnd: pos + count, ...batch });
    if (this.walks.size > MAX_WALKS) this.walks.delete(this.walks.keys().next().value as string);
  }

  /** Forgets the walks and closes the files. */
  close(): void {
    this.walks.clear();
    this.files.close();
  }
}

const EMPTY = new Uint8Array(0);
