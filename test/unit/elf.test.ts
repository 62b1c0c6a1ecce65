import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { readElf } from '../../src/frontend/elf.js';

// readelf (binutils) is the independent reference for symbol addresses.
function readelfSymbol(path: string, name: string): number {
  const out = execFileSync('readelf', ['-sW', path], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const line = out.split('\n').find((l) => / FUNC /.test(l) && l.trim().split(/\s+/)[7]?.replace(/@.*$/, '') === name);
  if (!line) throw new Error(`readelf does not list ${name} in ${path}`);
  return Number.parseInt(line.trim().split(/\s+/)[1]!, 16);
}

const LIBC = '/lib/x86_64-linux-gnu/libc.so.6';

describe('readElf', () => {
  it('finds readline in /bin/bash at the address readelf gives', () => {
    const fn = readElf('/bin/bash').functions.find((f) => f.name === 'readline');
    expect(fn).toBeDefined();
    expect(fn!.address).toBe(readelfSymbol('/bin/bash', 'readline'));
    expect(fn!.size).toBeGreaterThan(0);
    // bash is a PIE whose first PT_LOAD maps offset 0 at address 0: text offsets equal addresses.
    expect(fn!.fileOffset).toBe(fn!.address);
  });

  it('finds malloc and free in libc', () => {
    const fns = readElf(LIBC).functions;
    const malloc = fns.find((f) => f.name === 'malloc');
    expect(malloc?.address).toBe(readelfSymbol(LIBC, 'malloc'));
    expect(fns.some((f) => f.name === 'free')).toBe(true);
    expect(fns.every((f) => !f.name.includes('@'))).toBe(true);
  });

  it('reads USDT notes of libstdc++', () => {
    const probes = readElf('/usr/lib/x86_64-linux-gnu/libstdc++.so.6').usdt;
    const names = probes.map((p) => `${p.provider}:${p.name}`);
    expect(names).toContain('libstdcxx:throw');
    expect(names).toContain('libstdcxx:catch');
    const thrw = probes.find((p) => p.name === 'throw')!;
    expect(thrw.args).toBe('8@%rdi 8@%rsi');
    expect(thrw.fileOffset).toBeGreaterThan(0);
  });

  it('rejects files that are not ELF', () => {
    expect(() => readElf('/etc/passwd')).toThrow(expect.objectContaining({ errorCode: 'elf-invalid' }));
    expect(() => readElf('/etc/passwd')).toThrow(/not an ELF file/);
  });
});
