// The runtime's pure helpers: -c splitting and lookup, CPU lists, capability checks, attach point
// descriptions, and the message when the addon is missing. No root needed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { KtError } from '../../src/errors.js';
import { isNativeError, nativeUnavailable, type BpfObject } from '../../src/native/index.js';
import {
  attachProgram,
  describeAttach,
  FENTRY_MISSING,
  HARDWARE_MISSING,
  parseCpuList,
} from '../../src/runtime/attach.js';
import { resolveProgram, spawnHeld, splitCommand } from '../../src/runtime/command.js';
import { effectiveCapabilities, hasBpfPrivileges } from '../../src/runtime/privileges.js';

describe('splitCommand', () => {
  it('splits at spaces and keeps quotes and backslashes as written, as bpftrace does', () => {
    expect(splitCommand('ls  -l /tmp')).toEqual(['ls', '-l', '/tmp']);
    expect(splitCommand(`./syscall execve /bin/echo 'A'`)).toEqual(['./syscall', 'execve', '/bin/echo', "'A'"]);
    expect(splitCommand(`echo "a b" c\\ d`)).toEqual(['echo', '"a', 'b"', 'c\\', 'd']);
  });

  it('treats shell syntax as plain words: there is no shell', () => {
    expect(splitCommand('echo $(id); rm -rf / | x')).toEqual(['echo', '$(id);', 'rm', '-rf', '/', '|', 'x']);
  });

  it('rejects an empty command with a clear message', () => {
    expect(() => splitCommand('   ')).toThrow(new KtError('bad-command', 'the command to run (-c) is empty'));
  });
});

describe('spawnHeld', () => {
  it('is ready once its helper waits, before the command runs, and runs it when released', async () => {
    const held = spawnHeld(['sh', '-c', 'exit 9']);
    await held.ready;
    // Still the helper, blocked on its gate: its own start-up syscalls are behind it.
    expect(readFileSync(`/proc/${held.pid}/cmdline`, 'utf8')).toMatch(/^kafkatrace-held\0/);
    const exited = new Promise<number | null>((resolve) => held.child.on('exit', resolve));
    held.release();
    expect(await exited).toBe(9);
  });
});

describe('resolveProgram', () => {
  it('finds programs on PATH and checks explicit paths', () => {
    expect(resolveProgram('sh', '/nonexistent:/bin')).toBe('/bin/sh');
    expect(resolveProgram('/bin/sh')).toBe('/bin/sh');
    expect(() => resolveProgram('no-such-program-kt', '/bin')).toThrow('command not found: no-such-program-kt');
    expect(() => resolveProgram('/etc/passwd')).toThrow("cannot run '/etc/passwd': not an executable file");
  });
});

describe('parseCpuList', () => {
  it('expands ranges and single CPUs', () => {
    expect(parseCpuList('0-3,5,7-8\n')).toEqual([0, 1, 2, 3, 5, 7, 8]);
    expect(parseCpuList('0')).toEqual([0]);
  });
});

describe('privileges', () => {
  it('reads CapEff and accepts CAP_SYS_ADMIN or CAP_BPF with CAP_PERFMON', () => {
    expect(effectiveCapabilities('Name:\tx\nCapEff:\t000001ffffffffff\n')).toBe(0x1ffffffffffn);
    expect(hasBpfPrivileges(0x1ffffffffffn)).toBe(true);
    expect(hasBpfPrivileges(1n << 21n)).toBe(true);
    expect(hasBpfPrivileges((1n << 38n) | (1n << 39n))).toBe(true);
    expect(hasBpfPrivileges(1n << 39n)).toBe(false);
    expect(hasBpfPrivileges(0n)).toBe(false);
    expect(effectiveCapabilities('Name:\tx\n')).toBe(0n);
  });
});

/** A BpfObject stand-in that records perf event attaches and fails the others as told. */
function fakeObject(fail?: { errno: number }): { obj: BpfObject; perf: unknown[][] } {
  const perf: unknown[][] = [];
  const failing = () => {
    if (fail) throw Object.assign(new Error('cannot attach: kernel says no'), fail);
    return 1;
  };
  const obj = {
    attachPerfEvent: (...args: unknown[]) => {
      failing();
      perf.push(args);
      return perf.length;
    },
    attachTrace: failing,
    attachKprobe: failing,
    attachTracepoint: failing,
  } as unknown as BpfObject;
  return { obj, perf };
}

