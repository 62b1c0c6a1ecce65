import { describe, expect, it } from 'vitest';
import type { Expr } from '../../src/frontend/ast.js';
import { bodyOf, exprOf, parseOk, shape } from './parser-helpers.js';

const int = (v: number) => ({ kind: 'int', value: BigInt(v), raw: String(v) });
const v = (name: string) => ({ kind: 'var', name });
const b = (name: string) => ({ kind: 'builtin', name });

describe('probes and attach points', () => {
  const attach = (source: string) => parseOk(`${source} { }`).probes[0]!.attach.map((a) => [a.provider, a.parts]);

  it.each([
    ['BEGIN', 'BEGIN', []],
    ['END', 'END', []],
    ['uprobe:/usr/lib/x86_64-linux-gnu/libc.so.6:malloc', 'uprobe', ['/usr/lib/x86_64-linux-gnu/libc.so.6', 'malloc']],
    ['t:syscalls:sys_enter_*', 't', ['syscalls', 'sys_enter_*']],
    ['tracepoint:sched:sched_proc?ss_exec', 'tracepoint', ['sched', 'sched_proc?ss_exec']],
    ['profile:hz:99', 'profile', ['hz', '99']],
    ['interval:s:1', 'interval', ['s', '1']],
    ['i:ms:100', 'i', ['ms', '100']],
    ['kprobe:do_sys_open+16', 'kprobe', ['do_sys_open+16']],
    ['usdt:/path/bin:prov:name', 'usdt', ['/path/bin', 'prov', 'name']],
    ['uprobe:"/path with space":fn', 'uprobe', ['/path with space', 'fn']],
    ['software:cpu-clock:100000', 'software', ['cpu-clock', '100000']],
    ['software:faults:', 'software', ['faults', '']],
    ['kafka:produce', 'kafka', ['produce']],
    ['kafka:*', 'kafka', ['*']],
    ['uprobe:./bin/app:main', 'uprobe', ['./bin/app', 'main']],
    ['uprobe:/bin/bash:0x2ec00', 'uprobe', ['/bin/bash', '0x2ec00']],
    ['t:syscalls:sys_enter_{read,write}', 't', ['syscalls', 'sys_enter_{read,write}']],
    ['rt:sys_enter', 'rt', ['sys_enter']],
    ['U:/bin/x:p', 'U', ['/bin/x', 'p']],
    ['fentry:vfs_read', 'fentry', ['vfs_read']],
  ])('%s', (source, provider, parts) => {
    expect(attach(source)).toEqual([[provider, parts]]);
  });

  it('keeps the raw text and the location of each attach point of a block', () => {
    const [p] = parseOk('BEGIN,\n  kprobe:a, uprobe:"/x y":f {}').probes;
    expect(p!.attach.map((a) => a.raw)).toEqual(['BEGIN', 'kprobe:a', 'uprobe:"/x y":f']);
    expect(p!.attach.map((a) => a.loc)).toEqual([
      { line: 1, col: 1, offset: 0, length: 5 },
      { line: 2, col: 3, offset: 9, length: 8 },
      { line: 2, col: 13, offset: 19, length: 15 },
    ]);
    expect(p!.loc).toEqual({ line: 1, col: 1, offset: 0, length: 37 });
  });

  it('ends a path before a predicate written right after it', () => {
    const [p] = parseOk('uprobe:/bin/bash:readline /pid == 1/ { }').probes;
    expect(p!.attach[0]!.parts).toEqual(['/bin/bash', 'readline']);
    expect(shape(p!.predicate)).toEqual({ kind: 'binary', op: '==', left: b('pid'), right: int(1) });
    const [q] = parseOk('uprobe:/bin/bash:readline/pid/{ }').probes;
    expect(q!.attach[0]!.parts).toEqual(['/bin/bash', 'readline']);
    expect(shape(q!.predicate)).toEqual(b('pid'));
  });

  it('reads an offset after a quoted function, as bpftrace does', () => {
    const [p] = parseOk('uprobe:/bin/bash:"echo_builtin"+0 { }').probes;
    expect(p!.attach[0]!.parts).toEqual(['/bin/bash', 'echo_builtin+0']);
    const [q] = parseOk('uprobe:/bin/bash:"f"+0x10, uprobe:/bin/bash:"g" { }').probes;
    expect(q!.attach.map((a) => a.parts)).toEqual([['/bin/bash', 'f+0x10'], ['/bin/bash', 'g']]);
  });

  it('reads a predicate with division and a comment before the block', () => {
    const [p] = parseOk('kprobe:f /arg0 / 2 > 1/ // big\n{ }').probes;
    expect(shape(p!.predicate)).toEqual({
      kind: 'binary', op: '>', left: { kind: 'binary', op: '/', left: b('arg0'), right: int(2) }, right: int(1),
    });
  });

  it('parses several probes, each with its location', () => {
    const s = parseOk('BEGIN { }\n\nEND\n{\n}\n');
    expect(s.probes.map((p) => [p.attach[0]!.raw, p.loc.line, p.loc.col, p.loc.length])).toEqual([
      ['BEGIN', 1, 1, 9],
      ['END', 3, 1, 7],
    ]);
    expect(s.loc).toEqual({ line: 1, col: 1, offset: 0, length: 19 });
  });

  it('puts preprocessor lines and C definitions in the preamble, and drops the #! line', () => {
    const s = parseOk('#!/usr/bin/env kafkatrace\n#include <linux/sched.h>\n#define X \\\n  1\nstruct Foo { int x; struct { int y; } z; };\nBEGIN { }');
    expect(s.preamble).toEqual([
      { text: '#include <linux/sched.h>', line: 2 },
      { text: '#define X \\\n  1', line: 3 },
      { text: 'struct Foo { int x; struct { int y; } z; };', line: 5 },
    ]);
    expect(s.probes).toHaveLength(1);
  });

  it('reads CRLF line ends and a byte order mark', () => {
    const s = parseOk('\uFEFF#!/usr/bin/env kafkatrace\r\n#include <x.h>\r\nBEGIN\r\n{\r\n  $x = 1;\r\n}\r\nEND { }\r\n');
    expect(s.preamble).toEqual([{ text: '#include <x.h>', line: 2 }]);
    expect(s.probes.map((p) => p.loc.line)).toEqual([3, 7]);
    expect(s.probes[0]!.body[0]!.loc).toMatchObject({ line: 5, col: 3 });
  });

  it('accepts comments anywhere', () => {
    const s = parseOk('// top\n/* a\n block */ BEGIN /* x */ { // y\n $x = 1; /* z */ }');
    expect(s.probes[0]!.body).toHaveLength(1);
  });

  it('accepts an empty script and an empty block', () => {
    expect(parseOk('').probes).toEqual([]);
    expect(parseOk('BEGIN{}').probes[0]!.body).toEqual([]);
  });
});

