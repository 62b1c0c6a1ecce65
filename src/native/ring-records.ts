// The addon hands a ring buffer's records over packed in one Buffer per batch: each record is a
// 4-byte little-endian size followed by its bytes (kt_ringbuf.cc). One Buffer per batch instead of
// one per record keeps a busy ring's cost in the records' bytes, not in allocations.

/** Bytes before each record in a packed batch. */
export const RECORD_PREFIX = 4;

/** The size of the record whose prefix is at `at`. */
export const recordSizeAt = (batch: Uint8Array, at: number): number =>
  (batch[at]! | (batch[at + 1]! << 8) | (batch[at + 2]! << 16) | (batch[at + 3]! << 24)) >>> 0;

/** The records of a packed batch, as views into it (no copy). */
export function ringRecords(batch: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + RECORD_PREFIX <= batch.length; ) {
    const start = at + RECORD_PREFIX;
    const end = start + recordSizeAt(batch, at);
    // The addon writes whole records; a cut one would mean a layout bug, and nothing after it is sound.
    if (end > batch.length) throw new Error(`ring batch record of ${end - start} bytes overruns its ${batch.length}-byte batch`);
    out.push(batch.subarray(start, end));
    at = end;
  }
  return out;
}
