// Kafka blocks in the REPL engine, without a kernel: a fake feed stands for the capture and the
// decoder, and the tests fire the attached probes as the feed would.
import { afterEach, describe, expect, it } from 'vitest';
import { ReplEngine } from '../../src/repl/engine.js';
import type { CompiledProbe, Firing } from '../../src/runtime/interpreter.js';
import type { KafkaFeed, KafkaFeedOptions } from '../../src/runtime/kafka-source.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';
import { newCounters } from '../../src/kafka/exchange/counters.js';

interface FakeSet {
  probes: CompiledProbe[];
  onExit: (code: number) => void;
  /** The args the block's probes read, which the feed's decoder is asked for. */
  args: string[] | undefined;
  detached: boolean;
}

/** A feed that records what is attached; fire() runs probes as exchanges would. */
class FakeFeed implements KafkaFeed {
  readonly sets: FakeSet[] = [];
  state: 'running' | 'stopped' | 'closed' = 'running';

  attach(probes: CompiledProbe[], onExit: (code: number) => void, args?: Iterable<string>) {
    const set: FakeSet = { probes, onExit, args: args && [...args].sort(), detached: false };
    this.sets.push(set);
    return {
      detach: () => {
        set.detached = true;
        for (const p of probes) if (p.atEnd) this.runOne(set, p, 'END', {});
      },
    };
  }

  private runOne(set: FakeSet, p: CompiledProbe, probe: string, args: Firing['args']): void {
    const code = p.run({ probe, args, pid: 7, tid: 7, comm: 'producer', nsecs: 1n });
    if (code !== undefined) set.onExit(code);
  }

  fire(name: string, args: Firing['args']): void {
    for (const set of this.sets.filter((s) => !s.detached)) {
      for (const p of set.probes) if (p.names.includes(name)) this.runOne(set, p, `kafka:${name}`, args);
    }
  }

  stop(): void {
    this.state = 'stopped';
  }

  close(): void {
    this.state = 'closed';
  }

  /** Records the capture lost, as counters() reports them. */
  lost = 0;

  counters(): ReturnType<KafkaFeed['counters']> {
    return { ...newCounters(), firings: 0, actionErrors: 0, lostRecords: this.lost };
  }
}

let engine: ReplEngine | undefined;
afterEach(() => engine?.close());

function setup() {
  let out = '';
  const feeds: FakeFeed[] = [];
  const started: KafkaFeedOptions[] = [];
  engine = new ReplEngine({
    system: new FakeSystem(),
    write: (s) => (out += s),
    writeError: (s) => (out += s),
    compile: () => Promise.reject(new Error('no compiler in this test')),
    startKafkaFeed: (opts) => {
      started.push(opts);
      const f = new FakeFeed();
      feeds.push(f);
      return f;
    },
  });
  const take = (): string => {
    const s = out;
    out = '';
    return s;
  };
  return { engine, feeds, started, take };
}

const produce = (topic: string, records: bigint) => ({ api: 'Produce', topic, partition: 0n, records, bytes: 10n });

