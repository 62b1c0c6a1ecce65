// The members the BTF reader gives for kernel structs agree with clang's own layout of the same
// structs (bpftool's C dump of the kernel's BTF): offsets, sizes, signedness, strings and pointers
// are checked by _Static_assert in a program clang compiles.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { KType } from '../../src/frontend/ast.js';
import { BtfKind, loadBtf } from '../../src/frontend/btf.js';
import { type RecordMember, recordMembers } from '../../src/frontend/btf-members.js';
import { sizeOf } from '../../src/plan/layout.js';

const btf = loadBtf('/sys/kernel/btf/vmlinux');
const dir = mkdtempSync(join(tmpdir(), 'kt-btf-members-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RECORDS: [string, BtfKind][] = [
  ['task_struct', BtfKind.Struct],
  ['sk_buff', BtfKind.Struct],
  ['sock_common', BtfKind.Struct],
  ['file', BtfKind.Struct],
  ['__kernel_timespec', BtfKind.Struct],
  ['bpf_attr', BtfKind.Union],
];

function members(name: string, kind: BtfKind): RecordMember[] {
  const id = btf.find(name, kind);
  if (id === undefined) throw new Error(`BTF has no ${name}`);
  return recordMembers(btf, id);
}

/** C that holds only if the member at `m` has the type `t` says. */
function asserts(record: string, m: RecordMember, t: KType): string[] {
  const lv = `((${record} *)0)->${m.name}`;
  const out = [`_Static_assert(__builtin_offsetof(${record}, ${m.name}) == ${m.offset}, "${record}.${m.name} offset");`];
  if (t.kind === 'int') {
    out.push(`_Static_assert(sizeof(${lv}) == ${t.bits / 8}, "${record}.${m.name} size");`);
    out.push(`_Static_assert(((__typeof__(${lv}))-1 < (__typeof__(${lv}))0) == ${t.signed ? 1 : 0}, "${record}.${m.name} signedness");`);
  } else if (t.kind === 'str') {
    out.push(`_Static_assert(__builtin_types_compatible_p(__typeof__(${lv}), char[${t.size}]), "${record}.${m.name} string");`);
  } else if (t.kind === 'array') {
    out.push(`_Static_assert(sizeof(${lv}) == ${sizeOf(t)} && sizeof(${lv}[0]) == ${sizeOf(t.elem)}, "${record}.${m.name} array");`);
  } else if (t.kind === 'ptr') {
    const to = t.to.kind === 'struct' ? `${t.to.name} *` : 'void *';
    // Pointers to records are those records; others are at least pointers.
    out.push(t.to.kind === 'struct'
      ? `_Static_assert(__builtin_types_compatible_p(__typeof__(*${lv}), ${t.to.name}) || __builtin_types_compatible_p(__typeof__(${lv}), const ${to}), "${record}.${m.name} pointer");`
      : `_Static_assert(sizeof(${lv}) == 8 && __builtin_classify_type(${lv}) == 5, "${record}.${m.name} pointer");`);
  } else if (t.kind === 'struct') {
    out.push(`_Static_assert(__builtin_types_compatible_p(__typeof__(${lv}), ${t.name}), "${record}.${m.name} record");`);
  }
  return out;
}

describe('BTF record members', () => {
  it('flattens anonymous structs and unions into their record', () => {
    const skb = members('sk_buff', BtfKind.Struct);
    // next, dev and len live in anonymous unions and structs of struct sk_buff.
    for (const name of ['next', 'dev', 'len']) expect(skb.some((m) => m.name === name && m.type)).toBe(true);
    expect(members('task_struct', BtfKind.Struct).find((m) => m.name === 'comm')?.type).toEqual({ kind: 'str', size: 16 });
  });

  it('gives bitfields their bits rather than reading them whole', () => {
    const bitfields = members('task_struct', BtfKind.Struct).filter((m) => m.bitfield);
    expect(bitfields.map((m) => m.name)).toContain('sched_reset_on_fork');
    for (const m of bitfields) expect(m.bitfield!.shift + m.bitfield!.width).toBeLessThanOrEqual(64);
  });

  it('agrees with clang on every member it types', () => {
    const header = join(dir, 'vmlinux.h');
    writeFileSync(header, execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], { maxBuffer: 1 << 28 }));
    const lines = ['#include "vmlinux.h"'];
    let checked = 0;
    for (const [name, kind] of RECORDS) {
      const record = `${kind === BtfKind.Union ? 'union' : 'struct'} ${name}`;
      for (const m of members(name, kind)) {
        // Bitfields have no offsetof(); their bits are checked against the host compiler in c-definitions.test.ts.
        if (!m.type || m.bitfield) continue;
        lines.push(...asserts(record, m, m.type));
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(200);
    const source = join(dir, 'check.c');
    writeFileSync(source, lines.join('\n') + '\n');
    const r = (() => {
      try {
        execFileSync('clang', ['-target', 'bpf', '-fsyntax-only', '-Wno-everything', source], { stdio: ['ignore', 'pipe', 'pipe'] });
        return '';
      } catch (e) {
        return String((e as { stderr?: Buffer }).stderr ?? e).split('\n').filter((l) => l.includes('error')).slice(0, 10).join('\n');
      }
    })();
    expect(r).toBe('');
  }, 60_000);
});
