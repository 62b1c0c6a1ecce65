import { describe, expect, it } from 'vitest';
import { analyze } from '../../src/frontend/analyze.js';
import type { Expr, Script, Stmt } from '../../src/frontend/ast.js';
import { frontend } from '../../src/frontend/index.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';
import { args, b, bin, call, expr, int, let_, map, probe, script, set, str, tuple, v } from '../fixtures/analysis/build.js';

const system = new FakeSystem();

function ok(s: Script, positional: string[] = []) {
  const r = analyze(s, { positional, unsafe: false, system });
  expect(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`)).toEqual([]);
  return r.analysis!;
}

describe('analyze (hand-built ASTs)', () => {
  it('types builtins, args fields and map values', () => {
    const pidE = b('pid');
    const commE = b('comm');
    const fname = call('str', args('filename'));
    const s = script(
      probe('tracepoint:syscalls:sys_enter_openat', [
        set(map('@opens', commE, fname), call('count')),
        set(map('@by_pid', pidE), call('sum', args('flags'))),
        set(map('@last'), fname),
      ]),
    );
    const a = ok(s);
    expect(pidE.type).toEqual({ kind: 'int', bits: 64, signed: false });
    expect(commE.type).toEqual({ kind: 'str', size: 16 });
    expect(fname.type).toEqual({ kind: 'str', size: 64 });
    const maps = Object.fromEntries(a.maps.map((m) => [m.name, m]));
    expect(maps['@opens']!.value).toEqual({ kind: 'count' });
    expect(maps['@opens']!.keyTypes).toEqual([{ kind: 'str', size: 16 }, { kind: 'str', size: 64 }]);
    expect(maps['@by_pid']!.value).toEqual({ kind: 'sum', signed: true });
    expect(maps['@last']!.value).toEqual({ kind: 'scalar', type: { kind: 'str', size: 64 } });
    expect(maps['@last']!.keyTypes).toEqual([]);
    expect(a.probes[0]!.usesArgs).toBe(true);
    expect(a.probes[0]!.where).toBe('kernel');
    expect(Object.keys(a.probes[0]!.tracepointFormats)).toEqual(['syscalls:sys_enter_openat']);
  });

  it('expands wildcards against the system', () => {
    const a = ok(script(probe(['t:syscalls:sys_enter_open*', 'uprobe:libc:*alloc', 'kprobe:vfs_*'], [set(map('@'), call('count'))])));
    const attach = a.probes[0]!.attach;
    expect(attach.filter((x) => x.type === 'tracepoint').map((x) => (x as { name: string }).name).sort()).toEqual([
      'sys_enter_open',
      'sys_enter_openat',
    ]);
    expect(attach.filter((x) => x.type === 'uprobe').map((x) => (x as { symbol: string }).symbol).sort()).toEqual(['calloc', 'malloc', 'realloc']);
    expect(attach.filter((x) => x.type === 'kprobe').length).toBe(3);
  });

  it('runs kafka probes in user space with catalogue args', () => {
    const topic = args('topic');
    const bytes = args('bytes');
    const a = ok(script(probe('kafka:produce', [set(map('@bytes', topic), call('sum', bytes))]), probe('interval:s:1', [expr(call('print', map('@bytes')))])));
    expect(a.probes.map((p) => p.where)).toEqual(['user', 'user']);
    expect(a.probes[0]!.attach).toEqual([{ type: 'kafka', name: 'produce' }]);
    expect(topic.type).toEqual({ kind: 'str', size: 256 });
    expect(bytes.type).toEqual({ kind: 'int', bits: 64, signed: true });
    expect(a.maps[0]!.usedBy).toEqual(['user']);
  });

  it('types tuples, variables and comparisons', () => {
    const t = tuple(int(1), str('ab'));
    const cmp = bin('==', b('comm'), str('bash'));
    const x = v('$x');
    const a = ok(script(probe('BEGIN', [let_(v('$t'), t), let_(x, bin('+', int(1), b('pid'))), expr(call('printf', str('%d %s\n'), cmp, b('comm')))])));
    expect(t.type).toEqual({ kind: 'tuple', elems: [{ kind: 'int', bits: 64, signed: true }, { kind: 'str', size: 3 }] });
    expect(cmp.type).toEqual({ kind: 'int', bits: 64, signed: true });
    expect(a.probes[0]!.variables).toEqual({
      $t: { kind: 'tuple', elems: [{ kind: 'int', bits: 64, signed: true }, { kind: 'str', size: 3 }] },
      $x: { kind: 'int', bits: 64, signed: true },
    });
  });
});

function run(source: string, positional: string[] = [], unsafe = false) {
  const r = frontend(source, 's.ktr', { positional, unsafe, system });
  expect(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`)).toEqual([]);
  return { script: r.script!, analysis: r.analysis! };
}

