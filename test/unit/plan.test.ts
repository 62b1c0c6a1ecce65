import { describe, expect, it } from 'vitest';
import { frontend } from '../../src/frontend/index.js';
import { buildPlan, HIST_BUCKETS } from '../../src/plan/build.js';
import { planFromJson, planToJson } from '../../src/plan/json.js';
import type { Plan } from '../../src/plan/types.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

const system = new FakeSystem();

function plan(source: string, positional: string[] = []): Plan {
  const r = frontend(source, 't.ktr', { positional, unsafe: true, system });
  const errors = r.diagnostics.filter((d) => d.severity === 'error');
  expect(errors.map((d) => `${d.loc.line}:${d.loc.col} ${d.message}`)).toEqual([]);
  return buildPlan(r.script!, r.analysis!, 't.ktr');
}

describe('buildPlan', () => {
  it('splits kernel and kafka probes and places maps', () => {
    const p = plan(`
      tracepoint:syscalls:sys_enter_read { @reads[comm] = count(); @both = count(); }
      kafka:produce { @bytes[args.topic] = sum(args.bytes); }
      END { print(@reads); }
    `);
    expect(p.probes.map((x) => [x.index, x.where, x.programs.map((g) => g.name)])).toEqual([
      [0, 'kernel', ['kt_p0']],
      [1, 'user', []],
      [2, 'kernel', ['kt_p2']],
    ]);
    expect(p.probes[1]!.ast?.kind).toBe('probe');
    expect(p.probes[1]!.attach).toEqual([{ type: 'kafka', name: 'produce' }]);
    expect(p.probes[2]!.programs[0]!.attach).toEqual([{ type: 'end' }]);
    const reads = p.maps.find((m) => m.name === '@reads')!;
    expect(reads).toMatchObject({ home: 'kernel', bpfName: 'm_reads', perCpu: true, bpfType: 'percpu_hash', valueSize: 8 });
    expect(reads.keyLayout).toEqual({ size: 16, fields: [{ type: { kind: 'str', size: 16 }, offset: 0, size: 16 }] });
    const bytes = p.maps.find((m) => m.name === '@bytes')!;
    expect(bytes.home).toBe('user');
    expect(bytes.bpfName).toBeUndefined();
    const both = p.maps.find((m) => m.name === '@both')!;
    expect(both.keyLayout).toEqual({ size: 4, fields: [] });
    expect(both.maxEntries).toBe(1);
  });

  it('stores each value kind with the documented size', () => {
    const p = plan(`tracepoint:syscalls:sys_enter_read {
      @c = count(); @s = sum(args.count); @a = avg(args.count); @mi = min(args.count); @ma = max(args.count);
      @st = stats(args.count); @h = hist(args.count); @l = lhist(args.count, 0, 100, 10); @v = comm; @i = 5;
      @ = count();
    }`);
    const size = Object.fromEntries(p.maps.map((m) => [m.name, [m.valueSize, m.perCpu]]));
    expect(size).toEqual({
      '@c': [8, true],
      '@s': [8, true],
      '@a': [16, true],
      '@mi': [16, true],
      '@ma': [16, true],
      '@st': [16, true],
      '@h': [HIST_BUCKETS * 8, true],
      '@l': [12 * 8, true],
      '@v': [16, false],
      '@i': [8, false],
      '@': [8, true],
    });
    expect(p.maps.find((m) => m.name === '@')!.bpfName).toBe('m__anon');
    expect(new Set(p.maps.map((m) => m.bpfName)).size).toBe(p.maps.length);
  });

  it('numbers events in source order with their layouts', () => {
    const p = plan(`
      BEGIN { printf("%s %d\\n", comm, 5); time(); }
      tracepoint:syscalls:sys_enter_read /args.count > 0/ { @x[pid] = count(); print(@x, 3, 2); clear(@x); print(comm); exit(); }
      tracepoint:syscalls:sys_enter_execve { join(args.argv, ","); cat("/proc/%d/status", pid); system("echo %s", comm); zero(@x); }
    `);
    expect(p.events.map((e) => [e.id, e.kind])).toEqual([
      [0, 'printf'],
      [1, 'time'],
      [2, 'print'],
      [3, 'clear'],
      [4, 'printValue'],
      [5, 'exit'],
      [6, 'join'],
      [7, 'cat'],
      [8, 'system'],
      [9, 'zero'],
    ]);
    const printf = p.events[0]!;
    expect(printf).toMatchObject({ kind: 'printf', format: '%s %d\n' });
    if (printf.kind !== 'printf') throw new Error('not printf');
    expect(printf.layout.fields.map((f) => [f.offset, f.size])).toEqual([
      [8, 16],
      [24, 8],
    ]);
    expect(printf.layout.size).toBe(32);
    expect(p.events[1]).toMatchObject({ kind: 'time', format: '%H:%M:%S\n' });
    expect(p.events[2]).toMatchObject({ kind: 'print', map: '@x', top: 3, div: 2 });
    expect(p.events[6]).toMatchObject({ kind: 'join', separator: ',' });
    expect(p.events[9]).toMatchObject({ kind: 'zero', map: '@x' });
  });

  it('gives one program per tracepoint when the action reads args, one in all otherwise', () => {
    const withArgs = plan('tracepoint:syscalls:sys_enter_read, tracepoint:syscalls:sys_enter_write { @[args.count] = count(); }');
    expect(withArgs.probes[0]!.programs.map((g) => [g.name, g.attach.length])).toEqual([
      ['kt_p0_0', 1],
      ['kt_p0_1', 1],
    ]);
    const without = plan('tracepoint:syscalls:sys_enter_read, tracepoint:syscalls:sys_enter_write { @[comm] = count(); }');
    expect(without.probes[0]!.programs.map((g) => [g.name, g.attach.length])).toEqual([['kt_p0', 2]]);
    const probe = plan('tracepoint:syscalls:sys_enter_read, tracepoint:syscalls:sys_enter_write { @[probe] = count(); }');
    expect(probe.probes[0]!.programs).toHaveLength(2);
    const mixed = plan('tracepoint:syscalls:sys_enter_read, profile:hz:99 { @[comm] = count(); }');
    expect(mixed.probes[0]!.programs.map((g) => g.attach[0]!.type)).toEqual(['tracepoint', 'profile']);
  });

  it('gives each watchpoint on an argument its program, a setup program and the record that sets it', () => {
    const r = frontend('watchpoint:r*+arg1:4:w { printf("hit\\n"); unwatch(0x10); } BEGIN { exit(); }', 't.ktr', { positional: [], unsafe: false, system, tracee: 'bash' });
    expect(r.diagnostics).toEqual([]);
    const p = buildPlan(r.script!, r.analysis!, 't.ktr');
    expect(p.probes[0]!.programs.map((g) => [g.name, g.setup, g.attach.map((a) => a.type === 'argwatchpoint' && a.symbol)])).toEqual([
      ['kt_p0_0', 'kt_p0_0_setup', ['readline']],
      ['kt_p0_1', 'kt_p0_1_setup', ['rl_getc']],
    ]);
    expect(p.probes[1]!.programs[0]!.setup).toBeUndefined();
    // The calls' records first (code generation pairs them with the calls in order), then the setups'.
    expect(p.events.map((e) => [e.id, e.kind, e.kind === 'watchpoint' ? e.program : '', 'layout' in e ? e.layout.fields.map((f) => f.offset) : []])).toEqual([
      [0, 'printf', '', []],
      [1, 'unwatch', '', [8]],
      [2, 'exit', '', [8]],
      [3, 'watchpoint', 'kt_p0_0', [8]],
      [4, 'watchpoint', 'kt_p0_1', [8]],
    ]);
  });

  it('round-trips through JSON, bigints in kafka ASTs included', () => {
    const p = plan(`
      kafka:produce /args.partition == 3/ { @big[args.topic] = sum(18446744073709551615); }
      tracepoint:syscalls:sys_enter_read { @h = hist(args.count); printf("%d\\n", 9223372036854775807); }
    `);
    const text = planToJson(p);
    expect(text).toContain('"$bigint":"18446744073709551615"');
    const back = planFromJson(text);
    expect(back).toEqual(p);
    const lit = JSON.stringify(back.probes[0]!.ast, (_k, v: unknown) => (typeof v === 'bigint' ? `big:${v}` : v));
    expect(lit).toContain('big:18446744073709551615');
    expect(planFromJson(planToJson(back, 2))).toEqual(p);
  });

  it('rejects text that is not a plan with one clear error', () => {
    expect(() => planFromJson('{')).toThrow(expect.objectContaining({ errorCode: 'plan-invalid' }));
    expect(() => planFromJson('{"version": 2, "probes": [], "maps": [], "events": []}')).toThrow(/version 1/);
  });
});
