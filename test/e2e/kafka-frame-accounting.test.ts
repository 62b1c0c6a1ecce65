// Every Kafka frame on a connection is handed over or counted lost, once: a raw Node client
// pipelines thousands of tiny ApiVersions requests to the mock broker through a ring buffer far too
// small for them, and the frames user space reassembles plus those the capture counted lost (ring
// full, cut short after a loss, past its walk of one syscall) must equal the frames sent, on both
// ends (client and broker, requests and responses); so must the frames the decoder decodes or counts
// as failed, plus those lost. The count sent is the client's own. Needs root,
// the addon and build/ from node scripts/build-kafka.mjs.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureRecords, type CaptureRecord } from '../../src/kafka/capture/record.js';
import { startCapture, type CaptureFrames } from '../../src/kafka/capture/loader.js';
import { startMockBroker, type MockBroker } from '../../src/demo/mock-broker.js';
import { KafkaDecoder } from '../../src/kafka/index.js';
import { FrameStream } from '../../src/kafka/wire/stream.js';
import { privilegeProblem } from '../../src/runtime/privileges.js';
import { requestFrame } from '../fixtures/kafka/encoder.js';
import { heldBpf } from '../helpers/bpf-held.js';

const problem = privilegeProblem();
if (problem && process.env['CI'] === 'true') throw new Error(problem);
if (problem) console.log(`kafka frame accounting e2e test not run: ${problem}`);
const runnable = problem === undefined;

/** Sends `n` ApiVersions v0 requests in writes of `perWrite`; resolves once every response is read. */
function flood(port: number, n: number, perWrite: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let responses = 0;
    let pending: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${responses} of ${n} ApiVersions responses within 60 s`));
    }, 60_000);
    socket.on('connect', () => {
      for (let sent = 0; sent < n; sent += perWrite) {
        const k = Math.min(perWrite, n - sent);
        socket.write(Buffer.concat(Array.from({ length: k }, (_, i) => requestFrame(18, 0, sent + i, 'acct', {}))));
      }
    });
    socket.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on('data', (d: Buffer) => {
      pending = pending.length > 0 ? Buffer.concat([pending, d]) : d;
      let at = 0;
      while (pending.length - at >= 4 && pending.length - at - 4 >= pending.readInt32BE(at)) {
        at += 4 + pending.readInt32BE(at);
        responses++;
      }
      pending = pending.subarray(at);
      if (responses === n) {
        clearTimeout(timer);
        socket.end();
        socket.once('close', () => resolve(responses));
      }
    });
  });
}

describe('kafka capture: frame accounting under ring-buffer loss', () => {
  let broker: MockBroker;
  let port: number;

  beforeAll(async () => {
    if (!runnable) return;
    broker = await startMockBroker({ brokers: 1 });
    port = Number(broker.bootstrap.split(':')[1]);
  }, 60_000);

  afterAll(async () => {
    if (!runnable) return;
    await broker?.stop();
    expect(heldBpf().fds).toBe(0);
  });

  it('frames reassembled + frames counted lost == frames sent, on the client and the broker, requests and responses', async () => {
    if (!runnable) return;
    const N = 20_000;
    const records: CaptureRecord[] = [];
    const batches: Uint8Array[] = [];
    const take = (batch: Buffer): void => {
      batches.push(Uint8Array.from(batch));
      records.push(...captureRecords(batch));
    };
    const capture = startCapture({ ports: [port], ringBytes: 16384 }, take);
    let answered = 0;
    let frames: CaptureFrames;
    try {
      answered = await flood(port, N, 5000);
      await new Promise((resolve) => setTimeout(resolve, 100));
      take(capture.poll());
      frames = capture.frames();
    } finally {
      capture.close();
    }
    expect(answered).toBe(N);
    // What user space makes of the records: each (connection, direction) through a FrameStream, the
    // reassembly the decoder uses, resyncing where the capture says a frame starts.
    const streams = new Map<string, FrameStream<null>>();
    let reassembled = 0;
    for (const r of records) {
      if (r.close) continue;
      const key = `${r.conn}/${r.dir}`;
      let stream = streams.get(key);
      if (!stream) streams.set(key, (stream = new FrameStream<null>()));
      stream.push(r, null, () => reassembled++);
    }
    for (const stream of streams.values()) stream.flush(() => reassembled++);
    const lost = (d: keyof CaptureFrames): number => frames[d].ring + frames[d].afterLoss + frames[d].tooMany;
    // The test means something only if the ring overflowed.
    expect(frames.out.ring + frames.in.ring).toBeGreaterThan(0);
    expect(frames.out.desyncs + frames.in.desyncs).toBe(0);
    // Client and broker each send N frames and receive N.
    expect(frames.out.handed + lost('out')).toBe(2 * N);
    expect(frames.in.handed + lost('in')).toBe(2 * N);
    expect(reassembled + lost('out') + lost('in')).toBe(4 * N);
    // And what the decoder makes of them: every frame handed over is decoded, or left undecoded and
    // counted by its reason (an answer to a request the ring lost, a header cut short).
    const decoder = new KafkaDecoder({ onExchange: () => undefined });
    for (const b of batches) decoder.pushCapture(b);
    decoder.closeAll();
    const c = decoder.counters();
    const failed = Object.values(c.framesFailed).reduce((n, k) => n + k, 0);
    expect(c.badRecords).toBe(0);
    expect(c.framesFailed.orphan_response ?? 0).toBe(0);
    expect(c.framesDecoded + failed + lost('out') + lost('in')).toBe(4 * N);
  }, 120_000);
});
