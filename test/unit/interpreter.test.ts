// The user-space interpreter of kafka:* probe actions, over real scripts: planScript on script text,
// then firings with hand-made args, asserting map snapshots and printed text exactly.
import { describe, expect, it } from 'vitest';
import { planScript } from '../../src/compiler.js';
import { compileUserProbes, MAX_LOOP_ITERATIONS } from '../../src/runtime/interpreter.js';
import type { Firing } from '../../src/runtime/interpreter-frame.js';
import { kafkaPushdown, startKafkaProbes } from '../../src/runtime/kafka-source.js';
import { userMapsOf } from '../../src/runtime/user-maps.js';
import { createOutput } from '../../src/runtime/output.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

const system = new FakeSystem();
type Args = Record<string, bigint | string>;

function setup(source: string, positional: string[] = []) {
  const r = planScript(source, 't.ktr', { positional, unsafe: true, system });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`).join('\n'));
  const plan = r.compiled.plan;
  const maps = userMapsOf(plan);
  let out = '';
  let err = '';
  const output = createOutput({
    format: 'text',
    write: (s) => void (out += s),
    writeError: (s) => void (err += s),
    now: () => new Date(2026, 0, 2, 3, 4, 5),
  });
  const probes = compileUserProbes(plan, { maps, output, positional, startNs: 1_000n, rand: () => 7n });
  /** Runs every probe attached to `name`; returns exit()'s code if one called it. */
  const fire = (name: string, args: Args = {}, extra: Partial<Firing> = {}): number | undefined => {
    for (const p of probes.filter((x) => x.names.includes(name))) {
      const code = p.run({ probe: `kafka:${name}`, args, pid: 42, tid: 43, comm: 'producer', nsecs: 5_000n, ...extra });
      if (code !== undefined) return code;
    }
    return undefined;
  };
  const printed = (): string => {
    output.printMaps(maps.snapshots(), { atExit: false });
    const s = out;
    out = '';
    return s;
  };
  return { maps, fire, probes, printed, out: () => out, err: () => err };
}

const produce = (topic: string, records: bigint, extra: Args = {}): Args => ({ api: 'Produce', topic, partition: 0n, records, ...extra });

describe('interpreter: maps', () => {
  it('sums and counts per key, printed like kernel maps', () => {
    const t = setup('kafka:produce { @[args.topic] = sum(args.records); } kafka:request { @req[args.api] = count(); }');
    t.fire('produce', produce('orders', 3n));
    t.fire('produce', produce('orders', 4n));
    t.fire('produce', produce('audit', 1n));
    t.fire('request', { api: 'Produce' });
    t.fire('request', { api: 'Metadata' });
    t.fire('request', { api: 'Produce' });
    expect(t.maps.get('@', ['orders'])).toBe(7n);
    expect(t.printed()).toBe('@[audit]: 1\n@[orders]: 7\n@req[Metadata]: 1\n@req[Produce]: 2\n');
  });

  it('keeps min, max, avg, stats, hist and lhist', () => {
    const t = setup(`kafka:request {
      @mi = min(args.latency); @ma = max(args.latency); @av = avg(args.latency); @st = stats(args.latency);
      @h = hist(args.latency); @l = lhist(args.latency, 0, 100, 50);
    }`);
    for (const v of [10n, 70n, 300n]) t.fire('request', { latency: v });
    expect(t.maps.get('@mi', [])).toBe(10n);
    expect(t.maps.get('@ma', [])).toBe(300n);
    expect(t.maps.get('@av', [])).toEqual({ count: 3n, total: 380n });
    const h = t.maps.get('@h', []) as bigint[];
    expect([h[5], h[8], h[10]]).toEqual([1n, 1n, 1n]);
    expect(t.maps.get('@l', [])).toEqual([0n, 1n, 1n, 1n]);
    expect(t.printed()).toContain('@av: 126\n');
  });

  it('assigns, increments, reads, deletes and tests keys', () => {
    const t = setup(`kafka:produce {
      @n[args.topic]++; @n[args.topic] += 10; @last = args.topic;
      @seen[args.topic, args.partition] = 1;
      $had = has_key(@seen, (args.topic, args.partition));
      if (@n[args.topic] > 22) { delete(@n[args.topic]); }
      printf("%s %d %d\\n", @last, @n[args.topic], $had);
    }`);
    t.fire('produce', produce('a', 1n));
    t.fire('produce', produce('a', 1n));
    t.fire('produce', produce('a', 1n, { partition: 2n }));
    expect(t.out()).toBe('a 11 1\na 22 1\na 0 1\n');
    expect(t.maps.hasKey('@n', ['a'])).toBe(false);
    expect(t.maps.snapshot('@seen').entries.map((e) => e.keys)).toEqual([['a', 0n], ['a', 2n]]);
  });

  it('clears, zeroes and prints maps with top and div', () => {
    const t = setup(`kafka:produce { @c[args.topic] = count(); @s[args.topic] = sum(args.records); }
      kafka:fetch { print(@c, 1); print(@s, 0, 10); zero(@s); clear(@c); }`);
    t.fire('produce', produce('a', 100n));
    t.fire('produce', produce('b', 50n));
    t.fire('produce', produce('b', 50n));
    t.fire('fetch', {});
    expect(t.out()).toBe('@c[b]: 2\n@s[a]: 10\n@s[b]: 10\n');
    expect(t.maps.snapshot('@c').entries).toEqual([]);
    expect(t.maps.snapshot('@s').entries).toEqual([
      { keys: ['a'], value: 0n },
      { keys: ['b'], value: 0n },
    ]);
  });

  it('iterates over a map with for, with break and continue', () => {
    const t = setup(`kafka:produce { @r[args.topic] = sum(args.records); }
      kafka:fetch { for ($kv : @r) { if ($kv.0 == "skip") { continue; } if ($kv.1 > 100) { break; } printf("%s=%d\\n", $kv.0, $kv.1); } }`);
    t.fire('produce', produce('a', 5n));
    t.fire('produce', produce('skip', 1n));
    t.fire('produce', produce('c', 7n));
    t.fire('produce', produce('big', 500n));
    t.fire('produce', produce('d', 9n));
    t.fire('fetch', {});
    expect(t.out()).toBe('a=5\nc=7\n');
  });
});

describe('interpreter: more map shapes and output', () => {
  it('gives a for loop over a two-key map its keys as a tuple, and an avg map its mean', () => {
    const t = setup(`kafka:produce { @a[args.topic, args.partition] = avg(args.records); }
      kafka:fetch { for ($kv : @a) { printf("%s/%d: %d\\n", $kv.0.0, $kv.0.1, $kv.1); } }`);
    t.fire('produce', produce('a', 4n));
    t.fire('produce', produce('a', 7n));
    t.fire('produce', produce('b', 1n, { partition: 3n }));
    t.fire('fetch', {});
    expect(t.out()).toBe('a/0: 5\nb/3: 1\n');
  });

  it('prints cat() files and runs system() commands without errors', () => {
    const t = setup('kafka:request { cat("/proc/%d/comm", pid); system("true %s", args.api); }');
    t.fire('request', { api: 'Produce' }, { pid: process.pid });
    expect(t.out()).toMatch(/^\S+\n$/);
    expect(t.err()).toBe('');
  });
});

describe('interpreter: integers like the kernel', () => {
  const run = (expr: string, positional: string[] = []): string => {
    const t = setup(`kafka:request { printf("%lld %llu\\n", ${expr}, ${expr}); }`, positional);
    t.fire('request', { latency: 5n, error: -3n });
    return t.out().trim();
  };

  it('wraps at 64 bits and divides by zero as 0', () => {
    expect(run('0x7fffffffffffffff + 1')).toBe('-9223372036854775808 9223372036854775808');
    expect(run('args.latency / (args.latency - 5)')).toBe('0 0');
    expect(run('args.latency % (args.latency - 5)')).toBe('0 0');
    expect(run('-7 / 2')).toBe('-3 18446744073709551613');
    expect(run('-7 % 2')).toBe('-1 18446744073709551615');
    expect(run('1 << 65')).toBe('2 2');
  });

  it('compares unsigned when either side is unsigned', () => {
    expect(run('args.error < 0')).toBe('1 1');
    expect(run('args.error < (uint64)0')).toBe('0 0');
    expect(run('args.error > (uint32)1')).toBe('1 1');
  });

  it('casts truncate, and unary operators follow C promotion', () => {
    expect(run('(uint8)300')).toBe('44 44');
    expect(run('(int8)200')).toBe('-56 18446744073709551560');
    expect(run('-(uint32)5')).toBe('4294967291 4294967291');
    expect(run('~(uint32)0')).toBe('4294967295 4294967295');
    expect(run('~0')).toBe('-1 18446744073709551615');
    expect(run('!args.latency')).toBe('0 0');
  });

  it('wraps scalar variables and map values by their type', () => {
    const t = setup('kafka:request { $x = (uint64)0; $x--; @m = (uint64)0; @m--; @s = 0x7fffffffffffffff; @s++; printf("%llu\\n", $x); }');
    t.fire('request', {});
    expect(t.out()).toBe('18446744073709551615\n');
    expect(t.maps.get('@m', [])).toBe(0xffffffffffffffffn);
    expect(t.maps.get('@s', [])).toBe(-0x8000000000000000n);
  });

  it('reads positional parameters and $#', () => {
    expect(run('$1 + $#', ['40'])).toBe('41 41');
    const t = setup('kafka:request /args.api == str($1)/ { printf("%s\\n", $1); }', ['Fetch']);
    t.fire('request', { api: 'Produce' });
    t.fire('request', { api: 'Fetch' });
    expect(t.out()).toBe('Fetch\n');
  });
});

describe('interpreter: control flow and strings', () => {
  it('runs predicates, if/else, ternaries, while, unroll and return', () => {
    const t = setup(`kafka:request /args.error == 0/ {
      $i = 0; $sum = 0;
      while ($i < 5) { $i++; if ($i == 2) { continue; } $sum += $i; }
      unroll(3) { $sum = $sum * 2; }
      printf("%d %s\\n", $sum, args.latency > 100 ? "slow" : "fast");
      if (args.latency > 1000) { return; } else { printf("done\\n"); }
      printf("not reached after return\\n");
    }`);
    t.fire('request', { error: 1n, latency: 1n });
    t.fire('request', { error: 0n, latency: 50n });
    t.fire('request', { error: 0n, latency: 5000n });
    expect(t.out()).toBe('104 fast\ndone\nnot reached after return\n104 slow\n');
  });

  it('stops a runaway while loop and says so once', () => {
    const t = setup('kafka:request { $i = 0; while (1) { $i++; } printf("after\\n"); }');
    t.fire('request', {});
    t.fire('request', {});
    expect(t.out()).toBe('');
    expect(t.err()).toBe(`ERROR: t.ktr:1:25: while loop stopped after ${MAX_LOOP_ITERATIONS} iterations; the rest of the probe's action was skipped\n`);
  });

  it('compares, truncates and searches strings', () => {
    const t = setup(`kafka:produce {
      if (args.topic == "orders") { printf("eq\\n"); }
      if (args.topic != "orders") { printf("ne %s\\n", str(args.topic, 3)); }
      printf("%d %d %d\\n", strncmp(args.topic, "ord", 3), strcontains(args.topic, "der"), strncmp(args.topic, "orx", 3));
      $t = (args.topic, args.partition); @tup = $t; print($t);
    }`);
    t.fire('produce', produce('orders', 1n));
    t.fire('produce', produce('payments', 1n, { partition: 3n }));
    expect(t.out()).toBe('eq\n0 1 1\n(orders, 0)\nne pay\n1 0 1\n(payments, 3)\n');
    expect(t.maps.get('@tup', [])).toEqual(['payments', 3n]);
    const p = setup('kafka:produce { printf("%d %d\\n", strncmp(args.topic, "orx", $1), strncmp(args.topic, "orx", 2)); }', ['3']);
    p.fire('produce', produce('orders', 1n));
    expect(p.out()).toBe('1 0\n');
  });

  it('cuts strings to their type size, as string[N] storage does', () => {
    const t = setup('kafka:request { @[args.api] = count(); }');
    t.fire('request', { api: 'x'.repeat(40) });
    expect(t.maps.snapshot('@').entries[0]!.keys).toEqual(['x'.repeat(31)]);
  });

  it('answers the builtins of a firing', () => {
    const t = setup('kafka:produce, kafka:fetch { printf("%s %d %d %s %d %d %d %d\\n", probe, pid, tid, comm, nsecs, elapsed, rand, cgroup); }');
    t.fire('fetch', {}, { cgroup: () => 99n });
    t.fire('produce', {});
    expect(t.out()).toBe('kafka:fetch 42 43 producer 5000 4000 7 99\nkafka:produce 42 43 producer 5000 4000 7 0\n');
  });

  it('prints time, and missing args read as zero and empty', () => {
    const t = setup('kafka:produce { time("%H:%M:%S "); printf("[%s] %d\\n", args.topic, args.records); }');
    t.fire('produce', {});
    expect(t.out()).toBe('03:04:05 [] 0\n');
  });
});

