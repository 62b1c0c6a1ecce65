// Symbol resolution: kallsyms, /etc/passwd, and ELF symbols of mapped files (the real libc, mapped in
// a fake /proc tree at an address of the test's choosing).
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readElf } from '../../src/frontend/elf.js';
import { createSymbolizer, parseKallsyms, parsePasswd, parseProcMaps, rawAddress } from '../../src/runtime/symbols.js';

const dir = mkdtempSync(join(tmpdir(), 'kt-symbols-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kernel symbols', () => {
  const kallsyms = join(dir, 'kallsyms');
  writeFileSync(
    kallsyms,
    [
      'ffffffff81000100 T do_sys_open',
      'ffffffff81000000 T _stext',
      '0000000000000000 A fixed_percpu_data',
      'ffffffffc0000000 t bpf_prog_abc_kt_probe\t[bpf]',
      '',
    ].join('\n'),
  );
  it('parses and sorts kallsyms, dropping zero addresses', () => {
    const syms = parseKallsyms(`ffffffff81000100 T b\nffffffff81000000 T a\n0000000000000000 A z\n`);
    expect(syms.map((s) => s.name)).toEqual(['a', 'b']);
  });
  it('resolves to the nearest symbol below, with offsets on request', () => {
    const s = createSymbolizer({ kallsyms, passwd: join(dir, 'none') });
    expect(s.ksym(0xffffffff81000105n)).toBe('do_sys_open');
    expect(s.ksym(0xffffffff81000105n, true)).toBe('do_sys_open+5');
    expect(s.ksym(0xffffffff81000000n, true)).toBe('_stext+0');
    expect(s.ksym(0xffffffffc0000010n)).toBe('bpf_prog_abc_kt_probe');
    expect(s.ksym(0x10n)).toBe('0x10');
    expect(s.ksym(0n)).toBe('0');
  });
});

describe('user names', () => {
  it('reads /etc/passwd, first entry wins, unknown uid is empty', () => {
    expect(parsePasswd('root:x:0:0::/root:/bin/sh\nalias:x:0:0::/:/bin/sh\nkafka:x:1001:1001::/:/bin/false\n')).toEqual(
      new Map([
        [0, 'root'],
        [1001, 'kafka'],
      ]),
    );
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, 'root:x:0:0::/root:/bin/sh\n');
    const s = createSymbolizer({ passwd });
    expect(s.username(0)).toBe('root');
    expect(s.username(4242)).toBe('');
  });
});

describe('user symbols', () => {
  const libc = '/lib/x86_64-linux-gnu/libc.so.6';
  it('parses /proc/PID/maps lines', () => {
    expect(parseProcMaps('7f00-7f10 r-xp 00001000 08:01 1234   /usr/lib/x.so\n7f10-7f20 rw-p 00000000 00:00 0 \n')).toEqual([
      { start: 0x7f00n, end: 0x7f10n, perms: 'r-xp', offset: 0x1000n, path: '/usr/lib/x.so' },
      { start: 0x7f10n, end: 0x7f20n, perms: 'rw-p', offset: 0n, path: '' },
    ]);
  });
  it('resolves an address inside a mapped ELF file to its symbol', () => {
    expect(existsSync(libc)).toBe(true);
    const functions = readElf(libc).functions;
    const sym = functions.find((f) => f.name === 'malloc')!;
    expect(sym).toBeDefined();
    const base = 0x7f0000000000n;
    const page = (x: number) => x - (x % 0x1000);
    const hex = (x: bigint | number) => x.toString(16);
    // One executable mapping of libc at `base`, starting at the page that holds malloc.
    const mapOffset = page(sym.fileOffset);
    const at = (fileOffset: number) => base + BigInt(fileOffset - mapOffset);
    mkdirSync(join(dir, 'proc', '77'), { recursive: true });
    writeFileSync(
      join(dir, 'proc', '77', 'maps'),
      `${hex(base)}-${hex(base + 0x100000n)} r-xp ${hex(mapOffset).padStart(8, '0')} 08:01 99 ${libc}\n`,
    );
    const s = createSymbolizer({ proc: join(dir, 'proc') });
    // malloc has aliases at the same address (__libc_malloc); any of them names it.
    const aliases = functions.filter((x) => x.fileOffset === sym.fileOffset).map((x) => x.name);
    const withOffset = s.usym(at(sym.fileOffset + 4), 77, true);
    expect(withOffset.endsWith('+4')).toBe(true);
    expect(aliases).toContain(withOffset.slice(0, -2));
    expect(aliases).toContain(s.usym(at(sym.fileOffset), 77));
    expect(s.usym(0x1234n, 77)).toBe('0x1234');
    expect(s.usym(0x1234n, 78)).toBe(rawAddress(0x1234n));
  });
});

describe('cgroup paths', () => {
  it('names a cgroup id in every mounted hierarchy that has it, unified first, then by name', () => {
    const root = mkdtempSync(join(tmpdir(), 'kt-cgroup-'));
    try {
      const proc = join(root, 'proc');
      const v2 = join(root, 'fs', 'unified');
      const cpu = join(root, 'fs', 'cpu');
      const blkio = join(root, 'fs', 'blkio');
      for (const d of [proc, join(v2, 'system.slice', 'a.service'), join(v2, 'user.slice'), join(cpu, 'system.slice', 'a.service'), blkio]) mkdirSync(d, { recursive: true });
      writeFileSync(join(proc, 'mounts'), [`cgroup2 ${v2} cgroup2 rw 0 0`, `cgroup ${cpu} cgroup rw,cpu 0 0`, `tmpfs ${root} tmpfs rw 0 0`, `cgroup ${blkio} cgroup rw,blkio 0 0`].join('\n') + '\n');
      const s = createSymbolizer({ proc });
      // A cgroup's id is its directory's inode; each hierarchy has its own directories.
      const ino = (p: string): bigint => statSync(p, { bigint: true }).ino;
      expect(s.cgroupPath(ino(join(v2, 'system.slice', 'a.service')), '*')).toBe('unified:/system.slice/a.service');
      expect(s.cgroupPath(ino(join(cpu, 'system.slice')), '*')).toBe('cpu:/system.slice');
      expect(s.cgroupPath(ino(blkio), '*')).toBe('blkio:/');
      expect(s.cgroupPath(ino(v2), 'c*')).toBe('');
      expect(s.cgroupPath(1n << 60n, '*')).toBe('');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
