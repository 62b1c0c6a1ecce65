// A script's own C (struct, union and enum definitions, #define, #include): the layouts kafkatrace
// reads from clang's BTF are checked against the host C compiler's offsetof() and bit positions,
// and the analysis uses them for members, sizeof(), bitfields and constants.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Expr } from '../../src/frontend/ast.js';
import { recordMembers } from '../../src/frontend/btf-members.js';
import { scriptTypes } from '../../src/frontend/c-definitions.js';
import { formatDiagnostic } from '../../src/frontend/diagnostics.js';
import { frontend } from '../../src/frontend/index.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

const system = new FakeSystem();
const env = { positional: [], unsafe: false, system };

const DEFINITIONS = `
typedef unsigned short u16_t;
struct Inner { char tag; long long big; };
union U { int i; char bytes[3]; struct Inner in; };
struct Outer {
  char c;
  int i;
  struct Inner inner;
  short s[3];
  union U u;
  struct { char x; int y; } anon_s;
  union { short p; long long q; };
  u16_t t;
  char name[13];
  void *ptr;
  struct Outer *next;
  unsigned int a:4, b:8, c3:3, d:1, e:16;
  short f:4, g:8;
  int h:9, k:15, l:1;
  unsigned long long wide:40, narrow:3;
  int after;
};
struct Bar { short a:4, b:8, c:3, d:1; int e:9, f:15, g:1, h:2, i:5; };
`;

