// Formatting corner cases: printf, hist/lhist labels and bars, values (ntop, stacks, buffers), strftime.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { formatPrintf, parseFormat } from '../../src/runtime/format/printf.js';
import {
  histBucketIndex,
  histBucketLabel,
  histIndexLabel,
  histJson,
  histText,
  lhistBucketIndex,
  lhistIndexLabel,
  lhistText,
} from '../../src/runtime/format/hist.js';
import { jsonEscape } from '../../src/runtime/format/json.js';
import { strftime } from '../../src/runtime/format/time.js';
import { ntop, recordText, valueJson, valueText } from '../../src/runtime/format/value.js';
import type { Value } from '../../src/runtime/values.js';
import { fakeSymbols } from './format-helpers.js';

const p = (fmt: string, ...args: Value[]): string => formatPrintf(fmt, args, (v) => valueText(v, { symbols: fakeSymbols }));

describe('printf', () => {
  it('truncates to int without a length modifier, as C does', () => {
    expect(p('%d %u %x', 0x1ffffffffn, -1n, 0x100000010n)).toBe('-1 4294967295 10');
    expect(p('%ld %lu %lx %llX', -5n, -1n, 1n << 40n, 0xabcn)).toBe('-5 18446744073709551615 10000000000 ABC');
    expect(p('%hd %hu %hhd %hhu %hhx', 65537n, -1n, 255n, 257n, 0x1ffn)).toBe('1 65535 -1 1 ff');
  });
  it('pads with width, precision and flags', () => {
    expect(p('[%6d][%-6d][%06d][%.4d][%6.4d][%-6.4d]', -12n, -12n, -12n, -12n, 7n, 7n)).toBe('[   -12][-12   ][-00012][-0012][  0007][0007  ]');
    expect(p('[%.0d][%5.0d]', 0n, 0n)).toBe('[][     ]');
    expect(p('[%#x][%#o][%#x][%+d][% d]', 255n, 8n, 0n, 5n, 5n)).toBe('[0xff][010][0][+5][ 5]');
    expect(p('[%08x][%-08x]', 255n, 255n)).toBe('[000000ff][ff      ]');
  });
  it('prints strings, characters, pointers and percent signs', () => {
    expect(p('[%s][%8s][%-8s][%.3s][%6.2s]', 'abc', 'abc', 'abc', 'abcdef', 'abcdef')).toBe('[abc][     abc][abc     ][abc][    ab]');
    expect(p('[%c][%3c][%-3c]', 0x141n, 66n, 67n)).toBe('[A][  B][C  ]');
    expect(p('[%p][%p][%10p]', 0n, 0x1000n, 0xffn)).toBe('[(nil)][0x1000][      0xff]');
    expect(p('100%% [%5%] %d', 3n)).toBe('100% [%] 3');
  });
  it('pads strings by their UTF-8 byte length, as C does', () => {
    expect(p('[%5s]', 'é')).toBe('[   é]');
  });
  it('prints buffers and tagged values through %s and %r', () => {
    expect(p('%r|%s', new Uint8Array([0x41, 0x0a, 0x7f, 0x20]), { kind: 'ksym', addr: 0x1010n })).toBe('A\\x0a\\x7f |kfunc');
    expect(p('%s', { kind: 'username', uid: 0 })).toBe('root');
    expect(p('%s', [1n, 'x'])).toBe('(1, x)');
  });
  it('leaves text that is not a conversion alone', () => {
    expect(p('50%! %q %')).toBe('50%! %q %');
    expect(parseFormat('a%-5.2lldb')).toEqual(['a', { text: '%-5.2lld', flags: '-', width: 5, precision: 2, length: 'll', conversion: 'd' }, 'b']);
  });
  it('prints nothing for a missing argument', () => {
    expect(p('[%d][%s]')).toBe('[0][]');
  });
});

