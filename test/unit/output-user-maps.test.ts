// User-space maps (kafka probes): same semantics and snapshots as kernel maps.
import { describe, expect, it, vi } from 'vitest';
import { UserMaps, keyIdentity } from '../../src/runtime/user-maps.js';
import type { Value } from '../../src/runtime/values.js';
import { i64, str, u64 } from './format-helpers.js';

const make = () =>
  new UserMaps([
    { name: '@c', keyTypes: [str, u64], value: { kind: 'count' } },
    { name: '@s', keyTypes: [], value: { kind: 'sum', signed: false } },
    { name: '@ss', keyTypes: [], value: { kind: 'sum', signed: true } },
    { name: '@mi', keyTypes: [], value: { kind: 'min', signed: true } },
    { name: '@ma', keyTypes: [], value: { kind: 'max', signed: true } },
    { name: '@av', keyTypes: [], value: { kind: 'avg', signed: true } },
    { name: '@st', keyTypes: [], value: { kind: 'stats', signed: true } },
    { name: '@h', keyTypes: [], value: { kind: 'hist' } },
    { name: '@l', keyTypes: [], value: { kind: 'lhist', min: 0, max: 100, step: 25 } },
    { name: '@x', keyTypes: [u64], value: { kind: 'scalar', type: { kind: 'int', bits: 8, signed: false } } },
    { name: '@t', keyTypes: [], value: { kind: 'scalar', type: { kind: 'tuple', elems: [i64, str] } } },
  ]);

