// The object cache and the toolchain errors of compileC.
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cachePath, CCompileError, clangInvocations, compileC, defaultCacheDir, ToolchainError } from '../../src/codegen/clang.js';

const dir = mkdtempSync(join(tmpdir(), 'kt-cache-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SOURCE = `#define KT_RINGBUF_SIZE 4096
#define KT_SCRATCH_SIZE 8
#define KT_ZERO_SIZE 8
#include "kt_prelude.h"
SEC("raw_tp")
int kt_p0(void *ctx)
{
  return 0;
}
`;

function fakeClang(name: string, script: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${script}\n`);
  chmodSync(path, 0o755);
  return path;
}

describe('compileC', () => {
  it('compiles, then serves the same source from the cache without running clang', async () => {
    const cacheDir = join(dir, 'cache1');
    const before = clangInvocations();
    const first = await compileC(SOURCE, { cacheDir });
    expect(clangInvocations()).toBe(before + 1);
    expect(first.subarray(0, 4)).toEqual(Buffer.from('\x7fELF', 'latin1'));
    const file = await cachePath(SOURCE, { cacheDir });
    const mtime = statSync(file).mtimeMs;
    const second = await compileC(SOURCE, { cacheDir });
    expect(clangInvocations()).toBe(before + 1);
    expect(second.equals(first)).toBe(true);
    expect(statSync(file).mtimeMs).toBe(mtime);
    // Only the finished object is left: the temporary file was renamed into place.
    expect(readdirSync(cacheDir)).toEqual([file.slice(cacheDir.length + 1)]);
  });

  it('keys the cache by the source', async () => {
    const cacheDir = join(dir, 'cache2');
    const other = SOURCE.replace('return 0;', 'return 1;');
    expect(await cachePath(other, { cacheDir })).not.toBe(await cachePath(SOURCE, { cacheDir }));
    const before = clangInvocations();
    await compileC(SOURCE, { cacheDir });
    await compileC(other, { cacheDir });
    expect(clangInvocations()).toBe(before + 2);
    expect(readdirSync(cacheDir)).toHaveLength(2);
  });

  it('defaults to $XDG_CACHE_HOME/kafkatrace', () => {
    const saved = process.env['XDG_CACHE_HOME'];
    process.env['XDG_CACHE_HOME'] = '/tmp/xdg-test';
    try {
      expect(defaultCacheDir()).toBe('/tmp/xdg-test/kafkatrace');
    } finally {
      if (saved === undefined) delete process.env['XDG_CACHE_HOME'];
      else process.env['XDG_CACHE_HOME'] = saved;
    }
  });

  it('says what to install when clang is missing', async () => {
    const err = await compileC(SOURCE, { cacheDir: join(dir, 'c3'), clang: join(dir, 'no-such-clang') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolchainError);
    expect((err as Error).message).toMatch(/not installed.*apt-get install clang libbpf-dev/);
  });

  it('says what to install when libbpf headers are missing', async () => {
    const clang = fakeClang(
      'clang-no-libbpf',
      'if [ "$1" = --version ]; then echo "fake clang 1"; exit 0; fi\necho "<stdin>:20:10: fatal error: \'bpf/bpf_helpers.h\' file not found" >&2\nexit 1',
    );
    const cacheDir = join(dir, 'c4');
    const err = await compileC(SOURCE, { cacheDir, clang }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ToolchainError);
    expect((err as Error).message).toBe("libbpf's BPF headers (bpf/bpf_helpers.h) are not installed: apt-get install clang libbpf-dev");
    expect(existsSync(cacheDir) ? readdirSync(cacheDir) : []).toEqual([]);
  });

  it('reports clang errors in generated C with the generated line', async () => {
    const bad = SOURCE.replace('return 0;', 'return undeclared_thing;');
    const err = await compileC(bad, { cacheDir: join(dir, 'c5') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CCompileError);
    const message = (err as Error).message;
    expect(message).toMatch(/kafkatrace bug/);
    expect(message).toMatch(/generated line 8:\d+: use of undeclared identifier 'undeclared_thing'/);
    expect(message).toContain('return undeclared_thing;');
  });
});