describe('hist and lhist', () => {
  it('labels powers of two with K/M/G/T/P/E suffixes', () => {
    expect([0, 9, 10, 19, 20, 30, 40, 50, 60, 63].map(histIndexLabel)).toEqual(['1', '512', '1K', '512K', '1M', '1G', '1T', '1P', '1E', '8E']);
    expect([0, 1, 2, 3, 12, 13, 65].map(histBucketLabel)).toEqual(['(..., 0)', '[0]', '[1]', '[2, 4)', '[1K, 2K)', '[2K, 4K)', '[8E, 16E)']);
  });
  it('labels lhist bounds with K and M only at exact multiples', () => {
    expect([0, 5, 1024, 1536, 3072, 1048576, 5242880, -2048].map(lhistIndexLabel)).toEqual(['0', '5', '1K', '1536', '3K', '1M', '5M', '-2K']);
  });
  it('buckets values like the kernel side', () => {
    expect([-1n, 0n, 1n, 2n, 3n, 4n, 1023n, 1024n, (1n << 63n) - 1n, 1n << 63n].map(histBucketIndex)).toEqual([0, 1, 2, 3, 3, 4, 11, 12, 64, 0]);
    const lp = { min: 10, max: 35, step: 10 };
    expect([9n, 10n, 19n, 20n, 34n, 35n, 1000n, -5n].map((v) => lhistBucketIndex(v, lp))).toEqual([0, 1, 1, 2, 3, 4, 4, 0]);
  });
  it('scales bars in single precision to 52 characters', () => {
    const b = new Array<bigint>(66).fill(0n);
    b[3] = 3n;
    b[5] = 1n;
    b[6] = 2n;
    expect(histText(b)).toBe(
      '[2, 4)                 3 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n' +
        '[4, 8)                 0 |                                                    |\n' +
        '[8, 16)                1 |@@@@@@@@@@@@@@@@@                                   |\n' +
        '[16, 32)               2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@                  |\n',
    );
    expect(histText(new Array<bigint>(66).fill(0n))).toBe('');
    expect(histJson(new Array<bigint>(66).fill(0n))).toBe('[]');
  });
  it('divides hist counts but not the bars', () => {
    const b = new Array<bigint>(66).fill(0n);
    b[1] = 25n;
    expect(histText(b, 10n)).toBe('[0]                    2 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n');
  });
  it('prints lhist from the first to the last non-empty bucket with open ends', () => {
    const lp = { min: 0, max: 3072, step: 1024 };
    expect(lhistText([1n, 0n, 0n, 0n, 1n], lp)).toBe(
      '(..., 0)               1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n' +
        '[0, 1K)                0 |                                                    |\n' +
        '[1K, 2K)               0 |                                                    |\n' +
        '[2K, 3K)               0 |                                                    |\n' +
        '[3K, ...)              1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n',
    );
  });
  it('does not truncate long labels', () => {
    const b = new Array<bigint>(66).fill(0n);
    b[50] = 1n;
    expect(histText(b)).toBe('[256T, 512T)           1 |@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@|\n');
  });
});