describe('statements', () => {
  it('assigns variables and maps, with every compound operator', () => {
    const ops = ['=', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '<<=', '>>='];
    const stmts = bodyOf(`BEGIN { ${ops.map((o) => `$x ${o} 1; @m[1] ${o} 2;`).join(' ')} }`);
    expect(stmts.map((s) => (s.kind === 'assign' || s.kind === 'mapAssign' ? [s.kind, s.op] : s.kind))).toEqual(
      ops.flatMap((o) => {
        const op = o === '=' ? '=' : o.slice(0, -1);
        return [['assign', op], ['mapAssign', op]];
      }),
    );
  });

  it('builds map references with tuple keys and the anonymous map', () => {
    const stmts = bodyOf('BEGIN { @m[1, "a"] = count(); @ = 2; @[comm] = 3; }');
    expect(shape(stmts)).toEqual([
      { kind: 'mapAssign', target: { kind: 'map', name: '@m', keys: [int(1), { kind: 'str', value: 'a' }] }, op: '=', value: { kind: 'call', name: 'count', args: [] } },
      { kind: 'mapAssign', target: { kind: 'map', name: '@', keys: [] }, op: '=', value: int(2) },
      { kind: 'mapAssign', target: { kind: 'map', name: '@', keys: [b('comm')] }, op: '=', value: int(3) },
    ]);
  });

  it('locates statements and their parts', () => {
    const [s] = bodyOf('BEGIN {\n  @m[pid] += 10;\n}');
    expect(s!.loc).toEqual({ line: 2, col: 3, offset: 10, length: 13 });
    if (s!.kind !== 'mapAssign') throw new Error(s!.kind);
    expect(s.target.loc).toEqual({ line: 2, col: 3, offset: 10, length: 7 });
    expect(s.target.keys[0]!.loc).toEqual({ line: 2, col: 6, offset: 13, length: 3 });
    expect(s.value.loc).toEqual({ line: 2, col: 14, offset: 21, length: 2 });
  });

  it('parses ++ and -- before and after variables and map entries', () => {
    const stmts = bodyOf('BEGIN { $x++; --$x; @m[1]--; ++@; }');
    expect(shape(stmts)).toEqual([
      { kind: 'exprStmt', expr: { kind: 'incdec', op: '++', prefix: false, target: v('$x') } },
      { kind: 'exprStmt', expr: { kind: 'incdec', op: '--', prefix: true, target: v('$x') } },
      { kind: 'exprStmt', expr: { kind: 'incdec', op: '--', prefix: false, target: { kind: 'map', name: '@m', keys: [int(1)] } } },
      { kind: 'exprStmt', expr: { kind: 'incdec', op: '++', prefix: true, target: { kind: 'map', name: '@', keys: [] } } },
    ]);
    expect(stmts[1]!.loc).toEqual({ line: 1, col: 15, offset: 14, length: 4 });
  });

  it('parses if / else if / else', () => {
    const src = 'BEGIN { if ($x > 1) { $y = 1; } else if ($x) { $y = 2 } else { $y = 3 } }';
    const [s] = bodyOf(src);
    expect(shape(s)).toEqual({
      kind: 'if',
      cond: { kind: 'binary', op: '>', left: v('$x'), right: int(1) },
      then: [{ kind: 'assign', target: v('$y'), op: '=', value: int(1) }],
      else: [{
        kind: 'if',
        cond: v('$x'),
        then: [{ kind: 'assign', target: v('$y'), op: '=', value: int(2) }],
        else: [{ kind: 'assign', target: v('$y'), op: '=', value: int(3) }],
      }],
    });
    expect(s!.loc).toMatchObject({ line: 1, col: 9, offset: 8 });
    expect(src.slice(s!.loc.offset, s!.loc.offset + s!.loc.length)).toBe(src.slice(8, -2));
  });

  it('parses while with break and continue, unroll, for, return and blocks', () => {
    const stmts = bodyOf('BEGIN { while ($i < 10) { $i++; if ($i == 5) { break } continue; } unroll(3) { $i--; } for ($kv : @m) { print($kv.0); } { $z = 1; } return; }');
    expect(stmts.map((s) => s.kind)).toEqual(['while', 'unroll', 'for', 'block', 'return']);
    const [w, u, f, blk] = stmts;
    if (w!.kind !== 'while' || u!.kind !== 'unroll' || f!.kind !== 'for' || blk!.kind !== 'block') throw new Error('kinds');
    expect(w.body.map((s) => s.kind)).toEqual(['exprStmt', 'if', 'continue']);
    expect(shape(u.count)).toEqual(int(3));
    expect(shape([f.variable, f.map])).toEqual([v('$kv'), { kind: 'map', name: '@m', keys: [] }]);
    expect(f.variable.loc).toEqual({ line: 1, col: 93, offset: 92, length: 3 });
    expect(blk.body).toHaveLength(1);
  });

  it('parses return with a value', () => {
    expect(shape(bodyOf('BEGIN { return 1 }'))).toEqual([{ kind: 'return', value: int(1) }]);
  });

  it('needs no semicolon after the last statement or after a block, and accepts empty statements', () => {
    expect(bodyOf('BEGIN { $x = 1 }')).toHaveLength(1);
    expect(bodyOf('BEGIN { if (1) { $x = 1 } $y = 2; }')).toHaveLength(2);
    expect(bodyOf('BEGIN { if (1) { $x = 1 }; ;; $y = 2;; }')).toHaveLength(2);
    expect(bodyOf('BEGIN { while (1) { $i++ } exit() }')).toHaveLength(2);
  });
});

