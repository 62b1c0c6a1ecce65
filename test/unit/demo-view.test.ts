// kafkatrace demo's pure parts: map snapshots → figures and rates, printf records → the event log,
// states → frames of text (no escape codes without colour), frames → a terminal or a plain stream.
import { describe, expect, it } from 'vitest';
import type { MapValueKind } from '../../src/frontend/ast.js';
import type { DecodedEvent, MapSnapshot, Value } from '../../src/runtime/values.js';
import { DemoLog } from '../../src/demo/events.js';
import { Frames, type DemoSetting } from '../../src/demo/frames.js';
import { clipLine, liveScreen, plainScreen } from '../../src/demo/screen.js';
import { EVENT_FORMATS } from '../../src/demo/script.js';
import { emptyTotals, ratesBetween, totalsOf } from '../../src/demo/stats.js';
import { clock, fit, renderView, type ViewState } from '../../src/demo/view.js';

const str = { kind: 'str', size: 64 } as const;
const ESCAPE = /\x1b/;

function map(name: string, value: MapValueKind, entries: [string, bigint | { count: bigint; total: bigint }][]): MapSnapshot {
  return { name, value, keyTypes: [str], entries: entries.map(([k, v]) => ({ keys: [k], value: v })) };
}

/** The demo script's maps after `produced` and `fetched` records of 100 bytes on demo-orders. */
function snapshots(produced: number, fetched: number, produceRequests: number): MapSnapshot[] {
  const sum = { kind: 'sum', signed: false } as const;
  return [
    map('@produce_bytes', sum, [['demo-orders', BigInt(produced * 100)]]),
    map('@produce_records', sum, [['demo-orders', BigInt(produced)]]),
    map('@fetch_bytes', sum, [['demo-orders', BigInt(fetched * 100)]]),
    map('@fetch_records', sum, [['demo-orders', BigInt(fetched)]]),
    map('@producer_records', sum, [['demo-producer', BigInt(produced)]]),
    map('@consumer_records', sum, [['demo-consumer-1', BigInt(fetched)]]),
    map('@requests', { kind: 'count' }, [['Produce', BigInt(produceRequests)]]),
    map('@latency_us', { kind: 'avg', signed: false }, [['Produce', { count: BigInt(produceRequests), total: BigInt(produceRequests * 200) }]]),
    map('@rebalance_firings', { kind: 'count' }, [['kafkatrace-demo', 4n]]),
  ];
}

function printf(format: string, args: Value[]): DecodedEvent {
  return { ok: true, event: { id: 0, kind: 'printf', format, layout: { size: 0, fields: [] } }, args };
}

const rebalance = (generation: number, members: number, ms: number) =>
  printf(EVENT_FORMATS.rebalance, ['kafkatrace-demo', BigInt(generation), BigInt(members), BigInt(ms)]);
const join = (member: string, client: string, generation: number) =>
  printf(EVENT_FORMATS.join, ['kafkatrace-demo', member, client, BigInt(generation)]);
const leave = (member: string, client: string) => printf(EVENT_FORMATS.leave, ['kafkatrace-demo', member, client]);

const setting: DemoSetting = { broker: 'mock Kafka', bootstrap: '127.0.0.1:9092', topic: 'demo-orders', partitions: 3, group: 'kafkatrace-demo', durationMs: 20_000 };

describe('figures from the maps', () => {
  it('reads totals per topic, client, API and group', () => {
    const t = totalsOf(snapshots(500, 300, 40));
    expect(t.topics.get('demo-orders')).toEqual({ producedBytes: 50_000, producedRecords: 500, fetchedBytes: 30_000, fetchedRecords: 300 });
    expect(t.producers.get('demo-producer')).toBe(500);
    expect(t.consumers.get('demo-consumer-1')).toBe(300);
    expect(t.apis.get('Produce')).toEqual({ requests: 40, latencyTotalUs: 8000, latencyCount: 40 });
    expect(t.rebalanceFirings.get('kafkatrace-demo')).toBe(4);
  });

  it('turns two readings into per-second rates, latency averaged over the interval only', () => {
    const before = totalsOf(snapshots(100, 50, 10));
    const after = totalsOf(snapshots(300, 150, 30));
    after.apis.get('Produce')!.latencyTotalUs = 2000 + 20 * 500;
    const r = ratesBetween(before, after, 2);
    expect(r.topics.get('demo-orders')).toEqual({ producedBytes: 10_000, producedRecords: 100, fetchedBytes: 5000, fetchedRecords: 50 });
    expect(r.producers.get('demo-producer')).toBe(100);
    expect(r.apis.get('Produce')).toEqual({ requests: 10, latencyUs: 500 });
  });

  it('has no latency for an interval without requests, and never a negative rate', () => {
    const t = totalsOf(snapshots(10, 10, 5));
    const r = ratesBetween(t, totalsOf(snapshots(5, 10, 5)), 1);
    expect(r.apis.get('Produce')!.latencyUs).toBeUndefined();
    expect(r.topics.get('demo-orders')!.producedRecords).toBe(0);
  });

  it('reads no maps as no figures', () => {
    expect(totalsOf([])).toEqual(emptyTotals());
  });
});