describe('UserMaps', () => {
  it('counts per key, keys compared by value', () => {
    const m = make();
    m.count('@c', ['topic', 1n]);
    m.count('@c', ['topic', 1n]);
    m.count('@c', ['topic', 2n]);
    expect(m.get('@c', ['topic', 1n])).toBe(2n);
    expect(m.snapshot('@c')).toEqual({
      name: '@c',
      value: { kind: 'count' },
      keyTypes: [str, u64],
      entries: [
        { keys: ['topic', 1n], value: 2n },
        { keys: ['topic', 2n], value: 1n },
      ],
    });
  });
  it('keys a map of one string or one integer by the key itself: equal values alike, in insertion order', () => {
    const m = new UserMaps([
      { name: '@bytopic', keyTypes: [str], value: { kind: 'sum', signed: false } },
      { name: '@byint', keyTypes: [u64], value: { kind: 'count' } },
    ]);
    // Equal strings built apart, as the decoder builds a topic name from each frame.
    const orders = ['ord', 'ers'].join('');
    m.sum('@bytopic', ['orders'], 2n);
    m.sum('@bytopic', ['i1'], 5n);
    m.sum('@bytopic', [orders], 3n);
    m.sum('@bytopic', ['[]'], 1n);
    m.count('@byint', [7n]);
    m.count('@byint', [BigInt('7')]);
    m.count('@byint', [2n ** 64n - 1n]);
    expect(m.snapshot('@bytopic').entries).toEqual([
      { keys: ['orders'], value: 5n },
      { keys: ['i1'], value: 5n },
      { keys: ['[]'], value: 1n },
    ]);
    expect(m.snapshot('@byint').entries).toEqual([
      { keys: [7n], value: 2n },
      { keys: [2n ** 64n - 1n], value: 1n },
    ]);
    expect(m.hasKey('@bytopic', ['orders'])).toBe(true);
    expect(m.get('@byint', [7n])).toBe(2n);
    expect(m.delete('@bytopic', [orders])).toBe(true);
    expect(m.hasKey('@bytopic', ['orders'])).toBe(false);
    // A key of another type is a kafkatrace bug, never a silent collision.
    expect(() => m.count('@byint', ['7'])).toThrow(/int map key is string/);
  });
  it('wraps sums at 64 bits with the sign of the map', () => {
    const m = make();
    m.sum('@s', [], -1n);
    expect(m.get('@s', [])).toBe(0xffffffffffffffffn);
    m.sum('@ss', [], 0x7fffffffffffffffn);
    m.sum('@ss', [], 1n);
    expect(m.get('@ss', [])).toBe(-0x8000000000000000n);
  });
  it('keeps min, max, avg and stats like the kernel maps', () => {
    const m = make();
    for (const v of [5n, -3n, 9n]) {
      m.min('@mi', [], v);
      m.max('@ma', [], v);
      m.avg('@av', [], v);
      m.stats('@st', [], v);
    }
    expect(m.get('@mi', [])).toBe(-3n);
    expect(m.get('@ma', [])).toBe(9n);
    expect(m.get('@av', [])).toEqual({ count: 3n, total: 11n });
    expect(m.get('@st', [])).toEqual({ count: 3n, total: 11n });
  });
  it('fills hist and lhist buckets like the kernel', () => {
    const m = make();
    for (const v of [-1n, 0n, 1n, 1024n, 1500n]) m.hist('@h', [], v);
    const h = m.get('@h', []) as bigint[];
    expect(h.length).toBe(66);
    expect([h[0], h[1], h[2], h[12]]).toEqual([1n, 1n, 1n, 2n]);
    for (const v of [-1n, 0n, 24n, 25n, 99n, 100n]) m.lhist('@l', [], v);
    expect(m.get('@l', [])).toEqual([1n, 2n, 1n, 0n, 1n, 1n]);
  });
  it('assigns plain values, truncated to their integer type', () => {
    const m = make();
    m.assign('@x', [1n], 300n);
    m.assign('@t', [], [1n, 'a']);
    expect(m.get('@x', [1n])).toBe(44n);
    expect(m.get('@t', [])).toEqual([1n, 'a']);
  });
  it('deletes, clears, zeroes and answers has_key', () => {
    const m = make();
    m.count('@c', ['a', 1n]);
    m.count('@c', ['b', 1n]);
    m.min('@mi', [], 4n);
    m.assign('@t', [], [3n, 'z']);
    expect(m.hasKey('@c', ['a', 1n])).toBe(true);
    expect(m.delete('@c', ['a', 1n])).toBe(true);
    expect(m.delete('@c', ['a', 1n])).toBe(false);
    expect(m.hasKey('@c', ['a', 1n])).toBe(false);
    m.zero('@c');
    m.zero('@mi');
    m.zero('@t');
    expect(m.snapshot('@c').entries).toEqual([{ keys: ['b', 1n], value: 0n }]);
    expect(m.get('@mi', [])).toBe(0n);
    expect(m.get('@t', [])).toEqual([0n, '']);
    m.min('@mi', [], 7n);
    expect(m.get('@mi', [])).toBe(7n);
    m.clear('@c');
    expect(m.snapshot('@c').entries).toEqual([]);
    expect(m.snapshots().map((s) => s.name)).toContain('@t');
  });
  it('rejects operations that do not fit the map, as a kafkatrace bug', () => {
    const m = make();
    expect(() => m.sum('@c', ['a', 1n], 1n)).toThrow(/holds count/);
    expect(() => m.count('@nope', [])).toThrow(/no user-space map @nope/);
  });
  it('gives distinct identities to keys that differ in type', () => {
    expect(keyIdentity([1n])).not.toBe(keyIdentity(['1']));
    expect(keyIdentity([new Uint8Array([1])])).not.toBe(keyIdentity([[1n]]));
    expect(keyIdentity(['a', 2n])).toBe(keyIdentity(['a', 2n]));
  });

  it('identifies keys of integers and strings without the replacer: equal keys alike, any two others apart', () => {
    // The general form of a tuple: each value typed in a JSON string (i: integers, s: strings).
    const general = (keys: unknown[]): string => JSON.stringify(keys.map((k) => (typeof k === 'bigint' ? `i:${k}` : `s:${k}`)));
    const cases: Value[][] = [
      [], [0n], [-1n], [2n ** 64n - 1n], [''], ['orders'], ['a"b\\c\n\u0001'], ['ü😀'], ['g', 'orders', 3n], [7n, 'a,b', ''], ['x"', -5n],
      // Strings that spell another key's identity.
      ['i1'], ['1'], [1n], ['s'], ['[]'], ['["s:a"]'], ['a'], ['s:a'], ['i:1', 'x'], [1n, 'x'],
    ];
    const stringify = vi.spyOn(JSON, 'stringify');
    let ids: string[];
    try {
      ids = cases.map((keys) => keyIdentity(keys));
      cases.forEach((keys, i) => expect(ids[i]).toBe(general(keys)));
      // general() stringifies without a replacer: any call with one came from keyIdentity.
      expect(stringify.mock.calls.filter((c) => c.length > 1 && c[1] !== undefined)).toEqual([]);
    } finally {
      stringify.mockRestore();
    }
    expect(new Set(ids).size).toBe(cases.length);
    expect(cases.map((keys) => keyIdentity([...keys]))).toEqual(ids);
  });

  it('holds at most its key limit, as a full kernel map: new keys dropped and counted, old keys still updated', () => {
    const full: string[] = [];
    const m = new UserMaps([{ name: '@c', keyTypes: [str], value: { kind: 'count' } }], (name, maxKeys) => full.push(`${name}:${maxKeys}`));
    for (let i = 0; i < 600_000; i++) m.count('@c', [`client-${i}`]);
    expect(m.snapshot('@c').entries).toHaveLength(4096);
    expect(m.drops()).toEqual([{ name: '@c', maxKeys: 4096, dropped: 600_000 - 4096 }]);
    expect(full).toEqual(['@c:4096']);
    m.count('@c', ['client-7']);
    expect(m.get('@c', ['client-7'])).toBe(2n);
    expect(m.get('@c', ['client-5000'])).toBeUndefined();
    m.delete('@c', ['client-0']);
    m.count('@c', ['late']);
    expect(m.get('@c', ['late'])).toBe(1n);
    expect(m.drops()[0]!.dropped).toBe(600_000 - 4096);
  });
  it('drops every kind of update that would add a key, under a limit of its own', () => {
    const m = new UserMaps([
      { name: '@s', keyTypes: [u64], value: { kind: 'sum', signed: false }, maxKeys: 2 },
      { name: '@h', keyTypes: [u64], value: { kind: 'hist' }, maxKeys: 2 },
      { name: '@a', keyTypes: [u64], value: { kind: 'avg', signed: true }, maxKeys: 2 },
      { name: '@x', keyTypes: [u64], value: { kind: 'scalar', type: str }, maxKeys: 2 },
    ]);
    for (const k of [1n, 2n, 3n, 4n]) {
      m.sum('@s', [k], 5n);
      m.hist('@h', [k], 5n);
      m.avg('@a', [k], 5n);
      m.assign('@x', [k], 'v');
    }
    for (const name of ['@s', '@h', '@a', '@x']) expect(m.snapshot(name).entries.map((e) => e.keys)).toEqual([[1n], [2n]]);
    expect(m.drops().map((d) => [d.name, d.dropped])).toEqual([
      ['@s', 2],
      ['@h', 2],
      ['@a', 2],
      ['@x', 2],
    ]);
  });
});
