// The CLI as a user runs it, as root: output formats, exit codes, the compilation cache, and the
// one-line errors for what this kernel or build cannot do.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kafkatrace } from '../helpers/cli.js';
import { canRun } from './runtime-helpers.js';

const run = canRun();

describe.runIf(run)('kafkatrace as a user runs it', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kt-cli-run-'));
    env = { XDG_CACHE_HOME: join(dir, 'cache') };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a script a second time from the cache, without the compiler', () => {
    const prog = 'BEGIN { printf("hello %d\\n", 41 + 1); exit(); }';
    const first = kafkatrace(['-e', prog], { env });
    expect(first.stderr).toBe('');
    expect(first.stdout).toBe('Attaching 1 probe...\nhello 42\n\n\n');
    // No clang on PATH: only a cache hit can run the script now.
    const second = kafkatrace(['-e', prog], { env: { ...env, PATH: '/nonexistent' } });
    expect(second).toEqual(first);
    const changed = kafkatrace(['-e', prog.replace('41', '40')], { env: { ...env, PATH: '/nonexistent' } });
    expect(changed.code).toBe(1);
    expect(changed.stderr).toMatch(/^ERROR: clang is not installed/);
  });

  it('-f json prints one object per line, -o writes to a file', () => {
    const out = join(dir, 'out.json');
    const r = kafkatrace(['-f', 'json', '-o', out, '-e', 'BEGIN { @c[1] = count(); printf("x\\n"); exit(); }'], { env });
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    // bpftrace 0.17 writes two empty lines before the maps at exit in JSON mode too; so do we.
    const text = readFileSync(out, 'utf8');
    expect(text).toMatch(/\n\n\n\{"type": "map"/);
    const lines = text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { type: string; data: unknown });
    expect(lines[0]).toEqual({ type: 'attached_probes', data: { probes: 1 } });
    expect(lines[1]).toEqual({ type: 'printf', data: 'x\n' });
    expect(lines[2]).toEqual({ type: 'map', data: { '@c': { '1': 1 } } });
  });

  it('prints buffers with %r as bpftrace does', () => {
    const r = kafkatrace(['-e', 'BEGIN { printf("%r|%r\\n", buf("ab\\x01", 3), buf("xyz", 2)); exit(); }'], { env });
    expect(r.stdout).toBe('Attaching 1 probe...\nab\\x01|xy\n\n\n');
  });

  it('sizes kernel maps with keys by --map-keys-max and BPFTRACE_MAP_KEYS_MAX', () => {
    // Keys only from the first 20 firings: the probe may fire once more before exit() takes effect.
    const prog = 'interval:ms:2 { @n = count(); if (@n <= 20) { @[nsecs] = count(); } if (@n == 20) { exit(); } }';
    const keys = (r: { stdout: string }) => r.stdout.split('\n').filter((l) => l.startsWith('@[')).length;
    expect(keys(kafkatrace(['-e', prog], { env }))).toBe(20);
    expect(keys(kafkatrace(['--map-keys-max', '5', '-e', prog], { env }))).toBe(5);
    expect(keys(kafkatrace(['-e', prog], { env: { ...env, BPFTRACE_MAP_KEYS_MAX: '7' } }))).toBe(7);
  });

  it('gives cpid the pid of the -c command', () => {
    const script = join(dir, 'own-pid.sh');
    writeFileSync(script, 'echo "child $$"\n');
    const r = kafkatrace(['-e', 'tracepoint:syscalls:sys_enter_exit_group /pid == cpid/ { printf("cpid %d\\n", cpid); }', '-c', `/bin/sh ${script}`], { env });
    expect(r.code).toBe(0);
    const child = /^child (\d+)$/m.exec(r.stdout)?.[1];
    expect(child).toBeDefined();
    expect(r.stdout).toContain(`cpid ${child}\n`);
  });

  it('takes its exit status from exit(code)', () => {
    expect(kafkatrace(['-e', 'BEGIN { exit(3); }'], { env }).code).toBe(3);
  });

  it('with -c, fails as the command did unless the script called exit()', () => {
    const prog = 'tracepoint:syscalls:sys_enter_getppid { @ = count(); }';
    // -c splits at spaces only, as bpftrace does: the shell commands live in script files.
    const exit7 = join(dir, 'exit7.sh');
    const term = join(dir, 'term.sh');
    writeFileSync(exit7, 'exit 7\n');
    writeFileSync(term, 'kill -TERM $$\n');
    expect(kafkatrace(['-e', prog, '-c', `sh ${exit7}`], { env }).code).toBe(7);
    expect(kafkatrace(['-e', prog, '-c', `sh ${term}`], { env }).code).toBe(143);
    expect(kafkatrace(['-e', prog, '-c', '/bin/true'], { env }).code).toBe(0);
    expect(kafkatrace(['-e', 'tracepoint:syscalls:sys_enter_exit_group { exit(4); }', '-c', `sh ${exit7}`], { env }).code).toBe(4);
  });

  it('names the missing kernel feature for a kprobe, in one line', () => {
    const r = kafkatrace(['-e', 'kprobe:do_sys_openat2 { @ = count(); }'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/CONFIG_KPROBES/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a bad script run directly gets its diagnostics, never a stack trace', () => {
    const r = kafkatrace(['-e', 'tracepoint:syscalls:sys_enter_opnat { @ = count(); }'], { env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^-e:1:1: ERROR: .*sys_enter_opnat/);
    expect(r.stderr).toMatch(/did you mean .*sys_enter_openat/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
