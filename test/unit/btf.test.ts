import { describe, expect, it } from 'vitest';
import { BtfKind, loadBtf } from '../../src/frontend/btf.js';
import { btfEventNames, btfSyscalls, btfTracepointFormat } from '../../src/frontend/tracepoint-format.js';

const btf = loadBtf('/sys/kernel/btf/vmlinux');

function fields(category: string, name: string) {
  const f = btfTracepointFormat(btf, category, name);
  if (!f) throw new Error(`BTF has no format for ${category}:${name}`);
  return Object.fromEntries(f.fields.map((x) => [x.name, x]));
}

describe('BTF reader on /sys/kernel/btf/vmlinux', () => {
  it('parses the whole type section and finds well-known types', () => {
    expect(btf.count).toBeGreaterThan(10_000);
    expect(btf.type(0)).toBeUndefined();
    expect(btf.type(btf.count)).toBeUndefined();
    const task = btf.find('task_struct', BtfKind.Struct);
    expect(task).toBeDefined();
    expect(btf.type(task!)!.members!.some((m) => m.name === 'pid')).toBe(true);
    const pid = btf.find('pid_t', BtfKind.Typedef)!;
    expect(btf.info(pid)).toEqual({ cType: 'pid_t', size: 4, signed: true });
  });

  it('lists syscalls and tracepoint names', () => {
    const syscalls = btfSyscalls(btf);
    expect(syscalls).toContain('openat');
    expect(syscalls).toContain('read');
    expect(syscalls).toContain('execve');
    const events = btfEventNames(btf);
    expect(events).toContain('sched_switch');
    expect(events).toContain('sched_process_exec');
  });

  it('describes sys_enter_openat like its format file', () => {
    const f = fields('syscalls', 'sys_enter_openat');
    expect(f.__syscall_nr).toMatchObject({ offset: 8, size: 4, signed: true, cType: 'int' });
    expect(f.dfd).toMatchObject({ offset: 16, size: 8, type: { kind: 'int', bits: 64, signed: true } });
    expect(f.filename).toMatchObject({ offset: 24, size: 8, cType: 'const char *', type: { kind: 'int', bits: 64, signed: false } });
    expect(f.flags).toMatchObject({ offset: 32, size: 8 });
    expect(f.mode).toMatchObject({ offset: 40, size: 8, cType: 'umode_t' });
    expect(f.common_pid).toMatchObject({ offset: 4, size: 4, signed: true });
  });

  it('gives zero-argument syscalls no argument fields', () => {
    expect(btfSyscalls(btf)).toContain('getpid');
    expect(Object.keys(fields('syscalls', 'sys_enter_getpid'))).toEqual(['common_type', 'common_flags', 'common_preempt_count', 'common_pid', '__syscall_nr']);
  });

  it('describes sys_exit_read with a signed long ret at 16', () => {
    expect(fields('syscalls', 'sys_exit_read').ret).toMatchObject({ offset: 16, size: 8, signed: true, cType: 'long' });
  });

  it('describes sched_switch with char arrays as strings', () => {
    const f = fields('sched', 'sched_switch');
    expect(f.prev_comm).toMatchObject({ offset: 8, size: 16, cType: 'char[16]', arrayLength: 16, type: { kind: 'str', size: 16 } });
    expect(f.prev_pid).toMatchObject({ offset: 24, size: 4, cType: 'pid_t', type: { kind: 'int', bits: 32, signed: true } });
    expect(f.next_prio).toMatchObject({ offset: 60, size: 4 });
  });

  it('maps __data_loc fields and events of shared classes', () => {
    const exec = fields('sched', 'sched_process_exec');
    expect(exec.filename).toMatchObject({ offset: 8, size: 4, dataLoc: true, type: { kind: 'str' } });
    // sched_wakeup is a DEFINE_EVENT of the sched_wakeup_template class.
    expect(Object.keys(fields('sched', 'sched_wakeup'))).toEqual(expect.arrayContaining(['comm', 'pid', 'prio', 'target_cpu']));
  });

  it('rejects data that is not BTF', () => {
    expect(() => loadBtf('/etc/passwd')).toThrow(/not a little-endian BTF blob/);
  });
});
