// Tuples keep each element's own type and lie out as a C struct of those elements, as bpftrace 0.17's
// do: its tests/runtime/tuples sizes through the front end, and clang's layout of random tuples.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KType } from '../../src/frontend/ast.js';
import { frontend } from '../../src/frontend/index.js';
import { layoutOf, sizeOf } from '../../src/plan/layout.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';
import { rng } from '../helpers/seeded.js';

const env = { positional: [], unsafe: false, system: new FakeSystem() };

/** The type a variable holding `tuple` stores, as the analysis gives it to a map assigned from it. */
function storedTuple(tuple: string): KType {
  const r = frontend(`BEGIN { $t = ${tuple}; @m = $t; }`, 't.ktr', env);
  expect(r.diagnostics).toEqual([]);
  const value = r.analysis!.maps.find((m) => m.name === '@m')!.value;
  if (value.kind !== 'scalar') throw new Error(`@m is a ${value.kind} map`);
  return value.type;
}

describe('tuple layout', () => {
  // tests/runtime/tuples of bpftrace 0.17: sizeof($t) of each case's tuple, with its EXPECT.
  const BPFTRACE: [string, number][] = [
    ['((int8) 1, (int64) 1, (int8) 1, (int64) 1)', 32],
    ['((int8) 1, (int16) 1, (int32) 1)', 8],
    ['((int32) 1, (int16) 1, (int8) 1)', 8],
    ['((int8)-100, (int8) 100, "abcdef", 3, (int32) 1, (int64)-10, (int8)10, (int16)-555, "abc")', 48],
    ['((int8) 1, ((int8) -20, (int8) 30))', 3],
  ];
  for (const [tuple, size] of BPFTRACE) {
    it(`sizeof(${tuple}) in a variable is bpftrace's ${size}`, () => expect(sizeOf(storedTuple(tuple))).toBe(size));
  }

  it('keeps an element type that every assignment agrees on, and widens one that differs', () => {
    const r = frontend('BEGIN { $t = ((int8) 1, (int16) 2); $t = ((int8) 3, (int32) 4); @m = $t; }', 't.ktr', env);
    expect(r.diagnostics).toEqual([]);
    const value = r.analysis!.maps[0]!.value;
    expect(value).toEqual({
      kind: 'scalar',
      type: { kind: 'tuple', elems: [{ kind: 'int', bits: 8, signed: true }, { kind: 'int', bits: 64, signed: true }] },
    });
  });

  it('places a struct value at any byte, as bpftrace 0.17 does (its structs align to 1)', () => {
    const pair: KType = {
      kind: 'record',
      name: 'struct Pair',
      size: 4,
      fields: [
        { name: 'first', offset: 0, type: { kind: 'int', bits: 8, signed: true } },
        { name: 'second', offset: 2, type: { kind: 'int', bits: 16, signed: false } },
      ],
    };
    expect(sizeOf({ kind: 'tuple', elems: [{ kind: 'int', bits: 8, signed: true }, pair] })).toBe(5);
    expect(sizeOf({ kind: 'tuple', elems: [{ kind: 'int', bits: 32, signed: true }, { kind: 'array', length: 4, elem: { kind: 'int', bits: 32, signed: true } }] })).toBe(20);
  });

  describe('agrees with clang on random tuples', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kt-tuple-layout-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const SEED = 15;
    const next = rng(SEED);
    const pick = (n: number) => Math.floor(next() * n);
    const C_INTS: Record<number, string> = { 8: 'char', 16: 'short', 32: 'int', 64: 'long long' };

    /** A random element type and its C declaration (a nested tuple is a nested struct). */
    function element(depth: number): { type: KType; c: (name: string) => string } {
      const r = pick(depth < 2 ? 5 : 4);
      if (r <= 1) {
        const bits = ([8, 16, 32, 64] as const)[pick(4)]!;
        const signed = r === 0;
        return { type: { kind: 'int', bits, signed }, c: (n) => `${signed ? 'signed' : 'unsigned'} ${C_INTS[bits]} ${n};` };
      }
      if (r === 2) {
        const size = 1 + pick(20);
        return { type: { kind: 'str', size }, c: (n) => `char ${n}[${size}];` };
      }
      if (r === 3) {
        const bits = ([8, 16, 32, 64] as const)[pick(4)]!;
        const length = 1 + pick(5);
        return { type: { kind: 'array', length, elem: { kind: 'int', bits, signed: true } }, c: (n) => `signed ${C_INTS[bits]} ${n}[${length}];` };
      }
      return tuple(depth + 1);
    }

    function tuple(depth: number): { type: KType & { kind: 'tuple' }; c: (name: string) => string } {
      const elems = Array.from({ length: 1 + pick(6) }, () => element(depth));
      return {
        type: { kind: 'tuple', elems: elems.map((e) => e.type) },
        c: (n) => `struct { ${elems.map((e, i) => e.c(`e${i}`)).join(' ')} } ${n};`,
      };
    }

    it(`offsets and sizes of 200 tuples (seed ${SEED})`, () => {
      const lines = ['#include <stddef.h>'];
      for (let i = 0; i < 200; i++) {
        const t = tuple(0);
        lines.push(`${t.c(`t${i}`)}`);
        lines.push(`_Static_assert(sizeof(t${i}) == ${sizeOf(t.type)}, "t${i} size");`);
        layoutOf(t.type.elems).fields.forEach((f, j) => {
          lines.push(`_Static_assert(offsetof(__typeof__(t${i}), e${j}) == ${f.offset}, "t${i}.e${j} offset");`);
        });
      }
      const source = join(dir, 'check.c');
      writeFileSync(source, lines.join('\n') + '\n');
      let errors = '';
      try {
        execFileSync('clang', ['-target', 'bpf', '-fsyntax-only', source], { stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        errors = String((e as { stderr?: Buffer }).stderr ?? e).split('\n').filter((l) => l.includes('error')).slice(0, 10).join('\n');
      }
      expect(errors).toBe('');
    }, 60_000);
  });
});
