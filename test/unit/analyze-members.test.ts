// Struct and union members through BTF: the type and offset of each member (from the fake
// system's BTF), the memory each read goes to, and the C each access becomes.
import { describe, expect, it } from 'vitest';
import type { Expr, KType } from '../../src/frontend/ast.js';
import { frontend } from '../../src/frontend/index.js';
import { planScript } from '../../src/compiler.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

const env = { positional: [], unsafe: false, system: new FakeSystem() };

/** The value of `@ = <expr>` in a BEGIN block, analysed. */
function member(expr: string, probe = 'BEGIN'): Extract<Expr, { kind: 'field' }> {
  const r = frontend(`${probe} { @ = ${expr}; }`, 'm.ktr', env);
  expect(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`)).toEqual([]);
  const stmt = r.script!.probes[0]!.body[0]!;
  if (stmt.kind !== 'mapAssign' || stmt.value.kind !== 'field') throw new Error('not a member access');
  return stmt.value;
}

const TASK = { kind: 'struct', name: 'struct task_struct' } as const;

describe('struct members (BTF)', () => {
  it('types curtask as a kernel pointer to struct task_struct', () => {
    const r = frontend('BEGIN { $t = curtask; @ = $t->pid; }', 'm.ktr', env);
    expect(r.diagnostics).toEqual([]);
    expect(r.analysis!.probes[0]!.variables['$t']).toEqual({ kind: 'ptr', to: TASK, space: 'kernel' });
  });

  it.each<[string, KType, number]>([
    ['curtask->pid', { kind: 'int', bits: 32, signed: true }, 1448],
    ['curtask->start_time', { kind: 'int', bits: 64, signed: false }, 1640],
    ['curtask->state2', { kind: 'int', bits: 16, signed: false }, 24],
    ['curtask->nr_cpus_allowed', { kind: 'int', bits: 8, signed: true }, 952],
    ['curtask->comm', { kind: 'str', size: 16 }, 1872],
    ['curtask->cpus_mask_bits', { kind: 'array', elem: { kind: 'int', bits: 64, signed: false }, length: 2 }, 960],
    ['curtask->parent', { kind: 'ptr', to: { ...TASK, size: 3264 }, space: 'kernel' }, 1472],
    ['curtask->se.vruntime', { kind: 'int', bits: 64, signed: false }, 88],
    ['(*curtask).tgid', { kind: 'int', bits: 32, signed: true }, 1452],
    ['((struct task_struct *)curtask)->real_parent->comm', { kind: 'str', size: 16 }, 1872],
  ])('%s', (expr, type, offset) => {
    const e = member(expr);
    expect(e.type).toEqual(type);
    expect(e.offset).toBe(offset);
  });

  it('chains each -> through the pointer the previous member holds', () => {
    const e = member('curtask->parent->parent->pid');
    expect(e.offset).toBe(1448);
    const parent = e.object as Extract<Expr, { kind: 'field' }>;
    expect(parent.offset).toBe(1472);
    expect(parent.type).toEqual({ kind: 'ptr', to: { ...TASK, size: 3264 }, space: 'kernel' });
  });

  it('a member of an embedded struct is in the memory of the record holding it', () => {
    const e = member('curtask->se.vruntime');
    expect(e.object.type).toEqual({ kind: 'struct', name: 'struct sched_entity', size: 256, space: 'kernel' });
  });

  it("a cast pointer without a space reads the probe's memory, and so do the pointers read through it", () => {
    const e = member('((struct task_struct *)arg0)->parent', 'uprobe:bash:readline');
    expect(e.type).toEqual({ kind: 'ptr', to: { ...TASK, size: 3264 } });
  });

  it('each -> is one read of the memory its pointer points into, at the member offset', () => {
    const r = planScript('BEGIN { printf("%d %s %d\\n", curtask->parent->pid, curtask->comm, curtask->se.vruntime); }', 'm.ktr', env);
    expect(r.ok).toBe(true);
    const c = r.ok ? r.compiled.c : '';
    expect(c).toMatch(/bpf_probe_read_kernel\(&\w+, 8, \(const void \*\)\(\(__u64\)\(bpf_get_current_task\(\)\) \+ 1472\)\)/);
    expect(c).toMatch(/bpf_probe_read_kernel\(&\w+, 4, \(const void \*\)\(\(__u64\)\(\w+\) \+ 1448\)\)/);
    expect(c).toMatch(/bpf_probe_read_kernel\(.+?, 16, \(const void \*\)\(\(__u64\)\(bpf_get_current_task\(\)\) \+ 1872\)\)/);
    expect(c).toMatch(/bpf_probe_read_kernel\(&\w+, 8, \(const void \*\)\(\(\(__u64\)\(bpf_get_current_task\(\)\) \+ 192\) \+ 88\)\)/);
  });

  it('a bitfield is read as the bytes its bits span, shifted and masked', () => {
    const r = planScript('struct Bar { short a:4, b:8; int c:3; } BEGIN { $p = (struct Bar *)curtask; printf("%d %d\\n", $p->b, curtask->sched_reset_on_fork); }', 'm.ktr', env);
    expect(r.diagnostics).toEqual([]);
    const c = r.ok ? r.compiled.c : '';
    expect(c).toMatch(/bpf_probe_read_kernel\(&(\w+), 2, \(const void \*\)\(\(__u64\)\(\w+\) \+ 0\)\);\n\s*__u16 \w+ = \(__u16\)\(\(\1 >> 4\) & \(\(1ULL << 8\) - 1\)\);/);
    expect(c).toMatch(/bpf_probe_read_kernel\(&(\w+), 1, \(const void \*\)\(\(__u64\)\(bpf_get_current_task\(\)\) \+ 1188\)\);\n\s*__u32 \w+ = \(__u32\)\(\(\1 >> 0\) & \(\(1ULL << 1\) - 1\)\);/);
  });

  it('macaddr() of a char[6] member reads its six bytes as they are (a string would lose the last to its NUL)', () => {
    const r = planScript('struct S { const char *ignore; char mac[6]; } uprobe:bash:readline { @[macaddr(((struct S *)arg0)->mac)] = 1; }', 'm.ktr', env);
    expect(r.diagnostics).toEqual([]);
    const c = r.ok ? r.compiled.c : '';
    expect(c).toMatch(/bpf_probe_read_user\(.+?, 6, \(const void \*\)\(\(__u64\)\(.+?\) \+ 8\)\);/);
    expect(c).not.toMatch(/\[5\] = 0;/);
  });

  it('a tracepoint field that points to a struct BTF has is a pointer to it, in the probe memory', () => {
    const e = member('args->uservaddr->sa_family', 'tracepoint:syscalls:sys_enter_connect');
    expect(e.type).toEqual({ kind: 'int', bits: 16, signed: false });
    expect(e.offset).toBe(0);
    expect(e.object.type).toEqual({ kind: 'ptr', to: { kind: 'struct', name: 'struct sockaddr', size: 16 } });
    const r = planScript('t:syscalls:sys_enter_connect /args->uservaddr/ { @[args->uservaddr->sa_data] = count(); }', 'm.ktr', env);
    expect(r.diagnostics).toEqual([]);
    expect(r.ok && r.compiled.c).toMatch(/bpf_probe_read_user\(.+?, 14, \(const void \*\)\(\(__u64\)\(.*f_uservaddr\)\) \+ 2\)\)/);
  });

  it('a tracepoint field that points to a struct BTF lacks stays an address', () => {
    const r = frontend('t:syscalls:sys_enter_wait4 { @ = args->ru; }', 'm.ktr', env);
    expect(r.diagnostics).toEqual([]);
    expect(r.analysis!.maps[0]!.value).toEqual({ kind: 'scalar', type: { kind: 'int', bits: 64, signed: false } });
  });

  it('a pointer is a predicate but not an if() condition, as in bpftrace', () => {
    expect(frontend('t:syscalls:sys_enter_connect /args->uservaddr/ { }', 'm.ktr', env).diagnostics).toEqual([]);
    const d = frontend('t:syscalls:sys_enter_connect { if (args->uservaddr) { } }', 'm.ktr', env).diagnostics;
    expect(d.map((x) => x.message)).toEqual(['the if condition must be an integer, but it is struct sockaddr *']);
  });

  it('sizeof() takes the size of a struct place from BTF', () => {
    const r = planScript('BEGIN { @a = sizeof(curtask->se); @b = sizeof(*curtask); }', 'm.ktr', env);
    expect(r.diagnostics).toEqual([]);
    const c = r.ok ? r.compiled.c : '';
    expect(c).toContain('256LL');
    expect(c).toContain('3264LL');
  });
});