describe('values', () => {
  const ctx = {
    symbols: fakeSymbols,
    stackLookup: (id: number) => (id === 1 ? [0x1004n, 0x1010n, 0n, 0x1020n] : id === 2 ? [0x400010n, 0x9n] : undefined),
  };
  it('formats struct values as bpftrace does: text, map key and JSON, nested, with arrays and strings', () => {
    const inner: Value = { kind: 'record', fields: [['m', { kind: 'array', elems: [2n] }]] };
    const v: Value = { kind: 'record', fields: [['y', inner], ['n', -3n], ['s', 'ab']] };
    expect(valueText(v, ctx)).toBe('{ .y = { .m = [2] }, .n = -3, .s = ab }');
    expect(recordText(v as Extract<Value, { kind: 'record' }>, ctx, true)).toBe('{.y={.m=[2]},.n=-3,.s=ab}');
    expect(valueJson(v, ctx)).toBe('{ "y": { "m": [2] }, "n": -3, "s": "ab" }');
    expect(valueJson([1n, v], ctx)).toBe('[1,{ "y": { "m": [2] }, "n": -3, "s": "ab" }]');
  });

  it('formats IPv6 like inet_ntop', () => {
    const v6 = (...words: number[]) => {
      const b = new Uint8Array(16);
      words.forEach((w, i) => {
        b[2 * i] = w >> 8;
        b[2 * i + 1] = w & 0xff;
      });
      return ntop({ kind: 'inet', af: 10, bytes: b });
    };
    expect(v6(0xfe80, 0, 0, 0, 0, 0, 0, 1)).toBe('fe80::1');
    expect(v6(0, 0, 0, 0, 0, 0, 0, 1)).toBe('::1');
    expect(v6(0, 0, 0, 0, 0, 0, 0, 0)).toBe('::');
    expect(v6(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1)).toBe('2001:db8:0:1::1');
    expect(v6(0x2001, 0xdb8, 1, 2, 3, 4, 5, 6)).toBe('2001:db8:1:2:3:4:5:6');
    expect(v6(1, 0, 2, 0, 0, 3, 0, 4)).toBe('1:0:2::3:0:4');
    expect(v6(0, 0, 0, 0, 0, 0xffff, 0x7f00, 1)).toBe('::ffff:127.0.0.1');
    expect(v6(0, 0, 0, 0, 0, 0, 0x0a00, 1)).toBe('::10.0.0.1');
    expect(v6(0x2001, 0xdb8, 0, 0, 1, 0, 0, 0)).toBe('2001:db8:0:0:1::');
    expect(v6(1, 0, 0, 2, 0, 0, 3, 4)).toBe('1::2:0:0:3:4');
  });
  it('prints kernel stacks with offsets, one frame a line, stopping at a zero frame', () => {
    expect(valueText({ kind: 'kstack', stackId: 1 }, ctx)).toBe('\n        kfunc+4\n        kfunc+16\n');
    expect(valueText({ kind: 'kstack', stackId: 1 }, ctx, 4)).toBe('\n    kfunc+4\n    kfunc+16\n');
    expect(valueText({ kind: 'ustack', stackId: 2, pid: 7 }, ctx)).toBe('\n        main+16\n        0x9\n');
    expect(valueText({ kind: 'kstack', stackId: 3 }, ctx)).toBe('');
    expect(valueText({ kind: 'kstack', stackId: -14 }, ctx)).toBe('');
  });
  it('prints symbols, users, buffers and tuples', () => {
    expect(valueText({ kind: 'ksym', addr: 0x1001n }, ctx)).toBe('kfunc');
    expect(valueText({ kind: 'usym', addr: 0x400001n, pid: 9 }, ctx)).toBe('main@9');
    expect(valueText({ kind: 'username', uid: 12345 }, ctx)).toBe('');
    expect(valueText([1n, ['a', new Uint8Array([0])]], ctx)).toBe('(1, (a, \\x00))');
    expect(valueJson([1n, ['a"', -2n]], ctx)).toBe('[1,["a\\"",-2]]');
    expect(valueJson({ kind: 'ksym', addr: 0x1001n }, ctx)).toBe('"kfunc"');
  });
  it('prints a strftime() value as the wall-clock time of its CLOCK_MONOTONIC ns, quoted in JSON', () => {
    const now = process.hrtime.bigint();
    const v = { kind: 'timestamp', ns: now, format: '%Y %%' } as const;
    expect(valueText(v, ctx)).toBe(`${new Date().getFullYear()} %`);
    // bpftrace 0.17 writes the text bare, which is not JSON for most formats.
    expect(valueJson(v, ctx)).toBe(`"${new Date().getFullYear()} %"`);
    // An hour earlier on the monotonic clock is an hour earlier on the wall clock.
    const hour = (ns: bigint): number => Number(valueText({ ...v, ns, format: '%s' }, ctx));
    expect(hour(now) - hour(now - 3_600_000_000_000n)).toBe(3600);
    // %f: the microseconds, as bpftrace 0.17 adds them to strftime(3).
    const micros = (ns: bigint): bigint => BigInt(valueText({ ...v, ns, format: '%s%f' }, ctx));
    expect(micros(now + 1_000_123_000n) - micros(now)).toBe(1_000_123n);
    expect(valueText({ ...v, format: '%f' }, ctx)).toMatch(/^\d{6}$/);
  });
  it('escapes JSON like bpftrace', () => {
    expect(jsonEscape('a"b\\c\nd\re\tf\x01g\x1fé')).toBe('a\\"b\\\\c\\nd\\re\\tf\\u0001g\\u001fé');
  });
});

describe('strftime', () => {
  // A fixed local time: conversions use local fields, so build the date from them.
  const d = new Date(2026, 0, 5, 7, 3, 9);
  it('formats the common conversions', () => {
    expect(strftime('%H:%M:%S %Y-%m-%d %y %j %e|%a %A %b %B %p %I %%', d)).toBe('07:03:09 2026-01-05 26 005  5|Mon Monday Jan January AM 07 %');
    expect(strftime('%T %D %F %R %u %w %k %l', d)).toBe('07:03:09 01/05/26 2026-01-05 07:03 1 1  7  7');
    expect(strftime('%s', d)).toBe(String(Math.floor(d.getTime() / 1000)));
    expect(strftime('%Q %', d)).toBe('%Q %');
    expect(strftime('%p %I', new Date(2026, 0, 5, 12, 0, 0))).toBe('PM 12');
    expect(strftime('%j', new Date(2024, 11, 31))).toBe('366');
  });
  it('prints the zone offset and abbreviation as the C library does', () => {
    const saved = process.env['TZ'];
    try {
      for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Australia/Sydney']) {
        process.env['TZ'] = tz;
        for (const when of [new Date(Date.UTC(2026, 0, 5, 12)), new Date(Date.UTC(2026, 6, 5, 12))]) {
          const epoch = String(Math.floor(when.getTime() / 1000));
          const expected = execFileSync('date', ['-d', `@${epoch}`, '+%Z %z %H'], { env: { ...process.env, TZ: tz } }).toString().trim();
          expect(strftime('%Z %z %H', when)).toBe(expected);
        }
      }
    } finally {
      if (saved === undefined) delete process.env['TZ'];
      else process.env['TZ'] = saved;
    }
  });
});