describe('expressions', () => {
  it('follows C precedence', () => {
    expect(shape(exprOf('1 + 2 * 3 - 4'))).toEqual({
      kind: 'binary', op: '-',
      left: { kind: 'binary', op: '+', left: int(1), right: { kind: 'binary', op: '*', left: int(2), right: int(3) } },
      right: int(4),
    });
    expect(shape(exprOf('$a || $b && $c | $d ^ $e & $f == $g < $h << $i'))).toEqual({
      kind: 'binary', op: '||', left: v('$a'),
      right: { kind: 'binary', op: '&&', left: v('$b'),
        right: { kind: 'binary', op: '|', left: v('$c'),
          right: { kind: 'binary', op: '^', left: v('$d'),
            right: { kind: 'binary', op: '&', left: v('$e'),
              right: { kind: 'binary', op: '==', left: v('$f'),
                right: { kind: 'binary', op: '<', left: v('$g'),
                  right: { kind: 'binary', op: '<<', left: v('$h'), right: v('$i') } } } } } } },
    });
  });

  it.each(['||', '&&', '|', '^', '&', '==', '!=', '<', '<=', '>', '>=', '<<', '>>', '+', '-', '*', '/', '%'])('binary %s', (op) => {
    expect(shape(exprOf(`$a ${op} $b`))).toEqual({ kind: 'binary', op, left: v('$a'), right: v('$b') });
  });

  it('is left-associative for binary operators and right-associative for ?:', () => {
    expect(shape(exprOf('1 - 2 - 3'))).toEqual({ kind: 'binary', op: '-', left: { kind: 'binary', op: '-', left: int(1), right: int(2) }, right: int(3) });
    expect(shape(exprOf('$a ? 1 : $b ? 2 : 3'))).toEqual({
      kind: 'ternary', cond: v('$a'), then: int(1), else: { kind: 'ternary', cond: v('$b'), then: int(2), else: int(3) },
    });
  });

  it('reads a ?: statement as if/else, as bpftrace runs it (its branches may return nothing)', () => {
    const call = (s: string) => ({ kind: 'exprStmt', expr: { kind: 'call', name: 'printf', args: [{ kind: 'str', value: s }] } });
    expect(shape(bodyOf('BEGIN { $a ? printf("y") : $b ? printf("b") : printf("n"); }'))).toEqual([
      { kind: 'if', cond: v('$a'), then: [call('y')], else: [{ kind: 'if', cond: v('$b'), then: [call('b')], else: [call('n')] }] },
    ]);
    // As a value, ?: stays an expression.
    expect(shape(bodyOf('BEGIN { $x = $a ? 1 : 2; }')[0])).toMatchObject({ kind: 'assign', value: { kind: 'ternary' } });
  });

  it.each(['!', '~', '-', '*', '&'])('unary %s', (op) => {
    expect(shape(exprOf(`${op}$a`))).toEqual({ kind: 'unary', op, operand: v('$a') });
  });

  it('parses casts to integer types, struct pointers and typedef names', () => {
    expect(shape(exprOf('(uint32)$a'))).toEqual({ kind: 'cast', typeName: 'uint32', operand: v('$a') });
    expect(shape(exprOf('(int8)-1'))).toEqual({ kind: 'cast', typeName: 'int8', operand: { kind: 'unary', op: '-', operand: int(1) } });
    expect(shape(exprOf('((struct task_struct *)curtask)->pid'))).toEqual({
      kind: 'field', arrow: true, field: 'pid', object: { kind: 'cast', typeName: 'struct task_struct *', operand: b('curtask') },
    });
    expect(shape(exprOf('(path *)arg0'))).toEqual({ kind: 'cast', typeName: 'path *', operand: b('arg0') });
    expect(shape(exprOf('(size_t)$a'))).toEqual({ kind: 'cast', typeName: 'size_t', operand: v('$a') });
    expect(exprOf('(uint16)$x').loc).toEqual({ line: 1, col: 14, offset: 13, length: 10 });
  });

  it('keeps a parenthesised name followed by an operator an expression', () => {
    expect(shape(exprOf('(pid) - 1'))).toEqual({ kind: 'binary', op: '-', left: b('pid'), right: int(1) });
    expect(shape(exprOf('(pid) * 2'))).toEqual({ kind: 'binary', op: '*', left: b('pid'), right: int(2) });
  });

  it('parses tuples and tuple indexes', () => {
    expect(shape(exprOf('(1, "a", $b)'))).toEqual({ kind: 'tuple', elems: [int(1), { kind: 'str', value: 'a' }, v('$b')] });
    expect(shape(exprOf('$t.0.1'))).toEqual({ kind: 'tupleIndex', index: 1, object: { kind: 'tupleIndex', index: 0, object: v('$t') } });
    expect(exprOf('(1, 2)').loc).toEqual({ line: 1, col: 14, offset: 13, length: 6 });
  });

  it('parses field access with . and ->, indexing and calls', () => {
    expect(shape(exprOf('args.filename'))).toEqual({ kind: 'field', object: b('args'), field: 'filename', arrow: false });
    expect(shape(exprOf('args->ret'))).toEqual({ kind: 'field', object: b('args'), field: 'ret', arrow: true });
    expect(shape(exprOf('$s->y[0]'))).toEqual({ kind: 'index', object: { kind: 'field', object: v('$s'), field: 'y', arrow: true }, index: int(0) });
    expect(shape(exprOf('str(args.buf, 16)'))).toEqual({ kind: 'call', name: 'str', args: [{ kind: 'field', object: b('args'), field: 'buf', arrow: false }, int(16)] });
    expect(shape(exprOf('$x->for'))).toEqual({ kind: 'field', object: v('$x'), field: 'for', arrow: true });
    const e = exprOf('args->filename');
    expect(e.loc).toEqual({ line: 1, col: 14, offset: 13, length: 14 });
  });

  it('makes builtins, unknown names, positional parameters and $# leaves', () => {
    const names = ['pid', 'tid', 'comm', 'nsecs', 'arg0', 'sarg3', 'retval', 'kstack', 'username', 'nosuchthing'];
    for (const n of names) expect(shape(exprOf(n))).toEqual(b(n));
    expect(shape(exprOf('$1'))).toEqual({ kind: 'positional', index: 1 });
    expect(shape(exprOf('$12'))).toEqual({ kind: 'positional', index: 12 });
    expect(shape(exprOf('$#'))).toEqual({ kind: 'argcount' });
  });

  it('parses the map functions as calls', () => {
    expect(shape(exprOf('hist($d)'))).toEqual({ kind: 'call', name: 'hist', args: [v('$d')] });
    expect(shape(exprOf('lhist($d, 0, 100, -10)'))).toEqual({
      kind: 'call', name: 'lhist', args: [v('$d'), int(0), int(100), { kind: 'unary', op: '-', operand: int(10) }],
    });
  });

  it.each([
    ['42', 42n],
    ['0x1F', 31n],
    ['0XfF', 255n],
    ['0755', 493n],
    ['0', 0n],
    ['1_000_000', 1000000n],
    ['1e6', 1000000n],
    ['10u', 10n],
    ['10ul', 10n],
    ['7ULL', 7n],
    ['0xFFul', 255n],
    ['0b101', 5n],
    ['18446744073709551615', 18446744073709551615n],
  ])('integer literal %s', (raw, value) => {
    expect(exprOf(raw)).toMatchObject({ kind: 'int', value, raw });
  });

  it.each([
    ['"plain"', 'plain'],
    ['"a\\nb\\tc"', 'a\nb\tc'],
    ['"q\\"uote\\\\"', 'q"uote\\'],
    ['"\\x41\\x4a"', 'AJ'],
    ['"\\101\\0"', 'A\0'],
    ['"\\e[1m"', '\x1b[1m'],
    ['""', ''],
  ])('string literal %s', (raw, value) => {
    const e = exprOf(raw) as Extract<Expr, { kind: 'str' }>;
    expect(e).toMatchObject({ kind: 'str', value });
    expect(e.loc.length).toBe(raw.length);
  });
});