describe('kafka blocks in the REPL engine', () => {
  it('attaches a kafka block, fills its map, clears and detaches it', async () => {
    const { engine, feeds, started, take } = setup();
    expect(await engine.submit('kafka:produce { @r[args.topic] = sum(args.records); }')).toBe(1);
    expect(take()).toBe('block 1: attached 1 probe\n');
    // The capture serves later blocks too: nothing is filtered in the kernel.
    expect(started).toHaveLength(1);
    expect(started[0]!.capture).toEqual({});
    feeds[0]!.fire('produce', produce('orders', 3n));
    feeds[0]!.fire('produce', produce('orders', 4n));
    feeds[0]!.fire('produce', produce('audit', 1n));
    expect(engine.mapNames()).toEqual(['@r']);
    engine.printMap('@r');
    expect(take()).toBe('@r[audit]: 1\n@r[orders]: 7\n');
    expect(engine.listBlocks()).toBe('  1  kafka:produce  (@r)\n');
    engine.clearMap('@r');
    expect(take()).toBe('@r cleared\n');
    // A cleared map prints as an empty one, as kernel maps do.
    engine.printMaps();
    expect(take()).toBe('\n');
    feeds[0]!.fire('produce', produce('orders', 2n));
    engine.printMaps();
    expect(take()).toBe('@r[orders]: 2\n');
    expect(engine.detach(1)).toBe(true);
    expect(take()).toBe('block 1 detached; maps no block uses any more are gone: @r\n');
    // The last kafka block took the capture with it.
    expect(feeds[0]!.state).toBe('stopped');
    expect(engine.listBlocks()).toBe('no blocks attached\n');
    engine.printMap('@r');
    expect(take()).toBe('no map @r (no map is live)\n');
  });

  it('shares one feed and one user map between blocks, and counts one probe per kafka name', async () => {
    const { engine, feeds, take } = setup();
    await engine.submit('kafka:produce { @n[args.topic] = count(); }');
    await engine.submit('kafka:produce, kafka:fetch { @n[args.topic] = count(); @all = count(); }');
    expect(take()).toBe('block 1: attached 1 probe\nblock 2: attached 2 probes\n');
    expect(feeds).toHaveLength(1);
    // Each block asks the decoder for what its own probes read.
    expect(feeds[0]!.sets.map((s) => s.args)).toEqual([['topic'], ['topic']]);
    feeds[0]!.fire('produce', produce('orders', 1n));
    feeds[0]!.fire('fetch', { api: 'Fetch', topic: 'orders', partition: 0n });
    engine.printMaps();
    expect(take()).toBe('@all: 2\n@n[orders]: 3\n');
    engine.detach(1);
    expect(take()).toBe('block 1 detached\n');
    expect(feeds[0]!.state).toBe('running');
    feeds[0]!.fire('produce', produce('orders', 1n));
    engine.printMap('@n');
    expect(take()).toBe('@n[orders]: 4\n');
    // The capture's lost records are said when it stops with the last kafka block, as at a script's end.
    feeds[0]!.lost = 3;
    engine.detach(2);
    expect(feeds[0]!.state).toBe('stopped');
    expect(take()).toBe('Lost 3 events\nblock 2 detached; maps no block uses any more are gone: @n, @all\n');
    // A kafka block after that starts a capture of its own.
    await engine.submit('kafka:produce { @m = count(); }');
    expect(feeds).toHaveLength(2);
    engine.close();
    expect(feeds[1]!.state).toBe('closed');
  });

  it('runs interval and END blocks that use a kafka map in user space, END at detach', async () => {
    const { engine, feeds, take } = setup();
    await engine.submit('kafka:produce { @r = sum(args.records); }');
    expect(await engine.submit('END { printf("total %d\\n", @r); }')).toBe(2);
    expect(take()).toBe('block 1: attached 1 probe\nblock 2: attached 1 probe\n');
    expect(feeds).toHaveLength(1);
    feeds[0]!.fire('produce', produce('orders', 5n));
    engine.detach(2);
    expect(take()).toBe('total 5\nblock 2 detached\n');
  });

  it('refuses a kernel block that uses a kafka map, with the analysis error', async () => {
    const { engine, feeds, take } = setup();
    await engine.submit('kafka:produce { @r = count(); }');
    take();
    expect(await engine.submit('tracepoint:syscalls:sys_enter_read { @r = count(); }')).toBeUndefined();
    const out = take();
    expect(out).toContain('@r is used by kafka probes, which run in user space, and by kernel probes');
    expect(engine.blockIds()).toEqual([1]);
    expect(feeds).toHaveLength(1);
  });

  it('refuses a kafka block that disagrees with a live map', async () => {
    const { engine, take } = setup();
    await engine.submit('kafka:produce { @r[args.topic] = count(); }');
    take();
    expect(await engine.submit('kafka:fetch { @r[args.topic] = sum(args.partition); }')).toBeUndefined();
    expect(take()).toContain('ERROR:');
    expect(engine.blockIds()).toEqual([1]);
  });

  it('detaches a kafka block that calls exit(), and only that block', async () => {
    const { engine, feeds, take } = setup();
    await engine.submit('kafka:produce { @n = count(); }');
    await engine.submit('kafka:produce /args.records > 9/ { printf("big\\n"); exit(); }');
    take();
    feeds[0]!.fire('produce', produce('orders', 10n));
    await new Promise((r) => setImmediate(r));
    expect(take()).toBe('big\nblock 2 called exit()\nblock 2 detached\n');
    expect(engine.blockIds()).toEqual([1]);
    expect(feeds[0]!.state).toBe('running');
    engine.printMap('@n');
    expect(take()).toBe('@n: 1\n');
  });

  it('forgets the user maps of a block whose kernel part did not compile', async () => {
    const { engine, feeds, take } = setup();
    const mixed = 'kafka:produce { @r = count(); } tracepoint:syscalls:sys_enter_read { @k = count(); }';
    expect(await engine.submit(mixed)).toBeUndefined();
    expect(take()).toBe('ERROR: no compiler in this test\n');
    expect(feeds).toHaveLength(0);
    // @r was never live: another block may give it another type.
    expect(await engine.submit('kafka:produce { @r[args.topic] = sum(args.records); }')).toBe(1);
    feeds[0]!.fire('produce', produce('orders', 2n));
    engine.printMap('@r');
    expect(take()).toBe('block 1: attached 1 probe\n@r[orders]: 2\n');
  });

  it('says why the capture cannot start, and forgets the block\'s maps', async () => {
    let out = '';
    engine = new ReplEngine({
      system: new FakeSystem(),
      write: (s) => (out += s),
      writeError: (s) => (out += s),
      startKafkaFeed: () => {
        throw new Error('the Kafka capture program is not built');
      },
    });
    expect(await engine.submit('kafka:produce { @r = count(); }')).toBeUndefined();
    expect(out).toBe('ERROR: cannot start the Kafka capture: the Kafka capture program is not built\n');
    expect(engine.mapNames()).toEqual([]);
    expect(engine.blockIds()).toEqual([]);
  });
});
