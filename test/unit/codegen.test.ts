// Generated C for every construct compiles with the real clang; the C has the shape the kernel
// contract asks for.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { tracepointStruct } from '../../src/codegen/tracepoint-struct.js';
import { compileScript, planScript } from '../../src/compiler.js';
import type { TracepointField, TracepointFormat } from '../../src/frontend/analysis.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';
import { CONSTRUCTS, POSITIONAL } from '../fixtures/codegen/constructs.js';

const system = new FakeSystem();
const cacheDir = mkdtempSync(join(tmpdir(), 'kt-codegen-'));
afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

function generated(source: string, positional: string[] = []): string {
  const r = planScript(source, 't.ktr', { positional, unsafe: true, system });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col} ${d.message}`).join('\n'));
  return r.compiled.c;
}

async function compiles(source: string, positional: string[] = []): Promise<Buffer> {
  const r = await compileScript(source, 't.ktr', { positional, unsafe: true, system }, { cacheDir });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col} ${d.message}`).join('\n'));
  const object = r.compiled.object!;
  expect(object.subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  return object;
}


describe('generateC compiles every construct', () => {
  for (const [name, source] of Object.entries(CONSTRUCTS)) {
    it(name, async () => {
      await compiles(source, POSITIONAL);
    });
  }
});