describe('attachProgram', () => {
  it('opens profile events on every CPU at a frequency, interval on one CPU with a period', () => {
    const { obj, perf } = fakeObject();
    attachProgram(obj, 'p', { type: 'profile', unit: 'hz', value: 99 }, { cpus: [0, 1, 3] });
    expect(perf).toEqual([
      ['p', 1, 0, 99, true, 0, -1],
      ['p', 1, 0, 99, true, 1, -1],
      ['p', 1, 0, 99, true, 3, -1],
    ]);
    perf.length = 0;
    attachProgram(obj, 'i', { type: 'interval', unit: 'ms', value: 250 }, { cpus: [2, 3] });
    expect(perf).toEqual([['i', 1, 0, 250_000_000, false, 2, -1]]);
    perf.length = 0;
    attachProgram(obj, 's', { type: 'software', event: 'faults', period: 0 }, { cpus: [0] });
    expect(perf).toEqual([['s', 1, 2, 100, false, 0, -1]]);
  });

  it('names the missing feature when the kernel refuses', () => {
    expect(() =>
      attachProgram(fakeObject({ errno: 524 }).obj, 'f', { type: 'fexit', func: 'vfs_read' }, { cpus: [0] }),
    ).toThrow(`fexit:vfs_read: ${FENTRY_MISSING}`);
    expect(() =>
      attachProgram(fakeObject({ errno: 2 }).obj, 'h', { type: 'hardware', event: 'cache-misses', period: 10 }, { cpus: [0] }),
    ).toThrow(`hardware:cache-misses:10: ${HARDWARE_MISSING}`);
    expect(() =>
      attachProgram(fakeObject({ errno: 13 }).obj, 't', { type: 'tracepoint', category: 'a', name: 'b' }, { cpus: [0] }),
    ).toThrow(expect.objectContaining({ errorCode: 'attach-failed' }));
    expect(() =>
      attachProgram(fakeObject({ errno: 13 }).obj, 't', { type: 'tracepoint', category: 'a', name: 'b' }, { cpus: [0] }),
    ).toThrow('tracepoint:a:b: cannot attach: kernel says no');
    expect(() =>
      attachProgram(fakeObject().obj, 's', { type: 'software', event: 'nope', period: 1 }, { cpus: [0] }),
    ).toThrow("software:nope:1: unknown software event 'nope'");
  });
});

describe('describeAttach', () => {
  it('writes attach points as a script does', () => {
    expect(describeAttach({ type: 'tracepoint', category: 'syscalls', name: 'sys_enter_read' })).toBe(
      'tracepoint:syscalls:sys_enter_read',
    );
    expect(describeAttach({ type: 'kprobe', func: 'vfs_read', offset: 16 })).toBe('kprobe:vfs_read+16');
    expect(describeAttach({ type: 'profile', unit: 'hz', value: 99 })).toBe('profile:hz:99');
    expect(describeAttach({ type: 'uretprobe', binary: '/bin/sh', symbol: 'main', offset: 0 })).toBe('uretprobe:/bin/sh:main');
  });
});

describe('scripts/build-native.mjs', () => {
  it('says in one line what is missing and exits 0 when there is no compiler', () => {
    const r = spawnSync(process.execPath, [fileURLToPath(new URL('../../scripts/build-native.mjs', import.meta.url))], {
      env: { PATH: '/nonexistent' },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toMatch(/^kafkatrace: native addon not built \(missing a C\+\+ compiler \(g\+\+\), a C compiler \(gcc\)\)/);
    expect(r.stdout).toContain('npm rebuild');
  });
});

describe('native errors', () => {
  it('says what to install and how to rebuild when the addon is missing', () => {
    const e = nativeUnavailable('build/Release/kafkatrace_native.node is missing');
    expect(e.message).toContain('apt-get install libbpf-dev libelf-dev clang');
    expect(e.message).toContain('npm rebuild');
  });

  it('recognises errors that carry an errno', () => {
    expect(isNativeError(Object.assign(new Error('x'), { errno: 2 }))).toBe(true);
    expect(isNativeError(new Error('x'))).toBe(false);
  });
});
