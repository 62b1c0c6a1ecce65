import { describe, expect, it } from 'vitest';
import { FrameStream, type StreamFrame } from '../../src/kafka/wire/stream.js';
import { concat, withSize } from '../fixtures/kafka/encoder.js';

const payload = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff);

/** A frame's bytes are valid during emit only (the stream reuses its buffer): kept as copies. */
function collect(stream: FrameStream<number>, chunks: { data: Uint8Array; skipped?: number }[]): StreamFrame<number>[] {
  const out: StreamFrame<number>[] = [];
  const keep = (f: StreamFrame<number>): StreamFrame<number> => ({ ...f, segments: f.segments.map((s) => ({ offset: s.offset, data: s.data.slice() })) });
  chunks.forEach((c, i) => stream.push({ data: c.data, skipped: c.skipped ?? 0 }, i, (f) => out.push(keep(f))));
  return out;
}

const joined = (f: StreamFrame<number>) => concat(...f.segments.map((s) => s.data));

describe('FrameStream', () => {
  it('cuts many frames out of one chunk', () => {
    const frames = [payload(10, 1), payload(300, 2), payload(4, 3)];
    const out = collect(new FrameStream(), [{ data: concat(...frames.map(withSize)) }]);
    expect(out.map((f) => f.size)).toEqual([10, 300, 4]);
    out.forEach((f, i) => {
      expect(f.truncated).toBe(false);
      expect(joined(f)).toEqual(frames[i]);
    });
  });

  it('reassembles frames split across many chunks, size field included', () => {
    const frames = [payload(1000, 4), payload(50, 5)];
    const all = concat(...frames.map(withSize));
    const chunks = [];
    for (let i = 0; i < all.length; i += 3) chunks.push({ data: all.subarray(i, i + 3) });
    const out = collect(new FrameStream(), chunks);
    expect(out).toHaveLength(2);
    expect(joined(out[0]!)).toEqual(frames[0]);
    expect(out[0]!.segments).toHaveLength(1);
    expect(joined(out[1]!)).toEqual(frames[1]);
    // The frame's meta is the chunk in which its size field started.
    expect(out[0]!.meta).toBe(0);
    expect(out[1]!.meta).toBe(Math.floor(1004 / 3));
  });

  it('skipped bytes inside a frame make it truncated with a gap', () => {
    const f = withSize(payload(100, 6));
    const out = collect(new FrameStream(), [
      { data: f.subarray(0, 30) },
      { data: f.subarray(80, 104), skipped: 50 },
    ]);
    expect(out).toHaveLength(1);
    expect(out[0]!.truncated).toBe(true);
    expect(out[0]!.segments.map((s) => [s.offset, s.data.length])).toEqual([[0, 26], [76, 24]]);
    expect(out[0]!.segments[1]!.data).toEqual(f.subarray(80, 104));
  });

  it('a skip that ends a frame exactly keeps the stream in sync (sendfile of the tail)', () => {
    const a = withSize(payload(1000, 7));
    const b = withSize(payload(20, 8));
    const s = new FrameStream<number>();
    const out = collect(s, [{ data: a.subarray(0, 64) }, { data: b, skipped: a.length - 64 }]);
    expect(out.map((f) => [f.size, f.truncated])).toEqual([[1000, true], [20, false]]);
    expect(s.stats).toMatchObject({ frames: 2, resyncs: 0, bytesSkipped: 940 });
  });

  it('a frame with only skipped payload still comes out', () => {
    const out = collect(new FrameStream(), [{ data: Uint8Array.from([0, 0, 1, 0]) }, { data: new Uint8Array(0), skipped: 256 }]);
    expect(out).toHaveLength(1);
    expect(out[0]!.segments).toEqual([]);
    expect(out[0]!.truncated).toBe(true);
  });

  it('resynchronises after an impossible size, every byte outside a frame counted as dropped', () => {
    const good = withSize(payload(12, 9));
    const head = (d: Uint8Array, at: number) => d[at] === 9 && d[at + 1] === 16;
    const s = new FrameStream<number>({ checkHead: head, plausibleHead: head });
    const out = collect(s, [
      { data: Uint8Array.from([0xff, 0xff, 0xff, 0xf0, 1, 2, 3]) },
      { data: good },
      { data: Uint8Array.from([0x7f, 0, 0, 0, 9, 9]) },
      { data: concat(good, good) },
    ]);
    expect(out.map(joined)).toEqual([good.subarray(4), good.subarray(4), good.subarray(4)]);
    expect(s.stats.resyncs).toBe(2);
    expect(s.stats.bytesDropped).toBe(13);
  });

  it('finds the frame after garbage in the same chunk, and a header split by the chunk end', () => {
    const good = withSize(Uint8Array.from([0, 18, 0, 0, 0, 0, 0, 1, 5, 5]));
    const opts = { checkHead: (d: Uint8Array, at: number) => d[at + 1] === 18, plausibleHead: (d: Uint8Array, at: number) => d[at + 1] === 18 };
    const s = new FrameStream<number>(opts);
    // A cut size field, then a frame; a wrong head, then a frame; junk, then half a header.
    const out = collect(s, [
      { data: concat(Uint8Array.from([0, 0]), good) },
      { data: concat(Uint8Array.from([0, 0, 0, 10, 0, 3, 0, 0, 0, 0, 0, 0, 7, 7]), good) },
      { data: concat(Uint8Array.from([0xee, 0, 0xee]), good.subarray(0, 6)) },
      { data: good.subarray(6) },
    ]);
    expect(out.map(joined)).toEqual([good.subarray(4), good.subarray(4), good.subarray(4)]);
    expect(s.stats.resyncs).toBe(3);
  });

  it('searches after garbage the same way once a capture has reported 2^60 bytes skipped', () => {
    // A mangled capture record can say so: positions past 2^53 would lose bytes, and a search that
    // restarts from one would find the same frames again, or never get past it.
    const good = withSize(Uint8Array.from([0, 18, 0, 0, 0, 0, 0, 1, 5, 5]));
    // A size too large: the frame swallows the next, and is searched again when the header after it fails.
    const bad = withSize(Uint8Array.from([0, 18, 0, 0, 0, 0, 0, 2]));
    bad[3] = 40;
    const junk = Uint8Array.from([0xee, 0, 0xee, 0, 0, 0]);
    const run = (skipped: number) => {
      const head = (d: Uint8Array, at: number) => d[at + 1] === 18;
      const s = new FrameStream<number>({ checkHead: head, plausibleHead: head });
      return collect(s, [{ data: good }, { data: second, skipped }, { data: concat(junk, good, bad, good) }]).map(joined);
    };
    const second = concat(good, junk, bad, good, junk, good, good);
    const out = run(2 ** 60);
    // The bad frame is handed on as its size says (the header after it fails only then); the last
    // one is still open, its size unproven.
    const swallowed = second.subarray(good.length + junk.length + 4, good.length + junk.length + 44);
    expect(out).toEqual([good.subarray(4), good.subarray(4), swallowed, ...Array.from({ length: 4 }, () => good.subarray(4))]);
    expect(out).toEqual(run(1));
  });

  it('out of sync, gives up the oldest of many frames that may start in garbage rather than take one', () => {
    const good = withSize(Uint8Array.from([0, 18, 0, 0, 0, 0, 0, 1, 5, 5]));
    // Forty headers that pass, each of a frame of 1000 bytes: none ends before the stream goes on.
    const open = concat(...Array.from({ length: 40 }, () => Uint8Array.from([0, 0, 3, 0xe8, 0, 18, 0, 0, 0, 0, 0, 1])));
    const head = (d: Uint8Array, at: number) => d[at + 1] === 18;
    const s = new FrameStream<number>({ checkHead: head, plausibleHead: head });
    const out = collect(s, [{ data: Uint8Array.from([0xff, 0xff, 0xff, 0xff]) }, { data: open }, { data: concat(good, good) }]);
    expect(out.map(joined)).toEqual([good.subarray(4), good.subarray(4)]);
  });

  it('a skip over a frame boundary loses sync until the next chunk', () => {
    const a = withSize(payload(10, 1));
    const s = new FrameStream<number>();
    const out = collect(s, [{ data: a.subarray(0, 8) }, { data: new Uint8Array(0), skipped: 20 }, { data: a }]);
    expect(out.map((f) => f.truncated)).toEqual([true, false]);
    expect(s.stats.resyncs).toBe(1);
  });

  it('bounds the bytes kept per frame', () => {
    const big = withSize(payload(10_000, 3));
    const s = new FrameStream<number>({ maxFrameCopy: 1000 });
    const out = collect(s, [{ data: big }]);
    expect(out[0]!.truncated).toBe(true);
    expect(joined(out[0]!)).toEqual(big.subarray(4, 1004));
    expect(s.stats.bytesDropped).toBe(9000);
  });

  it('flush hands on a frame in progress as truncated', () => {
    const s = new FrameStream<number>();
    const f = withSize(payload(100, 2));
    const out = collect(s, [{ data: f.subarray(0, 50) }]);
    expect(out).toHaveLength(0);
    s.flush((x) => out.push(x));
    expect(out).toHaveLength(1);
    expect(out[0]!.truncated).toBe(true);
  });

  it('a frame cut by lost records is handed on truncated, and no frame is read in its copied bytes', () => {
    // librdkafka's mock answering ApiVersions v0: correlation id, error 0, 17 (key, min, max) entries.
    // Its api count, 00 00 00 11, and the entries after it pass for a run of small frames.
    const keys = [[0, 7], [1, 11], [2, 5], [3, 2], [8, 7], [9, 5], [10, 2], [11, 5], [12, 3], [13, 1], [14, 3], [18, 2], [22, 4], [24, 1], [25, 1], [26, 1], [28, 2]];
    const body = concat(Uint8Array.from([0, 0, 0x44, 0x09, 0, 0, 0, 0, 0, 17]), ...keys.map(([k, max]) => Uint8Array.from([0, k!, 0, 0, 0, max!])));
    const frame = withSize(body);
    expect(frame.length).toBe(116);
    let phantomsWithoutLoss = 0;
    for (let cut = 5; cut < frame.length; cut++) {
      for (const loss of [true, false]) {
        const s = new FrameStream<number>();
        const out: StreamFrame<number>[] = [];
        s.push({ data: frame.subarray(0, cut), skipped: 0 }, 0, (f) => out.push(f));
        s.push({ data: frame, skipped: 5000, resync: true, loss }, 1, (f) => out.push(f));
        if (!loss) {
          if (out.length > 2) phantomsWithoutLoss++;
          continue;
        }
        expect(out.map((f) => [f.size, f.truncated]), `cut at ${cut}`).toEqual([[112, true], [112, false]]);
      }
    }
    // What the test guards against: taken for a wrong size, the cut frame yields phantoms at some cuts.
    expect(phantomsWithoutLoss).toBeGreaterThan(0);
  });

  it('a plausible but wrong size is caught by checkHead instead of swallowing the stream', () => {
    const good = withSize(Uint8Array.from([0, 18, 0, 0, 0, 0, 0, 1]));
    const heads: number[] = [];
    const s = new FrameStream<number>({ checkHead: (data, at, n) => (heads.push(n), data[at + 1] === 18) });
    const wrong = Uint8Array.from([0, 0x10, 0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9]);
    const out = collect(s, [{ data: concat(good, wrong.subarray(0, 6)) }, { data: wrong.subarray(6) }, { data: concat(good, good) }]);
    expect(out).toHaveLength(3);
    expect(s.stats.resyncs).toBe(1);
    expect(heads).toEqual([8, 8, 8, 8]);
  });

  it('finishOpen hands on a frame early and ignores its tail when it comes, skipped or copied', () => {
    const s = new FrameStream<number>();
    const a = withSize(payload(100, 1));
    const b = withSize(payload(10, 2));
    const out = collect(s, [{ data: a.subarray(0, 20) }]);
    expect(s.openHead()).toEqual(a.subarray(4, 20));
    s.finishOpen((f) => out.push(f));
    expect(out.map((f) => [f.size, f.truncated])).toEqual([[100, true]]);
    expect(s.openHead()).toBeNull();
    // 50 of the 84 missing bytes skipped, 34 copied, then the next frame.
    s.push({ data: concat(a.subarray(70), b), skipped: 50 }, 1, (f) => out.push(f));
    expect(out.map((f) => [f.size, f.truncated])).toEqual([[100, true], [10, false]]);
    expect(joined(out[1]!)).toEqual(b.subarray(4));
    expect(s.stats.resyncs).toBe(0);
  });
});