describe('the shape of the generated C', () => {
  it('filters every probe but BEGIN, END and interval timers by kt_target_pid', () => {
    const c = generated(
      'BEGIN { @b = 1; } tracepoint:syscalls:sys_enter_read { @r = count(); } END { @e = 1; } interval:s:1 { @i = 1; } profile:hz:99 { @p = 1; }',
    );
    const programs = c.split('SEC("').slice(1).filter((p) => !p.startsWith('.maps'));
    const filtered = programs.map((p) => [p.slice(0, p.indexOf('"')), p.includes('KT_FILTER();')]);
    expect(filtered).toEqual([
      ['raw_tp', false],
      ['tracepoint', true],
      ['raw_tp', false],
      ['perf_event', false],
      ['perf_event', true],
    ]);
  });

  it('declares the contract maps and globals, and script maps by bpfName', () => {
    const c = generated('tracepoint:syscalls:sys_enter_read { @reads[comm] = count(); @[kstack] = count(); }');
    expect(c).toContain('#include "kt_prelude.h"');
    expect(c).toMatch(/BPF_MAP_TYPE_PERCPU_HASH\);\n {2}__uint\(max_entries, 4096\);\n {2}__uint\(key_size, 16\);\n {2}__uint\(value_size, 8\);\n\} m_reads SEC/);
    expect(c).toContain('} m__anon SEC(".maps")');
    expect(c).toContain('BPF_MAP_TYPE_STACK_TRACE');
    expect(c).toContain('} kt_stacks SEC(".maps")');
    expect(c).toContain('#define KT_RINGBUF_SIZE 16777216');
  });

  it('keeps kstack(n) and ustack(n) in a stack map of n frames each, their ids tagged with n', () => {
    const c = generated('profile:hz:99 { @k[kstack(3)] = count(); @u[ustack(5)] = count(); @all[kstack] = count(); @same[kstack(127)] = count(); }');
    for (const [name, frames] of [['kt_stacks_3', 3], ['kt_stacks_5', 5], ['kt_stacks', 127]] as const) {
      expect(c).toMatch(new RegExp(`value_size, ${frames * 8}\\);\\n\\} ${name} SEC`));
    }
    expect(c.match(/BPF_MAP_TYPE_STACK_TRACE/g)).toHaveLength(3);
    expect(c).toContain('kt_stack_ref(bpf_get_stackid(ctx, &kt_stacks_3, 0), 3)');
    expect(c).toContain('kt_stack_ref(bpf_get_stackid(ctx, &kt_stacks_5, BPF_F_USER_STACK), 5)');
    expect(c).toContain('((__s64)bpf_get_stackid(ctx, &kt_stacks, 0))');
  });

  it('writes a tracepoint struct from its format fields', () => {
    const c = generated('tracepoint:syscalls:sys_enter_openat { @[str(args.filename)] = count(); }');
    expect(c).toMatch(/struct kt_tp_kt_p0 \{[^}]*__s32 f___syscall_nr;\n {2}__u8 kt_pad\d+\[4\];\n {2}__u64 f_dfd;\n {2}__u64 f_filename;/);
    expect(c).toContain('__builtin_offsetof(struct kt_tp_kt_p0, f_filename) == 24');
    expect(c).toContain('int kt_p0(struct kt_tp_kt_p0 *ctx)');
    expect(c).toContain('bpf_probe_read_user_str(');
  });

  it('reads kernel memory with the kernel helpers outside syscalls and uprobes', () => {
    const c = generated('tracepoint:tcp:tcp_retransmit_skb { printf("%s\\n", str(args.skaddr)); }');
    expect(c).toContain('bpf_probe_read_kernel_str(');
    expect(c).not.toContain('bpf_probe_read_user_str(');
  });

  it('gives `probe` the attach point of each program', () => {
    const c = generated('tracepoint:syscalls:sys_enter_read, tracepoint:syscalls:sys_enter_write { @[probe] = count(); }');
    const bytes = (s: string) => [...Buffer.from(s)].map((b, i) => `[${i}] = ${b};`);
    const read = c.slice(c.indexOf('int kt_p0_0('), c.indexOf('int kt_p0_1('));
    const write = c.slice(c.indexOf('int kt_p0_1('));
    for (const line of bytes('tracepoint:syscalls:sys_enter_read')) expect(read).toContain(line);
    expect(write).toContain(bytes('tracepoint:syscalls:sys_enter_write').at(-1)!);
  });

  it('writes the values the front end resolved kaddr(), uaddr() and cgroupid() to as constants', () => {
    expect(generated('BEGIN { @k = kaddr("init_task"); @c = cgroupid("/sys/fs/cgroup/system.slice"); }')).toMatch(
      /\(18446744071606159680ULL\)[^]*\(1291LL\)/,
    );
    expect(generated('uprobe:bash:readline { @u = uaddr("ps1_prompt"); }')).toContain('(0x150a28ULL)');
  });

  it("types uaddr() as bpftrace does: a pointer to an integer of the symbol's size (1, 2, 4 bytes, else 8)", () => {
    const c = generated('uprobe:bash:readline { @a = *uaddr("line_number"); @b = *uaddr("shell_level"); @c = *uaddr("ps1_prompt"); }');
    expect(c).toContain('bpf_probe_read_user(&t0, 4, (const void *)(__u64)(0x150b10ULL));');
    expect(c).toContain('bpf_probe_read_user(&t2, 2, (const void *)(__u64)(0x150b20ULL));');
    expect(c).toContain('bpf_probe_read_user(&t4, 8, (const void *)(__u64)(0x150a28ULL));');
  });

  it('gives sizeof() of an integer type name its size, as the interpreter does', () => {
    const c = generated('BEGIN { @a = sizeof(int32); @b = sizeof(uint64); @c = sizeof(int8); @d = sizeof(comm); }');
    expect(c.match(/\(__u64\)\((\d+)LL\)/g)).toEqual(['(__u64)(4LL)', '(__u64)(8LL)', '(__u64)(1LL)', '(__u64)(16LL)']);
  });

  it('initialises map values from the zero area, never from the stack', () => {
    const c = generated('tracepoint:syscalls:sys_enter_read { @h[comm] = hist(args.count); }');
    expect(c).toContain('kt_lookup_or_init(&m_h,');
    expect(c).toMatch(/#define KT_ZERO_SIZE (\d+)/);
    expect(Number(/#define KT_ZERO_SIZE (\d+)/.exec(c)![1])).toBeGreaterThanOrEqual(66 * 8);
  });

  it('names the object programs as the plan does', async () => {
    const object = await compiles('BEGIN { @x = 1; } tracepoint:syscalls:sys_enter_read, tracepoint:syscalls:sys_enter_write { @[args.count] = count(); }');
    for (const name of ['kt_p0', 'kt_p1_0', 'kt_p1_1', 'events', 'kt_lost', 'kt_target_pid', 'kt_start_ns']) {
      expect(object.includes(Buffer.from(name + '\0'))).toBe(true);
    }
  });

  it('gives a watchpoint on an argument a setup uprobe that sends the address before it stops the process (never when async)', async () => {
    const env = { positional: [], unsafe: false, system, tracee: 'bash' };
    const c = (source: string): string => {
      const r = planScript(source, 't.ktr', env);
      if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
      return r.compiled.c;
    };
    const sync = c('watchpoint:readline+arg5:8:w { @ = count(); }');
    const setup = sync.slice(sync.indexOf('int kt_p0_setup(struct pt_regs *ctx)'));
    expect(setup).toMatch(/KT_LIVE\(\);[^]*kt_record\(0, 16\)[^]*= \(__u64\)ctx->r9;[^]*bpf_ringbuf_submit\(r, 0\);\n  bpf_send_signal\(19\);/);
    const async = c('asyncwatchpoint:readline+arg1:8:w { @ = count(); }');
    expect(async).toContain('PT_REGS_PARM2(ctx);');
    expect(async).not.toContain('bpf_send_signal');
    const r = await compileScript('watchpoint:readline+arg0:4:w { @ = count(); }', 't.ktr', env, { cacheDir });
    expect(r.ok && r.compiled.object!.includes(Buffer.from('kt_p0_setup\0'))).toBe(true);
  });

  it('compiles a kafka-only script to a plan without an object', async () => {
    const r = await compileScript('kafka:produce { @[args.topic] = count(); }', 'k.ktr', { positional: [], unsafe: false, system }, { cacheDir });
    expect(r.ok).toBe(true);
    if (r.ok) {
      expect(r.compiled.object).toBeUndefined();
      expect(r.compiled.c).toBe('');
      expect(r.compiled.plan.probes[0]!.where).toBe('user');
    }
  });

  it('reports a construct the kernel side cannot compile as a diagnostic with its position', () => {
    const r = planScript('uprobe:/usr/bin/bash:readline { printf("%s\\n", str(*uaddr("kt_no_such_symbol"))); }', 'u.ktr', { positional: [], unsafe: false, system });
    expect(r.ok).toBe(false);
    const d = r.diagnostics.find((x) => x.severity === 'error');
    expect(d?.message).toBe("uaddr(): no data symbol 'kt_no_such_symbol' in /usr/bin/bash");
    expect([d?.loc.line, d?.loc.col]).toEqual([1, 59]);
  });
});

describe('tracepointStruct', () => {
  const field = (name: string, offset: number, size: number, extra: Partial<TracepointField> = {}): TracepointField => ({
    name,
    cType: 'int',
    offset,
    size,
    signed: true,
    dataLoc: false,
    type: { kind: 'int', bits: 32, signed: true },
    ...extra,
  });

  it('pads members to their offsets and reads overlapping or misaligned fields by offset', () => {
    const format: TracepointFormat = {
      category: 'c',
      name: 'n',
      fields: [
        field('a', 0, 2),
        field('b', 4, 4),
        field('overlap', 4, 2),
        field('odd', 9, 4),
        field('name', 16, 4, { dataLoc: true }),
        field('comm', 20, 16, { arrayLength: 16 }),
        field('p', 40, 8, { signed: false }),
      ],
    };
    const s = tracepointStruct('kt_tp', format);
    expect([...s.members].map((f) => f.name)).toEqual(['a', 'b', 'name', 'comm', 'p']);
    expect(s.decl).toContain('__s16 f_a;\n  __u8 kt_pad0[2];\n  __s32 f_b;');
    expect(s.decl).toContain('__u32 f_name;\n  __u8 f_comm[16];\n  __u8 kt_pad2[4];\n  __u64 f_p;');
    expect(s.decl).toContain('__builtin_offsetof(struct kt_tp, f_p) == 40');
  });
});
