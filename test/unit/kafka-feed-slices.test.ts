// How the Kafka source decodes a flood without starving the event loop (/metrics, signals, timers):
// a fake capture hands over one large batch, and a fake clock on which every decoded piece takes
// 1 ms tells how much each turn of the loop decoded.
import { afterEach, describe, expect, it } from 'vitest';
import type { Capture, CaptureOptions } from '../../src/kafka/capture/loader.js';
import type { CompiledProbe } from '../../src/runtime/interpreter.js';
import { startKafkaFeed, type KafkaFeed } from '../../src/runtime/kafka-source.js';
import type { Output } from '../../src/runtime/output.js';
import { apiVersionsRecords } from '../fixtures/kafka/corpus.js';

const EXCHANGES = 2000;

/** A capture whose batches the test hands over; it remembers whether the reader paused the ring. */
function fakeCapture() {
  const state = { onBatch: undefined as ((batch: Buffer) => void) | undefined, pauses: [] as boolean[], closed: false };
  const zero = { handed: 0, ring: 0, afterLoss: 0, tooMany: 0, desyncs: 0 };
  const start = (_o: CaptureOptions, onBatch: (batch: Buffer) => void): Capture => {
    state.onBatch = onBatch;
    return {
      probes: 0,
      lost: () => 0,
      frames: () => ({ out: zero, in: zero }),
      poll: () => Buffer.alloc(0),
      pause: (p) => void state.pauses.push(p),
      close: () => void (state.closed = true),
    };
  };
  return { state, start };
}

const output = { error: () => {} } as unknown as Output;
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

let feed: KafkaFeed | undefined;
afterEach(() => feed?.close());

function setup(msPerCall: number) {
  const capture = fakeCapture();
  let clock = 0;
  let calls = 0;
  feed = startKafkaFeed({
    output,
    capture: {},
    startCapture: capture.start,
    now: () => {
      calls++;
      return (clock += msPerCall);
    },
  });
  let fired = 0;
  const probe: CompiledProbe = { index: 0, names: ['apiversions'], intervals: [], atEnd: false, run: () => void fired++ };
  feed.attach([probe], () => {}, []);
  return { capture: capture.state, fired: () => fired, calls: () => calls };
}

describe('the Kafka source under a flood', () => {
  it('decodes a batch in slices of at most 2 ms, the event loop running in between, and pauses the ring meanwhile', async () => {
    const { capture, fired, calls } = setup(1);
    capture.onBatch!(apiVersionsRecords(0, EXCHANGES));
    // Each turn: one clock read for the deadline, then one per piece decoded (1 ms each).
    const piecesPerTurn = [calls() - 1];
    const firedPerTurn = [fired()];
    expect(fired()).toBeLessThan(EXCHANGES);
    expect(capture.pauses).toEqual([true]);
    let outside = 0;
    while (fired() < EXCHANGES) {
      const before = { calls: calls(), fired: fired() };
      // Queued after the feed's next slice: it runs once that slice has yielded.
      setImmediate(() => outside++);
      await nextTurn();
      piecesPerTurn.push(calls() - before.calls - 1);
      firedPerTurn.push(fired() - before.fired);
      expect(piecesPerTurn.length).toBeLessThan(EXCHANGES);
    }
    expect(outside).toBe(piecesPerTurn.length - 1);
    // A slice ends at the first piece past 2 ms: at most 3 pieces of 1 ms.
    expect(Math.max(...piecesPerTurn)).toBeLessThanOrEqual(3);
    expect(firedPerTurn.every((n) => n > 0)).toBe(true);
    expect(fired()).toBe(EXCHANGES);
    expect(capture.pauses).toEqual([true, false]);
  });

  it('decodes a batch at once, never pausing the ring, when it takes less than a slice', () => {
    const { capture, fired } = setup(0);
    capture.onBatch!(apiVersionsRecords(0, EXCHANGES));
    expect(fired()).toBe(EXCHANGES);
    expect(capture.pauses).toEqual([]);
  });

  it('stop() decodes what is still waiting, then closes the capture', () => {
    const { capture, fired } = setup(1);
    capture.onBatch!(apiVersionsRecords(0, EXCHANGES));
    expect(fired()).toBeLessThan(EXCHANGES);
    feed!.stop();
    expect(fired()).toBe(EXCHANGES);
    expect(capture.closed).toBe(true);
  });
});
