// The pieces the Kafka source decodes one at a time between event-loop turns: bounded in records and
// in bytes, cut only at record boundaries, nothing lost.
import { describe, expect, it } from 'vitest';
import { ringRecords } from '../../src/native/ring-records.js';
import { recordPieces } from '../../src/runtime/kafka-source.js';

/** A packed batch (4-byte little-endian size, then the bytes) of records of the given sizes. */
function packed(sizes: number[]): Buffer {
  return Buffer.concat(
    sizes.map((n, i) => {
      const b = Buffer.alloc(4 + n, i & 0xff);
      b.writeUInt32LE(n, 0);
      return b;
    }),
  );
}

describe('recordPieces', () => {
  it('cuts records of tiny frames (4 KiB each) at about 4 KiB, at record boundaries', () => {
    const batch = packed(Array.from({ length: 100 }, () => 4200));
    const pieces = recordPieces(batch);
    expect(Buffer.concat(pieces).equals(batch)).toBe(true);
    for (const p of pieces) expect(p.length).toBeLessThanOrEqual(4 * 1024 + 4 + 4200);
    expect(pieces.flatMap((p) => ringRecords(p)).length).toBe(100);
  });

  it('cuts small records at 64 per piece', () => {
    const batch = packed(Array.from({ length: 300 }, () => 8));
    const pieces = recordPieces(batch);
    expect(pieces.map((p) => ringRecords(p).length)).toEqual([64, 64, 64, 64, 44]);
  });
});