describe('the event log', () => {
  it('keys rebalances by group and generation whether they fire per member or per generation', () => {
    const log = new DemoLog(() => 1500);
    expect(log.record(rebalance(1, 0, 3000))).toBe(true);
    log.record(rebalance(1, 2, 3001));
    log.record(rebalance(2, 3, 2000));
    const entries = log.entries();
    expect(entries).toHaveLength(2);
    expect(entries[0]).toMatchObject({ kind: 'rebalance', generation: 1, members: 2, firings: 2, durationMs: 3000, at: 1500 });
    expect(log.groups()).toEqual([expect.objectContaining({ group: 'kafkatrace-demo', generation: 2, members: 3, rebalances: 2 })]);
  });

  it('logs a member the first time it joins and when it leaves', () => {
    const log = new DemoLog(() => 0);
    log.record(join('m-1', 'demo-consumer-1', 1));
    log.record(join('m-1', 'demo-consumer-1', 2));
    log.record(join('', 'demo-consumer-2', 2));
    log.record(leave('m-1', 'demo-consumer-1'));
    log.record(join('m-1', 'demo-consumer-1', 3));
    expect(log.entries().map((e) => e.kind)).toEqual(['join', 'leave', 'join']);
    expect(log.entries()[0]).toMatchObject({ text: 'demo-consumer-1 joined kafkatrace-demo (generation 1) as m-1' });
  });

  it('leaves records it does not know to the caller', () => {
    const log = new DemoLog(() => 0);
    expect(log.record(printf('hello %s\n', ['x']))).toBe(false);
    expect(log.record({ ok: false, id: 3, error: 'short record' })).toBe(false);
    expect(log.entries()).toHaveLength(0);
  });
});

function state(overrides: Partial<ViewState> = {}): ViewState {
  const log = new DemoLog(() => 3200);
  log.record(rebalance(2, 2, 3004));
  log.record(join('m-3', 'demo-consumer-3', 3));
  log.note('scenario', 'demo-consumer-3 starts');
  log.note('error', 'demo-consumer-2 exited (status 1)');
  const totals = totalsOf(snapshots(500, 300, 40));
  return {
    ...setting,
    elapsedMs: 7000,
    totals,
    rates: ratesBetween(totalsOf(snapshots(450, 260, 36)), totals, 1),
    rateWindowMs: 1000,
    final: false,
    groups: log.groups(),
    log: log.entries(),
    ...overrides,
  };
}

