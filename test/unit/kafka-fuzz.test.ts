// A million mutated frames (bit flips, truncations, random sizes, random chunking and skips) through
// stream reassembly, decoding and pairing, and Produce and Fetch frames through the fast lane: no
// exception may escape and memory must stay bounded.
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { encodeCaptureRecord } from '../../src/kafka/capture/record.js';
import { KafkaDecoder, probeFirings, type CaptureChunk } from '../../src/kafka/index.js';
import { MESSAGE_SPECS } from '../../src/kafka/wire/schemas/generated.js';
import { requestSpec } from '../../src/kafka/wire/schemas/index.js';
import { encodeBody, requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';
import { sampleBody } from '../fixtures/kafka/samples.js';
import { laneResponses } from '../helpers/lane-count.js';
import { xorshift32 } from '../helpers/seeded.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;


/** Valid request/response frame pairs for every API and version the schemas define. */
function corpus(): [Uint8Array, Uint8Array][] {
  const pairs: [Uint8Array, Uint8Array][] = [];
  let cid = 1;
  for (const spec of MESSAGE_SPECS) {
    if (spec.kind !== 'response') continue;
    const req = requestSpec(spec.key)!;
    for (let v = spec.valid[0]; v <= spec.valid[1]; v++) {
      for (const nulls of [false, true]) {
        const id = cid++;
        pairs.push([
          requestFrame(spec.key, v, id, nulls ? null : 'fuzz-client', encodeBody(req, v, sampleBody(req, v, nulls).value)),
          responseFrame(spec.key, v, id, encodeBody(spec, v, sampleBody(spec, v, nulls).value)),
        ]);
      }
    }
  }
  return pairs;
}

/** Random bytes to cut junk chunks from. */
const JUNK = (() => {
  const next = xorshift32(0xbad);
  return Uint8Array.from({ length: 1 << 16 }, () => next() & 0xff);
})();

/** Only mutations that change bytes copy the frame: the decoder must not rely on callers' buffers. */
function mutate(frame: Uint8Array, next: () => number): Uint8Array {
  switch (next() % 6) {
    case 0:
      return frame;
    case 1:
    case 2: {
      const out = frame.slice();
      const flips = 1 + (next() % 4);
      for (let i = 0; i < flips; i++) out[next() % out.length]! ^= 1 << (next() % 8);
      return out;
    }
    case 3:
      return frame.subarray(0, next() % frame.length);
    case 4: {
      const out = frame.slice();
      new DataView(out.buffer).setInt32(0, next() % 3 === 0 ? next() | 0 : next() % (out.length * 2));
      return out;
    }
    default: {
      const at = next() % (JUNK.length - 64);
      return JUNK.subarray(at, at + (next() % 64));
    }
  }
}

/** Pushes `frames` mutated frames of `pairs` through `decoder`; returns the heap growth after the first quarter. */
/** How drive hands a chunk to the decoder (push by default). */
type Feed = (decoder: KafkaDecoder, chunk: CaptureChunk & { conn: bigint }, next: () => number) => void;

const pushChunk: Feed = (decoder, chunk) => decoder.push(chunk);

function drive(decoder: KafkaDecoder, pairs: [Uint8Array, Uint8Array][], frames: number, next: () => number, feed = pushChunk): number {
  let heapAtQuarter = 0;
  let ts = 0n;
  for (let n = 0; n < frames; ) {
    const [req, resp] = pairs[next() % pairs.length]!;
    const fd = next() % 48;
    const pid = 1 + (next() % 3);
    for (const [dir, frame] of [['out', req], ['in', resp]] as const) {
      const data = mutate(frame, next);
      n++;
      ts += 1000n;
      // Random chunking, sometimes with skipped bytes in between.
      let off = 0;
      while (off < data.length || off === 0) {
        const len = next() % 4 === 0 ? 1 + (next() % 16) : data.length - off;
        const skipped = next() % 32 === 0 ? next() % 200 : 0;
        const resync = next() % 64 === 0;
        const conn = BigInt(pid * 1000 + fd) << 32n;
        feed(decoder, { pid, tid: 1, comm: 'fuzz', fd, conn, laddr: '10.0.0.1', lport: 40000, raddr: '10.0.0.2', rport: 9092, dir, ts, skipped, resync, data: data.subarray(off, off + len) }, next);
        off += Math.max(len, 1);
      }
    }
    // Connections come and go, as real ones do; a stream that lost sync is not stuck for the run.
    if (next() % 16 === 0) decoder.close({ pid, fd });
    if (n % 100_000 === 0) decoder.expire(ts);
    if (n === frames / 4) {
      gc();
      heapAtQuarter = process.memoryUsage().heapUsed;
    }
  }
  decoder.closeAll();
  gc();
  return process.memoryUsage().heapUsed - heapAtQuarter;
}

const LIMITS = { maxConnections: 256, maxPendingPerConnection: 64, maxFrameCopy: 4096 };

describe('fuzz', () => {
  it('a million mutated frames: no exception escapes, memory stays bounded', () => {
    const pairs = corpus();
    // KT_FUZZ_SEED picks another run; the default keeps the test deterministic.
    const next = xorshift32(Number(process.env.KT_FUZZ_SEED ?? 0x5eed));
    let exchanges = 0;
    let firings = 0;
    const decoder = new KafkaDecoder({
      onExchange: (ex) => {
        exchanges++;
        firings += probeFirings(ex).length;
      },
      ...LIMITS,
    });
    const growth = drive(decoder, pairs, 1_000_000, next);
    const c = decoder.counters();
    expect(decoder.connectionCount).toBe(0);
    expect(growth).toBeLessThan(32 * 1024 * 1024);
    // The fuzz must exercise the paths that matter, not just reject everything.
    expect(exchanges).toBeGreaterThan(150_000);
    expect(firings).toBeGreaterThan(exchanges);
    expect(c.framesDecoded).toBeGreaterThan(250_000);
    expect(c.resyncs).toBeGreaterThan(1000);
    expect(c.framesTruncated).toBeGreaterThan(1000);
    for (const reason of ['bad_header', 'overrun', 'orphan_response'] as const) expect(c.framesFailed[reason]).toBeGreaterThan(0);
  }, 180_000);

  it('mutated Produce and Fetch frames through the fast lane: no exception escapes, memory stays bounded', () => {
    const pairs = corpus().filter(([req]) => req[5] === 0 || req[5] === 1);
    const next = xorshift32(Number(process.env.KT_FUZZ_SEED ?? 0x1a4e));
    let firings = 0;
    const args = ['topic', 'partition', 'records', 'bytes', 'lag', 'fetch_offset', 'high_watermark', 'base_offset', 'error_name', 'latency', 'client_id'];
    const decoder = new KafkaDecoder({ demand: { probes: ['produce', 'fetch'], args }, onFiring: () => void firings++, ...LIMITS });
    let growth = 0;
    const { tried, taken } = laneResponses(() => (growth = drive(decoder, pairs, 300_000, next)));
    expect(decoder.connectionCount).toBe(0);
    expect(growth).toBeLessThan(32 * 1024 * 1024);
    // Responses (mutated or not) that reached the lane, and those it took.
    expect(tried).toBeGreaterThan(5_000);
    expect(taken).toBeGreaterThan(1_000);
    expect(firings).toBeGreaterThan(taken);
    expect(decoder.counters().framesFailed.overrun).toBeGreaterThan(0);
  }, 180_000);

  it('mutated frames in capture records, some records mangled, through pushCapture: no exception escapes', () => {
    const pairs = corpus().filter(([req]) => req[5] === 0 || req[5] === 1);
    const next = xorshift32(Number(process.env.KT_FUZZ_SEED ?? 0xcafe));
    let firings = 0;
    const decoder = new KafkaDecoder({ demand: { probes: ['produce', 'fetch'], args: ['topic', 'records', 'lag'] }, onFiring: () => void firings++, ...LIMITS });
    // Each chunk a batch of one record; one in 50 has a byte of its size or header flipped.
    const packed: Feed = (d, chunk, rand) => {
      const record = encodeCaptureRecord({ ...chunk, family: 4 });
      if (rand() % 50 === 0) record[rand() % 108]! ^= 1 << (rand() % 8);
      d.pushCapture(record);
    };
    let growth = 0;
    const { taken } = laneResponses(() => (growth = drive(decoder, pairs, 250_000, next, packed)));
    expect(growth).toBeLessThan(32 * 1024 * 1024);
    expect(taken).toBeGreaterThan(1_000);
    expect(firings).toBeGreaterThan(taken);
    expect(decoder.counters().badRecords).toBeGreaterThan(0);
  }, 180_000);
});
