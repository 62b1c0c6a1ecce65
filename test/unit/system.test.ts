import { readFileSync, statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { TracepointField } from '../../src/frontend/analysis.js';
import { frontend } from '../../src/frontend/index.js';
import { RealSystem, ensureTracefs } from '../../src/frontend/system.js';

const btfOnly = new RealSystem({ tracefs: false });

/** tracefs needs root; outside CI and without root this is the only case where a test may stop early. */
function tracefsOrWhy(): RealSystem | undefined {
  const fs = ensureTracefs();
  if (fs.path) return new RealSystem({ tracefs: fs.path });
  const why = `tracefs is unavailable: ${fs.error}`;
  if (process.env.CI === 'true' || process.getuid?.() === 0) throw new Error(why);
  console.log(`skipping the tracefs comparison: ${why}`);
  return undefined;
}

function strip(fields: TracepointField[]) {
  return fields.map(({ name, offset, size, type, dataLoc }) => ({ name, offset, size, type, dataLoc }));
}

describe('RealSystem', () => {
  it('reads tracepoints from BTF without tracefs', () => {
    expect(btfOnly.source).toBe('btf');
    const enter = btfOnly.tracepoints('syscalls:sys_enter_open*').map((t) => t.name);
    expect(enter).toEqual(expect.arrayContaining(['sys_enter_open', 'sys_enter_openat', 'sys_enter_openat2']));
    expect(enter.every((n) => n.startsWith('sys_enter_open'))).toBe(true);
    expect(btfOnly.tracepoints('sched:sched_switch')).toEqual([{ category: 'sched', name: 'sched_switch' }]);
    expect(btfOnly.tracepointFormat('syscalls', 'sys_enter_nonexistent_call')).toBeUndefined();
  });

  it('agrees between tracefs and BTF on sys_enter_openat and sys_exit_read', () => {
    const tracefs = tracefsOrWhy();
    if (!tracefs) return;
    expect(tracefs.source).toBe('tracefs');
    for (const name of ['sys_enter_openat', 'sys_exit_read']) {
      const a = tracefs.tracepointFormat('syscalls', name);
      const b = btfOnly.tracepointFormat('syscalls', name);
      expect(a, `tracefs format of ${name}`).toBeDefined();
      expect(b, `BTF format of ${name}`).toBeDefined();
      expect(strip(b!.fields)).toEqual(strip(a!.fields));
      expect(b!.fields.map((f) => f.cType)).toEqual(a!.fields.map((f) => f.cType));
    }
  });

  it('agrees between tracefs and BTF on sched_switch and sched_process_exec', () => {
    const tracefs = tracefsOrWhy();
    if (!tracefs) return;
    for (const name of ['sched_switch', 'sched_process_exec']) {
      expect(strip(btfOnly.tracepointFormat('sched', name)!.fields)).toEqual(strip(tracefs.tracepointFormat('sched', name)!.fields));
    }
  });

  it('agrees between tracefs and BTF on nearly every tracepoint of the kernel', () => {
    const tracefs = tracefsOrWhy();
    if (!tracefs) return;
    let same = 0;
    const differ: string[] = [];
    // ftrace's own events are not trace events with BTF records.
    const all = tracefs.tracepoints('*:*').filter((t) => t.category !== 'ftrace');
    for (const t of all) {
      const a = tracefs.tracepointFormat(t.category, t.name);
      const b = btfOnly.tracepointFormat(t.category, t.name);
      if (a && b && JSON.stringify(strip(a.fields)) === JSON.stringify(strip(b.fields))) same++;
      else differ.push(`${t.category}:${t.name}`);
    }
    expect(all.length).toBeGreaterThan(500);
    expect(same / all.length, `differing: ${differ.slice(0, 20).join(' ')}`).toBeGreaterThan(0.97);
    expect(differ.filter((d) => d.startsWith('syscalls:') || d.startsWith('sched:sched_s'))).toEqual([]);
  });

  it('lists raw tracepoints and kernel functions from BTF', () => {
    expect(btfOnly.rawTracepoints('sched_switch')).toEqual(['sched_switch']);
    expect(btfOnly.rawTracepoints('sys_*')).toEqual(expect.arrayContaining(['sys_enter', 'sys_exit']));
    expect(btfOnly.kernelFunctions('vfs_rea?')).toContain('vfs_read');
  });

  it('resolves binaries from paths, PATH and library names', () => {
    expect(btfOnly.resolveBinary('/bin/bash')).toBe('/bin/bash');
    expect(btfOnly.resolveBinary('bash')).toMatch(/\/bash$/);
    expect(btfOnly.resolveBinary('libc')).toMatch(/\/libc\.so\.6$/);
    expect(btfOnly.resolveBinary('libc.so.6')).toMatch(/\/libc\.so\.6$/);
    expect(btfOnly.resolveBinary('/no/such/binary')).toBeUndefined();
    expect(btfOnly.resolveBinary('no-such-binary-anywhere')).toBeUndefined();
  });

  it('reports unreadable binaries as errors, not exceptions', () => {
    expect(btfOnly.symbols('/no/such/file')).toEqual({ ok: false, error: '/no/such/file: no such file' });
    expect(btfOnly.symbols('/etc/hostname')).toEqual({ ok: false, error: '/etc/hostname is not an ELF file' });
    const bash = btfOnly.symbols('/bin/bash');
    expect(bash.ok && bash.value.some((f) => f.name === 'readline')).toBe(true);
  });

  it('reads kernel symbols once, data symbols from the ELF cache and cgroup ids from cgroupfs', () => {
    const system = new RealSystem({ tracefs: false });
    const first = system.kernelSymbols();
    expect(first.ok).toBe(true);
    expect(system.kernelSymbols()).toBe(first);
    if (!first.ok) return;
    // The address /proc/kallsyms gives this user: 0 unless root.
    const line = readFileSync('/proc/kallsyms', 'utf8').split('\n').find((l) => / T vfs_read$/.test(l))!;
    expect(first.value.get('vfs_read')).toBe(BigInt('0x' + line.split(' ')[0]));
    expect(first.value.has('kt_no_such_kernel_symbol')).toBe(false);

    const libc = system.resolveBinary('libc')!;
    const objects = system.dataSymbols(libc);
    expect(objects.ok && objects.value.some((o) => o.name === 'environ' && o.address > 0)).toBe(true);
    expect(system.dataSymbols('/no/such/file')).toEqual({ ok: false, error: '/no/such/file: no such file' });

    expect(system.cgroupId('/sys/fs/cgroup')).toEqual({ ok: true, value: statSync('/sys/fs/cgroup', { bigint: true }).ino });
    expect(system.cgroupId('/sys/fs/cgroup/kt-no-such-cgroup')).toEqual({ ok: false, error: 'cannot read /sys/fs/cgroup/kt-no-such-cgroup: ENOENT' });
  });

  it('lets the front end analyze tracepoint scripts from BTF alone (as `check` does without root)', () => {
    const source = [
      'tracepoint:syscalls:sys_enter_openat { @[str(args.filename)] = count(); }',
      'tracepoint:sched:sched_switch { @sw[args.prev_comm, args.next_pid] = count(); }',
      't:syscalls:sys_exit_read { @r = hist(args.ret); }',
    ].join('\n');
    const r = frontend(source, 'btf.ktr', { positional: [], unsafe: false, system: btfOnly });
    expect(r.diagnostics).toEqual([]);
    const maps = Object.fromEntries(r.analysis!.maps.map((m) => [m.name, m]));
    expect(maps['@']!.keyTypes).toEqual([{ kind: 'str', size: 64 }]);
    expect(maps['@sw']!.keyTypes).toEqual([{ kind: 'str', size: 16 }, { kind: 'int', bits: 64, signed: true }]);
    expect(r.analysis!.probes[1]!.tracepointFormats['sched:sched_switch']!.fields.some((f) => f.name === 'prev_comm')).toBe(true);
  });
});
