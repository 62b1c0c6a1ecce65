import { describe, expect, it } from 'vitest';
import { randomBytes, randomUUID } from 'node:crypto';
import { DecodeError, Reader, uuidAt } from '../../src/kafka/wire/reader.js';

const failure = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof DecodeError) return e.reason;
    throw e;
  }
  return 'none';
};

describe('Reader', () => {
  it('reads big-endian integers, floats, bools and uuids', () => {
    const r = Reader.of(Uint8Array.from([
      0xff,
      0x80, 0x00,
      0xff, 0xff, 0xff, 0xff,
      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd,
      0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
      1,
      0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
      0xab, 0xcd,
    ]));
    expect(r.int8()).toBe(-1);
    expect(r.int16()).toBe(-32768);
    expect(r.uint32()).toBe(0xffffffff);
    expect(r.int64()).toBe(-3n);
    expect(r.float64()).toBe(1.5);
    expect(r.bool()).toBe(true);
    expect(r.uuid()).toBe('12345678-9abc-def0-0123-456789abcdef');
    expect(r.uint16()).toBe(0xabcd);
  });

  it('writes any 16 bytes as the UUID text Node writes', () => {
    for (let i = 0; i < 200; i++) {
      const text = i === 0 ? '00000000-0000-0000-0000-000000000000' : i === 1 ? 'ffffffff-ffff-ffff-ffff-ffffffffffff' : randomUUID();
      const at = i % 5;
      const bytes = Buffer.concat([randomBytes(at), Buffer.from(text.replaceAll('-', ''), 'hex')]);
      expect(uuidAt(bytes, at)).toBe(text);
    }
  });

  it('reads every id as itself when ids seen before share the cache\'s slots', () => {
    // 2,000 ids in a 256-slot cache: most slots are taken over and over, each id must still read as itself.
    const ids = Array.from({ length: 2000 }, () => randomUUID());
    const bytes = ids.map((t) => Buffer.from(t.replaceAll('-', ''), 'hex'));
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < ids.length; i++) expect(uuidAt(bytes[i]!, 0)).toBe(ids[i]);
    }
  });

  it('reads unsigned and zig-zag varints and varlongs', () => {
    expect(Reader.of(Uint8Array.from([0xac, 0x02])).uvarint()).toBe(300);
    expect(Reader.of(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f])).uvarint()).toBe(0xffffffff);
    expect(Reader.of(Uint8Array.from([0x03])).varint()).toBe(-2);
    expect(Reader.of(Uint8Array.from([0x04])).varint()).toBe(2);
    expect(Reader.of(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).varlong()).toBe(-(2n ** 63n));
    expect(Reader.of(Uint8Array.from([0x01])).varlong()).toBe(-1n);
    expect(failure(() => Reader.of(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x01])).uvarint())).toBe('bad_varint');
    expect(failure(() => Reader.of(new Uint8Array(11).fill(0x80)).varlong())).toBe('bad_varint');
  });

  it('tells bytes not copied (truncated) from bytes past the frame (overrun)', () => {
    const truncated = Reader.of(Uint8Array.from([0, 0]), 10);
    expect(failure(() => truncated.int32())).toBe('truncated');
    expect(failure(() => Reader.of(Uint8Array.from([0, 0])).int32())).toBe('overrun');
    expect(failure(() => Reader.of(Uint8Array.from([0, 0, 0, 50]), 20).length(false))).toBe('overrun');
    expect(failure(() => Reader.of(Uint8Array.from([0xff, 0xff, 0xff, 0xfe])).length(false))).toBe('bad_length');
    expect(Reader.of(Uint8Array.from([0xff, 0xff])).length(false, true)).toBeNull();
    expect(Reader.of(Uint8Array.from([0])).length(true)).toBeNull();
  });

  it('reads across segments and skips gaps', () => {
    const r = new Reader([{ offset: 0, data: Uint8Array.from([0, 0, 0, 7]) }, { offset: 10, data: Uint8Array.from([0, 9]) }], 12);
    expect(r.int32()).toBe(7);
    expect(failure(() => r.int16())).toBe('truncated');
    expect(r.available(6)).toEqual(new Uint8Array(0));
    r.skip(6);
    expect(r.available(6)).toEqual(Uint8Array.from([0, 9]));
    expect(r.int16()).toBe(9);
    expect(failure(() => r.skip(1))).toBe('overrun');
  });
});
