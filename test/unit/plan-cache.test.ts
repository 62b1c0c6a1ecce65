import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compilationKey, hostFacts, kernelIdentity, lookupCompilation, storeCompilation } from '../../src/cli/plan-cache.js';
import { frontend } from '../../src/frontend/index.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';
import type { Plan } from '../../src/plan/types.js';

function planWithUprobe(binary: string): Plan {
  return {
    version: 1,
    file: '-e',
    probes: [{ index: 0, where: 'kernel', programs: [{ name: 'kt_p0', attach: [{ type: 'uprobe', binary, symbol: 'main', offset: 4096 }] }], attach: [], text: `uprobe:${binary}:main` }],
    maps: [],
    events: [],
    ringbufSize: 4096,
    unsafe: false,
  };
}

describe('compilation cache', () => {
  let dir: string;
  let saved: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'kt-plan-cache-'));
    saved = process.env['XDG_CACHE_HOME'];
    process.env['XDG_CACHE_HOME'] = join(dir, 'cache');
  });
  afterEach(() => {
    if (saved === undefined) delete process.env['XDG_CACHE_HOME'];
    else process.env['XDG_CACHE_HOME'] = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it('keys on everything that shapes a plan', () => {
    const base = compilationKey('BEGIN { exit(); }', '-e', [], false);
    expect(compilationKey('BEGIN { exit(); }', '-e', [], false)).toBe(base);
    expect(compilationKey('BEGIN { exit(1); }', '-e', [], false)).not.toBe(base);
    expect(compilationKey('BEGIN { exit(); }', 'a.ktr', [], false)).not.toBe(base);
    expect(compilationKey('BEGIN { exit(); }', '-e', ['1'], false)).not.toBe(base);
    expect(compilationKey('BEGIN { exit(); }', '-e', [], true)).not.toBe(base);
    expect(compilationKey('BEGIN { exit(); }', '-e', [], false, undefined, true)).not.toBe(base);
    expect(compilationKey('BEGIN { exit(); }', '-e', [], false, undefined, false, 2)).not.toBe(base);
    expect(compilationKey('BEGIN { exit(); }', '-e', [], false, undefined, false, 0, { traced: true })).not.toBe(base);
    expect(compilationKey('BEGIN { exit(); }', '-e', [], false, undefined, false, 0, { includes: ['errno.h'] })).not.toBe(base);
    // A module loaded since: a wildcard may match more tracepoints.
    expect(compilationKey('BEGIN { exit(); }', '-e', [], false, kernelIdentity())).toBe(base);
    expect(compilationKey('BEGIN { exit(); }', '-e', [], false, kernelIdentity().replace(']', ' xfs]'))).not.toBe(base);
  });

  it('returns the stored plan and object, and forgets them when a probed binary changes', () => {
    const binary = join(dir, 'prog');
    copyFileSync(process.execPath, binary);
    // Where the object cache keeps objects: the cache directory itself.
    mkdirSync(join(dir, 'cache', 'kafkatrace'), { recursive: true });
    const object = join(dir, 'cache', 'kafkatrace', 'x.bpf.o');
    writeFileSync(object, 'object bytes');
    const plan = planWithUprobe(binary);
    storeCompilation('k1', plan, object);
    const hit = lookupCompilation('k1');
    expect(hit?.plan).toEqual(plan);
    expect(hit?.object?.toString()).toBe('object bytes');
    utimesSync(binary, new Date(), new Date(Date.now() + 60_000));
    expect(lookupCompilation('k1')).toBeUndefined();
  });

  it('forgets a plan with probed binaries when PATH changes, where they were looked up; not one without', () => {
    mkdirSync(join(dir, 'cache', 'kafkatrace'), { recursive: true });
    writeFileSync(join(dir, 'cache', 'kafkatrace', 'x.bpf.o'), 'object bytes');
    storeCompilation('k3', planWithUprobe(process.execPath), join(dir, 'cache', 'kafkatrace', 'x.bpf.o'));
    const plain = { ...planWithUprobe(process.execPath), probes: [] };
    storeCompilation('k4', plain, join(dir, 'cache', 'kafkatrace', 'x.bpf.o'));
    expect(lookupCompilation('k3')).toBeDefined();
    const path = process.env['PATH'];
    process.env['PATH'] = '/elsewhere';
    try {
      expect(lookupCompilation('k3')).toBeUndefined();
      expect(lookupCompilation('k4')?.plan).toEqual(plain);
    } finally {
      process.env['PATH'] = path;
    }
  });

  it('gives a plan with watchpoints on function arguments only to a run tracing the same program', () => {
    mkdirSync(join(dir, 'cache', 'kafkatrace'), { recursive: true });
    writeFileSync(join(dir, 'cache', 'kafkatrace', 'x.bpf.o'), 'object bytes');
    const system = new FakeSystem();
    const fe = frontend('watchpoint:readline+arg0:8:w { exit(); }', '-e', { positional: [], unsafe: false, system, tracee: '/usr/bin/bash' });
    expect(fe.diagnostics).toEqual([]);
    const plan = { ...planWithUprobe('/usr/bin/bash'), probes: [{ ...planWithUprobe('/usr/bin/bash').probes[0]!, programs: [{ name: 'kt_p0', setup: 'kt_p0_setup', attach: fe.analysis!.probes[0]!.attach }] }] };
    storeCompilation('kw', plan, join(dir, 'cache', 'kafkatrace', 'x.bpf.o'));
    expect(lookupCompilation('kw', system, '/usr/bin/bash')?.plan).toEqual(plan);
    // -p of another process, or no process at all.
    expect(lookupCompilation('kw', system, '/usr/lib/x86_64-linux-gnu/libc.so.6')).toBeUndefined();
    expect(lookupCompilation('kw', system)).toBeUndefined();
    // A plan without them does not care.
    storeCompilation('kp', { ...plan, probes: [] }, join(dir, 'cache', 'kafkatrace', 'x.bpf.o'));
    expect(lookupCompilation('kp', system, '/usr/lib/x86_64-linux-gnu/libc.so.6')).toBeDefined();
  });

  it('misses on an unknown key and on a damaged entry', () => {
    expect(lookupCompilation('nothing')).toBeUndefined();
    storeCompilation('k2', planWithUprobe(process.execPath), undefined);
    writeFileSync(join(dir, 'cache', 'kafkatrace', 'plans', 'k2.json'), '{ not json');
    expect(lookupCompilation('k2')).toBeUndefined();
  });

  const noProbes: Plan = { ...planWithUprobe(process.execPath), probes: [] };

  it('keeps the kaddr() and cgroupid() values an analysis baked in', () => {
    const fe = frontend('BEGIN { @a = kaddr("jiffies"); @c = cgroupid("/sys/fs/cgroup/system.slice"); @u = 1; exit(); }', '-e', { positional: [], unsafe: false, system: new FakeSystem() });
    expect(hostFacts(fe.analysis!.hostValues)).toEqual([
      { fn: 'kaddr', name: 'jiffies', value: String(0xffffffff82805000n) },
      { fn: 'cgroupid', name: '/sys/fs/cgroup/system.slice', value: '1291' },
    ]);
  });

  it('forgets a plan whose kernel symbol moved (a reboot with KASLR)', () => {
    storeCompilation('ka', noProbes, undefined, [{ fn: 'kaddr', name: 'jiffies', value: String(0xffffffff82805000n) }]);
    expect(lookupCompilation('ka', new FakeSystem())?.plan).toEqual(noProbes);
    storeCompilation('kb', noProbes, undefined, [{ fn: 'kaddr', name: 'jiffies', value: String(0xffffffff92805000n) }]);
    expect(lookupCompilation('kb', new FakeSystem())).toBeUndefined();
    storeCompilation('kc', noProbes, undefined, [{ fn: 'kaddr', name: 'gone', value: '1' }]);
    expect(lookupCompilation('kc', new FakeSystem())).toBeUndefined();
  });

  it('forgets a plan whose cgroup was recreated (another inode, so another id)', () => {
    const cgroup = join(dir, 'cg');
    mkdirSync(cgroup);
    storeCompilation('kg', noProbes, undefined, [{ fn: 'cgroupid', name: cgroup, value: statSync(cgroup, { bigint: true }).ino.toString() }]);
    expect(lookupCompilation('kg')?.plan).toEqual(noProbes);
    // Hold the old inode while the directory is recreated, so the new one cannot reuse its number.
    renameSync(cgroup, join(dir, 'old'));
    mkdirSync(cgroup);
    expect(lookupCompilation('kg')).toBeUndefined();
    rmdirSync(cgroup);
    expect(lookupCompilation('kg')).toBeUndefined();
  });
});
