import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecordMember } from '../../src/frontend/btf-members.js';
import { readDebugInfo } from '../../src/frontend/dwarf.js';
import { findOnPath } from '../../src/executables.js';

const SOURCE = join(import.meta.dirname, '../fixtures/dwarf/dwarf_test.c');
const dir = mkdtempSync(join(tmpdir(), 'kt-dwarf-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// The DWARF versions and compilers a binary on this machine may come from; -gz: compressed sections, as Debian's debug packages have them.
const BUILDS = [
  ['gcc', '-gdwarf-5'],
  ['gcc', '-gdwarf-4'],
  ['gcc', '-gdwarf-5 -gz=zlib'],
  ['clang', '-gdwarf-5'],
  ['clang', '-gdwarf-4'],
].filter(([cc]) => findOnPath(cc!) !== undefined);

function build(cc: string, flags: string): string {
  const out = join(dir, `dwarf_test-${cc}${flags.replace(/[ =]/g, '_')}`);
  execFileSync(cc, [...flags.split(' '), '-O0', '-o', out, SOURCE]);
  return out;
}

/** The layouts the program prints of itself: the compiler's own sizeof and offsetof. */
function compilerLayouts(binary: string): Map<string, number> {
  const out = execFileSync(binary, ['layouts'], { encoding: 'utf8' });
  return new Map(out.trim().split('\n').map((l) => {
    const [record, member, n] = l.split(' ');
    return [`${record} ${member}`, Number(n)];
  }));
}

function member(members: RecordMember[], name: string): RecordMember {
  const m = members.find((x) => x.name === name);
  if (!m) throw new Error(`no member ${name} in ${members.map((x) => x.name).join(', ')}`);
  return m;
}

describe.each(BUILDS)('readDebugInfo of a program built by %s %s', (cc, flag) => {
  const binary = build(cc!, flag!);
  const info = readDebugInfo(readFileSync(binary))!;

  it('gives each record the size and member offsets the compiler gives', () => {
    const truth = compilerLayouts(binary);
    let checked = 0;
    for (const [key, value] of truth) {
      const [record, what] = key.split(' ');
      const r = info.record(`struct ${record}`);
      expect(r, record).toBeDefined();
      if (what === 'size') expect(r!.size, key).toBe(value);
      else expect(member(r!.members, what!).offset, key).toBe(value);
      checked++;
    }
    expect(checked).toBe(18);
  });

  it('types members as the type system reads them', () => {
    const outer = info.record('struct Outer')!.members;
    expect(member(outer, 'tag').type).toEqual({ kind: 'int', bits: 8, signed: true });
    expect(member(outer, 'inner').type).toEqual({ kind: 'struct', name: 'struct Inner', size: 16 });
    expect(member(outer, 'next').type).toEqual({ kind: 'ptr', to: { kind: 'struct', name: 'struct Inner', size: 16 } });
    // bpftrace reads arrays of unsigned char as strings too.
    expect(member(outer, 'as_bytes').type).toEqual({ kind: 'str', size: 4 });
    expect(member(outer, 'colour').type).toEqual({ kind: 'int', bits: 32, signed: false });
    const int32 = { kind: 'int', bits: 32, signed: true };
    expect(member(outer, 'grid').type).toEqual({ kind: 'array', elem: { kind: 'array', elem: int32, length: 3 }, length: 2 });
    expect(member(outer, 'label').type).toEqual({ kind: 'ptr', to: { kind: 'int', bits: 8, signed: true } });
    expect(member(outer, 'foos').type).toEqual({ kind: 'array', elem: { kind: 'struct', name: 'struct Foo', size: 28 }, length: 2 });
    expect(member(outer, 'named_anon').anonymous?.members.map((m) => m.name)).toEqual(['x']);
    // 'flag' and 'level' share the 4 bytes after as_int's union and named_anon.
    const flag = member(outer, 'flag');
    const level = member(outer, 'level');
    expect(flag.bitfield?.width).toBe(1);
    expect(level.bitfield?.width).toBe(5);
    expect(level.offset * 8 + level.bitfield!.shift).toBe(flag.offset * 8 + flag.bitfield!.shift + 1);
    expect(member(info.record('struct Foo')!.members, 'b').type).toEqual({ kind: 'str', size: 10 });
    expect(info.record('union Value')?.size).toBe(8);
    expect(member(info.record('struct Node')!.members, 'next').type).toEqual({ kind: 'ptr', to: { kind: 'struct', name: 'struct Node', size: 16 } });
    expect(info.record('struct Missing')).toBeUndefined();
  });

  it('gives functions their parameters in order, typed', () => {
    expect(info.parameters('function1')).toEqual([
      { name: 'n', cType: 'int*', type: { kind: 'ptr', to: { kind: 'int', bits: 32, signed: true } } },
      { name: 'c', cType: 'char', type: { kind: 'int', bits: 8, signed: true } },
    ]);
    const mixed = info.parameters('mixed')!;
    expect(mixed.map((p) => p.name)).toEqual(['u8', 's16', 'u64', 'label', 'outer', 'value']);
    expect(mixed.map((p) => p.type)).toEqual([
      { kind: 'int', bits: 8, signed: false },
      { kind: 'int', bits: 16, signed: true },
      { kind: 'int', bits: 64, signed: false },
      { kind: 'ptr', to: { kind: 'int', bits: 8, signed: true } },
      { kind: 'ptr', to: { kind: 'struct', name: 'struct Outer', size: 144 } },
      { kind: 'ptr', to: { kind: 'struct', name: 'union Value', size: 8 } },
    ]);
    expect(mixed.slice(2, 6).map((p) => p.cType)).toEqual(['u64_t', 'const char*', 'struct Outer*', 'union Value*']);
    const q = info.parameters('qualified')!;
    expect(q.map((p) => p.cType)).toEqual(['const int', '<unknown type>', 'char**', 'void*', 'enum colour', 'const <unknown type>*']);
    expect(q[3]!.type).toEqual({ kind: 'ptr', to: { kind: 'int', bits: 8, signed: false } });
    expect(info.parameters('no_such_function')).toBeUndefined();
  });
});

describe('readDebugInfo', () => {
  it('finds no debug info in a stripped binary', () => {
    const out = join(dir, 'stripped');
    execFileSync('cc', ['-g', '-O0', '-s', '-o', out, SOURCE]);
    expect(readDebugInfo(readFileSync(out))).toBeUndefined();
  });

  it('refuses records that nest without end, in bounded time', () => {
    const info = readDebugInfo(selfNestingProgram())!;
    const start = Date.now();
    expect(() => info.record('struct Twice')).toThrow(expect.objectContaining({ errorCode: 'dwarf-invalid', message: expect.stringContaining('nest more than') }));
    expect(Date.now() - start).toBeLessThan(5000);
  });

  it('refuses malformed DWARF with one error, never a wrong layout', () => {
    const binary = build('cc', '-gdwarf-5');
    const elf = readFileSync(binary);
    // Bytes of the first units flipped, one at a time: each read either works or throws dwarf-invalid.
    const section = readDebugInfo(elf);
    expect(section).toBeDefined();
    const start = infoOffset(binary);
    let refused = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const copy = Buffer.from(elf);
      const at = start + ((seed * 7919) % 400);
      copy[at] = copy[at]! ^ (1 + (seed % 255));
      try {
        readDebugInfo(copy)?.record('struct Outer');
      } catch (e) {
        expect((e as { errorCode?: string }).errorCode).toBe('dwarf-invalid');
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(0);
  });
});

/**
 * A program whose struct has three anonymous unions, each member patched to hold the struct itself: a
 * cycle no compiler emits, which read naively nests 3^16 records. The DIE offsets come from
 * llvm-dwarfdump; the program has one unit, at offset 0, so its references are these offsets.
 */
function selfNestingProgram(): Buffer {
  const src = join(dir, 'twice.c');
  writeFileSync(src, 'struct Twice { union { int a; }; union { int b; }; union { int c; }; };\nstruct Twice t;\nint main(void) { return t.a; }\n');
  const out = join(dir, 'twice');
  execFileSync('gcc', ['-gdwarf-5', '-O0', '-o', out, src]);
  const dies = [...execFileSync('llvm-dwarfdump', ['--debug-info', out], { encoding: 'utf8' }).matchAll(/^0x([0-9a-f]+):\s+(DW_TAG_\w+|NULL)/gm)].map((m) => ({
    offset: Number.parseInt(m[1]!, 16),
    tag: m[2]!,
  }));
  const unions = dies.filter((d) => d.tag === 'DW_TAG_union_type').map((d) => d.offset);
  const struct = dies.findIndex((d) => d.tag === 'DW_TAG_structure_type');
  const elf = readFileSync(out);
  const info = infoOffset(out);
  let patched = 0;
  for (let i = struct + 1; dies[i]!.tag === 'DW_TAG_member'; i++) {
    for (let at = dies[i]!.offset; at + 4 <= dies[i + 1]!.offset; at++) {
      if (!unions.includes(elf.readUInt32LE(info + at))) continue;
      elf.writeUInt32LE(dies[struct]!.offset, info + at);
      patched++;
      break;
    }
  }
  expect(patched).toBe(3);
  return elf;
}

/** The file offset of .debug_info, from readelf (binutils), the reference for section headers. */
function infoOffset(path: string): number {
  const out = execFileSync('readelf', ['-SW', path], { encoding: 'utf8' });
  const line = out.split('\n').find((l) => / \.debug_info /.test(l))!;
  return Number.parseInt(line.replace(/^.*\]\s*/, '').split(/\s+/)[3]!, 16);
}