/** Member offsets (and bit positions of bitfields) as the host's C compiler lays the records out. */
function hostLayout(record: string, members: string[], bitfields: string[]): Record<string, string> {
  const lines = [
    '#include <stddef.h>',
    '#include <stdio.h>',
    '#include <string.h>',
    DEFINITIONS,
    'int main(void) {',
    `  printf("sizeof %zu\\n", sizeof(${record}));`,
    ...members.map((m) => `  printf("${m} %zu\\n", offsetof(${record}, ${m}));`),
    // A bitfield's first bit and width: set it to all ones in zeroed memory and look at the bytes.
    ...bitfields.map(
      (m) => `  { union { ${record} r; unsigned char b[sizeof(${record})]; } x; memset(&x, 0, sizeof x); x.r.${m} = -1;
    int first = -1, n = 0; for (int i = 0; i < (int)sizeof x.b * 8; i++) if (x.b[i / 8] >> (i % 8) & 1) { if (first < 0) first = i; n++; }
    printf("${m} %d:%d\\n", first, n); }`,
    ),
    '  return 0;',
    '}',
  ];
  const src = join(dir, `${record.replace(' ', '_')}.c`);
  writeFileSync(src, lines.join('\n'));
  execFileSync('cc', ['-o', `${src}.bin`, src]);
  const out = execFileSync(`${src}.bin`, { encoding: 'utf8' });
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

const dir = mkdtempSync(join(tmpdir(), 'kt-cdefs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function ours(record: string): Record<string, string> {
  const r = scriptTypes([{ text: DEFINITIONS, line: 1 }], 'defs.bt', system);
  if ('error' in r) throw new Error(r.error.message);
  const own = r.types.record(record)!;
  const out: Record<string, string> = { sizeof: String(own.btf.sizeOf(own.id)) };
  for (const m of recordMembers(own.btf, own.id)) {
    out[m.name] = m.bitfield ? `${m.offset * 8 + m.bitfield.shift}:${m.bitfield.width}` : String(m.offset);
  }
  return out;
}

describe('layouts of a script\'s C, against the host compiler', () => {
  it('struct Outer: every member at the offset cc gives it, bitfields at its bits', () => {
    const members = ['c', 'i', 'inner', 's', 'u', 'anon_s', 'p', 'q', 't', 'name', 'ptr', 'next', 'after'];
    const bitfields = ['a', 'b', 'c3', 'd', 'e', 'f', 'g', 'h', 'k', 'l', 'wide', 'narrow'];
    const expected = hostLayout('struct Outer', members, bitfields);
    expect(Object.keys(expected)).toHaveLength(1 + members.length + bitfields.length);
    expect(ours('struct Outer')).toEqual(expected);
  });

  it('struct Bar (bpftrace\'s bitfield_test) and union U', () => {
    expect(ours('struct Bar')).toEqual(hostLayout('struct Bar', [], ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']));
    expect(ours('union U')).toEqual(hostLayout('union U', ['i', 'bytes', 'in'], []));
  });
});

/** The value of `@ = <expr>`, the last statement of the script's first probe, analysed. */
function value(script: string): Expr {
  const r = frontend(script, 's.bt', env);
  expect(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`)).toEqual([]);
  const stmt = r.script!.probes[0]!.body.at(-1)!;
  if (stmt.kind !== 'mapAssign') throw new Error('not a map assignment');
  return stmt.value;
}

function errors(script: string): string[] {
  return frontend(script, 's.bt', env).diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`);
}

describe('analysis with a script\'s C', () => {
  it('reads members of a record the script defines, with or without the `;` after it', () => {
    const e = value('struct Foo { int x; char c[8]; struct Foo *next; } BEGIN { @ = ((struct Foo *)0)->next->c; }');
    expect(e).toMatchObject({ kind: 'field', offset: 4, type: { kind: 'str', size: 8 } });
    expect(value('struct Foo { char a; long b; };\nBEGIN { @ = sizeof(struct Foo); }')).toMatchObject({ kind: 'call', type: { kind: 'int' } });
  });

  it('marks bitfields with their bits, read unsigned as bpftrace reads them', () => {
    const e = value('struct Bar { short a:4, b:8; } BEGIN { @ = ((struct Bar *)0)->b; }');
    expect(e).toMatchObject({ kind: 'field', offset: 0, bitfield: { shift: 4, width: 8 }, type: { kind: 'int', bits: 16, signed: false } });
  });

  it('takes a record the script defines over the kernel\'s of the same name', () => {
    expect(value('struct task_struct { int x; } BEGIN { @ = curtask->x; }')).toMatchObject({ kind: 'field', offset: 0 });
    expect(errors('BEGIN { @ = curtask->x; }')).toEqual([expect.stringMatching(/struct task_struct has no member 'x'/)]);
  });

  it('lays out kernel records the script embeds at the kernel\'s size', () => {
    const e = value('struct Foo { char c; struct task_struct t; int after; } BEGIN { @ = ((struct Foo *)0)->after; }');
    expect(e).toMatchObject({ kind: 'field', offset: 8 + 3264 });
  });

  it('takes no kernel record a script embeds once it redefines one of the kernel\'s, as bpftrace (btf.redefine_btf_type_missing_def)', () => {
    expect(errors('struct task_struct { struct sched_entity x; } BEGIN { @ = curtask->x; }')).toEqual([
      "1:42: field has incomplete type 'struct sched_entity': the script redefines the kernel's struct task_struct, so it defines the records that its definitions embed",
    ]);
    expect(errors('struct task_struct { struct sched_entity *x; } BEGIN { @ = curtask->x; }')).toEqual([]);
  });

  it('gives enumerators and integer macros of the script, and kernel enumerators, their values', () => {
    const consts = (script: string): unknown => value(script);
    expect(consts('enum E { A = 5, B }; BEGIN { @ = B; }')).toMatchObject({ kind: 'builtin', value: 6n, type: { kind: 'int', bits: 64, signed: true } });
    expect(consts('#define N (3 << 2)\nBEGIN { @ = N; }')).toMatchObject({ kind: 'builtin', value: 12n });
    expect(consts('BEGIN { @ = TCP_FIN_WAIT1; }')).toMatchObject({ kind: 'builtin', value: 4n });
    // Macros of the headers the script includes too (tcplife.bt's AF_INET).
    expect(consts('#include <sys/socket.h>\nBEGIN { @ = AF_INET6; }')).toMatchObject({ kind: 'builtin', value: 10n });
    // A macro that is not an integer is no constant, and does not break the rest.
    expect(consts('#define S "str"\n#define K 7\nBEGIN { @ = K; }')).toMatchObject({ kind: 'builtin', value: 7n });
  });

  it('types a whole struct used as a value as a record of its members, nested records and bitfields included', () => {
    const e = value('struct Foo { struct { int m[1]; } y; char s[4]; unsigned int b:3; struct Foo *next; } BEGIN { @ = *(struct Foo *)0; }');
    expect(e.type).toEqual({
      kind: 'record',
      name: 'struct Foo',
      size: 24,
      fields: [
        { name: 'y', offset: 0, type: { kind: 'record', name: '', size: 4, fields: [{ name: 'm', offset: 0, type: { kind: 'array', elem: { kind: 'int', bits: 32, signed: true }, length: 1 } }] } },
        { name: 's', offset: 4, type: { kind: 'str', size: 4 } },
        { name: 'b', offset: 8, type: { kind: 'int', bits: 32, signed: false }, bitfield: { shift: 0, width: 3 } },
        { name: 'next', offset: 16, type: { kind: 'ptr', to: { kind: 'struct', name: 'struct Foo', size: 24 } } },
      ],
    });
    const member = value('struct Foo { int m; int n; } BEGIN { $f = *(struct Foo *)0; @ = $f.n; }');
    expect(member).toMatchObject({ kind: 'field', offset: 4, type: { kind: 'int', bits: 32, signed: true } });
  });

  it('indexes arrays of arrays, of pointers and of structs, and reads members of anonymous struct members', () => {
    const int32 = { kind: 'int', bits: 32, signed: true };
    expect(value('struct B { int y[2][2]; } BEGIN { @ = ((struct B *)0)->y; }').type).toEqual({ kind: 'array', elem: { kind: 'array', elem: int32, length: 2 }, length: 2 });
    expect(value('struct B { int y[2][2]; } BEGIN { @ = ((struct B *)0)->y[1][0]; }').type).toEqual(int32);
    expect(value('struct C { int *z[4]; } BEGIN { @ = *((struct C *)0)->z[1]; }').type).toEqual(int32);
    const w = value('struct T { int a; int b[2]; } struct W { int a; struct T t; } struct C { int a; struct W w[3]; } BEGIN { @ = ((struct C *)0)->w[2].t.b[1]; }');
    expect(w.type).toEqual(int32);
    expect(value('struct Foo { int m; struct { int x; int y; } bar; } BEGIN { @ = ((struct Foo *)0)->bar.y; }')).toMatchObject({ kind: 'field', offset: 4, type: int32 });
    expect(errors('struct B { int y[2][2]; } BEGIN { @ = ((struct B *)0)->y[2][0]; }')).toEqual(['1:58: the index 2 is out of bounds for array of size 2']);
  });

  it('defines BPFTRACE_HAVE_BTF, as bpftrace does where the kernel has BTF, and takes C that defines no type', () => {
    const tool = '#ifndef BPFTRACE_HAVE_BTF\n#include <no/such/kernel/header.h>\n#endif\n#include <linux/types.h>\nBEGIN { @ = TCP_FIN_WAIT1; }';
    expect(errors(tool)).toEqual([]);
    // tcplife.bt's #else branch: glibc's headers, as on the host.
    expect(errors('#include <sys/socket.h>\nstruct S { struct sockaddr_storage ss; long l; } BEGIN { @ = sizeof(struct S); }')).toEqual([]);
  });

  it('reports clang\'s first error at its line and column in the script', () => {
    expect(errors('BEGIN { }\nstruct Foo { int x; nosuchtype y; }\nEND { }')).toEqual(["2:21: error: unknown type name 'nosuchtype'"].map((m) => m.replace('error: ', '')));
    expect(errors('#include <lol/no.h>\nBEGIN { }')).toEqual(["1:10: 'lol/no.h' file not found"]);
  });

  it('prints clang\'s errors with clang\'s word, as bpftrace passes them on; its own in its own', () => {
    const script = 'BEGIN { }\nstruct Foo { int x; nosuchtype y; }\nEND { }';
    const [d] = frontend(script, 's.bt', env).diagnostics;
    expect(formatDiagnostic(d!, script).split('\n')[0]).toBe("s.bt:2:21: error: unknown type name 'nosuchtype'");
    const own = 'BEGIN { @ = nosuchfunction(); }';
    expect(formatDiagnostic(frontend(own, 's.bt', env).diagnostics[0]!, own)).toMatch(/^s\.bt:1:13: ERROR: /);
  });
});
