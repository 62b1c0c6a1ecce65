// Decoding only what a script reads (src/kafka/probes/demand.ts): with a demand, the firings of the
// attached probes must carry the demanded args with exactly the values of the full decoding path,
// over every API and version, whole and truncated frames alike; what nothing demands is not decoded.
import { describe, expect, it } from 'vitest';
import { compileProjectedBody } from '../../src/kafka/wire/body-compiler.js';
import { DecodePlan } from '../../src/kafka/probes/demand.js';
import { KafkaDecoder, type CaptureChunk, type KafkaDemand, type KafkaExchange, type ProbeFiring } from '../../src/kafka/index.js';
import { Reader } from '../../src/kafka/wire/reader.js';
import { requestSpec } from '../../src/kafka/wire/schemas/index.js';
import { planScript } from '../../src/compiler.js';
import { demandOf, kafkaDemand } from '../../src/runtime/kafka-source.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';
import type { CompiledProbe } from '../../src/runtime/interpreter.js';
import { chunk, conn, corpus, exchangeChunks, lagFlow } from '../fixtures/kafka/corpus.js';
import { encodeBody, recordBatch, requestFrame, responseFrame } from '../fixtures/kafka/encoder.js';

function run(chunks: CaptureChunk[], demand?: KafkaDemand): { decoder: KafkaDecoder; exchanges: KafkaExchange[]; firings: ProbeFiring[][] } {
  const exchanges: KafkaExchange[] = [];
  const firings: ProbeFiring[][] = [];
  const decoder: KafkaDecoder = new KafkaDecoder({
    demand,
    onExchange: (ex) => {
      exchanges.push(ex);
      firings.push(decoder.firings(ex));
    },
  });
  for (const c of chunks) decoder.push(c);
  decoder.closeAll();
  return { decoder, exchanges, firings };
}

/** The full path's firings as a demand would see them: attached probes only, demanded args only. */
function restricted(firings: ProbeFiring[], demand: KafkaDemand): ProbeFiring[] {
  const probes = new Set(demand.probes);
  const args = [...new Set(demand.args)];
  return firings.filter((f) => probes.has(f.probe)).map((f) => {
    const picked: ProbeFiring['args'] = {};
    for (const a of args) if (f.args[a] !== undefined) picked[a] = f.args[a];
    return f.connection ? { probe: f.probe, args: picked, connection: f.connection, nsecs: f.nsecs } : { probe: f.probe, args: picked };
  });
}

function expectSameFirings(chunks: CaptureChunk[], demand: KafkaDemand): number {
  const full = run(chunks);
  const part = run(chunks, demand);
  expect(part.exchanges.length).toBe(full.exchanges.length);
  let compared = 0;
  for (let i = 0; i < full.firings.length; i++) {
    const want = restricted(full.firings[i]!, demand);
    const ex = full.exchanges[i]!;
    expect(part.firings[i], `${ex.api} v${ex.version} #${ex.correlation_id} truncated=${ex.truncated}`).toEqual(want);
    compared += want.length;
  }
  return compared;
}

const PRODUCE_ARGS = ['topic', 'partition', 'acks', 'transactional_id', 'records', 'bytes', 'base_offset', 'error', 'error_name'];
const FETCH_ARGS = [
  'topic', 'partition', 'max_wait_ms', 'min_bytes', 'max_bytes', 'isolation_level', 'session_id', 'session_epoch', 'rack',
  'group', 'fetch_offset', 'high_watermark', 'last_stable_offset', 'log_start_offset', 'lag', 'time_lag', 'records', 'bytes', 'error',
];

const DEMANDS: [string, KafkaDemand][] = [
  ['the bench script', { probes: ['produce', 'fetch'], args: ['topic', 'records', 'lag'] }],
  ['header args of kafka:request', { probes: ['request'], args: ['api', 'client_id', 'latency', 'status', 'request_bytes', 'response_bytes', 'version', 'rport'] }],
  ['body args of kafka:request', { probes: ['request'], args: ['api', 'error', 'error_name', 'group', 'acks', 'member'] }],
  ['every produce arg', { probes: ['produce'], args: [...PRODUCE_ARGS, 'api', 'status', 'latency'] }],
  ['every fetch arg', { probes: ['fetch'], args: FETCH_ARGS }],
  ['lag views', { probes: ['lag', 'offsetcommit', 'listoffsets'], args: ['group', 'topic', 'partition', 'high_watermark', 'committed_offset', 'committed_lag', 'fetch_offset', 'lag', 'offset'] }],
  ['rebalances', { probes: ['rebalance', 'member', 'syncgroup', 'joingroup'], args: ['group', 'member', 'generation', 'join_time', 'join_to_sync', 'members', 'protocol'] }],
];