describe('interpreter: exit and errors', () => {
  it('returns exit()\'s code and stops the action there', () => {
    const t = setup('kafka:request { @n = count(); if (@n == 2) { exit(3); } printf("%d\\n", @n); }');
    expect(t.fire('request', {})).toBeUndefined();
    expect(t.fire('request', {})).toBe(3);
    expect(t.out()).toBe('1\n');
    const plain = setup('kafka:request { exit(); }');
    expect(plain.fire('request', {})).toBe(0);
  });

  it('refuses a map shared with kernel probes, with its location', () => {
    const r = planScript('tracepoint:syscalls:sys_enter_openat { @n = count(); }\nkafka:request { @n = count(); }', 't.ktr', {
      positional: [],
      unsafe: false,
      system,
    });
    expect(r.ok).toBe(false);
    const d = r.diagnostics[0]!;
    expect([d.file, d.loc.line, d.loc.col]).toEqual(['t.ktr', 1, 40]);
    expect(d.message).toBe('@n is used by kafka probes, which run in user space, and by kernel probes: a map lives in one place');
  });

  it('runs interval and END blocks that share maps with kafka probes beside them', () => {
    const t = setup(
      'kafka:produce { @r[args.topic] = sum(args.records); }\n' +
        'interval:s:2, interval:ms:250 { print(@r); clear(@r); }\n' +
        'END { printf("%s\\n", probe); }\n' +
        'interval:s:1 { @kernel = count(); }',
    );
    expect(t.probes.map((p) => [p.index, p.names, p.intervals, p.atEnd])).toEqual([
      [0, ['produce'], [], false],
      [1, [], [{ probe: 'interval:s:2', ms: 2000 }, { probe: 'interval:ms:250', ms: 250 }], false],
    ]);
    t.fire('produce', produce('orders', 3n));
    expect(t.maps.get('@r', ['orders'])).toBeDefined();
    t.probes[1]!.run({ probe: 'interval:s:2', args: {}, pid: 1, tid: 1, comm: 'kafkatrace', nsecs: 0n });
    expect(t.out()).toBe('@r[orders]: 3\n');
    expect(t.maps.get('@r', ['orders'])).toBeUndefined();
  });

  it('runs an END block in user space when it uses a kafka map', () => {
    const t = setup('kafka:produce { @r = count(); } END { printf("%d %s\\n", @r, probe); }');
    expect(t.probes[1]!.atEnd).toBe(true);
    t.fire('produce');
    t.probes[1]!.run({ probe: 'END', args: {}, pid: 1, tid: 1, comm: 'kafkatrace', nsecs: 0n });
    expect(t.out()).toBe('1 END\n');
  });

  it('compiles each probe once and names its attach points', () => {
    const t = setup('kafka:produce, kafka:fetch { @ = count(); } kafka:request { @r = count(); }');
    expect(t.probes.map((p) => [p.index, p.names])).toEqual([
      [0, ['produce', 'fetch']],
      [1, ['request']],
    ]);
  });
});