describe('the view', () => {
  it('renders every section as plain text without colour', () => {
    const text = renderView(state(), { color: false }).join('\n');
    expect(text).not.toMatch(ESCAPE);
    expect(text).toContain('kafkatrace demo  mock Kafka at 127.0.0.1:9092\ntopic demo-orders (3 partitions), consumer group kafkatrace-demo\n');
    expect(text).toContain('7 s of 20 s; rates over the last 1 s (Ctrl-C stops)');
    expect(renderView(state({ broker: 'Apache Kafka 4.4.0' }), { color: false })[0]).toBe('kafkatrace demo  Apache Kafka 4.4.0 at 127.0.0.1:9092');
    expect(text).toMatch(/^demo-orders +50\.0 +4\.9 +40\.0 +3\.9 +500 +300$/m);
    expect(text).toMatch(/^demo-producer +producer +50\.0 +500$/m);
    expect(text).toMatch(/^demo-consumer-1 +consumer +40\.0 +300$/m);
    expect(text).toMatch(/^Produce +4\.0 +200 µs +40$/m);
    expect(text).toMatch(/^kafkatrace-demo +2 +2 +1 +4$/m);
    expect(text).toContain('0:03.2  rebalance  kafkatrace-demo generation 2, 2 members, took 3004 ms');
    expect(text).toContain('0:03.2  join       demo-consumer-3 joined kafkatrace-demo (generation 3) as m-3');
    expect(text).toContain('0:03.2  demo       demo-consumer-3 starts');
    expect(text).toContain('0:03.2  error      demo-consumer-2 exited (status 1)');
  });

  it('colours headings and events when asked to', () => {
    const lines = renderView(state(), { color: true });
    expect(lines[0]).toMatch(ESCAPE);
    expect(lines.find((l) => l.includes('took 3004 ms'))).toMatch(/\x1b\[33mrebalance/);
  });

  it('says what is missing before any traffic, and how the last frame measured its rates', () => {
    const empty = renderView(state({ totals: emptyTotals(), rates: ratesBetween(undefined, emptyTotals(), 1), groups: [], log: [] }), { color: false }).join('\n');
    expect(empty).toContain('no produce or fetch seen yet');
    expect(empty).toContain('no consumer group has rebalanced yet');
    expect(empty).toContain('EVENTS\nnothing yet');
    const final = renderView(state({ final: true, elapsedMs: 12_000, lost: 3 }), { color: false }).join('\n');
    expect(final).toContain('finished after 12.0 s; rates are averages over the run  3 capture records lost');
  });

  it('shrinks the API table and the log to fit a short terminal, busiest APIs first', () => {
    const s = state();
    for (const [api, n] of [['Fetch', 90], ['Heartbeat', 60], ['Metadata', 5], ['JoinGroup', 2], ['SyncGroup', 2]] as const) {
      s.totals.apis.set(api, { requests: n, latencyTotalUs: 0, latencyCount: 0 });
    }
    const full = renderView(s, { color: false });
    const short = renderView(s, { color: false, rows: full.length - 4 });
    expect(short.length).toBeLessThanOrEqual(full.length - 4);
    const text = short.join('\n');
    expect(text).toContain('API (top 3 of 6)');
    expect(text).toMatch(/^Fetch .*\nHeartbeat .*\nProduce /m);
    expect(text).not.toContain('Metadata');
    expect(short.filter((l) => /^ *\d+:\d\d\.\d  /.test(l))).toHaveLength(3);
    expect(renderView(s, { color: false, rows: 100 })).toEqual(full);
  });

  it('never passes control characters from the wire to the terminal', () => {
    const log = new DemoLog(() => 0);
    log.record(printf(EVENT_FORMATS.rebalance, ['evil\x1b[2Jgroup', 1n, 1n, 1n]));
    log.record(join('m\x07', 'client\x1b]0;title\x07', 1));
    const totals = totalsOf([map('@producer_records', { kind: 'sum', signed: false }, [['id\x1b[31m', 5n]])]);
    const text = renderView(state({ totals, rates: ratesBetween(undefined, totals, 1), groups: log.groups(), log: log.entries() }), { color: false }).join('\n');
    expect(text).not.toMatch(/[\x00-\x09\x0b-\x1f\x7f]/);
    expect(text).toContain('evil?[2Jgroup');
    expect(text).toContain('id?[31m');
  });

  it('fits cells and clocks', () => {
    expect(fit('demo-consumer-1234567', 10)).toBe('demo-cons…');
    expect(fit('7', 3, 'right')).toBe('  7');
    expect(clock(0)).toBe('0:00.0');
    expect(clock(65_432)).toBe('1:05.4');
  });
});

describe('frames', () => {
  it('rates each reading against the one before, and the last frame over the whole run', () => {
    const frames = new Frames(setting, new DemoLog(() => 0), 'live');
    frames.next(snapshots(100, 0, 10), 2000);
    const s = frames.next(snapshots(200, 50, 20), 4000);
    expect(s.rateWindowMs).toBe(2000);
    expect(s.rates.topics.get('demo-orders')!.producedRecords).toBe(50);
    const f = frames.final(snapshots(400, 300, 40), 8000);
    expect(f.final).toBe(true);
    expect(f.rates.topics.get('demo-orders')!.producedRecords).toBe(50);
  });

  it('shows only new events in plain frames and all of them in the last', () => {
    const log = new DemoLog(() => 0);
    const frames = new Frames(setting, log, 'plain');
    log.note('scenario', 'one');
    expect(frames.next([], 1000).log.map((e) => (e.kind === 'scenario' ? e.text : ''))).toEqual(['one']);
    log.note('scenario', 'two');
    expect(frames.next([], 2000).log).toHaveLength(1);
    expect(frames.next([], 3000).log).toHaveLength(0);
    expect(frames.final([], 4000).log).toHaveLength(2);
  });

  it('shows the latest events when redrawn in place', () => {
    const log = new DemoLog(() => 0);
    for (let i = 0; i < 15; i++) log.note('scenario', `step ${i}`);
    const shown = new Frames(setting, log, 'live').next([], 1000).log;
    expect(shown).toHaveLength(10);
    expect(shown[9]).toMatchObject({ text: 'step 14' });
  });
});

describe('screens', () => {
  it('redraws a terminal in place, clipped to its size (the last row and column left free)', () => {
    let out = '';
    const screen = liveScreen({ write: (s) => (out += s), rows: 4, columns: 21 });
    screen.draw(['first', 'second']);
    screen.draw(['a line longer than twenty columns', 'b', 'c', 'd', 'e']);
    screen.close();
    screen.close();
    expect(out).toBe(
      '\x1b[?25l' +
        'first\x1b[K\nsecond\x1b[K\n\x1b[J' +
        '\x1b[2Fa line longer than t\x1b[K\nb\x1b[K\nc\x1b[K\n\x1b[J' +
        '\x1b[?25h',
    );
  });

  it('clips by what shows, keeping colour codes', () => {
    expect(clipLine('\x1b[1mbold text\x1b[22m tail', 6)).toBe('\x1b[1mbold t\x1b[22m');
    expect(clipLine('short', 10)).toBe('short');
  });

  it('prints frames one after another, as they are, when not on a terminal', () => {
    let out = '';
    const screen = plainScreen((s) => (out += s));
    screen.draw(renderView(state(), { color: false }));
    screen.draw(['next']);
    screen.close();
    expect(out).not.toMatch(ESCAPE);
    expect(out.endsWith('\n\nnext\n\n')).toBe(true);
  });
});