describe('decoding on demand', () => {
  const chunks = corpus();
  const flow = lagFlow();

  it('has truncated exchanges of many APIs in its corpus', () => {
    const truncated = run(chunks).exchanges.filter((ex) => ex.truncated);
    expect(truncated.length).toBeGreaterThan(300);
    expect(new Set(truncated.map((ex) => ex.api)).size).toBeGreaterThanOrEqual(20);
  });

  for (const [name, demand] of DEMANDS) {
    it(`gives the full path's values for ${name}`, () => {
      const compared = expectSameFirings(chunks, demand) + expectSameFirings(flow, demand);
      expect(compared).toBeGreaterThan(0);
    });
  }

  it('gives the full path firings when every probe and arg is demanded', () => {
    const full = run(chunks).firings.flat();
    const demand = { probes: new Set(full.map((f) => f.probe)), args: new Set(full.flatMap((f) => Object.keys(f.args))) };
    expect(demand.probes.size).toBeGreaterThan(20);
    expect(run(chunks, demand).firings.flat()).toEqual(full);
  });

  it('never takes an arg from Object.prototype', () => {
    const firings = run(flow, { probes: ['produce'], args: ['constructor', 'toString', 'topic'] }).firings.flat();
    expect(firings[0]!.args).toEqual({ topic: 'orders' });
  });

  it('decodes the lag flow with lag values on the demanded firings', () => {
    const demand = { probes: ['fetch'], args: ['lag', 'time_lag', 'topic'] };
    const fetches = run(flow, demand).firings.flat();
    expect(fetches.length).toBe(16);
    // Fetched 2 µs after the Produce request was sent; answered 5 ns later.
    expect(fetches[0]!.args).toEqual({ topic: 'orders', lag: 5n, time_lag: 2005n });
    expectSameFirings(flow, demand);
  });

  it('does not decode bodies nothing demands: a corrupt one is no failure', () => {
    const good = exchangeChunks(requestFrame(18, 0, 1, 'c', {}), responseFrame(18, 0, 1, { ErrorCode: 0, ApiKeys: [] }), 1_000n);
    // ListOffsets v1 whose topic count runs past the frame; a Produce whose partitions do.
    const listOffsets = requestFrame(2, 1, 2, 'c', new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 1, 0]));
    const produce = requestFrame(0, 3, 3, 'c', new Uint8Array([0xff, 0xff, 0, 1, 0, 0, 0, 0, 0x7f, 0, 0, 0]));
    const chunks = [
      ...good,
      ...exchangeChunks(listOffsets, responseFrame(2, 1, 2, { Topics: [] }), 2_000n),
      ...exchangeChunks(produce, responseFrame(0, 3, 3, { Responses: [], ThrottleTimeMs: 0 }), 3_000n),
    ];
    expect(run(chunks).decoder.counters().framesFailed).toEqual({ overrun: 2 });
    const headerOnly = run(chunks, { probes: ['request'], args: ['api', 'status'] });
    expect(headerOnly.decoder.counters().framesFailed).toEqual({});
    expect(headerOnly.firings.flat().map((f) => f.args)).toEqual([
      { api: 'ApiVersions', status: 'complete' }, { api: 'ListOffsets', status: 'complete' }, { api: 'Produce', status: 'complete' },
    ]);
    // kafka:produce needs the Produce body (its failure counts) but not ListOffsets'.
    expect(run(chunks, { probes: ['produce'], args: ['topic'] }).decoder.counters().framesFailed).toEqual({ overrun: 1 });
  });

  it('runs the lag and rebalance trackers only when something reads them', () => {
    const full = run(flow);
    expect(full.exchanges.some((ex) => ex.lag !== undefined)).toBe(true);
    expect(full.exchanges.some((ex) => ex.items.some((i) => i.time_lag !== undefined))).toBe(true);
    const plain = run(flow, { probes: ['produce', 'fetch', 'offsetcommit'], args: ['topic', 'lag', 'committed_offset'] });
    expect(plain.exchanges.every((ex) => ex.lag === undefined)).toBe(true);
    expect(plain.exchanges.some((ex) => ex.items.some((i) => i.time_lag !== undefined || i.committed_lag !== undefined))).toBe(false);
    for (const [demand, lag, rebalance] of [
      [{ probes: ['fetch'], args: ['time_lag'] }, true, false],
      [{ probes: ['offsetcommit'], args: ['committed_lag'] }, true, false],
      [{ probes: ['lag'], args: [] }, true, false],
      [{ probes: ['member'], args: [] }, false, true],
      [{ probes: ['syncgroup'], args: ['join_time'] }, false, true],
      [{ probes: ['produce', 'request'], args: ['topic', 'error'] }, false, false],
    ] as const) {
      const plan = new DecodePlan(demand);
      expect([plan.lag, plan.rebalance], JSON.stringify(demand)).toEqual([lag, rebalance]);
    }
  });

  it('follows a changed demand from the next frame on', () => {
    const events: ProbeFiring[][] = [];
    const decoder: KafkaDecoder = new KafkaDecoder({ demand: { probes: ['request'], args: ['api'] }, onExchange: (ex) => events.push(decoder.firings(ex)) });
    for (const c of flow.slice(0, 8)) decoder.push(c);
    decoder.setDemand({ probes: ['produce'], args: ['records', 'base_offset'] });
    for (const c of flow.slice(8, 14)) decoder.push(c);
    decoder.setDemand(undefined);
    for (const c of flow.slice(14, 16)) decoder.push(c);
    expect(events[1]).toEqual([{ probe: 'request', args: { api: 'Produce' } }]);
    expect(events[4]).toEqual([{ probe: 'produce', args: { records: 5n, base_offset: 70n } }]);
    expect(events[5]).toEqual([]);
    expect(events[3]).toEqual([{ probe: 'request', args: { api: 'Fetch' } }]);
    expect(events[7]!.map((f) => f.probe)).toEqual(['request', 'produce']);
    expect(events[7]![1]!.args).toMatchObject({ topic: 'orders', records: 5n, acks: -1n, base_offset: 90n });
  });
});

