// The object cache and the toolchain errors of compileC.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { cachePath, clangIdentity, clangInvocations, compileC, defaultCacheDir, prestartClang } from '../../src/codegen/clang.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..');

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
    expect(err).toMatchObject({ errorCode: 'toolchain-missing', kind: 'environment' });
    expect((err as Error).message).toMatch(/not installed.*apt-get install clang libbpf-dev/);
  });

  it('says what to install when libbpf headers are missing', async () => {
    const clang = fakeClang(
      'clang-no-libbpf',
      'if [ "$1" = --version ]; then echo "fake clang 1"; exit 0; fi\necho "<stdin>:20:10: fatal error: \'bpf/bpf_helpers.h\' file not found" >&2\nexit 1',
    );
    const cacheDir = join(dir, 'c4');
    const err = await compileC(SOURCE, { cacheDir, clang }).catch((e: unknown) => e);
    expect(err).toMatchObject({ errorCode: 'toolchain-missing', kind: 'environment' });
    expect((err as Error).message).toBe("libbpf's BPF headers (bpf/bpf_helpers.h) are not installed: apt-get install clang libbpf-dev");
    expect(existsSync(cacheDir) ? readdirSync(cacheDir) : []).toEqual([]);
  });

  it('reports clang errors in generated C with the generated line', async () => {
    const bad = SOURCE.replace('return 0;', 'return undeclared_thing;');
    const err = await compileC(bad, { cacheDir: join(dir, 'c5') }).catch((e: unknown) => e);
    expect(err).toMatchObject({ errorCode: 'c-compile', kind: 'internal' });
    const message = (err as Error).message;
    expect(message).toMatch(/kafkatrace bug/);
    expect(message).toMatch(/generated line 8:\d+: use of undeclared identifier 'undeclared_thing'/);
    expect(message).toContain('return undeclared_thing;');
  });
});

describe('the cache key of the clang binary', () => {
  it('is computed without running clang', async () => {
    const marker = join(dir, 'ran-marker');
    const clang = fakeClang('clang-marker', `touch ${marker}\necho "fake clang 1"`);
    await cachePath(SOURCE, { cacheDir: join(dir, 'k1'), clang });
    expect(clangIdentity(clang)).toContain(clang);
    expect(existsSync(marker)).toBe(false);
  });

  it('differs for another clang binary and for the same one reinstalled', async () => {
    const cacheDir = join(dir, 'k2');
    const a = fakeClang('clang-a', 'echo a');
    const b = fakeClang('clang-b', 'echo a');
    const keyA = await cachePath(SOURCE, { cacheDir, clang: a });
    expect(await cachePath(SOURCE, { cacheDir, clang: a })).toBe(keyA);
    expect(await cachePath(SOURCE, { cacheDir, clang: b })).not.toBe(keyA);
    // A reinstall rewrites the file: a new mtime (and here a new size) makes a new key.
    writeFileSync(a, '#!/bin/sh\necho a version 2\n');
    utimesSync(a, new Date(), new Date(Date.now() + 5000));
    expect(await cachePath(SOURCE, { cacheDir, clang: a })).not.toBe(keyA);
  });

  it('follows symlinks and $PATH to the binary that runs', () => {
    const real = fakeClang('clang-real', 'echo real');
    const binDir = join(dir, 'bin');
    mkdirSync(binDir, { recursive: true });
    symlinkSync(real, join(binDir, 'clang-link'));
    const saved = process.env['PATH'];
    process.env['PATH'] = `${join(dir, 'empty-dir')}:${binDir}:${saved ?? ''}`;
    try {
      expect(clangIdentity('clang-link')).toBe(clangIdentity(real));
      expect(clangIdentity(join(binDir, 'clang-link'))).toBe(clangIdentity(real));
      expect(clangIdentity(real).startsWith(`${realpathSync(real)}:`)).toBe(true);
      expect(clangIdentity('no-such-clang-anywhere')).toBe('no-such-clang-anywhere:not found');
    } finally {
      process.env['PATH'] = saved;
    }
  });
});

describe('prestartClang', () => {
  /** A clang on PATH that notes each start (and its pid) before it runs the real one. */
  function countingClang(): { binDir: string; starts: () => string[] } {
    const binDir = mkdtempSync(join(dir, 'counting-'));
    const log = join(binDir, 'starts');
    const real = execFileSync('sh', ['-c', 'command -v clang'], { encoding: 'utf8' }).trim();
    writeFileSync(join(binDir, 'clang'), `#!/bin/sh\necho $$ >> ${log}\nexec ${real} "$@"\n`);
    chmodSync(join(binDir, 'clang'), 0o755);
    return { binDir, starts: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []) };
  }

  it('starts clang ahead, and compileC feeds that one instead of starting another', async () => {
    const { binDir, starts } = countingClang();
    const cache = mkdtempSync(join(dir, 'xdg-'));
    const saved = { path: process.env['PATH'], xdg: process.env['XDG_CACHE_HOME'] };
    process.env['PATH'] = `${binDir}:${saved.path ?? ''}`;
    process.env['XDG_CACHE_HOME'] = cache;
    try {
      prestartClang();
      for (let i = 0; i < 100 && starts().length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(starts()).toHaveLength(1);
      const before = clangInvocations();
      const object = await compileC(SOURCE);
      expect(object.subarray(0, 4)).toEqual(Buffer.from('\x7fELF', 'latin1'));
      expect(clangInvocations()).toBe(before + 1);
      expect(starts()).toHaveLength(1);
      // The object went to its cache file; nothing temporary is left.
      expect(readdirSync(join(cache, 'kafkatrace'))).toEqual([(await cachePath(SOURCE)).split('/').pop()]);
    } finally {
      process.env['PATH'] = saved.path;
      if (saved.xdg === undefined) delete process.env['XDG_CACHE_HOME'];
      else process.env['XDG_CACHE_HOME'] = saved.xdg;
    }
  });

  it.runIf(existsSync(join(ROOT, 'dist', 'src', 'codegen', 'clang.js')))('neither keeps an exiting process alive nor outlives it when unused', () => {
    const { binDir, starts } = countingClang();
    const cache = mkdtempSync(join(dir, 'xdg-'));
    // clang writes in a private directory under TMPDIR.
    const tmp = mkdtempSync(join(dir, 'tmp-'));
    // The built module: a plain node child cannot load TypeScript.
    const clangModule = join(ROOT, 'dist', 'src', 'codegen', 'clang.js');
    // The child starts clang ahead, waits until it runs, then has nothing left to do.
    const script = `
      import { existsSync } from 'node:fs';
      import { prestartClang } from ${JSON.stringify(clangModule)};
      prestartClang();
      const wait = () => (existsSync(${JSON.stringify(join(binDir, 'starts'))}) ? undefined : setTimeout(wait, 10));
      wait();`;
    const t0 = Date.now();
    execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      env: { ...process.env, PATH: `${binDir}:${process.env['PATH'] ?? ''}`, XDG_CACHE_HOME: cache, TMPDIR: tmp },
      timeout: 10_000,
    });
    expect(Date.now() - t0).toBeLessThan(10_000);
    const [pid] = starts();
    expect(pid).toBeDefined();
    let alive = true;
    for (let i = 0; i < 50 && alive; i++) {
      try {
        alive = !readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2]!.startsWith('Z');
      } catch {
        alive = false;
      }
      if (alive) execFileSync('sleep', ['0.02']);
    }
    expect(alive).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
    expect(existsSync(join(cache, 'kafkatrace'))).toBe(false);
  });
});
