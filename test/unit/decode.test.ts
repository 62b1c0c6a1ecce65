// Decoding ring-buffer records and kernel map entries from hand-built bytes.
import { describe, expect, it } from 'vitest';
import type { KType, MapValueKind } from '../../src/frontend/ast.js';
import { layoutOf, stackMapName } from '../../src/plan/layout.js';
import type { Plan, PlanMap } from '../../src/plan/types.js';
import { decodeEvent, decodeMap, decodeValue } from '../../src/runtime/decode.js';

class Bytes {
  readonly buf: Uint8Array;
  private readonly dv: DataView;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.dv = new DataView(this.buf.buffer);
  }
  u32(o: number, v: number): this {
    this.dv.setUint32(o, v, true);
    return this;
  }
  i64(o: number, v: bigint): this {
    this.dv.setBigInt64(o, v, true);
    return this;
  }
  u64(o: number, v: bigint): this {
    this.dv.setBigUint64(o, v, true);
    return this;
  }
  bytes(o: number, b: ArrayLike<number>): this {
    this.buf.set(b, o);
    return this;
  }
  str(o: number, s: string): this {
    return this.bytes(o, new TextEncoder().encode(s));
  }
}

const int = (bits: 8 | 16 | 32 | 64, signed: boolean): KType => ({ kind: 'int', bits, signed });

describe('decodeValue', () => {
  const dv = (b: Bytes) => new DataView(b.buf.buffer);
  it('reads ints of every width and sign', () => {
    const b = new Bytes(16).bytes(0, [0xff, 0xfe, 0xff, 0xfd, 0xff, 0xff, 0xff]).i64(8, -5n);
    expect(decodeValue(int(8, true), dv(b), 0)).toBe(-1n);
    expect(decodeValue(int(8, false), dv(b), 0)).toBe(255n);
    expect(decodeValue(int(16, true), dv(b), 0)).toBe(-257n);
    expect(decodeValue(int(32, false), dv(b), 0)).toBe(0xfdfffeffn);
    expect(decodeValue(int(64, true), dv(b), 8)).toBe(-5n);
    expect(decodeValue(int(64, false), dv(b), 8)).toBe(0xfffffffffffffffbn);
  });
  it('reads strings up to the first NUL', () => {
    const b = new Bytes(8).str(0, 'ab\0cd');
    expect(decodeValue({ kind: 'str', size: 8 }, dv(b), 0)).toBe('ab');
    expect(decodeValue({ kind: 'str', size: 2 }, dv(new Bytes(2).str(0, 'xy')), 0)).toBe('xy');
  });
  it('reads a buf by its length prefix, capped at its size', () => {
    const b = new Bytes(12).u32(0, 3).bytes(4, [1, 0, 255, 9]);
    expect(decodeValue({ kind: 'buf', size: 8 }, dv(b), 0)).toEqual(new Uint8Array([1, 0, 255]));
    const over = new Bytes(8).u32(0, 99).bytes(4, [1, 2, 3, 4]);
    expect(decodeValue({ kind: 'buf', size: 4 }, dv(over), 0)).toEqual(new Uint8Array([1, 2, 3, 4]));
  });
  it('reads tuples at their own alignment', () => {
    const t: KType = { kind: 'tuple', elems: [int(8, false), int(64, true), { kind: 'str', size: 3 }] };
    const b = new Bytes(24).bytes(0, [7]).i64(8, -9n).str(16, 'hi');
    expect(decodeValue(t, dv(b), 0)).toEqual([7n, -9n, 'hi']);
  });
  it('reads tagged values', () => {
    const b = new Bytes(40).u64(0, 0xffffffff81000000n).u64(8, 1234n).u32(16, 10).bytes(20, [0xfe, 0x80]);
    expect(decodeValue({ kind: 'ksym' }, dv(b), 0)).toEqual({ kind: 'ksym', addr: 0xffffffff81000000n });
    expect(decodeValue({ kind: 'usym' }, dv(b), 0)).toEqual({ kind: 'usym', addr: 0xffffffff81000000n, pid: 1234 });
    expect(decodeValue({ kind: 'username' }, dv(b), 8)).toEqual({ kind: 'username', uid: 1234 });
    expect(decodeValue({ kind: 'timestamp', format: '%H' }, dv(b), 8)).toEqual({ kind: 'timestamp', ns: 1234n, format: '%H' });
    const inet = decodeValue({ kind: 'inet' }, dv(b), 16) as { af: number; bytes: Uint8Array };
    expect(inet.af).toBe(10);
    expect(inet.bytes.length).toBe(16);
    expect(inet.bytes[1]).toBe(0x80);
    const v4 = new Bytes(20).u32(0, 2).bytes(4, [10, 0, 0, 1]);
    expect(decodeValue({ kind: 'inet' }, dv(v4), 0)).toEqual({ kind: 'inet', af: 2, bytes: new Uint8Array([10, 0, 0, 1]) });
    const st = new Bytes(16).i64(0, -14n).u64(8, 77n);
    expect(decodeValue({ kind: 'kstack' }, dv(st), 0)).toEqual({ kind: 'kstack', stackId: -14 });
    expect(decodeValue({ kind: 'ustack' }, dv(new Bytes(16).u64(0, 5n).u64(8, 77n)), 0)).toEqual({ kind: 'ustack', stackId: 5, pid: 77 });
    // kstack(n)/ustack(n): n above the id names the map that holds n frames.
    expect(decodeValue({ kind: 'kstack' }, dv(new Bytes(8).i64(0, (3n << 32n) | 9n)), 0)).toEqual({ kind: 'kstack', stackId: 9, limit: 3 });
    expect(decodeValue({ kind: 'ustack' }, dv(new Bytes(16).u64(0, (100n << 32n) | 0xffffffffn).u64(8, 77n)), 0))
      .toEqual({ kind: 'ustack', stackId: 0xffffffff, limit: 100, pid: 77 });
    expect(stackMapName(3)).toBe('kt_stacks_3');
    expect(stackMapName(undefined)).toBe('kt_stacks');
  });
});