describe('projected bodies', () => {
  it('stop after the last needed field and make no values for the rest', () => {
    const spec = requestSpec(0)!;
    const body = encodeBody(spec, 3, { TransactionalId: 'tx', Acks: -1, TimeoutMs: 5, TopicData: [{ Name: 't', PartitionData: [{ Index: 2, Records: recordBatch({ records: 4 }) }] }] });
    const rt = { tagged: () => undefined, skipTagged: () => undefined };
    const acks = compileProjectedBody(spec, 3, rt, new Set(['Acks']));
    const r = Reader.of(body);
    expect(acks.decode(r)).toEqual({ Acks: -1 });
    expect(acks.whole).toBe(false);
    expect(r.pos).toBe(2 + 2 + 2);
    const parts = compileProjectedBody(spec, 3, rt, new Set(['Index', 'Records']));
    const decoded = parts.decode(Reader.of(body));
    expect(parts.whole).toBe(true);
    expect(decoded).toEqual({ TopicData: [{ PartitionData: [{ Index: 2, Records: expect.objectContaining({ records: 4, batches: [] }) }] }] });
  });

  it('check what they step over as decoding would: a length past the frame fails', () => {
    const spec = requestSpec(0)!;
    const body = encodeBody(spec, 3, { TransactionalId: 'tx', Acks: 1, TimeoutMs: 5, TopicData: [] });
    const rt = { tagged: () => undefined, skipTagged: () => undefined };
    const late = compileProjectedBody(spec, 3, rt, new Set(['TimeoutMs']));
    expect(late.decode(Reader.of(body))).toEqual({ TimeoutMs: 5 });
    expect(() => late.decode(Reader.of(body.subarray(0, 3), body.length))).toThrow(/not copied|past the end/);
  });
});

describe('KafkaDecoder connections', () => {
  it('closes the least recently used connection past maxConnections, with repeated chunks of one', () => {
    const closed: number[] = [];
    const decoder = new KafkaDecoder({ maxConnections: 2, onExchange: (ex) => ex.status === 'closed' && closed.push(ex.connection.fd) });
    const on = (fd: number, id: number) => chunk('out', requestFrame(18, 0, id, 'c', {}), BigInt(id), 0, { ...conn, fd, lport: 50000 + fd });
    decoder.push(on(1, 1));
    decoder.push(on(2, 2));
    decoder.push(on(1, 3));
    decoder.push(on(1, 4));
    decoder.push(on(3, 5));
    expect(closed).toEqual([2]);
    decoder.push(on(1, 6));
    decoder.push(on(4, 7));
    expect(closed).toEqual([2, 3]);
    expect(decoder.connectionCount).toBe(2);
  });
});

describe('kafkaDemand', () => {
  it("takes a plan's kafka probes and the args they read, in predicates and actions", () => {
    const source = 'kafka:produce /args.acks == -1/ { @r[args.topic] = sum(args.records); } kafka:fetch { @lag = hist(args.lag); } interval:s:1 { print(@r); }';
    const r = planScript(source, 't.ktr', { positional: [], unsafe: false, system: new FakeSystem() });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    const d = kafkaDemand(r.compiled.plan);
    expect([...d.probes]).toEqual(['produce', 'fetch']);
    expect([...d.args].sort()).toEqual(['acks', 'lag', 'records', 'topic']);
  });
});

describe('demandOf', () => {
  const probe = (names: string[]): CompiledProbe => ({ index: 0, names, intervals: [], atEnd: false, run: () => undefined });
  it('merges the probes and args of every attached set', () => {
    const d = demandOf([
      { probes: [probe(['produce']), probe([])], args: new Set(['topic']) },
      { probes: [probe(['fetch', 'request'])], args: new Set(['lag']) },
    ]);
    expect(d && [...d.probes]).toEqual(['produce', 'fetch', 'request']);
    expect(d && [...d.args]).toEqual(['topic', 'lag']);
  });

  it('demands everything when a set does not say what it reads', () => {
    expect(demandOf([{ probes: [probe(['produce'])], args: new Set(['topic']) }, { probes: [probe(['fetch'])], args: undefined }])).toBeUndefined();
  });
});
