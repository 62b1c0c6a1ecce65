// The shortcuts taken for speed give the same results as the general paths they bypass.
import { describe, expect, it } from 'vitest';
import { Reader } from '../../src/kafka/wire/reader.js';
import { FrameStream, type StreamFrame } from '../../src/kafka/wire/stream.js';

const be64 = (v: bigint): Uint8Array => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, v);
  return b;
};

const withSize = (payload: Uint8Array): Uint8Array => {
  const out = new Uint8Array(payload.length + 4);
  new DataView(out.buffer).setInt32(0, payload.length);
  out.set(payload, 4);
  return out;
};

describe('Reader fast paths', () => {
  it('reads int64 values on both sides of 2^53 exactly', () => {
    const values = [0n, 1n, -1n, 2n ** 53n - 1n, -(2n ** 53n) + 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), 1_700_000_000_000n];
    const r = Reader.of(Uint8Array.from(values.flatMap((v) => [...be64(v)])));
    for (const v of values) expect(r.int64()).toBe(v);
  });

  it('reads signed and unsigned integers of every width', () => {
    const r = Reader.of(Uint8Array.from([0x80, 0x7f, 0xff, 0xfe, 0xff, 0xfe, 0x80, 0, 0, 0, 0x80, 0, 0, 0]));
    expect([r.int8(), r.int8(), r.int16(), r.uint16(), r.int32(), r.uint32()]).toEqual([-128, 127, -2, 0xfffe, -2147483648, 0x80000000]);
  });

  it('decodes short strings, repeated, colliding or not ASCII, to what TextDecoder gives', () => {
    const words = ['orders', 'orders', 'ordert', '', 'a', 'b', 'tópico', 'b', 'x'.repeat(64), 'y'.repeat(65), 'orders'];
    // Many distinct strings so that some share a cache slot.
    for (let i = 0; i < 3000; i++) words.push(`t${i}`, `t${i}`);
    const enc = new TextEncoder();
    const parts = words.map((w) => enc.encode(w));
    const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    const r = Reader.of(bytes);
    expect(parts.map((p) => r.string(p.length))).toEqual(words);
  });

  it('reads one-byte and longer uvarints alike', () => {
    const r = Reader.of(Uint8Array.from([0, 0x7f, 0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect([r.uvarint(), r.uvarint(), r.uvarint(), r.uvarint()]).toEqual([0, 127, 128, 0xffffffff]);
  });

  it('gives record windows in the current segment and in others', () => {
    const r = new Reader([{ offset: 0, data: Uint8Array.from([1, 2, 3, 4]) }, { offset: 10, data: Uint8Array.from([5, 6, 7, 8]) }], 14);
    expect(r.int16()).toBe(0x0102);
    const here = r.window(2, 2)!;
    expect(here.view.getUint16(here.index)).toBe(0x0304);
    const there = r.window(11, 2)!;
    expect(there.view.getUint16(there.index)).toBe(0x0607);
    expect(r.window(3, 2)).toBeNull();
  });
});

describe('FrameStream whole-frame path', () => {
  const collect = (s: FrameStream<number>, data: Uint8Array): StreamFrame<number>[] => {
    const out: StreamFrame<number>[] = [];
    s.push({ data, skipped: 0 }, 7, (f) => out.push(f));
    return out;
  };

  it('hands on frames inside one chunk as views of it, with their meta', () => {
    const a = Uint8Array.from([0, 18, 0, 3, 0, 0, 0, 1, 9]);
    const b = Uint8Array.from([0, 0, 0, 2]);
    const chunk = new Uint8Array([...withSize(a), ...withSize(b)]);
    const out = collect(new FrameStream<number>(), chunk);
    expect(out.map((f) => [f.size, f.truncated, f.meta, [...f.segments[0]!.data]])).toEqual([
      [9, false, 7, [...a]],
      [4, false, 7, [...b]],
    ]);
    expect(out[0]!.segments[0]!.data.buffer).toBe(chunk.buffer);
  });

  it('keeps at most maxFrameCopy bytes of a whole frame and marks it truncated', () => {
    const s = new FrameStream<number>({ maxFrameCopy: 5 });
    const out = collect(s, withSize(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8])));
    expect(out.map((f) => [f.size, f.truncated, [...f.segments[0]!.data]])).toEqual([[8, true, [1, 2, 3, 4, 5]]]);
    expect(s.stats.bytesDropped).toBe(3);
  });

  it('checks the head of a whole frame and, when it is rejected, finds the frame after it in the chunk', () => {
    const heads: number[][] = [];
    const s = new FrameStream<number>({
      checkHead: (data, at, n) => (heads.push([...data.subarray(at, at + n)]), data[at] === 0),
      plausibleHead: (data, at) => data[at] === 0,
    });
    const good = withSize(Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    const bad = withSize(Uint8Array.from([9, 9, 9, 9]));
    const out = collect(s, new Uint8Array([...good, ...bad, ...good]));
    expect(out).toHaveLength(2);
    expect(heads).toEqual([[0, 1, 2, 3, 4, 5, 6, 7], [9, 9, 9, 9], [0, 1, 2, 3, 4, 5, 6, 7]]);
    expect(s.stats.resyncs).toBe(1);
    expect(s.stats.bytesDropped).toBe(bad.length);
    // The next chunk parses again.
    expect(collect(s, good)).toHaveLength(1);
  });
});
