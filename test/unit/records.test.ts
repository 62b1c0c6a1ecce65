// The one dispatch of kernel probes' ring-buffer records (a script's session and the REPL both use
// it), on hand-built records: what it prints, what it acts on, and what it reports without stopping.
import { describe, expect, it } from 'vitest';
import type { KType } from '../../src/frontend/ast.js';
import type { BpfObject } from '../../src/native/index.js';
import { layoutOf } from '../../src/plan/layout.js';
import type { Plan, PlanEvent, PlanMap } from '../../src/plan/types.js';
import { createOutput, type Output } from '../../src/runtime/output.js';
import { RecordDispatch } from '../../src/runtime/records.js';
import { createSymbolizer } from '../../src/runtime/symbols.js';
import { UserMaps } from '../../src/runtime/user-maps.js';

const s64: KType = { kind: 'int', bits: 64, signed: true };
const oneInt = layoutOf([s64], 8);

const EVENTS: PlanEvent[] = [
  { id: 0, kind: 'printf', format: 'n=%d\n', layout: oneInt },
  { id: 1, kind: 'exit', layout: oneInt },
  { id: 2, kind: 'print', map: '@k', top: 0, div: 0 },
  { id: 3, kind: 'print', map: '@gone', top: 0, div: 0 },
  { id: 4, kind: 'clear', map: '@k' },
  { id: 5, kind: 'zero', map: '@k' },
  { id: 6, kind: 'signal', layout: oneInt },
  { id: 7, kind: 'system', format: 'echo sys', layout: layoutOf([], 8) },
  { id: 8, kind: 'print', map: '@u', top: 0, div: 0 },
];

const KERNEL_MAP: PlanMap = {
  name: '@k',
  bpfName: 'm_k',
  home: 'kernel',
  keyTypes: [],
  keyLayout: { size: 4, fields: [] },
  value: { kind: 'count' },
  valueSize: 8,
  perCpu: false,
  bpfType: 'hash',
  maxEntries: 16,
};
const USER_MAP: PlanMap = { ...KERNEL_MAP, name: '@u', bpfName: undefined, home: 'user' };

function plan(unsafe = false): Plan {
  return { version: 1, file: 'records.ktr', probes: [], maps: [KERNEL_MAP, USER_MAP], events: EVENTS, ringbufSize: 4096, unsafe };
}

function record(id: number, value?: bigint): Buffer {
  const b = Buffer.alloc(value === undefined ? 8 : 16);
  b.writeUInt32LE(id, 0);
  if (value !== undefined) b.writeBigInt64LE(value, 8);
  return b;
}

/** A kernel object with one map, @k's, holding `count` (0 after clear or zero). */
function fakeObject(count: bigint, calls: string[]): BpfObject {
  const value = (): Buffer => {
    const v = Buffer.alloc(8);
    v.writeBigUInt64LE(count);
    return v;
  };
  return {
    mapDump: (name: string) => (name === 'm_k' ? [{ key: Buffer.alloc(4), values: [value()] }] : []),
    mapClear: (name: string) => void calls.push(`clear ${name}`),
    mapZero: (name: string) => void calls.push(`zero ${name}`),
  } as unknown as BpfObject;
}

function setUp(opts: { unsafe?: boolean; output?: (o: Output) => Output } = {}) {
  let text = '';
  let errors = '';
  const calls: string[] = [];
  const userMaps = new UserMaps([{ name: '@u', keyTypes: [], value: { kind: 'count' }, maxKeys: 16 }]);
  userMaps.count('@u', []);
  const out = createOutput({ format: 'text', write: (s) => (text += s), writeError: (s) => (errors += s) });
  const dispatch = new RecordDispatch({
    plan: plan(opts.unsafe),
    obj: fakeObject(5n, calls),
    userMaps,
    out: opts.output ? opts.output(out) : out,
    render: { symbols: createSymbolizer() },
  });
  return { dispatch, calls, text: () => text, errors: () => errors };
}

describe('ring-buffer records', () => {
  it('prints printf records and the maps print() names, kernel and user-space alike', () => {
    const r = setUp();
    expect(r.dispatch.act(record(0, 42n))).toBeUndefined();
    r.dispatch.act(record(2));
    r.dispatch.act(record(8));
    expect(r.text()).toBe('n=42\n@k: 5\n@u: 1\n');
    expect(r.errors()).toBe('');
  });

  it('gives back exit()\'s code without acting on it', () => {
    const r = setUp();
    expect(r.dispatch.act(record(1, 3n))).toBe(3);
    expect(r.text() + r.errors()).toBe('');
  });

  it('clears and zeroes the kernel map the record names', () => {
    const r = setUp();
    r.dispatch.act(record(4));
    r.dispatch.act(record(5));
    // @k is a count() without keys: clear() zeroes it too, as bpftrace's per-CPU array.
    expect(r.calls).toEqual(['zero m_k', 'zero m_k']);
  });

  it('reports what it cannot act on and goes on', () => {
    const r = setUp();
    r.dispatch.act(record(3));
    r.dispatch.act(record(6, 9n));
    r.dispatch.act(record(6, 9n));
    r.dispatch.act(record(99));
    r.dispatch.act(record(7));
    r.dispatch.act(record(0, 1n));
    expect(r.errors()).toBe(
      'ERROR: unknown map @gone in a ring buffer record\n' +
        'ERROR: signal() is not supported by this runtime yet; its records are ignored\n' +
        'ERROR: ring buffer record with unknown event id 99\n' +
        'ERROR: system() needs --unsafe\n',
    );
    expect(r.text()).toBe('n=1\n');
  });

  it('reports an output that fails on one record, and acts on the next', () => {
    const r = setUp({
      output: (o) => ({
        ...o,
        printMap: () => {
          throw new Error('the map went away');
        },
      }),
    });
    expect(r.dispatch.act(record(2))).toBeUndefined();
    r.dispatch.act(record(0, 7n));
    expect(r.errors()).toBe('ERROR: the map went away\n');
    expect(r.text()).toBe('n=7\n');
  });

  it("prints a system() command's output as its own, after what was printed before", () => {
    const r = setUp({ unsafe: true });
    r.dispatch.act(record(0, 1n));
    r.dispatch.act(record(7));
    expect(r.text()).toBe('n=1\nsys\n');
    expect(r.errors()).toBe('');
  });
});
