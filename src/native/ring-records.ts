// The addon hands a ring buffer's records over packed in one Buffer per batch: each record is a
// 4-byte little-endian size followed by its bytes (kt_ringbuf.cc). One Buffer per batch instead of
// one per record keeps a busy ring's cost in the records' bytes, not in allocations.

/** Bytes before each record in a packed batch. */
export const RECORD_PREFIX = 4;

/**
 * Calls `each` with the bounds of every record of a packed batch, in order. Returns false when the
 * last record overruns the batch (the addon writes whole records: a cut one would mean a layout
 * bug, and nothing after it is sound); that record is not passed on.
 */
export function walkRecords(batch: Uint8Array, each: (start: number, end: number) => void): boolean {
  for (let at = 0; at + RECORD_PREFIX <= batch.length; ) {
    const start = at + RECORD_PREFIX;
    at = start + ((batch[start - 4]! | (batch[start - 3]! << 8) | (batch[start - 2]! << 16) | (batch[start - 1]! << 24)) >>> 0);
    if (at > batch.length) return false;
    each(start, at);
  }
  return true;
}

/** The records of a packed batch, as views into it (no copy). */
export function ringRecords(batch: Buffer): Buffer[] {
  const out: Buffer[] = [];
  if (!walkRecords(batch, (start, end) => out.push(batch.subarray(start, end)))) {
    throw new Error(`a ring batch record overruns its ${batch.length}-byte batch`);
  }
  return out;
}
