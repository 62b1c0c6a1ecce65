// Every frame the test writes is decoded, counted lost or counted skipped, exactly once, when the ring
// buffer loses records. Many connections (clients and brokers) exchange pipelined requests and
// responses, written in batches of whole frames and read in pieces of any size; each syscall becomes a
// capture record as bpf-templates/kafka-capture.bpf.c makes it, and the ring refuses records at
// random. As the capture does then, a refused record's bytes and those up to the next frame boundary
// pass uncopied (counted as skipped by the next record, flagged resync and loss), the other
// direction's next record is flagged loss, and its frames are counted lost: those whose size field
// was in the refused record (ring full), or passed uncopied after it (after loss). The records go
// through KafkaDecoder.pushCapture in ring-buffer batches. The truth is the frames the test wrote:
// decoded ones show as exchanges, and the rest must be exactly the decoder's failed frames.
import { describe, expect, it } from 'vitest';
import { encodeCaptureRecord } from '../../src/kafka/capture/record.js';
import { KafkaDecoder, type KafkaExchange } from '../../src/kafka/index.js';
import { requestSpec, responseSpec } from '../../src/kafka/wire/schemas/index.js';
import { recordBatch, requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';
import { sampleBody } from '../fixtures/kafka/samples.js';
import { laneResponses } from '../helpers/lane-count.js';
import { rng } from '../helpers/seeded.js';

/**
 * APIs of small frames, which the capture copies whole; besides them, Produce requests of a few
 * records (under its walk threshold, 512 bytes). Fetch, whose responses it walks, and SASL are left out.
 */
const APIS = [2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18];
/** Capture records hold at most this many data bytes (KC_REC_CAP); every syscall here fits in one. */
const RECORD_CAP = 4096;

type Fate = 'handed' | 'ring' | 'afterLoss';

/** One direction of a connection: its bytes, where its frames start, and what the capture did with them. */
class Wire {
  bytes = new Uint8Array(0);
  /** Stream offset of each frame's size field. */
  starts: number[] = [];
  fates: Fate[] = [];
  /** Bytes passed through syscalls so far. */
  pos = 0;
  /** Copying stopped after a refused record, until the next frame boundary. */
  lost = false;
  /** Uncopied bytes and flags for the next record. */
  skipped = 0;
  flags = { resync: false, loss: false };
  /** The next frame whose size field has not passed yet. */
  next = 0;
  /** 1 for each byte that reached the decoder. */
  delivered = new Uint8Array(0);

  append(frames: Uint8Array[]): void {
    const grown = new Uint8Array(this.bytes.length + frames.reduce((n, f) => n + f.length, 0));
    grown.set(this.bytes);
    let at = this.bytes.length;
    for (const f of frames) {
      this.starts.push(at);
      this.fates.push('handed');
      grown.set(f, at);
      at += f.length;
    }
    this.bytes = grown;
    this.delivered = new Uint8Array(grown.length);
  }

  /** Stream offset where frame i ends. */
  end(i: number): number {
    return i + 1 < this.starts.length ? this.starts[i + 1]! : this.bytes.length;
  }
}

interface Conn {
  index: number;
  role: 'client' | 'broker';
  requests: Wire;
  responses: Wire;
  /** Correlation ids of the exchanges, in order. */
  ids: number[];
  /** Exchanges on the connection. */
  total: number;
  /** Whether its first response has reached the decoder (before that, no loss: see the note below). */
  paired: boolean;
}

interface Workload {
  batches: Uint8Array[];
  conns: Conn[];
  written: number;
  lost: { ring: number; afterLoss: number };
}

function workload(seed: number, connections: number, lossRate: number): Workload {
  const random = rng(seed);
  const int = (n: number): number => Math.floor(random() * n);
  const conns: Conn[] = [];
  for (let c = 0; c < connections; c++) {
    const conn: Conn = { index: c, role: random() < 0.5 ? 'client' : 'broker', requests: new Wire(), responses: new Wire(), ids: [], total: 20 + int(150), paired: false };
    const clientId = `app-${c}`;
    let id = int(1 << 30);
    const requests: Uint8Array[] = [];
    const responses: Uint8Array[] = [];
    for (let e = 0; e < conn.total; e++) {
      const api = random() < 0.3 ? 0 : APIS[int(APIS.length)]!;
      conn.ids.push(++id);
      if (api === 0) {
        // A Produce request and its answer, on the same partitions (as the fast lane wants them).
        const version = 3 + int(7);
        const topic = `orders-${int(5)}`;
        const parts = [...new Set([int(8), int(8)])];
        requests.push(requestFrame(0, version, id, clientId, {
          TransactionalId: null, Acks: random() < 0.5 ? 1 : -1, TimeoutMs: 1000,
          TopicData: [{ Name: topic, PartitionData: parts.map((Index) => ({ Index, Records: recordBatch({ records: 1 + int(3) }) })) }],
        }));
        responses.push(responseFrame(0, version, id, {
          Responses: [{ Name: topic, PartitionResponses: parts.map((Index) => ({ Index, ErrorCode: 0, BaseOffset: BigInt(int(1 << 20)) })) }],
          ThrottleTimeMs: 0,
        }));
        continue;
      }
      const req = requestSpec(api)!;
      const [lo, hi] = req.valid;
      const version = lo + int(hi - lo + 1);
      requests.push(requestFrame(api, version, id, clientId, sampleBody(req, version).value));
      responses.push(responseFrame(api, version, id, sampleBody(responseSpec(api)!, version).value));
    }
    conn.requests.append(requests);
    conn.responses.append(responses);
    conns.push(conn);
  }

  const records: Uint8Array[] = [];
  let ts = 1_000_000_000n;
  const lost = { ring: 0, afterLoss: 0 };
  /** `n` bytes of `wire` pass through one syscall of `conn`: the capture's records of them. */
  const syscall = (conn: Conn, wire: Wire, n: number): void => {
    const dir = (wire === conn.requests) === (conn.role === 'client') ? 'out' : 'in';
    const other = wire === conn.requests ? conn.responses : conn.requests;
    const from = wire.pos;
    const to = from + n;
    expect(n).toBeLessThanOrEqual(RECORD_CAP);
    let copyFrom = from;
    // Frames whose size field completes in this syscall (one begun in an earlier syscall included).
    const completed: number[] = [];
    while (wire.next < wire.starts.length && wire.starts[wire.next]! + 4 <= to) completed.push(wire.next++);
    if (wire.lost) {
      // Uncopied up to the first frame boundary in this syscall (a size field begun before is not one).
      let resume: number | undefined = wire.starts.findIndex((s) => s >= from);
      if (resume < 0 || wire.starts[resume]! >= to) resume = undefined;
      for (const i of completed) if (resume === undefined || i < resume) wire.fates[i] = 'afterLoss';
      if (resume === undefined) {
        wire.skipped += n;
        wire.pos = to;
        return;
      }
      copyFrom = wire.starts[resume]!;
      wire.skipped += copyFrom - from;
      wire.lost = false;
      wire.flags = { resync: true, loss: true };
    }
    wire.pos = to;
    const handed = completed.filter((i) => wire.fates[i] === 'handed');
    ts += 1000n;
    const refuse = conn.paired && random() < lossRate;
    if (refuse) {
      for (const i of handed) wire.fates[i] = 'ring';
      wire.skipped += to - copyFrom;
      wire.lost = true;
      other.flags.loss = true;
      return;
    }
    records.push(encodeCaptureRecord({
      pid: 1000 + conn.index, tid: 1000 + conn.index, comm: conn.role === 'client' ? 'app' : 'broker', fd: 10, conn: 7_000_000n + BigInt(conn.index), family: 4,
      laddr: '127.0.0.1', lport: conn.role === 'client' ? 40000 + conn.index : 9092, raddr: '127.0.0.1', rport: conn.role === 'client' ? 9092 : 40000 + conn.index,
      dir, ts, skipped: wire.skipped, resync: wire.flags.resync, loss: wire.flags.loss,
      data: wire.bytes.subarray(copyFrom, to),
    }));
    wire.delivered.fill(1, copyFrom, to);
    wire.skipped = 0;
    wire.flags = { resync: false, loss: false };
    if (wire === conn.responses && to >= wire.end(0)) conn.paired = true;
  };

  // Writes are batches of whole frames; reads take what is there in pieces of any size. A broker
  // answers a request once it has read it; a client has at most 8 requests in flight.
  const frameBatch = (wire: Wire, limit: number): number => {
    const first = wire.starts.findIndex((s) => s >= wire.pos);
    const count = Math.min(1 + int(4), limit - first);
    return wire.end(first + count - 1) - wire.pos;
  };
  // Reads take all there is (up to the record's size), or pieces of any size; some are tiny, so that
  // size fields are cut too (and some after a refused record).
  const readable = (wire: Wire, available: number): number => {
    const r = random();
    return Math.min(available - wire.pos, r < 0.4 ? RECORD_CAP : 1 + int(r < 0.6 ? 8 : 700));
  };
  const framesPassed = (wire: Wire): number => wire.starts.filter((_, i) => wire.end(i) <= wire.pos).length;
  const busy = new Set(conns);
  while (busy.size > 0) {
    const conn = [...busy][int(busy.size)]!;
    const { requests, responses } = conn;
    const doneRequests = framesPassed(requests);
    const actions: (() => void)[] = [];
    if (conn.role === 'client') {
      if (requests.pos < requests.bytes.length && doneRequests - framesPassed(responses) < 8) actions.push(() => syscall(conn, requests, frameBatch(requests, conn.total)));
      const answered = doneRequests === 0 ? 0 : responses.end(doneRequests - 1);
      if (responses.pos < answered) actions.push(() => syscall(conn, responses, readable(responses, answered)));
    } else {
      if (requests.pos < requests.bytes.length) actions.push(() => syscall(conn, requests, readable(requests, requests.bytes.length)));
      if (framesPassed(responses) < doneRequests) actions.push(() => syscall(conn, responses, frameBatch(responses, doneRequests)));
    }
    if (actions.length === 0) {
      busy.delete(conn);
      continue;
    }
    actions[int(actions.length)]!();
  }

  // Records reach the decoder in batches, as drains of the ring hand them over.
  const batches: Uint8Array[] = [];
  for (let i = 0; i < records.length; ) {
    const k = 1 + int(32);
    const part = records.slice(i, i + k);
    const batch = new Uint8Array(part.reduce((n, r) => n + r.length, 0));
    let at = 0;
    for (const r of part) {
      batch.set(r, at);
      at += r.length;
    }
    batches.push(batch);
    i += k;
  }
  let written = 0;
  for (const c of conns) {
    for (const w of [c.requests, c.responses]) {
      written += w.starts.length;
      for (const f of w.fates) if (f !== 'handed') lost[f]++;
    }
  }
  return { batches, conns, written, lost };
}

describe('frame accounting under ring-buffer loss (pushCapture)', () => {
  // Loss starts on a connection once a response of it has reached the decoder: before its first
  // pairing the decoder does not know which direction carries requests (see README, decode health).
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: every frame written is decoded, counted lost or counted skipped, once`, () => {
      const w = workload(seed, 60, 0.08);
      const exchanges: KafkaExchange[] = [];
      const decoder = new KafkaDecoder({ onExchange: (ex) => exchanges.push(ex) });
      for (const b of w.batches) decoder.pushCapture(b);
      decoder.closeAll();
      const c = decoder.counters();

      // The frames decoded, by the exchanges reported: each request once, its response with it.
      let decoded = 0;
      const seen = new Set<string>();
      const reported = new Set(exchanges.map((ex) => `${ex.connection.pid - 1000}/${ex.correlation_id}`));
      // Responses that reached the decoder with their correlation id, to requests it never saw whole.
      let respondedToLost = 0;
      for (const conn of w.conns) {
        const r = conn.responses;
        conn.ids.forEach((id, i) => {
          const at = r.starts[i]! + 4;
          if (!reported.has(`${conn.index}/${id}`) && r.fates[i] === 'handed' && r.delivered.subarray(at, at + 4).every((b) => b === 1)) respondedToLost++;
        });
      }
      for (const ex of exchanges) {
        const conn = w.conns[ex.connection.pid - 1000]!;
        const i = conn.ids.indexOf(ex.correlation_id);
        expect(i, `exchange ${ex.correlation_id} on connection ${conn.index}`).toBeGreaterThanOrEqual(0);
        const key = `${conn.index}/${i}`;
        expect(seen.has(key), key).toBe(false);
        seen.add(key);
        expect(conn.requests.fates[i]).toBe('handed');
        decoded++;
        if (ex.status === 'complete') {
          expect(conn.responses.fates[i]).toBe('handed');
          decoded++;
        }
      }
      const skipped = Object.values(c.framesFailed).reduce((n, k) => n + k, 0);
      const lost = w.lost.ring + w.lost.afterLoss;

      // The test means something only if the ring lost plenty, of both kinds, both ways.
      expect(w.lost.ring).toBeGreaterThan(100);
      expect(w.lost.afterLoss).toBeGreaterThan(0);
      expect(respondedToLost).toBeGreaterThan(50);
      expect(c.badRecords).toBe(0);
      expect(c.framesDecoded).toBe(decoded);
      expect({ decoded, skipped, lost, sum: decoded + skipped + lost }).toEqual({ decoded, skipped, lost, sum: w.written });
      // Each response to a lost request is counted as such; nothing passes for lost sync.
      expect(c.framesFailed.request_lost ?? 0).toBe(respondedToLost);
      expect(c.framesFailed.orphan_response ?? 0).toBe(0);

      // The same through the fast lane (which pairs Produce answers itself) and without it.
      const demand = { probes: ['produce'], args: ['topic', 'records', 'latency'] };
      const counters = (lane: boolean): ReturnType<KafkaDecoder['counters']> => {
        const d = new KafkaDecoder({ demand, lane, onFiring: () => undefined });
        for (const b of w.batches) d.pushCapture(b);
        d.closeAll();
        return d.counters();
      };
      let viaLane = counters(false);
      const { taken } = laneResponses(() => (viaLane = counters(true)));
      expect(taken).toBeGreaterThan(50);
      expect(viaLane).toEqual(counters(false));
      expect({ decoded: viaLane.framesDecoded, failed: viaLane.framesFailed }).toEqual({ decoded, failed: c.framesFailed });
    });
  }
});