function plan(events: Plan['events']): Plan {
  return { version: 1, file: 't.ktr', probes: [], maps: [], events, ringbufSize: 4096, unsafe: false };
}

describe('decodeEvent', () => {
  const types: KType[] = [{ kind: 'str', size: 16 }, int(32, true), int(64, false)];
  it('decodes fields at absolute layout offsets', () => {
    const layout = layoutOf(types, 8);
    const p = plan([{ id: 3, kind: 'printf', format: '%s %d %d\n', layout }]);
    const rec = new Bytes(layout.size).u32(0, 3).str(8, 'comm').u32(24, -2 >>> 0).u64(32, 99n);
    const e = decodeEvent(p, rec.buf);
    expect(e.ok).toBe(true);
    if (e.ok) {
      expect(e.event.kind).toBe('printf');
      expect(e.args).toEqual(['comm', -2n, 99n]);
    }
  });
  it('accepts layouts that count from the end of the header', () => {
    const layout = layoutOf(types);
    const p = plan([{ id: 1, kind: 'printf', format: '', layout }]);
    const rec = new Bytes(8 + layout.size).u32(0, 1).str(8, 'x').u32(24, 5).u64(32, 6n);
    const e = decodeEvent(p, rec.buf);
    expect(e.ok && e.args).toEqual(['x', 5n, 6n]);
  });
  it('decodes events without fields', () => {
    const p = plan([{ id: 9, kind: 'time', format: '%H\n' }]);
    const e = decodeEvent(p, new Bytes(8).u32(0, 9).buf);
    expect(e.ok && e.args).toEqual([]);
  });
  it('turns an unknown id into an error value', () => {
    const e = decodeEvent(plan([]), new Bytes(8).u32(0, 42).buf);
    expect(e).toEqual({ ok: false, id: 42, error: 'ring buffer record with unknown event id 42' });
  });
  it('turns a truncated record into an error value', () => {
    const layout = layoutOf(types, 8);
    const e = decodeEvent(plan([{ id: 3, kind: 'printf', format: '', layout }]), new Bytes(12).u32(0, 3).buf);
    expect(e.ok).toBe(false);
    expect(!e.ok && e.error).toMatch(/truncated/);
    expect(decodeEvent(plan([]), new Uint8Array(2)).ok).toBe(false);
  });
});

function pmap(value: MapValueKind, valueSize: number, keyTypes: KType[] = [], perCpu = true): PlanMap {
  return {
    name: '@m',
    bpfName: 'm_m',
    home: 'kernel',
    keyTypes,
    keyLayout: keyTypes.length ? layoutOf(keyTypes) : { size: 4, fields: [] },
    value,
    valueSize,
    perCpu,
    bpfType: perCpu ? 'percpu_hash' : 'hash',
    maxEntries: 4096,
  };
}

