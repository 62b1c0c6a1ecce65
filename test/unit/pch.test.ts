// The precompiled system headers (src/codegen/pch.ts), as `npm run build` leaves them in build/: used
// while they match the clang, header and flags they were built from, giving the same program as
// parsing the headers; a header clang refuses costs a second compile, never a failure.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { clangArgs, clangFlags, clangIdentity, clangInvocations, compileC, precompileSystemHeaders } from '../../src/codegen/clang.js';
import { pchArgs, pchPath } from '../../src/codegen/pch.js';
import { templatesDir } from '../../src/codegen/toolchain.js';

const dir = mkdtempSync(join(tmpdir(), 'kt-pch-'));
const saved = join(dir, 'saved.pch');
afterAll(() => {
  // Whatever a test did to the installed header, the build's own is back.
  if (existsSync(saved)) copyFileSync(saved, pchPath());
  rmSync(dir, { recursive: true, force: true });
});

const SOURCE = `#define KT_RINGBUF_SIZE 4096
#define KT_SCRATCH_SIZE 8
#define KT_ZERO_SIZE 8
#include "kt_prelude.h"
SEC("tracepoint/syscalls/sys_enter_getpid")
int kt_p0(void *ctx)
{
  __u64 pid = bpf_get_current_pid_tgid() >> 32;
  bpf_printk("%llu", pid);
  return 0;
}
`;

/** The object's instructions, as llvm-objdump prints them without the file's name. */
function disassembly(object: Buffer, name: string): string {
  const file = join(dir, name);
  writeFileSync(file, object);
  return execFileSync('llvm-objdump', ['-d', '--no-show-raw-insn', file], { encoding: 'utf8' }).split('\n').slice(2).join('\n');
}

describe('precompiled system headers', () => {
  it('are built, and used for the default clang while their note matches', () => {
    expect(precompileSystemHeaders()).toBeUndefined();
    copyFileSync(pchPath(), saved);
    const flags = clangFlags(templatesDir());
    expect(clangArgs(templatesDir(), 'out.o')).toEqual([...flags, '-include-pch', pchPath(), '-x', 'c', '-', '-c', '-o', 'out.o']);
    expect(pchArgs(templatesDir(), clangIdentity('clang'), [...flags, '-DOTHER'])).toEqual([]);
    expect(pchArgs(templatesDir(), 'another clang', flags)).toEqual([]);
    const note = `${pchPath()}.id`;
    const kept = readFileSync(note, 'utf8');
    try {
      writeFileSync(note, kept.replace('"header":"', '"header":"0'));
      expect(clangArgs(templatesDir(), 'out.o')).not.toContain('-include-pch');
    } finally {
      writeFileSync(note, kept);
    }
  });

  it('give the program that parsing the headers gives', async () => {
    const withPch = await compileC(SOURCE, { cacheDir: join(dir, 'a') });
    const withoutPch = execFileSync('clang', [...clangFlags(templatesDir()), '-x', 'c', '-', '-c', '-o', '-'], { input: SOURCE });
    expect(disassembly(withPch, 'a.o')).toBe(disassembly(withoutPch, 'b.o'));
    // bpf_get_current_pid_tgid and bpf_trace_printk: the program is there, not an empty section.
    expect(disassembly(withPch, 'a.o')).toMatch(/call 14\n[^]*call 6\n/);
  });

  it('refused by clang (here: corrupt), cost a second compile and are not used again', async () => {
    writeFileSync(pchPath(), readFileSync(saved).subarray(0, 1000));
    const before = clangInvocations();
    const object = await compileC(SOURCE.replace('return 0;', 'return 2;'), { cacheDir: join(dir, 'b') });
    expect(object.subarray(0, 4)).toEqual(Buffer.from('\x7fELF', 'latin1'));
    expect(clangInvocations()).toBe(before + 1);
    expect(clangArgs(templatesDir(), 'out.o')).not.toContain('-include-pch');
  });
});