describe('kafka source without kafka probes', () => {
  it('starts no capture, attaches nothing and keeps only user-space maps', () => {
    const r = planScript('tracepoint:syscalls:sys_enter_openat { @n = count(); }', 't.ktr', { positional: [], unsafe: false, system });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    const maps = userMapsOf(r.compiled.plan);
    expect(maps.has('@n')).toBe(false);
    const exits: number[] = [];
    const k = startKafkaProbes(r.compiled.plan, { output: createOutput({ format: 'text', write: () => {} }), maps, onExit: (c) => exits.push(c) });
    expect(k.attachedProbes).toBe(0);
    expect(k.counters()).toMatchObject({ firings: 0, framesDecoded: 0, lostRecords: 0 });
    k.stop();
    expect(exits).toEqual([]);
  });
});

describe('pid pushdown', () => {
  const pidOf = (source: string): number | undefined => {
    const r = planScript(source, 't.ktr', { positional: [], unsafe: false, system });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
    return kafkaPushdown(r.compiled.plan).pid;
  };

  it('captures only the process every kafka predicate requires', () => {
    expect(pidOf('kafka:produce /args.error == 0 && pid == 123/ { @ = count(); }')).toBe(123);
    expect(pidOf('kafka:produce /123 == pid/ { @ = count(); } kafka:fetch /pid == 123 && args.lag > 5/ { @f = count(); }')).toBe(123);
  });

  it('captures everything when one probe could fire for another process', () => {
    expect(pidOf('kafka:produce /pid == 123/ { @ = count(); } kafka:fetch { @f = count(); }')).toBeUndefined();
    expect(pidOf('kafka:produce /pid == 123 || args.error != 0/ { @ = count(); }')).toBeUndefined();
    expect(pidOf('kafka:produce /pid == 1/ { @ = count(); } kafka:fetch /pid == 2/ { @f = count(); }')).toBeUndefined();
  });
});