describe('locations', () => {
  it('counts columns from 1 on every line and offsets from 0', () => {
    const src = 'kprobe:f\n/pid/\n{\n\t@x[comm] = hist(arg0 + 1);\n}\n';
    const [p] = parseOk(src).probes;
    const s = p!.body[0]!;
    if (s.kind !== 'mapAssign' || s.value.kind !== 'call') throw new Error('shape');
    expect(p!.predicate!.loc).toEqual({ line: 2, col: 2, offset: 10, length: 3 });
    const arg = s.value.args[0]!;
    expect(arg.loc).toEqual({ line: 4, col: 18, offset: 34, length: 8 });
    expect(src.slice(arg.loc.offset, arg.loc.offset + arg.loc.length)).toBe('arg0 + 1');
  });

  it('gives every node a loc that covers its text', () => {
    const src = 'BEGIN { @m[pid, "x"] = max((uint32)$a->b.c[1] * -2); if (!$y) { $z = $t.1 ? 1 : 2; } }';
    const seen: string[] = [];
    const walk = (n: unknown): void => {
      if (Array.isArray(n)) return n.forEach(walk);
      if (!n || typeof n !== 'object') return;
      const node = n as { loc?: { offset: number; length: number; col: number; line: number }; kind?: string };
      if (node.loc && node.kind) {
        expect(node.loc.line).toBe(1);
        expect(node.loc.col).toBe(node.loc.offset + 1);
        expect(node.loc.length).toBeGreaterThan(0);
        seen.push(src.slice(node.loc.offset, node.loc.offset + node.loc.length));
      }
      Object.values(n).forEach(walk);
    };
    walk(parseOk(src));
    expect(seen).toContain('@m[pid, "x"]');
    expect(seen).toContain('(uint32)$a->b.c[1]');
    expect(seen).toContain('(uint32)$a->b.c[1] * -2');
    expect(seen).toContain('$t.1 ? 1 : 2');
    expect(seen).toContain('if (!$y) { $z = $t.1 ? 1 : 2; }');
  });
});
