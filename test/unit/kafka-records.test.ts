import { describe, expect, it } from 'vitest';
import { summarizeRecords } from '../../src/kafka/wire/records.js';
import { concat, legacyMessage, recordBatch } from '../fixtures/kafka/encoder.js';

describe('summarizeRecords', () => {
  it('reads a magic 2 batch header without touching the records', () => {
    const b = recordBatch({ baseOffset: 1234n, records: 7, attributes: 0x04 | 0x08 | 0x10, producerId: 99n, producerEpoch: 3, baseSequence: 12, payload: 40 });
    const s = summarizeRecords(b, b.length);
    expect(s).toMatchObject({ bytes: 101, records: 7, magic: 2, complete: true });
    expect(s.batches).toEqual([{
      baseOffset: 1234n, batchLength: 89, partitionLeaderEpoch: 0, magic: 2, crc: 0x12345678, attributes: 0x1c,
      compression: 'zstd', timestampType: 'log_append', transactional: true, control: false, lastOffsetDelta: 6,
      baseTimestamp: 1_700_000_000_000n, maxTimestamp: 1_700_000_000_500n, producerId: 99n, producerEpoch: 3,
      baseSequence: 12, recordCount: 7,
    }]);
  });

  it('decodes every compression codec and the control flag', () => {
    const codecs = ['none', 'gzip', 'snappy', 'lz4', 'zstd', 'unknown'];
    codecs.forEach((c, i) => {
      const b = recordBatch({ attributes: i | 0x20 });
      const h = summarizeRecords(b, b.length).batches[0]!;
      expect(h.compression).toBe(c);
      expect(h.control).toBe(true);
      expect(h.timestampType).toBe('create');
    });
  });

  it('counts records over several batches', () => {
    const data = concat(recordBatch({ records: 2 }), recordBatch({ records: 5, baseOffset: 2n }), recordBatch({ records: 1, baseOffset: 7n }));
    const s = summarizeRecords(data, data.length);
    expect(s.records).toBe(8);
    expect(s.batches.map((b) => b.baseOffset)).toEqual([0n, 2n, 7n]);
  });

  it('a header not fully copied makes the summary incomplete (records is a lower bound)', () => {
    const data = concat(recordBatch({ records: 2 }), recordBatch({ records: 5 }));
    const s = summarizeRecords(data.subarray(0, 71 + 30), data.length);
    expect(s).toMatchObject({ bytes: data.length, records: 2, complete: false });
    expect(summarizeRecords(new Uint8Array(0), 500)).toMatchObject({ bytes: 500, records: 0, magic: -1, complete: false });
  });

  it('stops at a partial trailing batch (Fetch cut at max bytes) or an impossible one', () => {
    const data = concat(recordBatch({ records: 2 }), recordBatch({ records: 5 }).subarray(0, 40));
    expect(summarizeRecords(data, data.length)).toMatchObject({ records: 2, complete: true });
    const bad = recordBatch({ records: 2 });
    bad[16] = 9;
    expect(summarizeRecords(bad, bad.length)).toMatchObject({ records: 0, magic: 9 });
  });

  it('counts magic 0 and 1 messages and their bytes', () => {
    const set = concat(legacyMessage(0, 0n, new Uint8Array(10)), legacyMessage(1, 1n, new Uint8Array(20)), legacyMessage(1, 2n, new Uint8Array(0)));
    const s = summarizeRecords(set, set.length);
    expect(s).toMatchObject({ bytes: set.length, records: 3, magic: 0, batches: [], complete: true });
  });
});