/** The expression of the n-th statement of probe p (an expression statement or an assignment's value). */
function valueOf(script: ReturnType<typeof run>['script'], p: number, n: number): Expr {
  const s: Stmt = script.probes[p]!.body[n]!;
  if (s.kind === 'exprStmt') return s.expr;
  if (s.kind === 'assign' || s.kind === 'mapAssign') return s.value;
  throw new Error(`statement ${n} has no value`);
}

describe('analyze (scripts)', () => {
  it('gives each aggregation its map value kind', () => {
    const { analysis } = run(
      'tracepoint:syscalls:sys_exit_read { @c = count(); @s = sum(args.ret); @a = avg(args.ret); @mi = min(args.ret); ' +
        '@ma = max(args.ret); @st = stats(args.ret); @h = hist(args.ret); @l = lhist(args.ret, 0, 1000, 100); @u = sum(pid); }',
    );
    const kinds = Object.fromEntries(analysis.maps.map((m) => [m.name, m.value]));
    expect(kinds).toEqual({
      '@c': { kind: 'count' },
      '@s': { kind: 'sum', signed: true },
      '@a': { kind: 'avg', signed: true },
      '@mi': { kind: 'min', signed: true },
      '@ma': { kind: 'max', signed: true },
      '@st': { kind: 'stats', signed: true },
      '@h': { kind: 'hist' },
      '@l': { kind: 'lhist', min: 0, max: 1000, step: 100 },
      '@u': { kind: 'sum', signed: false },
    });
    expect(analysis.maps.every((m) => m.usedBy.length === 1 && m.usedBy[0] === 'kernel')).toBe(true);
  });

  it('keeps one KType per key and widens strings to the longest', () => {
    const { analysis } = run('BEGIN { @m[comm, (int32)1, (1, "x")] = 1; } END { @m["a-much-longer-string-key", 2, (3, "y")] = 2; }');
    expect(analysis.maps[0]!.keyTypes).toEqual([
      { kind: 'str', size: 25 },
      { kind: 'int', bits: 64, signed: true },
      { kind: 'tuple', elems: [{ kind: 'int', bits: 64, signed: true }, { kind: 'str', size: 2 }] },
    ]);
    expect(analysis.maps[0]!.loc).toMatchObject({ line: 1, col: 9 });
  });

  it('types maps read before the probe that assigns them', () => {
    const { script } = run('interval:s:1 { printf("%d\\n", @n); } BEGIN { @n = count(); }');
    const printf = valueOf(script, 0, 0);
    expect(printf.kind === 'call' && printf.args[1]!.type).toEqual({ kind: 'int', bits: 64, signed: false });
  });

  it('resolves attach points with their parameters', () => {
    const { analysis } = run(
      'profile:hz:99, interval:ms:10, software:faults, hardware:cycles:5000, uprobe:bash:readline+8, uretprobe:libc:malloc, ' +
        'usdt:libc:setjmp, rawtracepoint:sched_*, kprobe:vfs_read+16, kretprobe:vfs_write { @ = count(); }',
    );
    expect(analysis.probes[0]!.attach).toEqual([
      { type: 'profile', unit: 'hz', value: 99 },
      { type: 'interval', unit: 'ms', value: 10 },
      { type: 'software', event: 'page-faults', period: 100 },
      { type: 'hardware', event: 'cpu-cycles', period: 5000 },
      { type: 'uprobe', binary: '/usr/bin/bash', symbol: 'readline', offset: 0xc6c20 - 0x1000 + 8 },
      { type: 'uretprobe', binary: '/usr/lib/x86_64-linux-gnu/libc.so.6', symbol: 'malloc', offset: 0xa0000 - 0x1000 },
      { type: 'usdt', binary: '/usr/lib/x86_64-linux-gnu/libc.so.6', provider: 'libc', name: 'setjmp' },
      { type: 'rawtracepoint', name: 'sched_switch' },
      { type: 'rawtracepoint', name: 'sched_wakeup' },
      { type: 'kprobe', func: 'vfs_read', offset: 16 },
      { type: 'kretprobe', func: 'vfs_write', offset: 0 },
    ]);
  });

  it('expands kafka wildcards and types args shared by every match', () => {
    const { analysis, script } = run('kafka:*group { @[args.group, probe] = count(); }');
    expect(analysis.probes[0]!.attach.map((a) => (a as { name: string }).name).sort()).toEqual([
      'joingroup', 'leavegroup', 'syncgroup',
    ]);
    expect(analysis.probes[0]!.where).toBe('user');
    const keys = (script.probes[0]!.body[0] as Extract<Stmt, { kind: 'mapAssign' }>).target.keys;
    expect(keys[0]!.type).toEqual({ kind: 'str', size: 256 });
    expect(keys[1]!.type).toEqual({ kind: 'str', size: 'kafka:leavegroup'.length + 1 });
  });

  it('keeps tracepoint formats per matched tracepoint and marks args use', () => {
    const { analysis } = run('t:syscalls:sys_enter_open* { @[str(args.filename)] = count(); } t:syscalls:sys_exit_* { @r = count(); }');
    expect(Object.keys(analysis.probes[0]!.tracepointFormats).sort()).toEqual(['syscalls:sys_enter_open', 'syscalls:sys_enter_openat']);
    expect(analysis.probes[0]!.usesArgs).toBe(true);
    expect(analysis.probes[1]!.usesArgs).toBe(false);
    expect(analysis.probes[1]!.attach.length).toBe(3);
  });

  it('types positional parameters from what was given', () => {
    const { script, analysis } = run('BEGIN { $a = $1; $b = $2; $c = str($3); $n = $#; }', ['42', 'eth0']);
    expect(analysis.positional).toEqual(['42', 'eth0']);
    expect(analysis.probes[0]!.variables).toEqual({
      $a: { kind: 'int', bits: 64, signed: true },
      $b: { kind: 'str', size: 5 },
      $c: { kind: 'str', size: 1 },
      $n: { kind: 'int', bits: 64, signed: true },
    });
    expect(valueOf(script, 0, 2).type).toEqual({ kind: 'str', size: 1 });
  });

  it('takes positional parameters as bpftrace does: unset is 0, str() of a number is its text', () => {
    const { analysis } = run('BEGIN { $a = $1; $b = str($1); $c = str($2); $d = $2; }', ['42']);
    expect(analysis.probes[0]!.variables).toEqual({
      $a: { kind: 'int', bits: 64, signed: true },
      $b: { kind: 'str', size: 3 },
      $c: { kind: 'str', size: 1 },
      $d: { kind: 'int', bits: 64, signed: true },
    });
  });

  it('puts positional parameters into attach points and unroll counts', () => {
    const { script, analysis } = run('BEG$1 { unroll($2) { @n = count(); } } i:ms:$2 { exit(); }', ['IN', '7']);
    expect(analysis.probes.map((p) => p.attach)).toEqual([[{ type: 'begin' }], [{ type: 'interval', unit: 'ms', value: 7 }]]);
    const unroll = script.probes[0]!.body[0]!;
    expect(unroll.kind === 'unroll' && unroll.count).toMatchObject({ kind: 'int', value: 7n });
  });

  it('widens a string variable to its longest assignment everywhere', () => {
    const { script, analysis } = run('BEGIN { $s = "ab"; printf("%s\\n", $s); $s = "abcdefgh"; }');
    expect(analysis.probes[0]!.variables.$s).toEqual({ kind: 'str', size: 9 });
    const printf = valueOf(script, 0, 1);
    expect(printf.kind === 'call' && printf.args[1]!.type).toEqual({ kind: 'str', size: 9 });
  });

  it('types for-loop elements as (key, value) tuples', () => {
    const { analysis } = run('BEGIN { @m[comm, 1] = count(); @s[2] = "x"; } END { for ($kv : @m) { @t = $kv.1; } for ($e : @s) { @k = $e.0; } }');
    expect(analysis.probes[1]!.variables.$kv).toEqual({
      kind: 'tuple',
      elems: [{ kind: 'tuple', elems: [{ kind: 'str', size: 16 }, { kind: 'int', bits: 64, signed: true }] }, { kind: 'int', bits: 64, signed: false }],
    });
    expect(analysis.probes[1]!.variables.$e).toEqual({
      kind: 'tuple',
      elems: [{ kind: 'int', bits: 64, signed: true }, { kind: 'str', size: 2 }],
    });
  });

  it('types functions', () => {
    const { script, analysis } = run(
      'kprobe:vfs_read { $a = ksym(arg0); $b = usym(arg1); $c = ntop(2, arg2); $d = buf(arg3, 8); $e = strncmp(comm, "ba", 2); ' +
        '$f = kstack(5); $g = ustack; $h = func; }',
    );
    expect(analysis.probes[0]!.variables).toEqual({
      $a: { kind: 'ksym' },
      $b: { kind: 'usym' },
      $c: { kind: 'inet' },
      $d: { kind: 'buf', size: 8 },
      $e: { kind: 'int', bits: 64, signed: true },
      $f: { kind: 'kstack' },
      $g: { kind: 'ustack' },
      $h: { kind: 'ksym' },
    });
    expect(analysis.unsafe).toBe(false);
    expect(script.probes[0]!.body.every((s) => s.kind !== 'assign' || s.value.type !== undefined)).toBe(true);
    const u = run('uretprobe:bash:readline { printf("%s %s\\n", func, str(retval)); system("true"); }', [], true).analysis;
    expect(u.unsafe).toBe(true);
  });

  it('sets a type on every expression', () => {
    const { script } = run(
      'tracepoint:syscalls:sys_enter_openat /pid > 0 && comm != "x"/ { $x = (args.flags & 1) ? -1 : 2; @m[comm] = sum($x * 2); ' +
        'printf("%s %d\\n", str(args.filename), @m[comm]); if (!($x == 2)) { @y++; } }',
    );
    const missing: string[] = [];
    const visit = (node: unknown, path: string): void => {
      if (!node || typeof node !== 'object') return;
      if (Array.isArray(node)) return node.forEach((n, i) => visit(n, `${path}[${i}]`));
      const n = node as { kind?: string; type?: unknown; loc?: unknown };
      const exprKinds = ['int', 'str', 'var', 'map', 'builtin', 'positional', 'argcount', 'call', 'binary', 'unary', 'incdec', 'ternary', 'field', 'tupleIndex', 'tuple', 'index', 'cast'];
      if (n.kind && exprKinds.includes(n.kind) && n.loc && n.type === undefined) missing.push(`${path} (${n.kind})`);
      for (const [k, v] of Object.entries(node)) if (k !== 'loc' && k !== 'type') visit(v, `${path}.${k}`);
    };
    visit(script, 'script');
    expect(missing).toEqual([]);
  });
});
