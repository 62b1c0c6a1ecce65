// bin/kafkatrace.js's V8 code cache: written when missing, read (not rewritten) after, rewritten when
// V8 rejects it, pruned of chunks that are gone, and never in the way of the command's own result.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, ROOT } from '../helpers/cli.js';

const BUNDLE = join(ROOT, 'dist', 'bundle');
const built = existsSync(join(BUNDLE, 'kafkatrace.cjs'));
const home = mkdtempSync(join(tmpdir(), 'kt-v8cache-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

const CACHE = join(home, 'kafkatrace', 'v8', encodeURIComponent(BUNDLE));
// -d c runs the whole front end and code generator, without root and without loading anything.
const COMPILE = ['-d', 'c', '-e', 'tracepoint:syscalls:sys_enter_getppid { @ = count(); }'];

function kafkatrace(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, XDG_CACHE_HOME: home }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function entries(): string[] {
  return existsSync(CACHE) ? readdirSync(CACHE).sort() : [];
}

describe.runIf(built)('the V8 code cache of the bundle', () => {
  it('is not written by --version, then written by a run, for the chunks it loaded', () => {
    expect(kafkatrace(['--version']).stdout).toMatch(/^kafkatrace v/);
    expect(entries()).toEqual([]);
    const first = kafkatrace(COMPILE);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('SEC("tracepoint")');
    const files = entries();
    // The entry chunk, the runtime chunk it requires, and the compiler's chunk loaded on demand.
    expect(files.some((f) => f.startsWith('kafkatrace.cjs.'))).toBe(true);
    expect(files.some((f) => f.startsWith('run-'))).toBe(true);
    expect(files.some((f) => f.startsWith('compiler-'))).toBe(true);
    for (const f of files) {
      const chunk = f.slice(0, f.indexOf('.cjs.') + 4);
      expect(existsSync(join(BUNDLE, chunk))).toBe(true);
      expect(f).toContain(`.${statSync(join(BUNDLE, chunk)).size}.`);
      expect(f.endsWith(`.${process.version}.${process.arch}`)).toBe(true);
    }
  });

  it('is read and left alone by the next run, whose output is the same', () => {
    const before = new Map(entries().map((f) => [f, statSync(join(CACHE, f)).mtimeMs]));
    expect(before.size).toBeGreaterThan(0);
    const again = kafkatrace(COMPILE);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('SEC("tracepoint")');
    expect(new Map(entries().map((f) => [f, statSync(join(CACHE, f)).mtimeMs]))).toEqual(before);
  });

  it('is rewritten when V8 rejects it, and the command still works', () => {
    const run = entries().find((f) => f.startsWith('run-'))!;
    const path = join(CACHE, run);
    const size = statSync(path).size;
    writeFileSync(path, Buffer.alloc(size, 0x5a));
    const r = kafkatrace(COMPILE);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const rewritten = readFileSync(path);
    expect(rewritten.equals(Buffer.alloc(size, 0x5a))).toBe(false);
  });

  it('drops the caches of chunks that no longer exist', () => {
    const stale = 'run-OldBuild1.cjs.1234.5678.v0.0.0.x64';
    writeFileSync(join(CACHE, stale), 'stale');
    // A rejected cache makes the next run write, and writing prunes.
    const run = entries().find((f) => f.startsWith('run-') && f !== stale)!;
    writeFileSync(join(CACHE, run), 'not a code cache');
    expect(kafkatrace(COMPILE).code).toBe(0);
    expect(entries()).not.toContain(stale);
    expect(entries()).toContain(run);
  });
});