const key0 = new Uint8Array(4);

describe('decodeMap', () => {
  it('sums count over CPUs and decodes keys', () => {
    const m = pmap({ kind: 'count' }, 8, [int(64, true), { kind: 'str', size: 8 }]);
    const key = new Bytes(16).i64(0, -3n).str(8, 'k').buf;
    const s = decodeMap(m, [{ key, values: [new Bytes(8).u64(0, 2n).buf, new Bytes(8).u64(0, 5n).buf] }]);
    expect(s).toEqual({ name: '@m', value: { kind: 'count' }, keyTypes: m.keyTypes, entries: [{ keys: [-3n, 'k'], value: 7n }] });
  });
  it('sums signed sums over CPUs', () => {
    const m = pmap({ kind: 'sum', signed: true }, 8);
    const s = decodeMap(m, [{ key: key0, values: [new Bytes(8).i64(0, -10n).buf, new Bytes(8).i64(0, 3n).buf] }]);
    expect(s.entries[0]!.value).toBe(-7n);
    expect(s.entries[0]!.keys).toEqual([]);
  });
  it('merges min and max over the CPUs that have a value', () => {
    const cpu = (v: bigint, set: boolean) => new Bytes(16).i64(0, v).u64(8, set ? 1n : 0n).buf;
    const values = [cpu(-100n, false), cpu(4n, true), cpu(-2n, true), cpu(50n, true)];
    expect(decodeMap(pmap({ kind: 'min', signed: true }, 16), [{ key: key0, values }]).entries[0]!.value).toBe(-2n);
    expect(decodeMap(pmap({ kind: 'max', signed: true }, 16), [{ key: key0, values }]).entries[0]!.value).toBe(50n);
    expect(decodeMap(pmap({ kind: 'max', signed: true }, 16), [{ key: key0, values: [cpu(9n, false)] }]).entries[0]!.value).toBe(0n);
  });
  it('sums avg and stats count and total', () => {
    const cpu = (c: bigint, t: bigint) => new Bytes(16).i64(0, c).i64(8, t).buf;
    const s = decodeMap(pmap({ kind: 'avg', signed: true }, 16), [{ key: key0, values: [cpu(1n, 10n), cpu(2n, -40n)] }]);
    expect(s.entries[0]!.value).toEqual({ count: 3n, total: -30n });
  });
  it('sums hist and lhist buckets', () => {
    const hist = (i: number, v: bigint) => new Bytes(66 * 8).u64(i * 8, v).buf;
    const s = decodeMap(pmap({ kind: 'hist' }, 66 * 8), [{ key: key0, values: [hist(3, 2n), hist(3, 1n), hist(65, 4n)] }]);
    const b = s.entries[0]!.value as bigint[];
    expect(b.length).toBe(66);
    expect(b[3]).toBe(3n);
    expect(b[65]).toBe(4n);
    const lh: MapValueKind = { kind: 'lhist', min: 0, max: 25, step: 10 };
    const l = decodeMap(pmap(lh, 5 * 8), [{ key: key0, values: [new Bytes(40).u64(32, 1n).buf, new Bytes(40).u64(32, 2n).buf] }]);
    expect(l.entries[0]!.value).toEqual([0n, 0n, 0n, 0n, 3n]);
  });
  it('decodes scalar values from the single value of a non-per-CPU map', () => {
    const m = pmap({ kind: 'scalar', type: { kind: 'tuple', elems: [int(32, true), { kind: 'str', size: 4 }] } }, 8, [int(64, false)], false);
    const s = decodeMap(m, [{ key: new Bytes(8).u64(0, 1n).buf, values: [new Bytes(8).u32(0, 7).str(4, 'ab').buf] }]);
    expect(s.entries[0]).toEqual({ keys: [1n], value: [7n, 'ab'] });
  });
  it('skips entries whose bytes are too short', () => {
    const s = decodeMap(pmap({ kind: 'count' }, 8, [int(64, false)]), [
      { key: new Uint8Array(2), values: [new Bytes(8).buf] },
      { key: new Bytes(8).buf, values: [new Uint8Array(3)] },
      { key: new Bytes(8).u64(0, 4n).buf, values: [new Bytes(8).u64(0, 1n).buf] },
    ]);
    expect(s.entries).toEqual([{ keys: [4n], value: 1n }]);
  });
});
